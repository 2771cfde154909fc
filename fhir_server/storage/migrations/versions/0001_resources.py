"""FHIR resource and version tables.

Revision ID: fhir_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fhir_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per logical resource: its current version. Content lives in the version table.
    op.create_table(
        "fhir_resource",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        # Microseconds since the epoch (UTC): exact, sortable and dialect-neutral.
        sa.Column("last_updated", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("res_type", "res_id", name="uq_fhir_resource_type_id"),
    )
    op.create_index("ix_fhir_resource_type_updated", "fhir_resource", ["res_type", "last_updated"])
    # Every version of every resource (history); the newest is the current one.
    op.create_table(
        "fhir_resource_version",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "resource_id",
            sa.BigInteger(),
            sa.ForeignKey("fhir_resource.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.BigInteger(), nullable=False),
        # POST, PUT, PATCH or DELETE: history entries carry the request method.
        sa.Column("method", sa.String(6), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
        # UTF-8 JSON of the version as served (null for a delete).
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.UniqueConstraint("resource_id", "version_id", name="uq_fhir_version"),
    )
    op.create_index("ix_fhir_version_updated", "fhir_resource_version", ["last_updated"])
    op.create_index(
        "ix_fhir_version_type_updated", "fhir_resource_version", ["res_type", "last_updated"]
    )


def downgrade() -> None:
    op.drop_table("fhir_resource_version")
    op.drop_table("fhir_resource")
