"""Passport broker: clients, users, authorization codes, tokens, client assertion jtis.

Revision ID: passport_0001
Revises:
"""

from __future__ import annotations

from alembic import op

from ga4gh.passport.storage.tables import metadata

revision = "passport_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The tables module is the single definition; this revision is frozen by its name: later
    # changes go into new revisions that alter these tables.
    bind = op.get_bind()
    metadata.create_all(bind)


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
