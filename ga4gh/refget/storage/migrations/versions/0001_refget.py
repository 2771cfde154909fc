"""Refget sequences, aliases, sequence collections and seqcol attribute values.

Revision ID: refget_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "refget_0001"
down_revision = None
branch_labels = None
depends_on = None

_DIGEST = 64  # sha512t24u is 32 characters; room for a longer ga4gh digest (refget 2.0.0)


def upgrade() -> None:
    # One row per distinct sequence (by content); bases stay in the indexed FASTA on disk.
    op.create_table(
        "refget_sequence",
        sa.Column("ga4gh", sa.String(_DIGEST + 3), primary_key=True),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("circular", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("fasta_path", sa.Text(), nullable=False),
        sa.Column("fasta_name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("md5", name="uq_refget_sequence_md5"),
    )
    # Names given by naming authorities (refget 2.0.0 "Unique Identifiers", metadata aliases).
    op.create_table(
        "refget_alias",
        sa.Column("naming_authority", sa.String(64), nullable=False),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column(
            "ga4gh",
            sa.String(_DIGEST + 3),
            sa.ForeignKey("refget_sequence.ga4gh", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("naming_authority", "alias", "ga4gh", name="pk_refget_alias"),
    )
    op.create_index("ix_refget_alias_ga4gh", "refget_alias", ["ga4gh"])
    # Sequence collections with their level 1 digests (one column per attribute, so the
    # /list filters of Sequence Collections 1.0.0 section 3.4 are indexed lookups).
    op.create_table(
        "refget_collection",
        sa.Column("digest", sa.String(_DIGEST), primary_key=True),
        sa.Column("lengths", sa.String(_DIGEST), nullable=False),
        sa.Column("names", sa.String(_DIGEST), nullable=False),
        sa.Column("sequences", sa.String(_DIGEST), nullable=False),
        sa.Column("sorted_sequences", sa.String(_DIGEST), nullable=False),
        sa.Column("name_length_pairs", sa.String(_DIGEST), nullable=False),
        sa.Column("sorted_name_length_pairs", sa.String(_DIGEST), nullable=False),
        sa.Column("n_sequences", sa.Integer(), nullable=False),
        sa.Column("fasta_path", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    for attr in (
        "lengths",
        "names",
        "sequences",
        "sorted_sequences",
        "name_length_pairs",
        "sorted_name_length_pairs",
    ):
        op.create_index(f"ix_refget_collection_{attr}", "refget_collection", [attr])
    # Level 2 values of non-transient attributes, shared by every collection with that value.
    op.create_table(
        "refget_attribute",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(_DIGEST), nullable=False),
        # RFC 8785 canonical JSON of the value (exactly what the digest was taken over).
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", "digest", name="pk_refget_attribute"),
    )


def downgrade() -> None:
    op.drop_table("refget_attribute")
    op.drop_table("refget_collection")
    op.drop_table("refget_alias")
    op.drop_table("refget_sequence")
