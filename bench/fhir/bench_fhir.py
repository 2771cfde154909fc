"""FHIR core benchmark: Synthea ingest as transactions, create and read-by-id throughput.

Starts genomseq (``genomseq serve``, gunicorn, 2 workers) on a fresh database, loads the
Synthea data set (hospital and practitioner batches first, then every patient's transaction
bundle from N concurrent clients), then measures read-by-id with wrk (8 connections) and
single-resource create with wrk (4 connections). With ``--peer`` it runs the same create and
read measurements against fhirstarter (bench/fhir/peer_fhirstarter.py) in the same run.

    python bench/fhir/bench_fhir.py --backend sqlite --peer
    python bench/fhir/bench_fhir.py --backend postgresql --pg-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PEER_VENV = ROOT / "bench" / ".peers" / "fhirstarter-venv"
READ_LUA = """
local paths = {}
for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
math.randomseed(os.time())
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
"""
POST_LUA = """
local f = io.open(os.getenv("BODY_FILE"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Prefer"] = "return=minimal"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server at {url} did not come up")


def load_bundles(data: Path) -> tuple[list[bytes], list[bytes], int]:
    """(batch bundles to load first, patient transaction bundles, resource count)."""
    first, patients, total = [], [], 0
    for path in sorted(data.glob("*.json.bz2")):
        raw = bz2.decompress(path.read_bytes())
        doc = json.loads(raw)
        total += len(doc.get("entry", []))
        (first if doc.get("type") == "batch" else patients).append(raw)
    return first, patients, total


def run_wrk(
    url: str, script: str, connections: int, duration: int, env: dict[str, str]
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--latency",
            "-s",
            fh.name,
            url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    ).stdout
    os.unlink(fh.name)

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m[1]), m[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": round(rps, 1),
        "p50_ms": ms("50"),
        "p90_ms": ms("90"),
        "p99_ms": ms("99"),
        "non_2xx": int(errors[1]) if errors else 0,
    }


class Server:
    """A server subprocess, stopped with SIGTERM (gunicorn/uvicorn graceful stop)."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, health: str) -> None:
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            env={**os.environ, **env},
            cwd=cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_up(health)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its worker processes so far (under load
        from other jobs this is steadier than throughput: it is what a request costs)."""
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(p) for p in children.split()]
        except OSError:
            pass
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def ingest(
    base: str, first: list[bytes], patients: list[bytes], clients: int, total: int,
    server: Server | None = None,
) -> tuple[dict[str, Any], list[str]]:
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
    locations: list[str] = []
    lock = threading.Lock()
    local = threading.local()

    def send(body: bytes) -> int:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        resp = local.s.post(base, data=body, headers=headers, timeout=600)
        resp.raise_for_status()
        entries = resp.json()["entry"]
        with lock:
            for e in entries:
                loc = e["response"].get("location", "")
                if loc.startswith(("Patient/", "Observation/", "Condition/", "Encounter/")):
                    locations.append(loc.split("/_history")[0])
        return len(entries)

    t0 = time.perf_counter()
    n_first = sum(send(b) for b in first)
    t1 = time.perf_counter()
    cpu0 = server.cpu_seconds() if server else 0.0
    with ThreadPoolExecutor(clients) as pool:
        n_tx = sum(pool.map(send, patients))
    t2 = time.perf_counter()
    cpu = (server.cpu_seconds() - cpu0) if server else float("nan")
    assert n_first + n_tx == total, (n_first, n_tx, total)
    return {
        "server_cpu_s_transactions": round(cpu, 1),
        "resources_per_server_cpu_s": round(n_tx / cpu, 1) if cpu else None,
        "load_average": round(os.getloadavg()[0], 2),
        "resources": total,
        "seconds_total": round(t2 - t0, 2),
        "resources_per_s_total": round(total / (t2 - t0), 1),
        "transaction_resources": n_tx,
        "seconds_transactions": round(t2 - t1, 2),
        "resources_per_s_transactions": round(n_tx / (t2 - t1), 1),
    }, locations


def observation_body(patients: list[bytes]) -> bytes:
    doc = json.loads(patients[0])
    obs = next(
        e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation"
    )
    obs.pop("id", None)
    for key in ("subject", "encounter"):
        obs.pop(key, None)
    return json.dumps(obs).encode()


def bench_genomseq(
    args: argparse.Namespace, first: list[bytes], patients: list[bytes], total: int
) -> dict[str, Any]:
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="genomseq-bench-"))
    env = {
        "GENOMSEQ_DATA_DIR": str(work),
        "GENOMSEQ_AUTHORIZATION": "off",
        "GENOMSEQ_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    if not args.validate:
        env["GENOMSEQ_FHIR_VALIDATE"] = "false"
    dbname = None
    if args.backend == "postgresql":
        import psycopg

        dbname = f"genomseq_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        env["GENOMSEQ_DATABASE_URL"] = args.pg_url.rsplit("/", 1)[0] + "/" + dbname
    cmd = [
        sys.executable,
        "-m",
        "config",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
    ]
    server = Server(cmd, env, ROOT, f"http://127.0.0.1:{port}/health")
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        result: dict[str, Any] = {"server": "genomseq", "backend": args.backend}
        result["ingest"], locations = ingest(base, first, patients, args.clients, total, server)
        paths = Path(work) / "paths.txt"
        paths.write_text("\n".join(f"/fhir/{loc}" for loc in locations[: args.read_ids]) + "\n")
        cpu0 = server.cpu_seconds()
        result["read"] = run_wrk(
            f"http://127.0.0.1:{port}", READ_LUA, 8, args.duration, {"PATHS_FILE": str(paths)}
        )
        cpu = server.cpu_seconds() - cpu0
        result["read"]["server_cpu_us_per_request"] = round(
            1e6 * cpu / (result["read"]["rps"] * args.duration)
        )
        result["read"]["load_average"] = round(os.getloadavg()[0], 2)
        body = Path(work) / "obs.json"
        body.write_bytes(observation_body(patients))
        result["create"] = run_wrk(
            f"{base}/Observation", POST_LUA, args.clients, args.duration, {"BODY_FILE": str(body)}
        )
        return result
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        if dbname:
            import psycopg

            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def bench_peer(args: argparse.Namespace, patients: list[bytes]) -> dict[str, Any]:
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="fhirstarter-bench-"))
    env = {"PEER_DB": str(work / "peer.sqlite")}
    cmd = [
        str(PEER_VENV / "bin" / "uvicorn"),
        "peer_fhirstarter:app",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--log-level",
        "warning",
    ]
    server = Server(cmd, env, HERE, f"http://127.0.0.1:{port}/docs")
    try:
        body = work / "obs.json"
        body.write_bytes(observation_body(patients))
        result: dict[str, Any] = {"server": "fhirstarter 4.2.0", "backend": "sqlite"}
        result["create"] = run_wrk(
            f"http://127.0.0.1:{port}/Observation",
            POST_LUA,
            args.clients,
            args.duration,
            {"BODY_FILE": str(body)},
        )
        s = requests.Session()
        ids = []
        for _ in range(500):
            r = s.post(
                f"http://127.0.0.1:{port}/Observation",
                data=body.read_bytes(),
                headers={"Content-Type": "application/fhir+json"},
                timeout=30,
            )
            ids.append(r.headers["Location"].split("/")[-1])
        paths = work / "paths.txt"
        paths.write_text("\n".join(f"/Observation/{i}" for i in ids) + "\n")
        result["read"] = run_wrk(
            f"http://127.0.0.1:{port}", READ_LUA, 8, args.duration, {"PATHS_FILE": str(paths)}
        )
        return result
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fhir/synthea")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--duration", type=int, default=15)
    p.add_argument("--read-ids", type=int, default=20000)
    p.add_argument("--no-validate", dest="validate", action="store_false")
    p.add_argument("--peer", action="store_true", help="also measure fhirstarter")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    first, patients, total = load_bundles(args.data)
    results = [bench_genomseq(args, first, patients, total)]
    if args.peer:
        results.append(bench_peer(args, patients))
    text = json.dumps(
        {
            "machine": f"{os.cpu_count()} cores",
            "args": {k: str(v) for k, v in vars(args).items()},
            "results": results,
        },
        indent=2,
    )
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
