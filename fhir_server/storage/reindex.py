"""Rebuilding the search index of every current resource (after new SearchParameters)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from sqlalchemy import Engine, and_, false, func, select

from common.db import write_transaction
from fhir_server.storage.search_sql import SqlSearchIndexer, resource_t, version_t

BATCH = 500


def reindex(engine: Engine, indexer: SqlSearchIndexer, res_types: list[str] | None = None,
            progress: Callable[[int], None] | None = None) -> int:
    """Re-extract the index rows of every current resource, one transaction per batch.

    Works in primary-key order with a keyset, so it can run while the server takes writes:
    a resource written meanwhile is indexed by its own write transaction anyway.
    """
    with engine.connect() as conn:
        indexer.custom.refresh(conn, force=True)
    r, v = resource_t, version_t
    after = 0
    done = 0
    while True:
        stmt = (select(r.c.id, r.c.res_type, v.c.content)
                .select_from(r.join(v, and_(v.c.resource_id == r.c.id,
                                            v.c.version_id == r.c.version_id)))
                .where(r.c.id > after, r.c.deleted == false()))
        if res_types:
            stmt = stmt.where(r.c.res_type.in_(res_types))
        with write_transaction(engine) as conn:
            rows = conn.execute(stmt.order_by(r.c.id).limit(BATCH)).all()
            if not rows:
                return done
            items = [(row[0], row[1], orjson.loads(bytes(row[2]))) for row in rows]
            indexer.index_many(conn, items)
        after = rows[-1][0]
        done += len(rows)
        if progress is not None:
            progress(len(rows))


def count_current(engine: Engine, res_types: list[str] | None = None) -> int:
    """How many current resources a reindex will visit."""
    stmt = select(func.count()).select_from(resource_t).where(resource_t.c.deleted == false())
    if res_types:
        stmt = stmt.where(resource_t.c.res_type.in_(res_types))
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())
