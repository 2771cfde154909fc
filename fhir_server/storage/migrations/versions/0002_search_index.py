"""FHIR search index tables, one per search-parameter type (HAPI FHIR JPA style hashes).

Revision ID: fhir_0002
Revises: fhir_0001

Every row belongs to the current version of one resource (``resource_pk`` ->
fhir_resource.id) and carries ``hash_identity`` = hash(resource type, parameter code); value
columns are hashes as well where the search compares for equality, so each look-up is one
probe of a (hash, resource_pk) B-tree and results come out in primary-key order, which is
the default search order (keyset paging). The (resource_pk, hash_identity) index serves
re-indexing, ``:missing`` and the EXISTS probes of multi-parameter searches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fhir_0002"
down_revision = "fhir_0001"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _text(length: int) -> sa.types.TypeEngine:
    # Byte-wise collation on PostgreSQL so prefix ranges (value >= p AND value < p||U+10FFFF)
    # mean "starts with" and use the B-tree; SQLite compares byte-wise (BINARY) already.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _table(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("resource_pk", _PK, sa.ForeignKey("fhir_resource.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("hash_identity", sa.BigInteger(), nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_res", name, ["resource_pk", "hash_identity"])


def upgrade() -> None:
    _table("fhir_idx_string",
           sa.Column("value_norm", _text(200), nullable=False),
           sa.Column("value_exact", _text(200), nullable=False))
    op.create_index("ix_fhir_idx_string_norm", "fhir_idx_string",
                    ["hash_identity", "value_norm", "resource_pk"])
    op.create_index("ix_fhir_idx_string_exact", "fhir_idx_string",
                    ["hash_identity", "value_exact", "resource_pk"])

    _table("fhir_idx_token",
           sa.Column("hash_sys", sa.BigInteger(), nullable=False),
           sa.Column("hash_sys_value", sa.BigInteger(), nullable=False),
           sa.Column("hash_value", sa.BigInteger(), nullable=False),
           sa.Column("system", sa.String(200), nullable=True),
           sa.Column("value", _text(200), nullable=True))
    op.create_index("ix_fhir_idx_token_sv", "fhir_idx_token", ["hash_sys_value", "resource_pk"])
    op.create_index("ix_fhir_idx_token_v", "fhir_idx_token", ["hash_value", "resource_pk"])
    op.create_index("ix_fhir_idx_token_s", "fhir_idx_token", ["hash_sys", "resource_pk"])

    _table("fhir_idx_date",
           sa.Column("low", sa.BigInteger(), nullable=False),
           sa.Column("high", sa.BigInteger(), nullable=False))
    op.create_index("ix_fhir_idx_date_low", "fhir_idx_date", ["hash_identity", "low", "high"])
    op.create_index("ix_fhir_idx_date_high", "fhir_idx_date", ["hash_identity", "high"])

    _table("fhir_idx_number", sa.Column("value", sa.Float(), nullable=False))
    op.create_index("ix_fhir_idx_number_v", "fhir_idx_number", ["hash_identity", "value"])

    _table("fhir_idx_quantity",
           sa.Column("hash_units", sa.BigInteger(), nullable=False),
           sa.Column("hash_code", sa.BigInteger(), nullable=False),
           sa.Column("value_low", sa.Float(), nullable=False),
           sa.Column("value_high", sa.Float(), nullable=False))
    op.create_index("ix_fhir_idx_quantity_v", "fhir_idx_quantity",
                    ["hash_identity", "value_low"])
    op.create_index("ix_fhir_idx_quantity_u", "fhir_idx_quantity", ["hash_units", "value_low"])
    op.create_index("ix_fhir_idx_quantity_c", "fhir_idx_quantity", ["hash_code", "value_low"])

    _table("fhir_idx_uri",
           sa.Column("hash_uri", sa.BigInteger(), nullable=False),
           sa.Column("uri", _text(500), nullable=False))
    op.create_index("ix_fhir_idx_uri_h", "fhir_idx_uri", ["hash_uri", "resource_pk"])
    op.create_index("ix_fhir_idx_uri_u", "fhir_idx_uri", ["hash_identity", "uri"])

    _table("fhir_idx_reference",
           sa.Column("hash_target", sa.BigInteger(), nullable=False),
           sa.Column("target_type", sa.String(64), nullable=True),
           sa.Column("target_id", sa.String(64), nullable=True),
           sa.Column("url", sa.String(500), nullable=True))
    op.create_index("ix_fhir_idx_reference_t", "fhir_idx_reference",
                    ["hash_target", "resource_pk"])
    op.create_index("ix_fhir_idx_reference_tt", "fhir_idx_reference",
                    ["target_type", "target_id", "hash_identity"])

    _table("fhir_idx_composite",
           sa.Column("c1_hash", sa.BigInteger(), nullable=True),
           sa.Column("c1_hash_value", sa.BigInteger(), nullable=True),
           sa.Column("c2_hash", sa.BigInteger(), nullable=True),
           sa.Column("c2_hash_value", sa.BigInteger(), nullable=True),
           sa.Column("c2_low", sa.Float(), nullable=True),
           sa.Column("c2_high", sa.Float(), nullable=True),
           sa.Column("c2_units", sa.BigInteger(), nullable=True),
           sa.Column("c3_low", sa.Float(), nullable=True),
           sa.Column("c3_high", sa.Float(), nullable=True))
    op.create_index("ix_fhir_idx_composite_c1", "fhir_idx_composite",
                    ["hash_identity", "c1_hash", "resource_pk"])
    op.create_index("ix_fhir_idx_composite_c1v", "fhir_idx_composite",
                    ["hash_identity", "c1_hash_value", "resource_pk"])


def downgrade() -> None:
    for t in ("composite", "reference", "uri", "quantity", "number", "date", "token", "string"):
        op.drop_table(f"fhir_idx_{t}")
