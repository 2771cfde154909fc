"""Server-side CPU of one FHIR read by id, in process (no HTTP server, no client).

Loads a few Synthea patients into a fresh database (authorization off), then calls the WSGI app
directly with prebuilt environs for ``GET /fhir/{type}/{id}`` and reports the CPU time per
request (``time.process_time``, best of the repetitions: steadier than wall time on a shared
machine). ``--profile`` prints a cProfile of one more pass.

    PYTHONPATH=. python bench/fhir/profile_read.py --patients 3 --reads 2000 --repeat 5 [--profile]
    GENOMSEQ_DATABASE_URL=postgresql://.../db PYTHONPATH=. python bench/fhir/profile_read.py
"""

from __future__ import annotations

import argparse
import bz2
import cProfile
import gc
import io
import os
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def environ(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8080", "HTTP_ACCEPT": "*/*", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False, "REMOTE_ADDR": "127.0.0.1",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fhir/synthea")
    p.add_argument("--patients", type=int, default=3)
    p.add_argument("--reads", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    os.environ.setdefault("GENOMSEQ_DATA_DIR", tempfile.mkdtemp(prefix="genomseq-read-"))
    os.environ["GENOMSEQ_AUTHORIZATION"] = "off"
    os.environ["GENOMSEQ_LOG_LEVEL"] = "WARNING"
    from config.app import create_app
    from config.cli import upgrade_all
    from config.context import app_context

    app = create_app()
    upgrade_all(app_context(app))
    client = app.test_client()
    files = sorted(args.data.glob("*.json.bz2"))
    first = [f for f in files if f.name.startswith(("hospital", "practitioner", "0-"))]
    patients = [f for f in files if f not in first][: args.patients]
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
    paths = []
    for f in first + patients:
        resp = client.post("/fhir", data=bz2.decompress(f.read_bytes()), headers=headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        if f in patients:
            paths += ["/fhir/" + e["response"]["location"].split("/_history")[0]
                      for e in resp.get_json()["entry"]]
    rng = random.Random(1)
    chosen = [rng.choice(paths) for _ in range(args.reads)]
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)

    def one(path: str) -> None:
        body: Any = app(environ(path), start_response)
        for _ in body:
            pass
        body.close()

    for path in chosen[:300]:
        one(path)
    gc.collect()
    gc.freeze()  # as the gunicorn workers do
    runs = []
    for _ in range(args.repeat):
        t0 = time.process_time()
        for path in chosen:
            one(path)
        runs.append(1e6 * (time.process_time() - t0) / args.reads)
    assert all(s.startswith("200") for s in statuses), statuses[:3]
    print(f"CPU per read: best {min(runs):.0f} us, runs {[round(r) for r in runs]}, "
          f"load average {os.getloadavg()[0]:.2f}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for path in chosen:
            one(path)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
