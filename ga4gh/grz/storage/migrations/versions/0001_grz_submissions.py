"""GRZ submissions, their files, state history and tanG reservations.

Revision ID: grz_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "grz_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grz_submission",
        sa.Column("submission_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error_reason", sa.String(32), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("submitter_id", sa.String(9), nullable=False, server_default=""),
        sa.Column("submission_date", sa.Date(), nullable=True),
        sa.Column("submission_type", sa.String(16), nullable=False, server_default=""),
        sa.Column("genomic_data_center_id", sa.String(9), nullable=False, server_default=""),
        sa.Column("metadata_sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("qc_passed", sa.Boolean(), nullable=True),
        sa.Column("qc_report", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("tan_exchange_started", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("dataset_pseudonym", sa.String(128), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_grz_submission_updated", "grz_submission", ["updated"])
    op.create_table(
        "grz_submission_file",
        sa.Column(
            "submission_id",
            sa.String(64),
            sa.ForeignKey("grz_submission.submission_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("file_path", sa.String(1024), primary_key=True),
        sa.Column("file_type", sa.String(16), nullable=False),
        sa.Column("declared_checksum", sa.String(64), nullable=False),
        sa.Column("declared_size", sa.BigInteger(), nullable=False),
        sa.Column("observed_checksum", sa.String(64), nullable=False, server_default=""),
        sa.Column("observed_size", sa.BigInteger(), nullable=False, server_default="-1"),
        sa.Column("detected_format", sa.String(16), nullable=False, server_default=""),
        sa.Column("read_count", sa.BigInteger(), nullable=True),
        sa.Column("mean_coverage", sa.Float(), nullable=True),
        sa.Column("catalogue_id", sa.String(128), nullable=False, server_default=""),
    )
    op.create_table(
        "grz_transition",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "submission_id",
            sa.String(64),
            sa.ForeignKey("grz_submission.submission_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_grz_transition_submission", "grz_transition", ["submission_id", "id"])
    # Keyed digests (HMAC-SHA256) of tanGs held by submissions that are not refused.
    op.create_table(
        "grz_tan",
        sa.Column("tan_digest", sa.String(64), primary_key=True),
        sa.Column(
            "submission_id",
            sa.String(64),
            sa.ForeignKey("grz_submission.submission_id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
    )


def downgrade() -> None:
    op.drop_table("grz_tan")
    op.drop_index("ix_grz_transition_submission", table_name="grz_transition")
    op.drop_table("grz_transition")
    op.drop_table("grz_submission_file")
    op.drop_index("ix_grz_submission_updated", table_name="grz_submission")
    op.drop_table("grz_submission")
