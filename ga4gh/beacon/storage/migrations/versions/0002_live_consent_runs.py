"""Live consent and runs: per-carrier consent horizon and the consent feed position the index
has applied; runs (sequencing runs behind catalogued read files); biosamples keep their
sample name so that runs link to them.

Revision ID: beacon_0002
Revises: beacon_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "beacon_0002"
down_revision = "beacon_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # When an individual's consent answer must be asked again (µs since the epoch): 0 = at
    # the next query (new or never evaluated), NULL = only when the trust center's change
    # feed names the pseudonym.
    op.add_column("beacon_individual", sa.Column("consent_until_us", sa.BigInteger(),
                                                 nullable=True, server_default="0"))
    op.create_index("ix_beacon_individual_consent_until", "beacon_individual",
                    ["consent_until_us"])
    # One row: the trust center's consent feed position applied to beacon_individual, and
    # the pseudonym domain it belongs to (another domain starts from scratch).
    op.create_table(
        "beacon_consent_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("domain", sa.String(80), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_at", sa.BigInteger(), nullable=False),
    )
    op.add_column("beacon_biosample", sa.Column("sample", sa.String(255), nullable=True))
    op.create_table(
        "beacon_run",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("dataset_pk", sa.Integer(), sa.ForeignKey("beacon_dataset.pk",
                                                            ondelete="CASCADE"), nullable=False),
        sa.Column("individual_pk", sa.Integer(), sa.ForeignKey("beacon_individual.pk",
                                                               ondelete="CASCADE"),
                  nullable=False),
        sa.Column("biosample_id", sa.String(64), nullable=False),
        sa.Column("sample", sa.String(255), nullable=True),
        sa.Column("run_date", sa.String(10), nullable=False),
        sa.Column("library_strategy", sa.String(32), nullable=True),
        sa.Column("library_layout", sa.String(8), nullable=True),
        sa.Column("platform", sa.String(64), nullable=True),
        sa.Column("platform_model", sa.String(128), nullable=True),
        sa.Column("indexed_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_beacon_run_individual", "beacon_run", ["individual_pk"])
    op.create_index("ix_beacon_run_biosample", "beacon_run", ["biosample_id"])


def downgrade() -> None:
    op.drop_table("beacon_run")
    op.drop_table("beacon_consent_state")
    op.drop_index("ix_beacon_individual_consent_until", "beacon_individual")
    with op.batch_alter_table("beacon_biosample") as batch:
        batch.drop_column("sample")
    with op.batch_alter_table("beacon_individual") as batch:
        batch.drop_column("consent_until_us")
