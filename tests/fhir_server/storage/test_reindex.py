"""Reindexing: custom SearchParameters apply to data stored before them."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner
from fhir.resources.R4B.patient import Patient
from flask import Flask

from config.context import AppContext
from fhir_server.storage.reindex import reindex
from tests.fhir_server.storage.search_support import INDEXER, REGISTRY, Store

NICK = "http://example.org/nickname"


def _sp() -> dict[str, object]:
    return {
        "resourceType": "SearchParameter",
        "id": "nick",
        "url": "http://example.org/sp/nick",
        "name": "nick",
        "status": "active",
        "description": "nickname",
        "code": "nick",
        "base": ["Patient"],
        "type": "token",
        "expression": f"Patient.extension('{NICK}').value",
    }


def test_reindex_applies_new_parameter_to_old_data(ctx: AppContext) -> None:
    s = Store(ctx)
    s.put(Patient(id="a", extension=[{"url": NICK, "valueCode": "bob"}]))
    s.put(_sp())  # stored after the patient: its rows were extracted without "nick"
    try:
        assert s.ids("Patient", "nick=bob") == []
        seen: list[int] = []
        assert reindex(ctx.engine, INDEXER, progress=seen.append) >= 2
        assert sum(seen) >= 2
        assert s.ids("Patient", "nick=bob") == ["a"]
    finally:
        REGISTRY.reset_custom()


def test_reindex_command(app: Flask, ctx: AppContext, monkeypatch) -> None:  # noqa: ANN001
    s = Store(ctx)
    s.put(Patient(id="a", name=[{"family": "Zed"}]))
    with ctx.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM fhir_idx_string"))
    assert s.ids("Patient", "family=zed") == []
    monkeypatch.setenv("GENOMSEQ_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("GENOMSEQ_DATA_DIR", str(ctx.settings.data_dir))
    from config.cli import cli

    result = CliRunner().invoke(cli, ["fhir", "reindex", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "reindexed resources: 1" in result.output
    assert s.ids("Patient", "family=zed") == ["a"]
