"""Full-text index for ``_text`` (narrative) and ``_content`` (all string content).

Revision ID: fhir_0003
Revises: fhir_0002

FHIR R4 4.0.1 search.html 3.1.1.3.3 (``_content``, ``_text``). One row per current resource
with the words of its narrative and of its whole content (fhir_server.core.search.extract
.fulltext): on SQLite an FTS5 table (rowid = fhir_resource.id), on PostgreSQL a table with GIN
indexes over stored ``to_tsvector('simple', ...)`` columns of both. The rows of existing resources
are filled here from their stored JSON (the words depend on nothing but the resource), and
the narrative rows fhir_0002 kept in fhir_idx_string are removed.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from fhir_server.core.search.extract import fulltext, identity
from fhir_server.core.types import R4_RESOURCE_TYPES

revision = "fhir_0003"
down_revision = "fhir_0002"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        op.execute(
            "CREATE VIRTUAL TABLE fhir_idx_text USING fts5(narrative, content, "
            "tokenize = 'unicode61 remove_diacritics 2')"
        )
    else:
        # The tsvectors are stored (generated columns): matching rows are rechecked against
        # them, and recomputing to_tsvector per candidate costs ~0.1 ms a row.
        op.create_table(
            "fhir_idx_text",
            sa.Column(
                "resource_pk",
                sa.BigInteger(),
                sa.ForeignKey("fhir_resource.id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column("narrative", sa.Text(), nullable=False),
            sa.Column("content", sa.Text(), nullable=False),
            *(
                sa.Column(
                    f"{col}_tsv",
                    postgresql.TSVECTOR(),
                    sa.Computed(f"to_tsvector('simple'::regconfig, {col})", persisted=True),
                )
                for col in ("narrative", "content")
            ),
        )
        for col in ("narrative", "content"):
            op.execute(
                f"CREATE INDEX ix_fhir_idx_text_{col} ON fhir_idx_text USING gin ({col}_tsv)"
            )
    insert = sa.text(
        "INSERT INTO fhir_idx_text (rowid, narrative, content) VALUES (:pk, :n, :c)"
        if sqlite
        else "INSERT INTO fhir_idx_text (resource_pk, narrative, content) VALUES (:pk, :n, :c)"
    )
    select = sa.text(
        "SELECT r.id, v.content FROM fhir_resource r JOIN fhir_resource_version v "
        "ON v.resource_id = r.id AND v.version_id = r.version_id "
        "WHERE r.id > :after AND r.deleted = :f ORDER BY r.id LIMIT :n"
    )
    after = 0
    while True:
        rows = conn.execute(select, {"after": after, "f": False, "n": _BATCH}).all()
        if not rows:
            break
        items = []
        for pk, content in rows:
            narrative, words = fulltext(json.loads(bytes(content)))
            if narrative or words:
                items.append({"pk": pk, "n": narrative, "c": words})
        if items:
            conn.execute(insert, items)
        after = rows[-1][0]
    if not sqlite:
        op.execute("ANALYZE fhir_idx_text")  # the planner needs the GIN statistics at once
    stale = [identity(t, "_text") for t in sorted(R4_RESOURCE_TYPES)]
    conn.execute(
        sa.text("DELETE FROM fhir_idx_string WHERE hash_identity IN :h").bindparams(
            sa.bindparam("h", expanding=True)
        ),
        {"h": stale},
    )


def downgrade() -> None:
    op.drop_table("fhir_idx_text")
