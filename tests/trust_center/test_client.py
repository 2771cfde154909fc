"""The HTTP adapter of the ports against the real /trust-center API (through a WSGI transport)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from requests.adapters import BaseAdapter

from config.app import create_app
from config.context import app_context
from config.settings import Settings
from trust_center.client import HttpTrustCenterClient
from trust_center.core.consent import ParticipationScope, Purpose, ScopeStatus
from trust_center.core.errors import (
    InvalidConsent,
    InvalidIdentifier,
    TrustCenterUnavailable,
    UnknownPseudonym,
    VorgangsnummerUsed,
)
from trust_center.ports import ConsentService, ParticipationDeclaration, PseudonymService
from trust_center.service import TrustCenterService

from .conftest import GRZ, IK, KDK, KVNR

BASE = "http://tc.test/trust-center"


class WsgiAdapter(BaseAdapter):
    """A requests transport that hands each request to a Flask app's test client."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.client = app.test_client()
        self.seen: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = request.path_url
        self.seen.append(path)
        result = self.client.open(path, method=request.method, data=request.body,
                                  headers=dict(request.headers))
        resp = requests.Response()
        resp.status_code = result.status_code
        resp.headers.update(dict(result.headers))
        resp._content = result.get_data()
        resp.url = request.url or ""
        resp.request = request
        return resp

    def close(self) -> None:
        pass


@pytest.fixture()
def remote(app: Flask) -> tuple[HttpTrustCenterClient, WsgiAdapter]:
    session = requests.Session()
    adapter = WsgiAdapter(app)
    session.mount("http://tc.test/", adapter)
    return HttpTrustCenterClient(BASE, session=session), adapter


def test_client_speaks_the_ports(app: Flask, remote) -> None:
    client, adapter = remote
    assert isinstance(client, PseudonymService) and isinstance(client, ConsentService)
    tc = app_context(app).get(TrustCenterService)
    reg = tc.register_case(ik=IK, arbeitsnummer="H-1", kvnr=KVNR, actor="le")
    result = client.exchange(reg.vorgangsnummer_clinical, KDK)
    assert result.pseudonym.startswith("k1.") and result.kind.value == "clinical"
    with pytest.raises(VorgangsnummerUsed):
        client.exchange(reg.vorgangsnummer_clinical, KDK)
    with pytest.raises(InvalidIdentifier):
        client.exchange("nope", KDK)
    assert client.derive(KDK, "urn:mrn", ["a", "b"]) == tc.derive(KDK, "urn:mrn", ["a", "b"])
    assert client.lookup(KDK, result.pseudonym).subject_type == "dataset"
    assert client.translate(KDK, [result.pseudonym, "k1." + "0" * 32]) == {
        result.pseudonym: result.pseudonym}
    with pytest.raises(UnknownPseudonym):
        client.lookup(KDK, "k1." + "0" * 32)
    p = result.pseudonym
    assert not client.may_use(KDK, p, Purpose.MV_SEQUENCING, date(2025, 6, 1)).allowed
    client.record_participation(KDK, p, [ParticipationDeclaration(
        ParticipationScope.MV_SEQUENCING, ScopeStatus.PERMITTED, date(2025, 1, 1))])
    assert client.may_use(KDK, p, Purpose.MV_SEQUENCING, date(2025, 6, 1)).allowed
    assert client.permitted(KDK, [p, "k1." + "0" * 32], Purpose.MV_SEQUENCING,
                            date(2025, 6, 1)) == {p}
    import grz_pydantic_models_testing.example_research_consent as fx

    consent = json.loads((resources.files(fx) / "minimal_consented.json").read_text())
    assert client.record_broad_consent(KDK, p, consent)
    with pytest.raises(InvalidConsent):
        client.record_broad_consent(KDK, p, {"resourceType": "Consent"})
    # Nothing identifying ever travels in a URL.
    assert all(p not in url and KVNR not in url for url in adapter.seen)
    assert tc.derive(GRZ, "urn:mrn", ["a"])  # the in-process service is still there


def test_unreachable_trust_center(tmp_path: Path) -> None:
    client = HttpTrustCenterClient("http://127.0.0.1:9/trust-center", timeout=0.5)
    with pytest.raises(TrustCenterUnavailable):
        client.exchange("a" * 64, KDK)
    decision = client.may_use(KDK, "k1." + "0" * 32, Purpose.MV_SEQUENCING)
    assert not decision.allowed
    assert client.permitted(KDK, ["k1." + "0" * 32], Purpose.MV_SEQUENCING) == frozenset()


def test_node_with_remote_trust_center_never_opens_its_database(
    base_settings: Settings, tmp_path: Path
) -> None:
    never = tmp_path / "never" / "tc.sqlite"
    settings = dataclasses.replace(
        base_settings, data_dir=tmp_path / "node",
        trust_center=dataclasses.replace(base_settings.trust_center, url=BASE,
                                         database_url=f"sqlite:///{never}"))
    node = create_app(settings)
    ctx = app_context(node)
    assert isinstance(ctx.get(PseudonymService), HttpTrustCenterClient)  # type: ignore[type-abstract]
    assert isinstance(ctx.get(ConsentService), HttpTrustCenterClient)  # type: ignore[type-abstract]
    assert ctx.find(TrustCenterService) is None
    from config.cli import upgrade_all

    names = upgrade_all(ctx)
    assert "trust_center" not in names and "audit_tc" not in names and "audit" in names
    assert not never.exists()
    assert not (tmp_path / "node" / "trust_center" / "master.key").exists()
    assert node.test_client().post("/trust-center/cases", json={}).status_code == 404
    ctx.engine.dispose()


def test_trust_center_refuses_the_main_database(base_settings: Settings, tmp_path: Path) -> None:
    from config.settings import SettingsError

    shared = f"sqlite:///{tmp_path / 'one.sqlite'}"
    settings = dataclasses.replace(
        base_settings, data_dir=tmp_path, database_url=shared,
        trust_center=dataclasses.replace(base_settings.trust_center, database_url=shared))
    with pytest.raises(SettingsError, match="database of its own"):
        create_app(settings)
