"""The /trust-center REST API: flows, refusals, problem details and authentication."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config.app import create_app
from config.context import app_context
from config.settings import Settings

from ..conftest import GRZ, IK, IK2, KDK, KVNR

SECRET = "s3cr3t-shared-between-node-and-trust-center"


def _register(client: FlaskClient, arbeitsnummer: str = "AN-1", **extra: str) -> dict:
    resp = client.post("/trust-center/cases", json={
        "ik": IK, "arbeitsnummer": arbeitsnummer, "kvnr": KVNR, **extra})
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.get_json()


def _exchange(client: FlaskClient, number: str, domain: str = KDK) -> str:
    resp = client.post("/trust-center/pseudonyms/exchange",
                       json={"vorgangsnummer": number, "domain": domain})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["pseudonym"]


def _assert_problem(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith(":" + code) and body["title"] and body["detail"]
    return body


def test_register_and_exchange(client: FlaskClient) -> None:
    reg = _register(client)
    assert reg["mode"] == "vorgangsnummer" and reg["expires"].endswith("Z")
    clinical = _exchange(client, reg["vorgangsnummerClinical"])
    assert clinical.startswith("k1.")
    resp = client.post("/trust-center/pseudonyms/exchange",
                       json={"vorgangsnummer": reg["vorgangsnummerClinical"], "domain": KDK})
    _assert_problem(resp, 410, "vorgangsnummer-used")
    resp = client.post("/trust-center/pseudonyms/exchange",
                       json={"vorgangsnummer": "e" * 64, "domain": KDK})
    _assert_problem(resp, 404, "unknown-vorgangsnummer")
    resp = client.post("/trust-center/pseudonyms/exchange",
                       json={"vorgangsnummer": reg["vorgangsnummerGenomic"], "domain": KDK})
    _assert_problem(resp, 422, "wrong-node-kind")
    info = client.post("/trust-center/pseudonyms/lookup", json={"domain": KDK,
                                                                "pseudonym": clinical})
    assert info.get_json() == {"pseudonym": clinical, "domain": KDK, "keyId": "k1",
                               "current": clinical, "subjectType": "dataset"}


def test_bad_kvnr_and_duplicates(client: FlaskClient) -> None:
    resp = client.post("/trust-center/cases", json={"ik": IK, "arbeitsnummer": "A",
                                                    "kvnr": "A123456781"})
    body = _assert_problem(resp, 400, "invalid-identifier")
    assert "check digit" in body["detail"] and "A123456781" not in body["detail"]
    _register(client, "AN-D", tanG="1" * 64, tanC="2" * 64)
    resp = client.post("/trust-center/cases", json={"ik": IK, "arbeitsnummer": "AN-E",
                                                    "kvnr": KVNR, "tanG": "1" * 64,
                                                    "tanC": "3" * 64})
    _assert_problem(resp, 409, "duplicate")


@pytest.mark.parametrize("body,code", [
    (None, "invalid-request"), ([1, 2], "invalid-request"), ({"ik": 5}, "invalid-request"),
    ({"ik": IK, "arbeitsnummer": "x"}, "invalid-request"),
])
def test_malformed_requests(client: FlaskClient, body, code: str) -> None:
    if body is None:
        resp = client.post("/trust-center/cases", data="not json",
                           content_type="text/plain")
    else:
        resp = client.post("/trust-center/cases", json=body)
    _assert_problem(resp, 400, code)


def test_routing_errors_are_problem_details(client: FlaskClient) -> None:
    _assert_problem(client.get("/trust-center/nothing-here"), 404, "not-found")
    resp = client.get("/trust-center/cases")
    _assert_problem(resp, 405, "method-not-allowed")
    assert "POST" in resp.headers["Allow"]


def test_derive_and_consent_flow(client: FlaskClient) -> None:
    resp = client.post("/trust-center/pseudonyms/derive",
                       json={"domain": KDK, "namespace": "urn:mrn", "values": ["1", "2", "1"]})
    values = resp.get_json()["pseudonyms"]
    assert len(values) == 3 and values[0] == values[2]
    _assert_problem(client.post("/trust-center/pseudonyms/derive",
                                json={"domain": KDK, "namespace": "x", "values": "1"}),
                    400, "invalid-request")
    p = _exchange(client, _register(client)["vorgangsnummerClinical"])
    ask = {"domain": KDK, "pseudonym": p, "purpose": "mvSequencing", "on": "2025-06-01"}
    assert client.post("/trust-center/consent/decision", json=ask).get_json()["allowed"] is False
    resp = client.post("/trust-center/consent/participation", json={
        "domain": KDK, "pseudonym": p,
        "declarations": [{"scope": "mvSequencing", "status": "permitted", "date": "2025-01-01"}]})
    assert resp.status_code == 204
    assert client.post("/trust-center/consent/decision", json=ask).get_json() == {
        "allowed": True, "reason": "permitted"}
    _assert_problem(client.post("/trust-center/consent/decision", json={**ask, "purpose": "x"}),
                    400, "invalid-request")
    _assert_problem(client.post("/trust-center/consent/decision",
                                json={**ask, "on": "2025-06-01T10:00:00"}),
                    400, "invalid-request")
    _assert_problem(client.post("/trust-center/consent/participation", json={
        "domain": KDK, "pseudonym": p,
        "declarations": [{"scope": "mvSequencing", "status": "maybe", "date": "2025-01-01"}]}),
        400, "invalid-request")
    _assert_problem(client.post("/trust-center/consent/broad-consent", json={
        "domain": KDK, "pseudonym": p, "consent": {"resourceType": "Consent"}}),
        422, "invalid-consent")


def test_corrections_flow(client: FlaskClient) -> None:
    reg = _register(client, "AN-K")
    p = _exchange(client, reg["vorgangsnummerGenomic"], GRZ)
    resp = client.post("/trust-center/corrections",
                       json={"domain": GRZ, "pseudonym": p, "reason": "FASTQ checksum mismatch"})
    assert resp.status_code == 201
    got = client.post("/trust-center/corrections/fetch", json={"ik": IK}).get_json()
    assert [(c["arbeitsnummer"], c["kind"]) for c in got["corrections"]] == [("AN-K", "genomic")]
    _assert_problem(client.post("/trust-center/corrections",
                                json={"domain": GRZ, "pseudonym": "k1." + "0" * 32,
                                      "reason": "x"}), 404, "unknown-pseudonym")


# --- with authorization on -----------------------------------------------------------------------

TOKENS = {"hospital": ["trust-center:register"], "node": ["trust-center:pseudonyms",
                                                          "trust-center:consent"],
          "doctor": ["trust-center:reidentify"], "approver1": ["trust-center:approve"],
          "approver2": ["trust-center:approve"], "admin": ["trust-center:admin"]}


@pytest.fixture()
def secured(app: Flask, base_settings: Settings, tmp_path: Path) -> Iterator[FlaskClient]:
    tokens = tmp_path / "tokens"
    tokens.write_text("".join(
        f"{hashlib.sha256(name.encode()).hexdigest()} {' '.join(scopes)}\n"
        for name, scopes in TOKENS.items()))
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    settings = dataclasses.replace(
        base_settings, authorization="on", api_tokens_file=str(tokens),
        trust_center=dataclasses.replace(base_settings.trust_center,
                                         shared_secret_file=str(secret)))
    secured_app = create_app(settings)
    yield secured_app.test_client()
    ctx = app_context(secured_app)
    ctx.engine.dispose()
    ctx.trust_center_engine.dispose()


def _h(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}"}


def test_unauthenticated_and_wrong_scope(secured: FlaskClient) -> None:
    body = {"ik": IK, "arbeitsnummer": "A", "kvnr": KVNR}
    resp = secured.post("/trust-center/cases", json=body)
    _assert_problem(resp, 401, "login")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    _assert_problem(secured.post("/trust-center/cases", json=body, headers=_h("wrong")),
                    401, "login")
    _assert_problem(secured.post("/trust-center/cases", json=body, headers=_h("node")),
                    403, "forbidden")
    assert secured.post("/trust-center/cases", json=body, headers=_h("hospital")).status_code == 201


def test_shared_secret(secured: FlaskClient) -> None:
    body = {"ik": IK, "arbeitsnummer": "S", "kvnr": KVNR}
    assert secured.post("/trust-center/cases", json=body, headers=_h(SECRET)).status_code == 201
    _assert_problem(secured.get("/trust-center/reidentifications", headers=_h(SECRET)),
                    403, "forbidden")
    _assert_problem(secured.post("/trust-center/cases", json=body, headers=_h(SECRET + "x")),
                    401, "login")


def test_reidentification_under_dual_control_over_http(secured: FlaskClient) -> None:
    reg = secured.post("/trust-center/cases", json={"ik": IK, "arbeitsnummer": "AN-R",
                                                    "kvnr": KVNR}, headers=_h("hospital"))
    vnk = reg.get_json()["vorgangsnummerClinical"]
    p = secured.post("/trust-center/pseudonyms/exchange", json={"vorgangsnummer": vnk,
                     "domain": KDK}, headers=_h("node")).get_json()["pseudonym"]
    ask = {"domain": KDK, "pseudonym": p, "purpose": "caseIdentification", "hospitalIk": IK,
           "justification": "tumour board"}
    _assert_problem(secured.post("/trust-center/reidentifications", json=ask,
                                 headers=_h("doctor")), 403, "consent-required")
    secured.post("/trust-center/consent/participation", headers=_h("node"), json={
        "domain": KDK, "pseudonym": p, "declarations": [
            {"scope": "mvSequencing", "status": "permitted", "date": "2025-01-01"},
            {"scope": "caseIdentification", "status": "permitted", "date": "2025-01-01"}]})
    resp = secured.post("/trust-center/reidentifications", json=ask, headers=_h("doctor"))
    assert resp.status_code == 201
    rid = resp.get_json()["id"]
    _assert_problem(secured.post(f"/trust-center/reidentifications/{rid}/approve",
                                 headers=_h("doctor")), 403, "forbidden")
    one = secured.post(f"/trust-center/reidentifications/{rid}/approve", headers=_h("approver1"))
    assert one.get_json()["status"] == "pending"
    _assert_problem(secured.post(f"/trust-center/reidentifications/{rid}/approve",
                                 headers=_h("approver1")), 403, "dual-control")
    _assert_problem(secured.post(f"/trust-center/reidentifications/{rid}/answer",
                                 json={"ik": IK}, headers=_h("hospital")), 409, "not-approved")
    two = secured.post(f"/trust-center/reidentifications/{rid}/approve", headers=_h("approver2"))
    assert two.get_json()["status"] == "approved"
    _assert_problem(secured.post(f"/trust-center/reidentifications/{rid}/answer",
                                 json={"ik": IK2}, headers=_h("hospital")), 404, "unknown-request")
    answer = secured.post(f"/trust-center/reidentifications/{rid}/answer", json={"ik": IK},
                          headers=_h("hospital"))
    assert answer.status_code == 200 and answer.get_json()["arbeitsnummer"] == "AN-R"
    assert "kvnr" not in answer.get_data(as_text=True).lower()
    listing = secured.get("/trust-center/reidentifications", headers=_h("approver1")).get_json()
    assert listing["requests"][0]["status"] == "answered"
    _assert_problem(secured.post("/trust-center/reidentifications/nope/approve",
                                 headers=_h("approver1")), 404, "unknown-request")


def test_key_rotation_needs_admin(secured: FlaskClient) -> None:
    _assert_problem(secured.post("/trust-center/keys/rotate", json={"domain": KDK},
                                 headers=_h("node")), 403, "forbidden")
    resp = secured.post("/trust-center/keys/rotate", json={"domain": KDK}, headers=_h("admin"))
    assert resp.get_json()["newKeyId"] == "k2"


def test_project_pseudonyms_endpoint(client: FlaskClient, secured: FlaskClient) -> None:
    p = _exchange(client, _register(client, "AN-PR")["vorgangsnummerClinical"])
    resp = client.post("/trust-center/projects/pseudonyms",
                       json={"project": "P-9", "domain": KDK, "pseudonyms": [p]})
    assert resp.status_code == 200
    assert resp.get_json() == {"pseudonyms": {p: None}}  # no research consent: none issued
    _assert_problem(client.post("/trust-center/projects/pseudonyms",
                                json={"project": "bad id!", "domain": KDK, "pseudonyms": [p]}),
                    400, "invalid-identifier")
    _assert_problem(secured.post("/trust-center/projects/pseudonyms",
                                 json={"project": "P-9", "domain": KDK, "pseudonyms": [p]},
                                 headers=_h("node")), 403, "forbidden")


@contextlib.contextmanager
def _acting_as(app: Flask, subject: str, scope: str, **claims: object) -> Iterator[FlaskClient]:
    """A client whose every request authenticates as a token with ``scope`` and ``claims``."""
    from common.auth import Principal

    ctx = app_context(app)
    original = ctx.authenticator

    class Fixed:
        def authenticate(self, authorization: str | None) -> Principal:
            return Principal(subject=subject, scopes=frozenset({scope}), claims=dict(claims))

    ctx.authenticator = Fixed()  # type: ignore[assignment]
    try:
        yield app.test_client()
    finally:
        ctx.authenticator = original


def test_hospital_token_with_ik_claim_acts_only_for_its_ik(app: Flask) -> None:
    with _acting_as(app, "le", "trust-center:register", ik=IK) as client:
        ok = client.post("/trust-center/cases", json={"ik": IK, "arbeitsnummer": "C-1",
                                                      "kvnr": KVNR})
        assert ok.status_code == 201
        _assert_problem(client.post("/trust-center/cases", json={
            "ik": IK2, "arbeitsnummer": "C-2", "kvnr": KVNR}), 403, "forbidden")
        _assert_problem(client.post("/trust-center/corrections/fetch", json={"ik": IK2}),
                        403, "forbidden")


def test_node_token_with_domain_claim_acts_only_in_its_domain(app: Flask) -> None:
    with _acting_as(app, "node", "trust-center:pseudonyms", domain=[KDK]) as client:
        ok = client.post("/trust-center/pseudonyms/derive",
                         json={"domain": KDK, "namespace": "urn:mrn", "values": ["1"]})
        assert ok.status_code == 200
        _assert_problem(client.post("/trust-center/pseudonyms/derive", json={
            "domain": "kdk:KDKXXX002", "namespace": "urn:mrn", "values": ["1"]}),
            403, "forbidden")
        _assert_problem(client.post("/trust-center/pseudonyms/exchange", json={
            "domain": GRZ, "vorgangsnummer": "a" * 64}), 403, "forbidden")


def test_translate_to_project_endpoint(client: FlaskClient, secured: FlaskClient,
                                       app: Flask) -> None:
    from trust_center.service import TrustCenterService

    p = _exchange(client, _register(client, "AN-PV")["vorgangsnummerClinical"])
    unknown = "k1." + "6" * 32
    body = {"domain": KDK, "project": "project:app-7", "pseudonyms": [p, unknown]}
    resp = secured.post("/trust-center/pseudonyms/project", json=body, headers=_h("node"))
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    mapped = resp.get_json()["pseudonyms"]
    assert list(mapped) == [p] and mapped[p] != p and mapped[p].startswith("k1.")
    # Authorized like the other node endpoints: the pseudonyms scope, nothing else.
    _assert_problem(secured.post("/trust-center/pseudonyms/project", json=body), 401, "login")
    for who in ("hospital", "admin", "doctor"):
        _assert_problem(secured.post("/trust-center/pseudonyms/project", json=body,
                                     headers=_h(who)), 403, "forbidden")
    for bad, code in (({**body, "project": "kdk:KDKXXX002"}, "invalid-identifier"),
                      ({**body, "domain": "project:app-1"}, "invalid-identifier"),
                      ({**body, "pseudonyms": p}, "invalid-request"),
                      ({**body, "pseudonyms": [p] * 10_001}, "invalid-request"),
                      ({"domain": KDK, "pseudonyms": [p]}, "invalid-request")):
        _assert_problem(secured.post("/trust-center/pseudonyms/project", json=bad,
                                     headers=_h("node")), 400, code)
    # Audited in the trust center's own log, with counts and no pseudonyms.
    entries = app_context(app).get(TrustCenterService).audit.entries(limit=1000)
    event = [e for e in entries if e.event == "pseudonym.project-view"][-1]
    assert event.details == {"domain": KDK, "project": "project:app-7", "asked": 2,
                             "translated": 1, "key": "k1"}
    assert p not in str(event.details) and mapped[p] not in str(event.details)


def test_translate_to_project_with_domain_claim(app: Flask) -> None:
    with _acting_as(app, "node", "trust-center:pseudonyms", domain=[KDK]) as client:
        ok = client.post("/trust-center/pseudonyms/project", json={
            "domain": KDK, "project": "project:a", "pseudonyms": []})
        assert ok.status_code == 200 and ok.get_json() == {"pseudonyms": {}}
        # Another node's pseudonyms cannot be translated with this node's token.
        _assert_problem(client.post("/trust-center/pseudonyms/project", json={
            "domain": GRZ, "project": "project:a", "pseudonyms": []}), 403, "forbidden")
