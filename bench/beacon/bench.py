"""Beacon v2 benchmark: index build rate and query latency at ~1M indexed variants, with the
answers checked against `bcftools view -r` over the same file.

    PYTHONPATH=. /work/main/.venv/bin/python bench/beacon/bench.py --records 1000000
    PYTHONPATH=. /work/main/.venv/bin/python bench/beacon/bench.py --records 1000000 \
        --database postgresql://postgres@127.0.0.1:5432/postgres

Writes a synthetic bgzipped, tabix-indexed GRCh38 VCF (random SNVs/indels on chr1-22,
proportional to chromosome length; a few samples with random genotypes), builds the index
with the code `genomseq beacon index` runs, then times HTTP requests through the Flask app
(authorization off: every dataset at count granularity as requested) and the same questions
asked of bcftools. Never pass/fail: it prints figures for docs/performance.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import resources
from pathlib import Path

import grz_pydantic_models_testing.example_research_consent as consent_fixtures
import pysam
from sqlalchemy import create_engine, text

from common.db import make_engine, normalise_url
from config.app import create_app
from config.cli import upgrade_all
from config.context import AppContext, app_context
from config.settings import Settings
from ga4gh.beacon.core.ports import VariantFile
from ga4gh.beacon.storage.loader import build_index
from trust_center.core.consent import ParticipationScope, ScopeStatus
from trust_center.ports import ParticipationDeclaration
from trust_center.service import TrustCenterService

# GRCh38 chromosome lengths (NCBI assembly report), chr1-22
LENGTHS = [248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973,
           145138636, 138394717, 133797422, 135086622, 133275309, 114364328, 107043718,
           101991189, 90338345, 83257441, 80373285, 58617616, 64444167, 46709983, 50818468]
BASES = "ACGT"


def make_vcf(path: Path, records: int, names: list[str], seed: int
             ) -> list[tuple[str, int, str, str]]:
    """Write the VCF; return a sample of (chrom, pos1, ref, alt) of written records."""
    samples = len(names)
    rng = random.Random(seed)
    total = sum(LENGTHS)
    plain = path.with_suffix("")
    picked: list[tuple[str, int, str, str]] = []
    with open(plain, "w") as out:
        out.write("##fileformat=VCFv4.3\n##reference=GRCh38\n##source=genomseq-bench\n")
        for i, n in enumerate(LENGTHS, start=1):
            out.write(f"##contig=<ID=chr{i},length={n}>\n")
        out.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
                  + "\t".join(names) + "\n")
        for i, n in enumerate(LENGTHS, start=1):
            count = round(records * n / total)
            step = n // (count + 1)
            pos = 1
            for _ in range(count):
                pos += rng.randint(1, 2 * step - 1)
                ref = rng.choice(BASES)
                r = rng.random()
                if r < 0.85:
                    alt = rng.choice([b for b in BASES if b != ref])
                elif r < 0.93:
                    alt = ref + "".join(rng.choice(BASES) for _ in range(rng.randint(1, 6)))
                else:
                    ref = ref + "".join(rng.choice(BASES) for _ in range(rng.randint(1, 6)))
                    alt = ref[0]
                gts = []
                for _ in range(samples):
                    x = rng.random()
                    gts.append("0/1" if x < 0.3 else "1/1" if x < 0.4 else "0/0")
                if all(g == "0/0" for g in gts):
                    gts[rng.randrange(samples)] = "0/1"
                out.write(f"chr{i}\t{pos}\t.\t{ref}\t{alt}\t50\tPASS\t.\tGT\t"
                          + "\t".join(gts) + "\n")
                if rng.random() < 0.001:
                    picked.append((f"chr{i}", pos, ref, alt))
    pysam.tabix_index(str(plain), preset="vcf", force=True)
    return picked


def consenting_donors(ctx: AppContext, n: int) -> list[str]:
    """Register n cases in the in-process trust center and record participation and an
    open-ended MII broad consent for each; their genomic pseudonyms (the VCF's samples)."""
    tc = ctx.get(TrustCenterService)
    grz = "grz:" + ctx.settings.trust_center.genome_data_center_id
    doc = json.loads((resources.files(consent_fixtures)
                      / "minimal_consented_open_ended.json").read_text())
    out = []
    for k in range(n):
        reg = tc.register_case(ik="260326822", arbeitsnummer=f"BENCH-{k}", kvnr="A123456780",
                               actor="bench")
        p = tc.exchange(reg.vorgangsnummer_genomic, grz).pseudonym
        tc.record_participation(grz, p, [ParticipationDeclaration(
            ParticipationScope.MV_SEQUENCING, ScopeStatus.PERMITTED, dt.date(2020, 9, 1))])
        tc.record_broad_consent(grz, p, doc)
        out.append(p)
    return out


def backend_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a local process so far (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94] if len(values) >= 20 else max(values)


def bcftools_count(vcf: Path, chrom: str, start0: int, end0: int, ref: str | None,
                   alt: str | None) -> tuple[int, float]:
    """Alleles with a carrier in [start0, end0) (overlap) or at start0 with ref/alt."""
    t = time.perf_counter()
    out = subprocess.run(["bcftools", "view", "-H", "-r", f"{chrom}:{start0 + 1}-{end0}",
                          str(vcf)], capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - t
    n = 0
    for line in out.splitlines():
        cols = line.split("\t")
        pos0, r, alts = int(cols[1]) - 1, cols[3], cols[4].split(",")
        for ai, a in enumerate(alts, start=1):
            if not any(str(ai) in g.replace("|", "/").split("/") for g in cols[9:]):
                continue
            if alt is not None:  # sequence query: exact start, bases
                if pos0 == start0 and a == alt and (ref is None or r == ref):
                    n += 1
            elif pos0 < end0 and pos0 + len(r) > start0:
                n += 1
    return n, elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--compare", type=int, default=100, help="queries also asked of bcftools")
    ap.add_argument("--database", default="", help="PostgreSQL admin URL (default: SQLite)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="beacon-bench-"))
    vcf = work / "bench.vcf.gz"
    db_name = None
    if args.database:
        db_name = "beacon_bench_" + uuid.uuid4().hex[:8]
        admin = create_engine(normalise_url(args.database), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{db_name}"'))
        url = args.database.rsplit("/", 1)[0] + "/" + db_name
    else:
        url = f"sqlite:///{work / 'beacon.sqlite'}"
    settings = dataclasses.replace(Settings(), data_dir=work / "data", database_url=url,
                                   authorization="off")
    try:
        app = create_app(settings)
        ctx = app_context(app)
        upgrade_all(ctx)
        # The samples are donors of the in-process trust center with research consent: every
        # query pays for the live consent check (change feed) as in production.
        donors = consenting_donors(ctx, args.samples)
        t = time.perf_counter()
        picked = make_vcf(vcf, args.records, donors, args.seed)
        print(f"VCF written in {time.perf_counter() - t:.1f} s: {vcf}")
        load_before = os.getloadavg()[0]
        # One pooled connection, so the PostgreSQL backend whose CPU time is read is the one
        # that loads (CPU seconds do not depend on how loaded the machine is; wall time does).
        load_engine = make_engine(url, pool_size=1)
        backend = None
        if load_engine.dialect.name == "postgresql":
            with load_engine.connect() as c:
                backend = int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())
        server = backend_cpu(backend)
        t, cpu = time.perf_counter(), time.process_time()
        stats = build_index(load_engine, [VariantFile("bench", "bench", str(vcf))], "GRCh38")
        build, cpu = time.perf_counter() - t, time.process_time() - cpu
        server = backend_cpu(backend) - server
        load_engine.dispose()
        print(f"index build: {stats.records:,} records, {stats.rows:,} rows in {build:.1f} s "
              f"= {stats.records / build:,.0f} records/s ({stats.rows / build:,.0f} rows/s), "
              f"{ctx.engine.dialect.name}; of which secondary indexes and statistics "
              f"{stats.index_seconds:.1f} s; loader process CPU {cpu:.1f} s"
              + (f" + server backend CPU {server:.1f} s" if backend else "")
              + f" = {stats.records / (cpu + server):,.0f} records per CPU-second; load average "
              f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on "
              f"{os.cpu_count()} cores")
        client = app.test_client()
        rng = random.Random(args.seed + 1)
        B = "/ga4gh/beacon/v2/g_variants"

        def timed(params: dict[str, str]) -> tuple[dict, float]:
            t0 = time.perf_counter()
            resp = client.get(B, query_string=params)
            dt = time.perf_counter() - t0
            assert resp.status_code == 200, resp.get_json()
            return resp.get_json(), dt

        results: dict[str, list[float]] = {"sequence boolean": [], "sequence count": [],
                                           "range count": []}
        bcf: dict[str, list[float]] = {"sequence": [], "range": []}
        mismatches = 0
        compared = 0
        for k in range(args.queries):
            hit = k % 2 == 0 and picked
            if hit:
                chrom, pos, ref, alt = rng.choice(picked)
            else:
                i = rng.randrange(22)
                chrom, pos = f"chr{i + 1}", rng.randrange(1, LENGTHS[i])
                ref, alt = rng.choice(BASES), rng.choice(BASES)
            q = {"referenceName": chrom, "start": str(pos - 1), "referenceBases": ref,
                 "alternateBases": alt, "assemblyId": "GRCh38"}
            doc, d1 = timed({**q, "requestedGranularity": "boolean"})
            results["sequence boolean"].append(d1)
            doc, d2 = timed({**q, "requestedGranularity": "count"})
            results["sequence count"].append(d2)
            i = rng.randrange(22)
            size = rng.choice([10_000, 100_000, 1_000_000])
            start = rng.randrange(0, LENGTHS[i] - size)
            rq = {"referenceName": f"chr{i + 1}", "start": str(start), "end": str(start + size),
                  "requestedGranularity": "count"}
            rdoc, d3 = timed(rq)
            results["range count"].append(d3)
            if k < args.compare:
                compared += 2
                n, bt = bcftools_count(vcf, chrom, pos - 1, pos - 1 + len(ref), ref, alt)
                bcf["sequence"].append(bt)
                if n != doc["responseSummary"].get("numTotalResults", 0):
                    mismatches += 1
                n, bt = bcftools_count(vcf, f"chr{i + 1}", start, start + size, None, None)
                bcf["range"].append(bt)
                if n != rdoc["responseSummary"].get("numTotalResults", 0):
                    mismatches += 1
        for name, values in results.items():
            print(f"{name:18s} n={len(values)} median {statistics.median(values) * 1000:6.1f} ms"
                  f"  p95 {p95(values) * 1000:6.1f} ms")
        for name, values in bcf.items():
            print(f"bcftools {name:9s} n={len(values)} median "
                  f"{statistics.median(values) * 1000:6.1f} ms  p95 {p95(values) * 1000:6.1f} ms")
        print(f"answers compared with bcftools: {compared}, mismatches: {mismatches}; "
              f"load average {os.getloadavg()[0]:.1f}")
        # What live consent adds to every query: the feed check with nothing to apply.
        from ga4gh.beacon.core.service import BeaconService

        table = ctx.get(BeaconService).index.consent  # type: ignore[attr-defined]
        checks = []
        for _ in range(args.queries):
            t0 = time.perf_counter()
            table.sync()
            checks.append(time.perf_counter() - t0)
        print(f"live consent check per query (state row + change feed, nothing to apply) "
              f"n={len(checks)} median {statistics.median(checks) * 1000:.2f} ms  "
              f"p95 {p95(checks) * 1000:.2f} ms")
        # A withdrawal: the next query applies it (one pseudonym re-evaluated), then queries
        # run at the usual cost again.
        tc = ctx.get(TrustCenterService)
        grz = "grz:" + ctx.settings.trust_center.genome_data_center_id
        client_get = client.get

        def timed_individuals() -> tuple[dict, float]:
            t0 = time.perf_counter()
            resp = client_get("/ga4gh/beacon/v2/individuals",
                              query_string={"requestedGranularity": "count"})
            return resp.get_json(), time.perf_counter() - t0

        before, _ = timed_individuals()
        tc.record_participation(grz, donors[0], [ParticipationDeclaration(
            ParticipationScope.MV_SEQUENCING, ScopeStatus.CANCELLED, tc.now().date())])
        after, first = timed_individuals()
        _, second = timed_individuals()
        print(f"withdrawal of one donor: next individuals query {first * 1000:.1f} ms "
              f"(applies it), the one after {second * 1000:.1f} ms; "
              f"{before['responseSummary']} -> {after['responseSummary']}")
        ctx.engine.dispose()
        return 1 if mismatches else 0
    finally:
        if db_name:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))


if __name__ == "__main__":
    sys.exit(main())
