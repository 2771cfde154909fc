"""htsget benchmark on the NA12878 slice (see bench/README.md, figures in docs/performance.md).

Starts ``genomseq serve`` (gunicorn, authorization off, loopback) on a scratch data dir,
catalogues /work/shared/data/genomics NA12878 BAM (+BAI) and measures, for the query
``referenceName=11&start=5015000&end=5050000``:

1. bytes in the ticket vs the minimal BGZF block set (blocks holding overlapping records);
2. ticket latency p50/p99, single client (wrk, keep-alive; the index is cached after the
   first request), and a "cold" variant over 300 distinct regions (Python client);
3. tickets/s with 16 concurrent connections (wrk);
4. ``samtools view -c`` of the ticket URL vs of the local file with the region;
5. data endpoint throughput of one stream (curl, a 512 MiB object, sendfile).

Usage: PYTHONPATH=. /work/main/.venv/bin/python bench/htsget/bench_htsget.py [--data DIR]
       [--workers N] [--threads N] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import pysam
import requests

ROOT = Path(__file__).resolve().parents[2]
QUERY = {"referenceName": "11", "start": 5015000, "end": 5050000}
REGION = "11:5015001-5050000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def block_table(path: Path) -> list[tuple[int, int]]:
    """(coffset, csize) of every BGZF block of a file."""
    blocks, data, pos = [], path.read_bytes(), 0
    while pos < len(data):
        size = int.from_bytes(data[pos + 16 : pos + 18], "little") + 1
        blocks.append((pos, size))
        pos += size
    return blocks


def minimal_block_bytes(bam: Path) -> tuple[int, int]:
    """(bytes, blocks) of the smallest block set holding every record overlapping REGION."""
    starts: list[int] = []
    wanted: list[bool] = []
    with pysam.AlignmentFile(str(bam), "rb") as f:
        while True:
            v = f.tell()
            try:
                rec = next(f)
            except StopIteration:
                starts.append(v)
                break
            starts.append(v)
            end = rec.reference_end if rec.reference_end is not None else rec.reference_start + 1
            wanted.append(
                rec.reference_name == "11" and rec.reference_start < QUERY["end"]
                and end > QUERY["start"] and rec.reference_id >= 0
            )
    blocks = dict(block_table(bam))
    needed: set[int] = set()
    for i, keep in enumerate(wanted):
        if not keep:
            continue
        first, nxt = starts[i], starts[i + 1]
        last_c = (nxt >> 16) if (nxt & 0xFFFF) else (nxt >> 16) - 1
        needed |= {c for c in blocks if (first >> 16) <= c <= last_c}
    return sum(blocks[c] for c in needed), len(needed)


def index_granularity_bytes(bam: Path) -> int:
    """Bytes of the merged BGZF block ranges an index-only server returns for QUERY (bins
    and linear index of the BAI, no record-level trimming; the htsget-rs approach)."""
    sys.path.insert(0, str(ROOT))
    from ga4gh.htsget.core.indexes import parse_bai

    index = parse_bai(Path(str(bam) + ".bai").read_bytes())
    with pysam.AlignmentFile(str(bam)) as f:
        tid = f.get_tid("11")
    beg, end = QUERY["start"], QUERY["end"]
    min_off = index.lower_bound(tid, beg)
    chunks = sorted((max(b, min_off), e) for b, e in index.chunks(tid, beg, end) if e > min_off)
    sizes = dict(block_table(bam))
    ranges: list[list[int]] = []
    for b, e in chunks:
        start = b >> 16
        stop = (e >> 16) + (sizes[e >> 16] if e & 0xFFFF else 0)
        if ranges and start <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], stop)
        else:
            ranges.append([start, stop])
    return sum(b - a for a, b in ranges)


def ticket_body_bytes(ticket: dict) -> int:
    """Bytes a client downloads for the body (ranges + inline data, EOF excluded)."""
    total = 0
    for entry in ticket["htsget"]["urls"]:
        if entry["class"] != "body":
            continue
        if entry["url"].startswith("data:"):
            data = base64.b64decode(entry["url"].split(",", 1)[1])
            if len(data) > 28:  # not just the EOF marker
                total += len(data)
        else:
            a, b = entry["headers"]["Range"][6:].split("-")
            total += int(b) - int(a) + 1
    return total


def cpu_per_ticket(scratch: Path, profile: bool = False) -> dict[str, float]:
    """Process CPU ms per ticket request, warm (one query) and cold (distinct regions);
    with ``profile``, cProfile of 1,000 warm tickets to stderr."""
    sys.path.insert(0, str(ROOT))
    from config.app import create_app
    from config.settings import Settings

    app = create_app(Settings(data_dir=scratch, authorization="off", log_level="WARNING"))
    client = app.test_client()
    path = f"/ga4gh/htsget/v1/reads/na12878?{urlencode(QUERY)}"
    client.get(path)
    t = time.process_time()
    for _ in range(500):
        client.get(path)
    warm = (time.process_time() - t) / 500 * 1000
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for _ in range(1000):
            client.get(path)
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    t = time.process_time()
    for i in range(300):
        start = 4_990_000 + i * 307
        q = urlencode({"referenceName": "11", "start": start, "end": start + 35_000})
        assert client.get(f"/ga4gh/htsget/v1/reads/na12878?{q}").status_code == 200
    cold = (time.process_time() - t) / 300 * 1000
    return {"cpu_ms_per_ticket_warm": round(warm, 2), "cpu_ms_per_ticket_cold": round(cold, 2)}


def wrk(url: str, connections: int, seconds: int, threads: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        result[f"p{pct}_ms"] = value * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    return result


def timed(cmd: list[str], runs: int = 5) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def timed_pair(a: list[str], b: list[str], runs: int = 15
               ) -> tuple[list[float], list[float], str, str]:
    """Run two commands alternately (so both see the same machine load); their times."""
    ta: list[float] = []
    tb: list[float] = []
    out_a = out_b = ""
    for _ in range(runs):
        for cmd, times in ((a, ta), (b, tb)):
            t = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
            times.append(time.perf_counter() - t)
            if cmd is a:
                out_a = out
            else:
                out_b = out
    return ta, tb, out_a, out_b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/work/shared/data/genomics")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile of the warm ticket handler (in-process) to stderr")
    args = parser.parse_args()
    bam = Path(args.data) / "bam" / "htsnexus_test_NA12878.bam"
    scratch = Path(tempfile.mkdtemp(prefix="genomseq-bench-"))
    env = {**os.environ, "GENOMSEQ_DATA_DIR": str(scratch), "GENOMSEQ_AUTHORIZATION": "off",
           "GENOMSEQ_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    py = sys.executable
    subprocess.run([py, "-m", "config", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    subprocess.run([py, "-m", "config", "genomics", "add-reads", "na12878", str(bam)], env=env,
                   check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [py, "-m", "config", "serve", "--port", str(port), "--workers", str(args.workers),
         "--threads", str(args.threads)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/ga4gh/htsget/v1"
    url = f"{base}/reads/na12878?{urlencode(QUERY)}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/service-info", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        results: dict[str, object] = {
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, load "
                       + " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "server": f"gunicorn gthread, {args.workers} workers x {args.threads} threads",
        }
        # 1. bytes
        ticket = requests.get(url, timeout=10).json()
        minimal, nblocks = minimal_block_bytes(bam)
        body = ticket_body_bytes(ticket)
        results["minimal_block_set_bytes"] = minimal
        results["minimal_blocks"] = nblocks
        results["ticket_body_bytes"] = body
        results["bytes_ratio"] = round(body / minimal, 3)
        results["index_granularity_bytes_ratio"] = round(index_granularity_bytes(bam) / minimal, 3)
        # 2. latency, single client (warm: the same query; the server caches its index)
        for _ in range(20):
            requests.get(url, timeout=10)
        single = wrk(url, 1, 10, 1)
        results["ticket_p50_ms"] = single["p50_ms"]
        results["ticket_p99_ms"] = single["p99_ms"]
        # cold: 300 distinct 35 kb regions (every one scans its edges)
        session = requests.Session()
        lat = []
        for i in range(300):
            start = 5_000_000 + i * 211
            q = urlencode({"referenceName": "11", "start": start, "end": start + 35_000})
            t = time.perf_counter()
            r = session.get(f"{base}/reads/na12878?{q}", timeout=10)
            lat.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
        lat.sort()
        results["cold_ticket_p50_ms"] = round(lat[len(lat) // 2], 2)
        results["cold_ticket_p99_ms"] = round(lat[int(len(lat) * 0.99) - 1], 2)
        # CPU time per ticket inside the app (test client, one thread): unlike wall-clock
        # latency it barely moves with the machine's load.
        results.update(cpu_per_ticket(scratch, args.profile))
        # 3. throughput, 16 concurrent connections
        many = wrk(url, 16, 10, 2)
        results["tickets_per_s_16_clients"] = many["rps"]
        results["non_2xx"] = many["errors"]
        # 4. samtools view -c: ticket URL vs local
        # Alternating runs, so a change of the machine's load hits both sides alike; the
        # minimum is the least load-disturbed run of each.
        remote_t, local_t, remote_n, local_n = timed_pair(
            ["samtools", "view", "-c", url], ["samtools", "view", "-c", str(bam), REGION])
        remote_s, local_s = statistics.median(remote_t), statistics.median(local_t)
        results["samtools_count_remote"] = int(remote_n)
        results["samtools_count_local"] = int(local_n)
        results["samtools_remote_ms"] = round(remote_s * 1000, 1)
        results["samtools_local_ms"] = round(local_s * 1000, 1)
        results["samtools_ratio"] = round(remote_s / local_s, 2)
        results["samtools_min_remote_ms"] = round(min(remote_t) * 1000, 1)
        results["samtools_min_local_ms"] = round(min(local_t) * 1000, 1)
        results["samtools_ratio_of_minima"] = round(min(remote_t) / min(local_t), 2)
        # The fixed cost of any remote read in htslib (plugin and libcurl/GnuTLS loading):
        # `samtools view -H` of one signed URL of the same BAM, one HTTP request.
        sys.path.insert(0, str(ROOT))
        from ga4gh.htsget.http import data_url as _data_url

        key = next(p for p in (scratch / "genomics" / "na12878").rglob("na12878.bam"))
        secret = bytes.fromhex((scratch / "keys" / "htsget-url.secret").read_text().strip())
        one = _data_url(f"http://127.0.0.1:{port}", secret,
                        str(key.relative_to(scratch / "genomics")), 0, key.stat().st_size, 600)
        fixed_s, _ = timed(["samtools", "view", "-H", one], runs=15)
        results["samtools_http_header_only_ms"] = round(fixed_s * 1000, 1)
        # 5. data endpoint, one stream, 512 MiB object placed in the store
        blob_dir = scratch / "genomics" / "bench-blob"
        blob_dir.mkdir(parents=True)
        blob = blob_dir / "blob.bin"
        with blob.open("wb") as fh:
            chunk = os.urandom(1 << 20)
            for _ in range(512):
                fh.write(chunk)
        sys.path.insert(0, str(ROOT))
        from ga4gh.htsget.http import data_url

        size = blob.stat().st_size
        durl = data_url(f"http://127.0.0.1:{port}", secret, "bench-blob/blob.bin", 0, size, 600)
        speeds = []
        for _ in range(3):
            out = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-H", f"Range: bytes=0-{size - 1}", "-w",
                 "%{speed_download} %{size_download} %{http_code}", durl],
                capture_output=True, text=True, check=True,
            ).stdout.split()
            assert out[2] == "206" and int(out[1]) == size, out
            speeds.append(float(out[0]) / 1e6)
        results["data_endpoint_MB_per_s"] = round(statistics.median(speeds), 1)
        results["load_at_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
