"""Audit log entries and the signed chain head.

Revision ID: audit_0001
Revises:

Registered twice (main database and the trust center's database). When both names point at
one database the second run finds the tables and leaves them: one database, one log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "audit_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("audit_log"):
        return
    op.create_table(
        "audit_log",
        # Assigned by the appender (head.seq + 1) under the head row lock, never by a sequence:
        # a gap is then always a deleted entry.
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        # Microseconds since the epoch (UTC).
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        # Canonical JSON, exactly the bytes that were hashed.
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_event", "audit_log", ["event"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        # base64url Ed25519 signature over the head, and the RFC 7638 key id that made it.
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(100), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single_row"),
    )
    # The one head row exists from the start so appenders can always lock it.
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64, "signature": None,
                           "key_id": None}])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_event", table_name="audit_log")
    op.drop_table("audit_log")
