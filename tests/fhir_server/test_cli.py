"""``genomseq fhir load``: bundles, resources and NDJSON, compressed or not, bad files reported."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from config.cli import cli
from config.context import AppContext
from fhir_server.core.service import FhirService
from tests.fhir_server.conftest import observation, patient


@pytest.fixture()
def env(
    monkeypatch: pytest.MonkeyPatch, ctx: AppContext, database_urls: tuple[str, str], tmp_path: Path
) -> None:
    monkeypatch.setenv("GENOMSEQ_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GENOMSEQ_DATABASE_URL", database_urls[0])
    monkeypatch.setenv("GENOMSEQ_TRUST_CENTER_DATABASE_URL", database_urls[1])
    monkeypatch.setenv("GENOMSEQ_AUTHORIZATION", "off")


def _tx(n: int, prefix: str) -> dict:
    entries = []
    for i in range(n):
        url = f"urn:uuid:{prefix}-0000-4000-8000-{i:012d}"
        entries.append(
            {"fullUrl": url, "resource": patient(), "request": {"method": "POST", "url": "Patient"}}
        )
        entries.append(
            {"resource": observation(url), "request": {"method": "POST", "url": "Observation"}}
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_load_mixed_folder(env: None, ctx: AppContext, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.json").write_text(json.dumps(_tx(3, "aaaaaaaa-aaaa")))
    with gzip.open(data / "sub" / "b.json.gz", "wt") as fh:
        fh.write(json.dumps(_tx(2, "bbbbbbbb-bbbb")))
    with bz2.open(data / "c.ndjson.bz2", "wt") as fh:
        for i in range(7):
            fh.write(json.dumps(patient(id=f"nd{i}")) + "\n")
    (data / "single.json").write_text(json.dumps(patient(id="single")))
    (data / "ignored.txt").write_text("not FHIR")
    result = CliRunner().invoke(cli, ["fhir", "load", str(data), "--workers", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "files: 4, resources: 18, failures: 0" in result.output
    service = ctx.get(FhirService)
    assert service.read("Patient", "nd6").version_id == 1
    assert service.read("Patient", "single").version_id == 1


def test_bad_files_are_reported_and_do_not_stop_others(
    env: None, ctx: AppContext, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.json").write_text(json.dumps(_tx(1, "cccccccc-cccc")))
    (data / "broken.json").write_text('{"resourceType": "Bundle", ')
    (data / "invalid.json").write_text(
        json.dumps({"resourceType": "Patient", "birthDate": "2020-13-45"})
    )
    (data / "truncated.json.gz").write_bytes(gzip.compress(b'{"a": 1}')[:10])
    with open(data / "lines.ndjson", "w") as fh:
        fh.write(
            json.dumps(patient(id="l1"))
            + "\n{oops\n"
            + json.dumps({"resourceType": "Patient", "id": "l3", "gender": 7})
            + "\n"
        )
    result = CliRunner().invoke(cli, ["fhir", "load", str(data), "--no-progress"])
    assert result.exit_code == 1
    out = result.output
    for name in ("broken.json", "invalid.json", "truncated.json.gz", "lines.ndjson"):
        assert f"FAILED {data / name}" in out
    assert "Patient.birthDate" in out
    assert "line 2: malformed JSON" in out and "line 3:" in out
    assert "files: 5, resources: 3, failures: 5" in out
    assert ctx.get(FhirService).read("Patient", "l1").version_id == 1


def test_load_without_files_fails(env: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fhir", "load", str(tmp_path), "--no-progress"])
    assert result.exit_code != 0
    assert "no loadable files" in result.output
