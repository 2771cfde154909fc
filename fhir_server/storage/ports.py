"""Ports of the FHIR server's storage room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection


class SearchIndexer(Protocol):
    """Keeps the search index tables in step with the current version of every resource.

    Called inside the write transaction of every create, update, patch and delete, so the
    index never disagrees with the resource table.
    """

    def index(
        self, conn: Connection, resource_pk: int, res_type: str, resource: dict[str, Any]
    ) -> None:
        """Replace the index rows of one resource by those of its new current version."""
        ...

    def prepare(self, res_type: str, resource: dict[str, Any]) -> Any:
        """Whatever indexing can compute without the database (the index rows), before the
        write transaction; None if nothing. Handed back to ``index_many`` as ``prepared``."""
        ...

    def index_many(
        self, conn: Connection, items: Sequence[tuple[int, str, dict[str, Any]]],
        *, replace: bool = True, prepared: Sequence[Any] | None = None,
    ) -> None:
        """Index many resources at once (one executemany per index table).

        ``replace=False`` promises that none of them has index rows yet (new resources).
        ``prepared``, parallel to ``items``, holds results of ``prepare`` (or None each); the
        indexer must ignore any that no longer apply (the parameter set changed since).
        """
        ...

    def unindex(self, conn: Connection, resource_pk: int) -> None:
        """Remove every index row of one (deleted) resource."""
        ...

    def match(self, conn: Connection, res_type: str, criteria: list[tuple[str, str]]) -> list[int]:
        """Primary keys of current, non-deleted resources matching search criteria
        (conditional create/update/delete). Raises InvalidInput for unknown parameters."""
        ...
