"""Latency of refget sequences and seqcol collections over HTTP, with peers beside it.

Serves C. elegans ce.fa (shared/data/genomics/ce, CHROMOSOME_I = 1,009,800 bp) from:
- genomseq (``genomseq serve``: gunicorn, 2 workers x 4 threads, SQLite);
- ``refget store serve`` (PyPI refget, uvicorn; sequence collections only: it has no
  refget sequence endpoint);
- seqrepo-rest-service (PyPI; connexion/Flask, refget 1 sequence endpoint, no seqcol).
Peers run from a separate virtualenv (``--peer-venv``) so their pins do not touch the project.

One client, keep-alive connection, sequential requests; latency = request sent to last byte.

    PYTHONPATH=. .venv/bin/python bench/refget/bench_refget.py \
        --fasta ../shared/data/genomics/ce/ce.fa --peer-venv /tmp/peers
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROM_I_MD5 = "8ede36131e0dbf3417807e48f77f3ebd"
CHROM_I_LEN = 1_009_800

SEQREPO_LAUNCHER = """
import sys
import connexion
PORT = int(sys.argv[2])
_run = connexion.App.run
def run(self, **kw):
    kw.update(host="127.0.0.1", port=PORT, debug=False, use_reloader=False, threaded=True)
    kw.pop("extra_files", None)
    return _run(self, **kw)
connexion.App.run = run
from seqrepo_rest_service.cli import main
sys.argv = ["seqrepo-rest-service", sys.argv[1]]
main()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not answer {path}")


def measure(port: int, paths: list[str], warmup: int = 20) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    size = 0
    for i, path in enumerate(paths[:warmup] + paths):
        t0 = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - t0
        if resp.status not in (200, 206):
            raise RuntimeError(f"{path}: HTTP {resp.status} {body[:200]!r}")
        if i >= warmup:
            times.append(elapsed * 1000)
            size = len(body)
    times.sort()
    q = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "n": len(times),
        "bytes": size,
        "p50_ms": round(q[49], 3),
        "p95_ms": round(q[94], 3),
        "p99_ms": round(q[98], 3),
    }


def start(
    cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fasta", type=Path, required=True)
    ap.add_argument("--peer-venv", type=Path, default=None)
    ap.add_argument("--slices", type=int, default=2000)
    ap.add_argument("--whole", type=int, default=100)
    ap.add_argument("--collections", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "refget.json")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-refget-"))
    fasta = work / "ce.fa"
    shutil.copyfile(args.fasta, fasta)
    if Path(str(args.fasta) + ".fai").exists():
        shutil.copyfile(str(args.fasta) + ".fai", str(fasta) + ".fai")
    rng = random.Random(1)
    starts = [rng.randrange(0, CHROM_I_LEN - 1000) for _ in range(args.slices)]
    results: dict[str, dict[str, dict[str, float]]] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # genomseq
        env = {
            **os.environ,
            "GENOMSEQ_DATA_DIR": str(work / "var"),
            "GENOMSEQ_AUTHORIZATION": "off",
            "PYTHONPATH": str(ROOT),
            "GENOMSEQ_LOG_LEVEL": "WARNING",
        }
        py = sys.executable
        load = subprocess.run(
            [py, "-m", "config", "refget", "load", str(fasta)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        digest = load.stdout.split()[0]
        port = free_port()
        procs.append(
            start(
                [
                    py,
                    "-m",
                    "config",
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                ],
                work / "genomseq.log",
                env=env,
                cwd=ROOT,
            )
        )
        wait_http(port, "/health")
        seq = f"/ga4gh/refget/sequence/{CHROM_I_MD5}"
        results["genomseq"] = {
            "slice_1kb": measure(port, [f"{seq}?start={s}&end={s + 1000}" for s in starts]),
            "whole_chromosome_I": measure(port, [seq] * args.whole, warmup=5),
            "seqcol_collection_level2": measure(
                port, [f"/ga4gh/seqcol/collection/{digest}"] * args.collections
            ),
        }
        if args.peer_venv:
            bin_dir = args.peer_venv / "bin"
            # refget store serve (seqcol API only)
            store = work / "store"
            subprocess.run(
                [bin_dir / "refget", "store", "init", "--path", store],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [bin_dir / "refget", "store", "add", "--path", store, fasta],
                check=True,
                capture_output=True,
            )
            rport = free_port()
            procs.append(
                start(
                    [
                        str(bin_dir / "refget"),
                        "store",
                        "serve",
                        "--path",
                        str(store),
                        "--port",
                        str(rport),
                    ],
                    work / "refget-store.log",
                )
            )
            wait_http(rport, "/service-info")
            results["refget store serve"] = {
                "seqcol_collection_level2": measure(
                    rport, [f"/collection/{digest}"] * args.collections
                ),
            }
            # seqrepo-rest-service (refget sequences only)
            root = work / "seqrepo"
            subprocess.run(
                [bin_dir / "seqrepo", "-r", root, "init", "-i", "ce"],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [bin_dir / "seqrepo", "-r", root, "load", "-i", "ce", "-n", "ce", fasta],
                check=True,
                capture_output=True,
            )
            launcher = work / "seqrepo_launcher.py"
            launcher.write_text(SEQREPO_LAUNCHER)
            sport = free_port()
            procs.append(
                start(
                    [str(bin_dir / "python"), str(launcher), str(root / "ce"), str(sport)],
                    work / "seqrepo.log",
                )
            )
            wait_http(sport, f"/refget/1/sequence/{CHROM_I_MD5}?start=0&end=1")
            sseq = f"/refget/1/sequence/{CHROM_I_MD5}"
            results["seqrepo-rest-service"] = {
                "slice_1kb": measure(sport, [f"{sseq}?start={s}&end={s + 1000}" for s in starts]),
                "whole_chromosome_I": measure(sport, [sseq] * args.whole, warmup=5),
            }
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"loadavg": load, "results": results}, indent=2))
    # The machine is shared: the load average says how much the figures are disturbed.
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| server | measurement | n | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for server, rows in results.items():
        for name, r in rows.items():
            print(
                f"| {server} | {name} | {r['n']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |"
            )


if __name__ == "__main__":
    main()
