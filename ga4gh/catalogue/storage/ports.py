"""Ports of the catalogue's storage room: where records and bytes are kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from ga4gh.catalogue.core.model import GenomicObject, Kind


class CatalogueRecords(Protocol):
    """The catalogue's records (one SQL adapter for SQLite and PostgreSQL)."""

    def insert(self, obj: GenomicObject) -> None:
        """Add a record; raises common.errors.Conflict if the id exists."""
        ...

    def get(self, object_id: str) -> GenomicObject | None:
        """The record with this id, or None."""
        ...

    def list(
        self,
        *,
        kind: Kind | None = None,
        dataset: str | None = None,
        donor_pseudonym: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[GenomicObject]:
        """Records in id order, optionally filtered."""
        ...

    def update(self, obj: GenomicObject) -> None:
        """Replace the mutable fields (dataset, pseudonym, reference) of a record."""
        ...

    def delete(self, object_id: str) -> bool:
        """Remove a record; False if there was none."""
        ...


class ObjectStore(Protocol):
    """Where the bytes of data and index files live, addressed by key (``<id>/<file>``)."""

    def put_file(self, key: str, source: Path) -> None:
        """Store a local file under key, moving it if the store is local (source is consumed)."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A seekable binary stream of the object."""
        ...

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object."""
        ...

    def iter_range(self, key: str, start: int, end: int, chunk: int = 1 << 20) -> Iterator[bytes]:
        """Bytes [start, end) of the object in chunks (for streaming responses)."""
        ...

    def size(self, key: str) -> int:
        """Size of the object in bytes; raises FileNotFoundError if it does not exist."""
        ...

    def mtime_ns(self, key: str) -> int:
        """Modification time (ns) for cache keys; raises FileNotFoundError if missing."""
        ...

    def exists(self, key: str) -> bool:
        """True if the object exists."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object if it exists."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path of the object if the store keeps it on local disk, else None."""
        ...
