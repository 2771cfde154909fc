"""Trust center tables: cases, Vorgangsnummern, domain keys, pseudonyms, consent, corrections,
re-identification requests. Lives in the trust center's own database.

Revision ID: tc_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tc_0001"
down_revision = None
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # One registered case of a hospital (Leistungserbringer). The KVNR is never stored: only
    # the keyed person id derived from it; the Arbeitsnummer only AES-GCM encrypted, found
    # again through its keyed blind index.
    op.create_table(
        "tc_case",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("ik", sa.String(9), nullable=False),
        sa.Column("arbeitsnummer_index", sa.String(64), nullable=False),
        sa.Column("arbeitsnummer_enc", sa.LargeBinary(), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        # "vorgangsnummer" (issued here) or "tan" (compatibility mode: hospital-generated).
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("arbeitsnummer_index", name="uq_tc_case_arbeitsnummer"),
    )
    op.create_index("ix_tc_case_person", "tc_case", ["person_id"])
    # Vorgangsnummern and tanG/tanC by SHA-256 only: a copy of the table cannot be replayed.
    op.create_table(
        "tc_vorgangsnummer",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("tc_case.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("issued_us", sa.BigInteger(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.Column("used_us", sa.BigInteger(), nullable=True),
        sa.Column("used_by", sa.String(80), nullable=True),
    )
    op.create_index("ix_tc_vorgangsnummer_case", "tc_vorgangsnummer", ["case_id"])
    op.create_table(
        "tc_domain_key",
        sa.Column("domain", sa.String(80), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rotated_us", sa.BigInteger(), nullable=False),
    )
    # Every pseudonym issued, under every key version it was issued with (rotation adds rows).
    op.create_table(
        "tc_pseudonym",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(48), nullable=False),
        # "dataset", "person" or "identifier"
        sa.Column("subject_type", sa.String(16), nullable=False),
        # The derivation input (e.g. dataset:<case>:<kind>): ids and keyed ids only.
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("tc_case.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("person_id", sa.String(64), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("domain", "pseudonym", name="uq_tc_pseudonym_value"),
        sa.UniqueConstraint("domain", "version", "subject", name="uq_tc_pseudonym_subject"),
    )
    op.create_index("ix_tc_pseudonym_person", "tc_pseudonym", ["person_id"])
    op.create_table(
        "tc_participation",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("tc_case.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("scope", sa.String(24), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("declared_on", sa.Date(), nullable=False),
        sa.Column("recorded_us", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_tc_participation_case", "tc_participation", ["case_id"])
    op.create_table(
        "tc_broad_consent",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("tc_case.id", ondelete="CASCADE"),
                  nullable=False),
        # The FHIR Consent without narrative and patient element (JSON).
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("recorded_us", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_tc_broad_consent_case", "tc_broad_consent", ["case_id"])
    op.create_table(
        "tc_correction",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("tc_case.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("ik", sa.String(9), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_by", sa.String(80), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("delivered_us", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_tc_correction_ik", "tc_correction", ["ik", "delivered_us"])
    op.create_table(
        "tc_reid_request",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("tc_case.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("domain", sa.String(80), nullable=False),
        sa.Column("purpose", sa.String(24), nullable=False),
        sa.Column("hospital_ik", sa.String(9), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("justification", sa.String(1000), nullable=False),
        # pending -> approved -> answered, or refused
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("answered_us", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "tc_reid_approval",
        sa.Column("request_id", sa.String(32),
                  sa.ForeignKey("tc_reid_request.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("approver", sa.String(200), primary_key=True),
        sa.Column("approved_us", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in ("tc_reid_approval", "tc_reid_request", "tc_correction", "tc_broad_consent",
                  "tc_participation", "tc_pseudonym", "tc_domain_key", "tc_vorgangsnummer",
                  "tc_case"):
        op.drop_table(table)
