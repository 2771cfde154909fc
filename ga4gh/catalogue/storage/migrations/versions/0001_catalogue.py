"""Catalogue of genomic objects.

Revision ID: genomics_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "genomics_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "genomic_object",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(512), nullable=False),
        sa.Column("index_key", sa.String(512), nullable=True),
        sa.Column("index_format", sa.String(8), nullable=True),
        # Space-separated keys of auxiliary files (e.g. the .gzi of a bgzipped FASTA).
        sa.Column("aux_keys", sa.Text(), nullable=False, server_default=""),
        sa.Column("dataset", sa.String(128), nullable=True),
        sa.Column("donor_pseudonym", sa.String(128), nullable=True),
        sa.Column("reference_digest", sa.String(128), nullable=True),
        # Microseconds since the epoch (UTC): exact, sortable and dialect-neutral.
        sa.Column("created", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_genomic_object_kind", "genomic_object", ["kind", "id"])
    op.create_index("ix_genomic_object_dataset", "genomic_object", ["dataset", "id"])
    op.create_index("ix_genomic_object_donor", "genomic_object", ["donor_pseudonym"])


def downgrade() -> None:
    op.drop_table("genomic_object")
