"""Helpers for search tests: store fhir.resources-built resources straight into the tables.

Until the FHIR core's write path is used, tests insert fhir_resource / fhir_resource_version
rows with SQL and call the indexer in the same transaction, as the core does.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from fhir.resources.R4B.resource import Resource

from common.db import write_transaction
from config.context import AppContext
from fhir_server.core.search.params import QueryParser
from fhir_server.core.search.registry import load_default
from fhir_server.storage.search_sql import SqlSearcher, SqlSearchIndexer

REGISTRY = load_default()
INDEXER = SqlSearchIndexer(REGISTRY)


def as_dict(resource: Resource | dict[str, Any]) -> dict[str, Any]:
    """JSON dict of a fhir.resources model (validated on construction)."""
    if isinstance(resource, dict):
        return resource
    return json.loads(resource.model_dump_json())


class Store:
    """Writes resources the way the core does (row, version, index in one transaction)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.clock = 1_600_000_000_000_000
        self.searcher = SqlSearcher(ctx.engine, REGISTRY, b"k" * 32)
        self.parser = QueryParser(REGISTRY)

    def put(self, *resources: Resource | dict[str, Any]) -> list[int]:
        """Create or update resources; returns their primary keys."""
        pks = []
        with write_transaction(self.ctx.engine) as conn:
            items = []
            for res in resources:
                data = as_dict(res)
                self.clock += 1_000_000
                rt, rid = data["resourceType"], data["id"]
                row = conn.execute(
                    sa.text(
                        "SELECT id, version_id FROM fhir_resource WHERE res_type=:t AND res_id=:i"
                    ),
                    {"t": rt, "i": rid},
                ).first()
                if row is None:
                    pk = conn.execute(
                        sa.text(
                            "INSERT INTO fhir_resource (res_type, res_id, version_id, last_updated,"
                            " deleted) VALUES (:t, :i, 1, :lu, :d) RETURNING id"
                        ),
                        {"t": rt, "i": rid, "lu": self.clock, "d": False},
                    ).scalar_one()
                    version = 1
                else:
                    pk, version = row[0], row[1] + 1
                    conn.execute(
                        sa.text(
                            "UPDATE fhir_resource SET version_id=:v, last_updated=:lu WHERE id=:pk"
                        ),
                        {"v": version, "lu": self.clock, "pk": pk},
                    )
                data.setdefault("meta", {})["versionId"] = str(version)
                conn.execute(
                    sa.text(
                        "INSERT INTO fhir_resource_version (resource_id, res_type, res_id, "
                        "version_id, last_updated, method, deleted, content) VALUES (:pk, :t, :i, "
                        ":v, :lu, 'PUT', :d, :c)"
                    ),
                    {
                        "pk": pk,
                        "t": rt,
                        "i": rid,
                        "v": version,
                        "lu": self.clock,
                        "d": False,
                        "c": json.dumps(data).encode(),
                    },
                )
                items.append((pk, rt, data))
                pks.append(pk)
            INDEXER.index_many(conn, items)
        return pks

    def delete(self, res_type: str, res_id: str) -> None:
        """Delete as the core does: flag the row and drop its index rows."""
        with write_transaction(self.ctx.engine) as conn:
            pk = conn.execute(
                sa.text("SELECT id FROM fhir_resource WHERE res_type=:t AND res_id=:i"),
                {"t": res_type, "i": res_id},
            ).scalar_one()
            conn.execute(
                sa.text("UPDATE fhir_resource SET deleted=:d WHERE id=:pk"), {"d": True, "pk": pk}
            )
            INDEXER.unindex(conn, pk)

    def search(self, res_type: str, query: str, **kw: Any):  # noqa: ANN201
        """Run ``res_type?query`` and return the page."""
        from urllib.parse import parse_qsl

        q = self.parser.parse((res_type,), parse_qsl(query, keep_blank_values=True), **kw)
        return self.searcher.search(q)

    def ids(self, res_type: str, query: str) -> list[str]:
        """Ids of every match (following next links), in result order."""
        from urllib.parse import parse_qsl

        q = self.parser.parse((res_type,), parse_qsl(query, keep_blank_values=True))
        out = []
        while True:
            page = self.searcher.search(q)
            out.extend(m.res_id for m in page.matches)
            if not page.next_cursor:
                return out
            q.cursor = page.next_cursor
