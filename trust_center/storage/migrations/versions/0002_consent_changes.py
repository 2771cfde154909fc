"""Consent change feed: a monotonic sequence number per recorded consent change, so that
consumers holding consent-derived state (the Beacon's per-carrier table) re-evaluate only the
pseudonyms whose consent changed since the number they last saw.

Revision ID: tc_0002
Revises: tc_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tc_0002"
down_revision = "tc_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row: the newest sequence number. Writers take it with UPDATE (a row lock on
    # PostgreSQL, the write lock on SQLite) until they commit, so numbers become visible in
    # order and a reader never skips one that commits later.
    op.create_table(
        "tc_consent_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.execute(sa.text("INSERT INTO tc_consent_head (id, seq) VALUES (1, 0)"))
    # Which case's consent changed with which number (participation, broad consent, a new
    # case of a person whose person pseudonyms span every case).
    op.create_table(
        "tc_consent_change",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("tc_case.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("recorded_us", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_tc_pseudonym_case", "tc_pseudonym", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_tc_pseudonym_case", "tc_pseudonym")
    op.drop_table("tc_consent_change")
    op.drop_table("tc_consent_head")
