"""``genomseq serve --demo`` end to end: gunicorn, migrations, demo data, a real HTTP read."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_demo_runs_gunicorn_and_serves_demo_data(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "GENOMSEQ_DATA_DIR": str(tmp_path),
        "GENOMSEQ_AUTHORIZATION": "off",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("GENOMSEQ_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "config", "serve", "--demo", "--port", str(port), "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            pytest.fail("server did not start")
        resp = requests.get(f"{base}/fhir/Patient/demo-patient-1", timeout=5)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("application/fhir+json")
        assert requests.get(f"{base}/service-info", timeout=5).json()["type"]["artifact"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "curl -s http://127.0.0.1" in out
    assert "WARNING: authorization is OFF" in out
    assert (tmp_path / "genomseq.sqlite").exists()
