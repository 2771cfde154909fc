"""FHIR search benchmark on Synthea data, replicated to about 1 million resources.

    # load the 120 patients (92k resources) replicated COPIES times with rewritten ids
    PYTHONPATH=. python bench/search/search_bench.py load DBURL \
        /work/shared/data/fhir/synthea --copies 11
    # token + patient first page of 50, the same with _include, _summary=count rate
    PYTHONPATH=. python bench/search/search_bench.py query DBURL --samples 200

The loader writes fhir_resource / fhir_resource_version rows and the index rows directly
(with the same indexer the core uses; ids and urn:uuid / conditional references rewritten as
the core would), so building a 1M-resource database does not take the full REST ingest time.

On PostgreSQL the load is a bulk path (``--workers`` processes, default 2): the constraints
and indexes of the fhir_* tables are dropped and the tables made UNLOGGED, every worker
extracts index rows with the same Extractor and streams them with COPY, and at the end the
tables are made LOGGED again and the constraints and indexes recreated from their saved
definitions, so the finished database has exactly the schema the migrations built.
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from common.db import make_engine, write_transaction
from common.migrations import upgrade
from config.wiring.fhir import MIGRATIONS
from fhir_server.core.search.extract import identity
from fhir_server.core.search.params import QueryParser
from fhir_server.storage.search_sql import build_searcher

_REF = re.compile(r'"reference": ?"([^"]+)"')


def _read(path: Path) -> Any:
    with bz2.open(path) as fh:
        return json.load(fh)


def _bundles(root: Path) -> tuple[list[Path], list[Path]]:
    files = sorted(root.glob("*.json.bz2"))
    return (
        [f for f in files if "Information" in f.name],
        [f for f in files if "Information" not in f.name],
    )


def _prepare(doc: dict[str, Any], ident_map: dict[str, str]) -> list[dict[str, Any]]:
    """Resources of a transaction bundle with ids from their urn:uuid and literal references."""
    urn: dict[str, str] = {}
    resources = []
    for e in doc["entry"]:
        res = e["resource"]
        rid = e["fullUrl"].rsplit(":", 1)[-1]
        res["id"] = rid
        urn[e["fullUrl"]] = f"{res['resourceType']}/{rid}"
        for ident in res.get("identifier", []):
            ident_map[
                f"{res['resourceType']}?identifier={ident.get('system')}|{ident.get('value')}"
            ] = f"{res['resourceType']}/{rid}"
        resources.append(res)
    raw = json.dumps(resources)
    raw = _REF.sub(
        lambda m: (
            f'"reference": "{urn.get(m.group(1)) or ident_map.get(m.group(1)) or m.group(1)}"'
        ),
        raw,
    )
    return json.loads(raw)


def _copy(resources: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    if k == 0:
        return resources
    ids = {r["id"] for r in resources}
    raw = json.dumps(resources)
    raw = re.sub(
        r'"id": "([0-9a-f-]{36})"',
        lambda m: f'"id": "{m.group(1)}-{k}"' if m.group(1) in ids else m.group(0),
        raw,
    )
    raw = _REF.sub(
        lambda m: (
            f'"reference": "{m.group(1)}-{k}"' if m.group(1).split("/")[-1] in ids else m.group(0)
        ),
        raw,
    )
    return json.loads(raw)


def load(url: str, root: Path, copies: int, patients: int, workers: int = 2) -> None:
    engine = make_engine(url)
    for mset in MIGRATIONS:
        upgrade(engine, mset)
    if engine.dialect.name == "postgresql":
        _bulk_load_pg(engine, url, root, copies, patients, workers)
        return
    indexer = build_searcher(engine, b"x" * 32).indexer
    shared, patient_files = _bundles(root)
    patient_files = patient_files[:patients]
    ident_map: dict[str, str] = {}
    ts = 1_600_000_000_000_000
    total = 0
    start = time.perf_counter()
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    docs = [_prepare(_read(f), ident_map) for f in shared]
    pdocs = [_prepare(_read(f), ident_map) for f in patient_files]
    batches = [(0, d) for d in docs] + [(k, d) for k in range(copies) for d in pdocs]
    for k, base in batches:
        resources = _copy(base, k)
        with write_transaction(engine) as conn:
            rows = []
            for res in resources:
                ts += 1
                res["meta"] = {"versionId": "1", "lastUpdated": "2020-09-13T12:26:40Z"}
                rows.append((res["resourceType"], res["id"], 1, ts, False))
            first = conn.execute(
                text("SELECT COALESCE(MAX(id), 0) FROM fhir_resource")
            ).scalar_one()
            conn.exec_driver_sql(
                f"INSERT INTO fhir_resource (res_type, res_id, version_id, last_updated, deleted) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark})",
                rows,
            )
            pks = [first + i + 1 for i in range(len(rows))]
            conn.exec_driver_sql(
                f"INSERT INTO fhir_resource_version (resource_id, res_type, res_id, version_id, "
                f"last_updated, method, deleted, content) VALUES ({mark}, {mark}, {mark}, {mark}, "
                f"{mark}, 'POST', {mark}, {mark})",
                [
                    (pk, r["resourceType"], r["id"], 1, ts, False, json.dumps(r).encode())
                    for pk, r in zip(pks, resources, strict=True)
                ],
            )
            indexer.index_many(
                conn,
                [(pk, r["resourceType"], r) for pk, r in zip(pks, resources, strict=True)],
                replace=False,
            )
        total += len(resources)
        el = time.perf_counter() - start
        print(f"\r{total} resources, {total / el:.0f}/s", end="", flush=True)
    print()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


# --- PostgreSQL bulk path -------------------------------------------------------------------

_BULK: dict[str, Any] = {}


def _schema_objects(conn: Any) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
    """(table, name, kind, definition) of the fhir_* constraints, and non-constraint indexes."""
    cons = conn.exec_driver_sql(
        "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "WHERE left(t.relname, 5) = 'fhir_' AND t.relnamespace = 'public'::regnamespace "
        "AND c.contype IN ('p', 'u', 'f')").all()
    idx = conn.exec_driver_sql(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
        "AND left(i.tablename, 5) = 'fhir_' AND i.indexname NOT IN "
        "(SELECT conname FROM pg_constraint)").all()
    return [tuple(r) for r in cons], [tuple(r) for r in idx]  # type: ignore[misc]


def _bulk_worker_init(url: str) -> None:
    import psycopg

    from fhir_server.core.search.registry import load_default

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    _BULK["conn"] = psycopg.connect(dsn)
    _BULK["conn"].execute("SET synchronous_commit = off")
    from fhir_server.core.search.extract import Extractor

    _BULK["extractor"] = Extractor(load_default())


def _bulk_batch(task: tuple[int, int, int, int]) -> int:
    """One (copy, bundle) batch: resource, version and index rows through COPY."""
    from fhir_server.core.search.extract import ROW_COLUMNS, fulltext

    k, doc_no, first_pk, first_ts = task
    resources = _copy(_BULK["docs"][doc_no], k)
    extractor = _BULK["extractor"]
    conn = _BULK["conn"]
    with conn.cursor() as cur:
        with cur.copy("COPY fhir_resource (id, res_type, res_id, version_id, last_updated, "
                      "deleted) FROM STDIN") as cp:
            for i, res in enumerate(resources):
                res["meta"] = {"versionId": "1", "lastUpdated": "2020-09-13T12:26:40Z"}
                cp.write_row((first_pk + i, res["resourceType"], res["id"], 1, first_ts + i,
                              False))
        with cur.copy("COPY fhir_resource_version (resource_id, res_type, res_id, version_id, "
                      "last_updated, method, deleted, content) FROM STDIN") as cp:
            for i, res in enumerate(resources):
                cp.write_row((first_pk + i, res["resourceType"], res["id"], 1, first_ts + i,
                              "POST", False, json.dumps(res).encode()))
        batches: dict[str, list[tuple[Any, ...]]] = {t: [] for t in ROW_COLUMNS}
        for i, res in enumerate(resources):
            for table, rows in extractor.extract(res["resourceType"], res).items():
                batches[table].extend((first_pk + i, *row) for row in rows)
        for table, rows in batches.items():
            if rows:
                cols = ", ".join(("resource_pk", *ROW_COLUMNS[table]))
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
        if _BULK["fulltext"]:
            with cur.copy("COPY fhir_idx_text (resource_pk, narrative, content) FROM STDIN") as cp:
                for i, res in enumerate(resources):
                    narrative, content = fulltext(res)
                    if narrative or content:
                        cp.write_row((first_pk + i, narrative, content))
    conn.commit()
    return len(resources)


def _bulk_load_pg(engine: Any, url: str, root: Path, copies: int, patients: int,
                  workers: int) -> None:
    import multiprocessing

    shared, patient_files = _bundles(root)
    ident_map: dict[str, str] = {}
    docs = [_prepare(_read(f), ident_map) for f in shared]
    docs += [_prepare(_read(f), ident_map) for f in patient_files[:patients]]
    batches = [(0, d) for d in range(len(shared))] + [
        (k, d) for k in range(copies) for d in range(len(shared), len(docs))]
    with engine.connect() as conn:
        first = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM fhir_resource"
                                     ).scalar_one()
    tasks, pk, ts = [], first + 1, 1_600_000_000_000_000
    for k, d in batches:
        tasks.append((k, d, pk, ts))
        pk += len(docs[d])
        ts += len(docs[d])
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        _BULK["fulltext"] = sa_inspect(conn).has_table("fhir_idx_text")  # fhir_0003
        cons, idx = _schema_objects(conn)
        tables = sorted({c[0] for c in cons})
        for kind in ("f", "u", "p"):
            for table, name, ctype, _ in cons:
                if ctype == kind:
                    conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in idx:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        for table in tables:
            conn.exec_driver_sql(f"ALTER TABLE {table} SET UNLOGGED")
    print(f"dropped {len(cons)} constraints and {len(idx)} indexes, {len(tables)} tables "
          f"UNLOGGED; {len(tasks)} batches on {workers} workers")
    _BULK["docs"] = docs  # inherited by the forked workers
    total = 0
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_bulk_worker_init, initargs=(url,)) as pool:
        for n in pool.imap_unordered(_bulk_batch, tasks):
            total += n
            el = time.perf_counter() - t0
            print(f"\r{total} resources, {total / el:.0f}/s", end="", flush=True)
    print()
    t1 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
        for table in tables:
            conn.exec_driver_sql(f"ALTER TABLE {table} SET LOGGED")
        t2 = time.perf_counter()
        for kind in ("p", "u"):
            for table, name, ctype, definition in cons:
                if ctype == kind:
                    conn.exec_driver_sql(
                        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in idx:
            conn.exec_driver_sql(definition)
        for table, name, ctype, definition in cons:
            if ctype == "f":
                conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('fhir_resource', 'id'), "
                             "(SELECT MAX(id) FROM fhir_resource))")
        t3 = time.perf_counter()
        conn.exec_driver_sql("VACUUM ANALYZE")
    print(f"load {t1 - t0:.0f} s ({total / (t1 - t0):.0f} resources/s), "
          f"SET LOGGED {t2 - t1:.0f} s, constraints and indexes {t3 - t2:.0f} s, "
          f"VACUUM ANALYZE {time.perf_counter() - t3:.0f} s")


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def query(url: str, samples: int) -> None:
    engine = make_engine(url)
    searcher = build_searcher(engine, b"x" * 32)
    parser = QueryParser(searcher.registry)
    with engine.connect() as conn:
        n_res = conn.execute(text("SELECT COUNT(*) FROM fhir_resource")).scalar_one()
        patients = [
            r[0]
            for r in conn.execute(text("SELECT res_id FROM fhir_resource WHERE res_type='Patient'"))
        ]
        n_tok = conn.execute(text("SELECT COUNT(*) FROM fhir_idx_token")).scalar_one()
        top = conn.execute(
            text(
                "SELECT system, value, COUNT(*) AS n FROM fhir_idx_token WHERE hash_identity = :i "
                "GROUP BY hash_sys_value, system, value ORDER BY n DESC LIMIT 1"
            ),
            {"i": identity("Observation", "code")},
        ).one()
    rng = random.Random(42)
    code = f"{top[0]}|{top[1]}"  # the most frequent Observation code (heart rate in Synthea)

    def timed(q: str) -> tuple[float, float]:
        from urllib.parse import parse_qsl

        parsed = parser.parse(("Observation",), parse_qsl(q))
        t, c = time.perf_counter(), time.process_time()
        searcher.search(parsed)
        return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000

    print(f"database: {n_res} resources, {n_tok} token index rows")
    # Both queries alternate over the same random patients, so load swings on a shared
    # machine hit both alike; the client process's CPU time per search is printed beside
    # the wall clock (on SQLite it includes the database work, on PostgreSQL it does not).
    labels = ("token+patient, first page of 50", "same with _include=Observation:patient")
    extras = ("", "&_include=Observation:patient")
    times: list[list[float]] = [[], []]
    cpu: list[list[float]] = [[], []]
    for i in range(samples + 3):
        pid = rng.choice(patients)
        for j, extra in enumerate(extras):
            ms, cpu_ms = timed(f"code={code}&patient=Patient/{pid}&_count=50{extra}")
            if i >= 3:  # warm-up
                times[j].append(ms)
                cpu[j].append(cpu_ms)
    for j, label in enumerate(labels):
        print(f"{label}: p50 {statistics.median(times[j]):.1f} ms, "
              f"p95 {_pct(times[j], 95):.1f} ms (client CPU p50 "
              f"{statistics.median(cpu[j]):.2f} ms)")
    wall = statistics.median(times[1]) / statistics.median(times[0])
    spent = statistics.median(cpu[1]) / statistics.median(cpu[0])
    print(f"_include / without, p50: {wall:.2f}x (client CPU {spent:.2f}x); "
          f"load average {os.getloadavg()[0]:.1f}")
    from urllib.parse import parse_qsl

    for count_q in (f"code={code}", "status=final", "category=laboratory"):
        times, counted = [], 0
        for _ in range(5):
            parsed = parser.parse(("Observation",), parse_qsl(f"{count_q}&_summary=count"))
            t = time.perf_counter()
            page = searcher.search(parsed)
            times.append(time.perf_counter() - t)
            counted = page.total or 0
        best = min(times)
        print(
            f"_summary=count {count_q}: {counted} matches in {best * 1000:.1f} ms "
            f"= {counted / best / 1e6:.2f} M index entries/s"
        )


def fulltext(url: str, samples: int) -> None:
    """First page of 50 and _summary=count of _content searches (migration fhir_0003)."""
    from urllib.parse import parse_qsl

    engine = make_engine(url)
    searcher = build_searcher(engine, b"x" * 32)
    parser = QueryParser(searcher.registry)
    for res_type, q in (("Observation", "_content=glucose"),
                        ("Observation", "_content=hemoglobin%20blood"),
                        ("Condition", "_content=diabetes"),
                        ("Patient", "_content=massachusetts")):
        times = []
        for _ in range(samples):
            parsed = parser.parse((res_type,), parse_qsl(f"{q}&_count=50"))
            t = time.perf_counter()
            searcher.search(parsed)
            times.append((time.perf_counter() - t) * 1000)
        parsed = parser.parse((res_type,), parse_qsl(f"{q}&_summary=count"))
        t = time.perf_counter()
        total = searcher.search(parsed).total
        count_ms = (time.perf_counter() - t) * 1000
        print(f"{res_type}?{q}: first page of 50 p50 {statistics.median(times):.1f} ms, "
              f"p95 {_pct(times, 95):.1f} ms; _summary=count {total} in {count_ms:.1f} ms")
    print(f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("url")
    lp.add_argument("root", type=Path)
    lp.add_argument("--copies", type=int, default=1)
    lp.add_argument("--patients", type=int, default=1000)
    lp.add_argument("--workers", type=int, default=2, help="PostgreSQL bulk loaders")
    qp = sub.add_parser("query")
    qp.add_argument("url")
    qp.add_argument("--samples", type=int, default=200)
    fp = sub.add_parser("fulltext")
    fp.add_argument("url")
    fp.add_argument("--samples", type=int, default=50)
    args = ap.parse_args()
    if args.cmd == "load":
        load(args.url, args.root, args.copies, args.patients, args.workers)
    elif args.cmd == "fulltext":
        fulltext(args.url, args.samples)
    else:
        query(args.url, args.samples)


if __name__ == "__main__":
    main()
