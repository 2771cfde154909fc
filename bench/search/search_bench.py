"""FHIR search benchmark on Synthea data, replicated to about 1 million resources.

    # load the 120 patients (92k resources) replicated COPIES times with rewritten ids
    PYTHONPATH=. python bench/search/search_bench.py load DBURL \
        /work/shared/data/fhir/synthea --copies 11
    # token + patient first page of 50, the same with _include, _summary=count rate
    PYTHONPATH=. python bench/search/search_bench.py query DBURL --samples 200

The loader writes fhir_resource / fhir_resource_version rows and the index rows directly
(with the same indexer the core uses; ids and urn:uuid / conditional references rewritten as
the core would), so building a 1M-resource database does not take the full REST ingest time.
"""

from __future__ import annotations

import argparse
import bz2
import json
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any

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


def load(url: str, root: Path, copies: int, patients: int) -> None:
    engine = make_engine(url)
    for mset in MIGRATIONS:
        upgrade(engine, mset)
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

    def timed(q: str) -> tuple[float, int]:
        from urllib.parse import parse_qsl

        parsed = parser.parse(("Observation",), parse_qsl(q))
        t = time.perf_counter()
        page = searcher.search(parsed)
        return (time.perf_counter() - t) * 1000, len(page.matches) + len(page.includes)

    print(f"database: {n_res} resources, {n_tok} token index rows")
    for label, extra in (
        ("token+patient, first page of 50", ""),
        ("same with _include=Observation:patient", "&_include=Observation:patient"),
    ):
        times = []
        for _ in range(3):  # warm-up
            timed(f"code={code}&patient=Patient/{rng.choice(patients)}&_count=50{extra}")
        for _ in range(samples):
            ms, _n = timed(f"code={code}&patient=Patient/{rng.choice(patients)}&_count=50{extra}")
            times.append(ms)
        print(f"{label}: p50 {statistics.median(times):.1f} ms, p95 {_pct(times, 95):.1f} ms")
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


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("url")
    lp.add_argument("root", type=Path)
    lp.add_argument("--copies", type=int, default=1)
    lp.add_argument("--patients", type=int, default=1000)
    qp = sub.add_parser("query")
    qp.add_argument("url")
    qp.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    if args.cmd == "load":
        load(args.url, args.root, args.copies, args.patients)
    else:
        query(args.url, args.samples)


if __name__ == "__main__":
    main()
