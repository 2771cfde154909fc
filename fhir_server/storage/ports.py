"""Ports of the FHIR server's storage room."""

from __future__ import annotations

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

    def unindex(self, conn: Connection, resource_pk: int) -> None:
        """Remove every index row of one (deleted) resource."""
        ...

    def match(self, conn: Connection, res_type: str, criteria: list[tuple[str, str]]) -> list[int]:
        """Primary keys of current, non-deleted resources matching search criteria
        (conditional create/update/delete). Raises InvalidInput for unknown parameters."""
        ...
