"""Request size limit (413) and authentication/authorization of the FHIR API."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from config.app import create_app
from config.settings import Settings
from tests.fhir_server.conftest import FHIR_JSON, patient


@pytest.fixture()
def secured_app(base_settings: Settings, app: Flask, tmp_path: Path) -> Flask:
    tokens = tmp_path / "tokens"
    reader = hashlib.sha256(b"reader-token").hexdigest()
    writer = hashlib.sha256(b"writer-token").hexdigest()
    tokens.write_text(f"{reader} system/Patient.rs\n{writer} system/*.cruds\n")
    settings = replace(
        base_settings,
        authorization="on",
        api_tokens_file=str(tokens),
        fhir=replace(base_settings.fhir, max_request_bytes=4096),
    )
    return create_app(settings)


def test_no_token_is_401_outcome(secured_app: Flask) -> None:
    client = secured_app.test_client()
    resp = client.get("/fhir/Patient/x")
    assert resp.status_code == 401
    assert resp.get_json()["issue"][0]["code"] == "login"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.get("/fhir/Patient/x", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    # The CapabilityStatement stays public.
    assert client.get("/fhir/metadata").status_code == 200


def test_scopes_are_enforced(secured_app: Flask) -> None:
    client = secured_app.test_client()
    writer = {"Authorization": "Bearer writer-token", "Content-Type": FHIR_JSON}
    reader = {"Authorization": "Bearer reader-token", "Content-Type": FHIR_JSON}
    resp = client.put("/fhir/Patient/p1", data=json.dumps(patient(id="p1")), headers=writer)
    assert resp.status_code == 201
    assert client.get("/fhir/Patient/p1", headers=reader).status_code == 200
    denied = client.put(
        "/fhir/Patient/p1", data=json.dumps(patient(id="p1", gender="male")), headers=reader
    )
    assert denied.status_code == 403
    assert denied.get_json()["issue"][0]["code"] == "forbidden"
    assert client.get("/fhir/Observation/x", headers=reader).status_code == 403
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(id="p2"), "request": {"method": "PUT", "url": "Patient/p2"}}
        ],
    }
    assert client.post("/fhir", data=json.dumps(tx), headers=reader).status_code == 403
    assert client.get("/fhir/Patient/p2", headers=writer).status_code == 404


def test_body_over_limit_is_413_outcome(secured_app: Flask) -> None:
    client = secured_app.test_client()
    big = patient(id="p1", name=[{"family": "x" * 5000}])
    resp = client.put(
        "/fhir/Patient/p1",
        data=json.dumps(big),
        headers={"Authorization": "Bearer writer-token", "Content-Type": FHIR_JSON},
    )
    assert resp.status_code == 413
    assert resp.get_json()["issue"][0]["code"] == "too-costly"
