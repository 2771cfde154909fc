"""Participants, datasets, data-access applications, their history, and grants.

Revision ID: platform_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "platform_0001"
down_revision = None
branch_labels = None
depends_on = None

# Timestamps are microseconds since the epoch (UTC), as in the FHIR tables: exact, sortable
# and identical on SQLite and PostgreSQL.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pp_participant",
        sa.Column("participant_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "pp_participant_history",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "participant_id",
            sa.String(64),
            sa.ForeignKey("pp_participant.participant_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_pp_participant_history", "pp_participant_history", ["participant_id", "id"])
    op.create_table(
        "pp_dataset",
        sa.Column("dataset_id", sa.String(128), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "custodian_id",
            sa.String(64),
            sa.ForeignKey("pp_participant.participant_id"),
            nullable=True,
        ),
        # JSON: data categories and the DUO data-use terms with their parameters.
        sa.Column("data_categories", sa.Text(), nullable=False),
        sa.Column("data_use", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "pp_application",
        sa.Column("application_id", sa.String(40), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("institution", sa.String(300), nullable=False),
        sa.Column("project_title", sa.String(300), nullable=False),
        sa.Column("applicant_subject", sa.String(255), nullable=False),
        # Lower-cased public text (institution, title, summary, purpose, datasets) for the
        # register's search; never holds personal data.
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=True),
        # Optimistic concurrency: every write increments it.
        sa.Column("version", sa.Integer(), nullable=False),
        # The complete application record as JSON.
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("ix_pp_application_state", "pp_application", ["state", "submitted_at"])
    op.create_table(
        "pp_application_event",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "application_id",
            sa.String(40),
            sa.ForeignKey("pp_application.application_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
    )
    op.create_index("ix_pp_application_event", "pp_application_event", ["application_id", "id"])
    op.create_table(
        "pp_grant",
        sa.Column("grant_id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("dataset_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column(
            "application_id",
            sa.String(40),
            sa.ForeignKey("pp_application.application_id"),
            nullable=False,
        ),
        sa.Column("access_level", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
    )
    # The hot path: GrantDirectory.active_grants(subject, at) on every request.
    op.create_index("ix_pp_grant_subject", "pp_grant", ["subject", "valid_until"])
    op.create_index("ix_pp_grant_application", "pp_grant", ["application_id"])


def downgrade() -> None:
    op.drop_table("pp_grant")
    op.drop_table("pp_application_event")
    op.drop_table("pp_application")
    op.drop_table("pp_dataset")
    op.drop_table("pp_participant_history")
    op.drop_table("pp_participant")
