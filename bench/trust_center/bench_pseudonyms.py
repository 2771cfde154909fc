"""Trust center benchmarks: pseudonyms per second, and what pseudonymization adds to FHIR ingest.

    PYTHONPATH=. /work/main/.venv/bin/python bench/trust_center/bench_pseudonyms.py derive
    PYTHONPATH=. /work/main/.venv/bin/python bench/trust_center/bench_pseudonyms.py ingest \
        --synthea /work/shared/data/fhir/synthea --bundles 6

``derive``: HMAC-SHA-256 pseudonyms of one batch in one domain (KeyRing.pseudonyms), one core,
best of --repeat runs; also the service path that records them in the trust center database.
``ingest``: the same Synthea transaction bundles loaded into two fresh embedded deployments
(SQLite), one with the pseudonymization step and one without; reports resources/s of each.
"""

from __future__ import annotations

import argparse
import bz2
import dataclasses
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path


def _load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_derive(n: int, repeat: int, service_batch: int) -> None:
    from trust_center.core.pseudonyms import Domain, KeyRing

    ring = KeyRing(secrets.token_bytes(32))
    domain = Domain.parse("kdk:KDKXXX001")
    subjects = [f"identifier:{secrets.token_hex(32)}" for _ in range(n)]
    ring.pseudonyms(domain, 1, subjects[:1000])  # warm the key cache
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        ring.pseudonyms(domain, 1, subjects)
        best = min(best, time.perf_counter() - start)
    print(f"derive: {n:,} pseudonyms in {best:.3f} s = {n / best:,.0f} pseudonyms/s "
          f"(best of {repeat}, one core; load {_load_avg()})")

    # Full path: keyed subject ids from raw identifiers + pseudonyms + recording + audit entry.
    from config.app import build_context
    from config.cli import upgrade_all
    from config.settings import Settings
    from config.wiring.trust_center import build_service

    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(Settings(), data_dir=Path(tmp))
        ctx = build_context(settings)
        upgrade_all(ctx)
        service = build_service(ctx)
        pairs = [("urn:oid:1.2.276.0.76.4.8", f"MRN-{i}") for i in range(service_batch)]
        start = time.perf_counter()
        service.pseudonymize_identifiers("kdk:KDKXXX001", pairs)
        took = time.perf_counter() - start
        print(f"service: {service_batch:,} identifiers pseudonymized and recorded in one "
              f"transaction in {took:.3f} s = {service_batch / took:,.0f}/s (SQLite)")
        ctx.engine.dispose()
        ctx.trust_center_engine.dispose()


def _bundles(folder: Path, count: int) -> list[bytes]:
    files = sorted(p for p in folder.glob("*.json.bz2")
                   if "Information" not in p.name)[:count]
    return [bz2.decompress(p.read_bytes()) for p in files]


def _infrastructure(folder: Path) -> list[bytes]:
    return [bz2.decompress(p.read_bytes()) for p in sorted(folder.glob("*Information*.bz2"))]


def bench_ingest(folder: Path, count: int) -> None:
    from config.app import create_app
    from config.cli import upgrade_all
    from config.context import app_context
    from config.settings import Settings

    bundles = _bundles(folder, count)
    infra = _infrastructure(folder)
    resources = sum(len(json.loads(b)["entry"]) for b in bundles)
    results = {}
    for label, on in (("without step", False), ("with step", True)):
        with tempfile.TemporaryDirectory() as tmp:
            base = Settings()
            settings = dataclasses.replace(
                base, data_dir=Path(tmp), authorization="off",
                trust_center=dataclasses.replace(base.trust_center, pseudonymize_fhir=on))
            app = create_app(settings)
            ctx = app_context(app)
            upgrade_all(ctx)
            client = app.test_client()
            headers = {"Content-Type": "application/fhir+json"}
            for body in infra:
                assert client.post("/fhir", data=body, headers=headers).status_code == 200
            start = time.perf_counter()
            for body in bundles:
                resp = client.post("/fhir", data=body, headers=headers)
                assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
            took = time.perf_counter() - start
            results[label] = took
            print(f"ingest {label}: {len(bundles)} bundles, {resources:,} resources in "
                  f"{took:.2f} s = {resources / took:,.0f} resources/s")
            ctx.engine.dispose()
            ctx.trust_center_engine.dispose()
    overhead = results["with step"] / results["without step"] - 1
    print(f"pseudonymization adds {overhead:+.1%} to transaction ingest (load {_load_avg()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    d = sub.add_parser("derive")
    d.add_argument("-n", type=int, default=1_000_000)
    d.add_argument("--repeat", type=int, default=3)
    d.add_argument("--service-batch", type=int, default=10_000)
    i = sub.add_parser("ingest")
    i.add_argument("--synthea", type=Path, default=Path("/work/shared/data/fhir/synthea"))
    i.add_argument("--bundles", type=int, default=6)
    args = parser.parse_args()
    if args.what == "derive":
        bench_derive(args.n, args.repeat, args.service_batch)
    else:
        bench_ingest(args.synthea, args.bundles)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
