"""The read-through cache of catalogue records (ticket path without a database lookup):
changes through this process, through another process on the host (marker file) and behind
its back (time bound) are all seen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from config.context import AppContext
from ga4gh.catalogue.service import CatalogueService
from ga4gh.catalogue.storage.cache import CachedRecords, ChangeMarker
from ga4gh.catalogue.storage.local import LocalObjectStore
from ga4gh.catalogue.storage.sql import SqlCatalogueRecords, genomic_object
from tests.ga4gh.genomic_data import GenomicFiles


class CountingRecords(SqlCatalogueRecords):
    """The SQL adapter, counting the lookups that reach the database."""

    gets = 0

    def get(self, object_id: str):  # type: ignore[no-untyped-def]
        self.gets += 1
        return super().get(object_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def setup(ctx: AppContext, tmp_path: Path, genomic_files: GenomicFiles) -> Iterator[tuple]:
    marker = ChangeMarker(tmp_path / "catalogue.changed")
    store = LocalObjectStore(tmp_path / "objects")
    clock = Clock()
    # Two catalogues on one database and one host: a server worker and, say, the CLI.
    worker_db = CountingRecords(ctx.engine)
    worker = CatalogueService(CachedRecords(worker_db, marker, max_age=5, clock=clock), store,
                              tmp_path / "stage")
    cli = CatalogueService(CachedRecords(SqlCatalogueRecords(ctx.engine), marker), store,
                           tmp_path / "stage")
    worker.add("c-bam", genomic_files.bam, dataset="ds-1")
    yield worker, worker_db, cli, clock
    cli.remove("c-bam")


def test_repeated_lookups_do_not_reach_the_database(setup: tuple) -> None:
    worker, db, _cli, _clock = setup
    assert worker.get("c-bam").dataset == "ds-1"
    before = db.gets
    for _ in range(10):
        assert worker.get("c-bam").dataset == "ds-1"
    assert db.gets == before
    # Unknown ids are not cached (and never become visible by accident).
    assert worker.get("nope") is None and worker.get("nope") is None
    assert db.gets == before + 2


def test_changes_by_another_process_are_seen_at_once(setup: tuple) -> None:
    worker, _db, cli, _clock = setup
    assert worker.get("c-bam").dataset == "ds-1"
    cli.annotate("c-bam", dataset="ds-2")
    assert worker.get("c-bam").dataset == "ds-2"
    cli.remove("c-bam")
    assert worker.get("c-bam") is None


def test_own_changes_are_seen_at_once(setup: tuple) -> None:
    worker, _db, _cli, _clock = setup
    assert worker.get("c-bam").donor_pseudonym is None
    worker.annotate("c-bam", donor_pseudonym="d9")
    assert worker.get("c-bam").donor_pseudonym == "d9"


def test_changes_behind_the_back_are_seen_after_the_time_bound(
    setup: tuple, ctx: AppContext
) -> None:
    worker, _db, _cli, clock = setup
    assert worker.get("c-bam").dataset == "ds-1"
    with ctx.engine.begin() as conn:  # e.g. another host, or SQL by hand
        conn.execute(update(genomic_object).where(genomic_object.c.id == "c-bam")
                     .values(dataset="ds-3"))
    assert worker.get("c-bam").dataset == "ds-1"
    clock.now += 5.0
    assert worker.get("c-bam").dataset == "ds-3"


def test_no_cache_when_disabled(ctx: AppContext, tmp_path: Path) -> None:
    db = CountingRecords(ctx.engine)
    records = CachedRecords(db, ChangeMarker(tmp_path / "m"), max_age=0)
    records.get("x")
    records.get("x")
    assert db.gets == 2


def test_marker_changes_identity_on_every_bump(tmp_path: Path) -> None:
    marker = ChangeMarker(tmp_path / "sub" / "m")
    assert marker.stamp() is None
    seen = set()
    for _ in range(20):
        marker.bump()
        seen.add(marker.stamp())
    assert len(seen) == 20
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["m"]
