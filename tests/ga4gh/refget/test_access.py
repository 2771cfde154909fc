"""Authentication: public reference data by default, tokens with refget:read otherwise."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from config.app import create_app
from config.context import app_context
from config.settings import Settings
from ga4gh.refget.ports import SequenceRegistry
from tests.ga4gh.refget.conftest import write_fasta

SEQ = "GATTACA"
MD5 = hashlib.md5(SEQ.encode()).hexdigest()
PATHS = (f"/ga4gh/refget/sequence/{MD5}", "/ga4gh/seqcol/list/collection")


def _app(base_settings: Settings, tmp_path: Path, public: bool) -> Flask:
    tokens = tmp_path / "tokens"
    tokens.write_text(
        f"{hashlib.sha256(b'reader').hexdigest()} refget:read\n"
        f"{hashlib.sha256(b'other').hexdigest()} fhir:read\n"
    )
    settings = base_settings.replace(
        authorization="on",
        api_tokens_file=str(tokens),
        genomics=replace(base_settings.genomics, refget_public=public),
    )
    app = create_app(settings)
    registry = app_context(app).find(SequenceRegistry)
    assert registry is not None
    registry.add_fasta(write_fasta(tmp_path / "g.fa", {"g": SEQ}))
    return app


@pytest.mark.parametrize("path", PATHS)
def test_private_refget_needs_a_token_with_refget_read(
    app: Flask, base_settings: Settings, tmp_path: Path, path: str
) -> None:
    client = _app(base_settings, tmp_path, public=False).test_client()
    anonymous = client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.get_json(force=True)["error"] == "Unauthorized"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong_scope = client.get(path, headers={"Authorization": "Bearer other"})
    assert wrong_scope.status_code == 403
    assert wrong_scope.get_json(force=True)["error"] == "Forbidden"
    assert client.get(path, headers={"Authorization": "Bearer reader"}).status_code == 200


@pytest.mark.parametrize("path", PATHS)
def test_public_refget_serves_anonymous_but_checks_presented_tokens(
    app: Flask, base_settings: Settings, tmp_path: Path, path: str
) -> None:
    client = _app(base_settings, tmp_path, public=True).test_client()
    assert client.get(path).status_code == 200
    bad = client.get(path, headers={"Authorization": "Bearer forged"})
    assert bad.status_code == 401
    assert bad.get_json(force=True)["error"] == "Unauthorized"
