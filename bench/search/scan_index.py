"""A search indexer without index tables, the baseline of bench/search/ingest.py (ingest
without search indexing): conditional interactions by ``_id`` and ``identifier`` only, by
scanning the current versions of one resource type."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, and_, select

from fhir_server.core.errors import InvalidRequest
from fhir_server.storage.sql import resource_table as _r
from fhir_server.storage.sql import version_table as _v


def _split_escaped(value: str, sep: str) -> list[str]:
    parts, cur, i = [], "", 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            cur += value[i + 1]
            i += 2
            continue
        if ch == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def _token_matches(identifiers: list[dict[str, Any]], token: str) -> bool:
    if "|" in token.replace("\\|", ""):
        system, code = _split_escaped(token, "|")[:2]
        for ident in identifiers:
            if system and ident.get("system") != system:
                continue
            if not system and ident.get("system"):
                continue
            if code == "" or ident.get("value") == code:
                return True
        return False
    value = _split_escaped(token, "|")[0]
    return any(ident.get("value") == value for ident in identifiers)


class ScanIndexer:
    """SearchIndexer that keeps no index and matches ``_id`` / ``identifier`` by scanning."""

    SUPPORTED = frozenset({"_id", "identifier"})

    def index(
        self, conn: Connection, resource_pk: int, res_type: str, resource: dict[str, Any]
    ) -> None:
        """Nothing to index."""

    def prepare(self, res_type: str, resource: dict[str, Any]) -> None:
        """Nothing to extract."""

    def index_many(
        self, conn: Connection, items: Any, *, replace: bool = True, prepared: Any = None
    ) -> None:
        """Nothing to index."""

    def unindex(self, conn: Connection, resource_pk: int) -> None:
        """Nothing to remove."""

    def match(self, conn: Connection, res_type: str, criteria: list[tuple[str, str]]) -> list[int]:
        for name, _ in criteria:
            if name not in self.SUPPORTED:
                raise InvalidRequest(
                    f"search parameter {name!r} is not supported in conditional interactions"
                )
        stmt = (
            select(_r.c.id, _r.c.res_id, _v.c.content)
            .select_from(
                _r.join(_v, and_(_v.c.resource_id == _r.c.id, _v.c.version_id == _r.c.version_id))
            )
            .where(_r.c.res_type == res_type, _r.c.deleted.is_(False))
        )
        ids = [v for n, v in criteria if n == "_id"]
        for value in ids:
            stmt = stmt.where(_r.c.res_id.in_(_split_escaped(value, ",")))
        tokens = [v for n, v in criteria if n == "identifier"]
        found = []
        for row in conn.execute(stmt):
            if tokens:
                identifiers = orjson.loads(row.content).get("identifier") or []
                if not all(
                    any(_token_matches(identifiers, alt) for alt in _split_escaped(t, ","))
                    for t in tokens
                ):
                    continue
            found.append(row.id)
        return found
