"""Value objects of the FHIR core: stored versions, history pages, write intents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from wsgiref.handlers import format_date_time

import orjson


def now_us() -> int:
    """Current time in microseconds since the epoch (UTC)."""
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def instant(us: int) -> str:
    """FHIR instant (datatypes.html#instant) for microseconds since the epoch."""
    dt = datetime.fromtimestamp(us / 1_000_000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}Z"


def http_date(us: int) -> str:
    """RFC 9110 IMF-fixdate for Last-Modified (English names whatever the locale)."""
    return format_date_time(us // 1_000_000)


@dataclass(frozen=True)
class StoredVersion:
    """One version of a resource as stored. ``content`` is the JSON as served (None if deleted)."""

    res_type: str
    res_id: str
    version_id: int
    last_updated: int  # microseconds since the epoch
    deleted: bool
    method: str
    content: bytes | None

    @property
    def etag(self) -> str:
        """Weak ETag of this version (http.html#versioning)."""
        return f'W/"{self.version_id}"'

    @property
    def location(self) -> str:
        """Relative version-specific URL ``Type/id/_history/vid``."""
        return f"{self.res_type}/{self.res_id}/_history/{self.version_id}"

    def resource(self) -> dict[str, Any]:
        """The parsed resource (raises if deleted)."""
        if self.content is None:
            raise ValueError("deleted version has no content")
        return orjson.loads(self.content)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Write:
    """A write the core decided on; the storage adapter persists it as one new version."""

    res_type: str
    res_id: str
    version_id: int
    last_updated: int
    method: str  # POST, PUT, PATCH, DELETE
    content: bytes | None  # None for DELETE
    resource: dict[str, Any] | None  # parsed content, for indexing (None for DELETE)
    # What the storage adapter derived from this write before its transaction began
    # (FhirRepository.prepare: search index rows), so that the write lock is held shorter.
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def stored(self) -> StoredVersion:
        return StoredVersion(
            self.res_type,
            self.res_id,
            self.version_id,
            self.last_updated,
            self.method == "DELETE",
            self.method,
            self.content,
        )


@dataclass(frozen=True)
class HistoryQuery:
    """Parameters of a history interaction (http.html#history)."""

    res_type: str | None = None
    res_id: str | None = None
    since: int | None = None  # _since, microseconds
    at: tuple[int, int] | None = None  # _at as [start, end) in microseconds
    count: int = 50
    before_pk: int | None = None  # paging cursor: version table key


@dataclass(frozen=True)
class HistoryPage:
    versions: list[StoredVersion]
    next_before_pk: int | None
