"""Prüfberichte received from approved data nodes and the Meldebestätigungen issued for them.

Revision ID: pruefberichte_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pruefberichte_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_pruefbericht",
        # The T-VNg/tanG (lower case) the report is about: BfArM's key for the Meldung.
        sa.Column("tan", sa.String(64), primary_key=True),
        sa.Column("participant", sa.String(16), nullable=False),
        sa.Column("submitter_id", sa.String(9), nullable=False),
        sa.Column("submission_date", sa.Date(), nullable=False),
        sa.Column("submission_type", sa.String(16), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("meldebestaetigung", sa.String(64), nullable=True, unique=True),
        sa.Column("zaehler", sa.Integer(), nullable=True),
        sa.Column("received", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_platform_pruefbericht_submitter",
        "platform_pruefbericht",
        ["submitter_id", "submission_date"],
    )


def downgrade() -> None:
    op.drop_index("ix_platform_pruefbericht_submitter", table_name="platform_pruefbericht")
    op.drop_table("platform_pruefbericht")
