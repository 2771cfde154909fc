"""A read-through cache of catalogue records, so the htsget ticket path needs no database
lookup for an object it has seen recently.

Invalidation, strongest first:
- changes made through this process's catalogue drop the entry at once;
- every change through any catalogue on this host (the CLI, other gunicorn workers) replaces a
  marker file holding a random token (write + rename, so readers never see half a token), and
  every lookup compares the token (one small read) with the one seen when the entry was read,
  so a change is seen by the next request of every worker (inode numbers and coarse mtimes
  can repeat; a random token does not);
- a short time bound (``max_age``) covers changes made on another host sharing the database, or
  directly in SQL.

Entries are only ever read after the marker was stat'ed, so a change racing a read leaves a
stale entry tagged with the old marker, which the next lookup discards.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from ga4gh.catalogue.core.model import GenomicObject, Kind
from ga4gh.catalogue.storage.ports import CatalogueRecords

log = logging.getLogger("genomseq.catalogue")

Stamp = bytes | None


class ChangeMarker:
    """A file whose identity changes whenever the catalogue changes (host-wide signal)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def stamp(self) -> Stamp:
        """The marker's current identity (None before the first change)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return os.read(fd, 64)
        finally:
            os.close(fd)

    def bump(self) -> None:
        """Announce a change: replace the marker with a new file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
            tmp.write_text(uuid.uuid4().hex)
            os.replace(tmp, self.path)
        except OSError:
            # Other workers then see the change only after the cache's time bound.
            log.warning("catalogue change marker could not be written")


class CachedRecords:
    """CatalogueRecords with a per-process cache of ``get`` (found records only)."""

    def __init__(self, records: CatalogueRecords, marker: ChangeMarker, *,
                 max_age: float = 5.0, size: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._records = records
        self._marker = marker
        self._max_age = max_age
        self._size = max(1, size)
        self._clock = clock
        self._entries: OrderedDict[str, tuple[GenomicObject, Stamp, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, object_id: str) -> GenomicObject | None:
        """The record, from the cache while the marker is unchanged and the entry is young."""
        if self._max_age <= 0:
            return self._records.get(object_id)
        stamp = self._marker.stamp()
        now = self._clock()
        with self._lock:
            hit = self._entries.get(object_id)
        if hit is not None and hit[1] == stamp and now - hit[2] < self._max_age:
            return hit[0]
        obj = self._records.get(object_id)
        with self._lock:
            if obj is None:
                self._entries.pop(object_id, None)
            else:
                self._entries[object_id] = (obj, stamp, now)
                self._entries.move_to_end(object_id)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return obj

    def list(
        self,
        *,
        kind: Kind | None = None,
        dataset: str | None = None,
        donor_pseudonym: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[GenomicObject]:
        """Not cached (listing is not on a hot path)."""
        return self._records.list(kind=kind, dataset=dataset, donor_pseudonym=donor_pseudonym,
                                  limit=limit, offset=offset)

    def insert(self, obj: GenomicObject) -> None:
        """Insert, then announce the change."""
        try:
            self._records.insert(obj)
        finally:
            self._changed(obj.id)

    def update(self, obj: GenomicObject) -> None:
        """Update, then announce the change."""
        try:
            self._records.update(obj)
        finally:
            self._changed(obj.id)

    def delete(self, object_id: str) -> bool:
        """Delete, then announce the change."""
        try:
            return self._records.delete(object_id)
        finally:
            self._changed(object_id)

    def clear(self) -> None:
        """Forget every cached record (e.g. after the database was changed behind our back)."""
        with self._lock:
            self._entries.clear()

    def _changed(self, object_id: str) -> None:
        with self._lock:
            self._entries.pop(object_id, None)
        self._marker.bump()
