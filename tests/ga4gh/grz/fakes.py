"""In-memory stand-ins for the other components' ports (catalogue, trust center, platform)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ga4gh.grz.core.errors import DuplicateTan
from ga4gh.grz.ports import CatalogueEntry


class Crash(BaseException):
    """Simulates the process being killed (not an Exception: nothing may catch it)."""


class FakeCatalogue:
    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, CatalogueEntry, bytes]] = {}
        self.crash_on_call: int | None = None
        self.calls = 0

    def register(self, entry: CatalogueEntry) -> str:
        self.calls += 1
        if self.crash_on_call is not None and self.calls == self.crash_on_call:
            raise Crash()
        data = Path(entry.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256
        cid = f"obj{len(self.entries) + 1}"
        self.entries[cid] = (entry.tag, entry, data)
        return cid

    def remove_tagged(self, tag: str, dataset_pseudonym: str | None) -> int:
        gone = [k for k, (t, _, _) in self.entries.items() if t == tag]
        for k in gone:
            del self.entries[k]
        return len(gone)

    def tagged(self, tag: str) -> list[CatalogueEntry]:
        return [e for t, e, _ in self.entries.values() if t == tag]


class FakeTrustCenter:
    def __init__(self) -> None:
        self.seen: dict[str, str] = {}
        self.crash_after_exchange = False

    def exchange(self, tan_g: str) -> str:
        if tan_g in self.seen:
            raise DuplicateTan("tanG already exchanged")
        self.seen[tan_g] = "GDP" + hashlib.sha256(tan_g.encode()).hexdigest()[:20]
        if self.crash_after_exchange:
            raise Crash()
        return self.seen[tan_g]


class FakePlatform:
    def __init__(self) -> None:
        self.reports: list[tuple[str, dict[str, object]]] = []

    def submit(self, report: dict[str, object], *, participant: str) -> None:
        self.reports.append((participant, report))
