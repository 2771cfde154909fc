"""Ingest cost of full search indexing: Synthea transaction bundles through the FHIR core.

Loads the hospital and practitioner bundles and then N patient bundles in one process, once
with the full search index (SqlSearchIndexer) and once without (ScanIndexer), each on a fresh
SQLite (or PostgreSQL: --pg URL) database, and prints resources/s for both.

    PYTHONPATH=. python bench/search/ingest.py /work/shared/data/fhir/synthea --patients 20
"""

from __future__ import annotations

import argparse
import bz2
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from sqlalchemy import create_engine, text

from bench.search.scan_index import ScanIndexer
from common.db import make_engine, normalise_url
from common.migrations import upgrade
from config.wiring.fhir import MIGRATIONS
from fhir_server.core.bundle import BundleProcessor
from fhir_server.core.service import FhirService
from fhir_server.storage.search_sql import build_searcher
from fhir_server.storage.sql import SqlFhirRepository


def files(root: Path, patients: int) -> list[Path]:
    """Hospital and practitioner bundles first, then the first N patients (sorted)."""
    all_files = sorted(root.glob("*.json.bz2"))
    first = [f for f in all_files if "Information" in f.name]
    rest = [f for f in all_files if "Information" not in f.name][:patients]
    return first + rest


def run(url: str, paths: list[Path], indexed: bool, validate: bool = True) -> tuple[int, float]:
    engine = make_engine(url)
    for mset in MIGRATIONS:
        upgrade(engine, mset)
    indexer = build_searcher(engine, b"x" * 32).indexer if indexed else ScanIndexer()
    spent = [0.0]
    if indexed:
        # Time inside the indexer (extraction + inserts) as a share of the whole ingest: less
        # sensitive to other load on a shared machine than comparing two wall-clock runs.
        inner = indexer.index_many

        def timed(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return inner(*a, **kw)
            finally:
                spent[0] += time.perf_counter() - t0

        indexer.index_many = timed  # type: ignore[method-assign]
    service = FhirService(SqlFhirRepository(engine, indexer), validate_resources=validate)
    docs = []
    for p in paths:
        with bz2.open(p) as fh:
            docs.append(orjson.loads(fh.read()))
    n = 0
    start = time.perf_counter()
    for doc in docs:
        n += len(BundleProcessor(service).process(doc)["entry"])
    elapsed = time.perf_counter() - start
    engine.dispose()
    if indexed:
        print(f"  time in the search indexer: {spent[0]:.1f} s = {spent[0] / elapsed:.0%}")
    return n, elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--patients", type=int, default=20)
    ap.add_argument(
        "--no-validate",
        action="store_true",
        help="Skip fhir.resources validation (isolates the indexing cost)",
    )
    ap.add_argument("--pg", default="", help="PostgreSQL admin URL (a scratch DB is created)")
    args = ap.parse_args()
    paths = files(args.root, args.patients)
    for indexed in (False, True, False, True):  # twice each: the first run warms caches
        if args.pg:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(normalise_url(args.pg), isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            url = args.pg.rsplit("/", 1)[0] + "/" + name
        else:
            url = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"
        n, secs = run(url, paths, indexed, validate=not args.no_validate)
        label = "full search index" if indexed else "no search index "
        print(f"{label}: {n} resources in {secs:.1f} s = {n / secs:.0f} resources/s")
        if args.pg:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
