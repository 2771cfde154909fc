"""Ports the FHIR core needs from storage (implemented in fhir_server/storage/sql.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from fhir_server.core.model import HistoryPage, HistoryQuery, StoredVersion, Write

T = TypeVar("T")


class FhirUnitOfWork(Protocol):
    """Reads and writes inside one database transaction."""

    def current(self, res_type: str, res_id: str) -> StoredVersion | None:
        """Current version (possibly a deletion) of a resource, locked for update."""
        ...

    def match(self, res_type: str, criteria: list[tuple[str, str]]) -> list[str]:
        """Ids of current resources of a type matching search criteria."""
        ...

    def lock(self, key: str) -> None:
        """Serialise transactions that use the same key until this one ends."""
        ...

    def existing(self, refs: list[str]) -> set[str]:
        """Which of the ``Type/id`` references name current, non-deleted resources."""
        ...

    def write(self, writes: list[Write]) -> None:
        """Persist new versions (and keep the search index in step)."""
        ...


class FhirRepository(Protocol):
    """Durable store of versioned resources."""

    def read(self, res_type: str, res_id: str) -> StoredVersion | None:
        """Current version of a resource, or None if it never existed."""
        ...

    def vread(self, res_type: str, res_id: str, version_id: int) -> StoredVersion | None: ...

    def history(self, query: HistoryQuery) -> HistoryPage: ...

    def prepare(self, writes: Sequence[Write]) -> None:
        """Do the part of storing these writes that needs no database (search index
        extraction) now, before ``atomic``: it then holds the write lock only for what
        depends on the stored state. Optional for correctness: ``write`` redoes what is
        missing or stale."""
        ...

    def snapshot(self, work: Callable[[FhirUnitOfWork], T]) -> T:
        """Run read-only ``work`` (match, current) without taking write locks."""
        ...

    def atomic(self, work: Callable[[FhirUnitOfWork], T]) -> T:
        """Run ``work`` in one transaction; retry it on a transient conflict."""
        ...
