"""FHIR R4 REST interactions over HTTP: status codes, headers and OperationOutcomes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.fhir_server.conftest import FHIR_JSON, observation, patient


def post(client: FlaskClient, path: str, body: Any, **headers: str) -> Any:
    return client.post(
        f"/fhir/{path}", data=json.dumps(body), headers={"Content-Type": FHIR_JSON, **headers}
    )


def put(client: FlaskClient, path: str, body: Any, **headers: str) -> Any:
    return client.put(
        f"/fhir/{path}", data=json.dumps(body), headers={"Content-Type": FHIR_JSON, **headers}
    )


def issue(resp: Any, index: int = 0) -> dict[str, Any]:
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][index]


def count(client: FlaskClient, res_type: str) -> int:
    return len(client.get(f"/fhir/{res_type}/_history?_count=1000").get_json().get("entry", []))


# --- create / read -------------------------------------------------------------------------


def test_create_assigns_id_and_version(client: FlaskClient) -> None:
    resp = post(client, "Patient", patient(id="client-chosen"))
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["id"] != "client-chosen"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.headers["Location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert resp.headers["Content-Type"].startswith(FHIR_JSON)
    assert "GMT" in resp.headers["Last-Modified"]


def test_read_returns_current_version_with_etag(client: FlaskClient) -> None:
    pid = post(client, "Patient", patient()).get_json()["id"]
    resp = client.get(f"/fhir/Patient/{pid}")
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.get_json()["id"] == pid


def test_read_unknown_is_404_outcome(client: FlaskClient) -> None:
    resp = client.get("/fhir/Patient/does-not-exist")
    assert resp.status_code == 404
    assert issue(resp)["code"] == "not-found"


def test_unknown_resource_type_is_404(client: FlaskClient) -> None:
    resp = post(client, "Foo", {"resourceType": "Foo"})
    assert resp.status_code == 404
    assert "Foo" in issue(resp)["diagnostics"]


def test_conditional_read_headers(client: FlaskClient) -> None:
    pid = post(client, "Patient", patient()).get_json()["id"]
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": 'W/"2"'}).status_code == 200
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    past = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert (
        client.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": future}).status_code == 304
    )
    assert (
        client.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": past}).status_code == 200
    )


# --- validation refusals: clear 4xx, nothing stored ----------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "expression"),
    [
        ({"resourceType": "Patient", "birthDate": "2020-13-45"}, 400, "Patient.birthDate"),
        ({"resourceType": "Patient", "name": [{"given": "Eva"}]}, 400, "Patient.name[0].given"),
        ({"resourceType": "Patient", "unknownElement": 1}, 400, "Patient.unknownElement"),
        ({"resourceType": "Observation", "code": {"text": "x"}}, 400, "Observation.status"),
        ({"gender": "female"}, 400, "resourceType"),
    ],
)
def test_invalid_resource_is_refused_with_expression(
    client: FlaskClient, body: dict[str, Any], status: int, expression: str
) -> None:
    res_type = body.get("resourceType", "Patient")
    resp = post(client, res_type, body)
    assert resp.status_code == status
    assert expression in issue(resp).get("expression", [])
    assert count(client, res_type) == 0


def test_malformed_json_is_400(client: FlaskClient) -> None:
    resp = client.post("/fhir/Patient", data=b'{"resourceType": ', content_type=FHIR_JSON)
    assert resp.status_code == 400
    assert issue(resp)["code"] == "structure"


def test_wrong_resource_type_for_url_is_400(client: FlaskClient) -> None:
    resp = post(client, "Observation", patient())
    assert resp.status_code == 400
    assert issue(resp)["expression"] == ["resourceType"]
    assert count(client, "Observation") == 0


def test_body_must_be_an_object(client: FlaskClient) -> None:
    assert post(client, "Patient", [1, 2]).status_code == 400


# --- update ----------------------------------------------------------------------------------


def test_update_as_create_then_update(client: FlaskClient) -> None:
    resp = put(client, "Patient/p1", patient(id="p1"))
    assert resp.status_code == 201
    assert resp.headers["ETag"] == 'W/"1"'
    resp = put(client, "Patient/p1", patient(id="p1", gender="male"))
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"2"'
    assert client.get("/fhir/Patient/p1").get_json()["gender"] == "male"


def test_identical_update_creates_no_version(client: FlaskClient) -> None:
    put(client, "Patient/p1", patient(id="p1"))
    resp = put(client, "Patient/p1", patient(id="p1"))
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"1"'


def test_update_id_mismatch_and_missing_id(client: FlaskClient) -> None:
    resp = put(client, "Patient/p1", patient(id="p2"))
    assert resp.status_code == 400
    assert issue(resp)["expression"] == ["Patient.id"]
    resp = put(client, "Patient/p1", patient())
    assert resp.status_code == 400
    assert client.get("/fhir/Patient/p1").status_code == 404


def test_if_match(client: FlaskClient) -> None:
    put(client, "Patient/p1", patient(id="p1"))
    resp = put(client, "Patient/p1", patient(id="p1", gender="male"), **{"If-Match": 'W/"7"'})
    assert resp.status_code == 412
    assert issue(resp)["code"] == "conflict"
    resp = put(client, "Patient/p1", patient(id="p1", gender="male"), **{"If-Match": 'W/"1"'})
    assert resp.status_code == 200
    resp = put(client, "Patient/p1", patient(id="p1"), **{"If-Match": "garbage"})
    assert resp.status_code == 400


# --- delete ------------------------------------------------------------------------------------


def test_delete_then_read_is_gone(client: FlaskClient) -> None:
    put(client, "Patient/p1", patient(id="p1"))
    assert client.delete("/fhir/Patient/p1").status_code == 204
    resp = client.get("/fhir/Patient/p1")
    assert resp.status_code == 410
    assert issue(resp)["code"] == "deleted"
    assert client.delete("/fhir/Patient/p1").status_code == 204  # idempotent
    history = client.get("/fhir/Patient/p1/_history").get_json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT"]
    assert client.get("/fhir/Patient/p1/_history/2").status_code == 410
    assert client.get("/fhir/Patient/p1/_history/1").status_code == 200
    # Recreating a deleted resource continues its version history.
    resp = put(client, "Patient/p1", patient(id="p1"))
    assert resp.status_code == 201
    assert resp.headers["ETag"] == 'W/"3"'


def test_vread(client: FlaskClient) -> None:
    put(client, "Patient/p1", patient(id="p1"))
    put(client, "Patient/p1", patient(id="p1", gender="male"))
    v1 = client.get("/fhir/Patient/p1/_history/1")
    assert v1.status_code == 200
    assert v1.get_json()["gender"] == "female"
    assert v1.headers["ETag"] == 'W/"1"'
    assert client.get("/fhir/Patient/p1/_history/9").status_code == 404
    assert client.get("/fhir/Patient/p1/_history/x").status_code == 404


# --- patch ---------------------------------------------------------------------------------------


def _patch(
    client: FlaskClient,
    path: str,
    ops: Any,
    ctype: str = "application/json-patch+json",
    **headers: str,
) -> Any:
    return client.patch(
        f"/fhir/{path}", data=json.dumps(ops), headers={"Content-Type": ctype, **headers}
    )


def test_json_patch(client: FlaskClient) -> None:
    put(client, "Patient/p1", patient(id="p1"))
    resp = _patch(client, "Patient/p1", [{"op": "replace", "path": "/gender", "value": "other"}])
    assert resp.status_code == 200
    assert resp.get_json()["gender"] == "other"
    assert resp.headers["ETag"] == 'W/"2"'


@pytest.mark.parametrize(
    ("ops", "status"),
    [
        ([{"op": "replace", "path": "/birthDate", "value": "not-a-date"}], 422),
        ([{"op": "test", "path": "/gender", "value": "male"}], 422),
        ([{"op": "replace", "path": "/id", "value": "other"}], 422),
        ([{"op": "remove", "path": "/nothing/here"}], 422),
        ({"op": "replace"}, 400),
        ([{"op": "frobnicate", "path": "/gender"}], 400),
    ],
)
def test_bad_patches_change_nothing(client: FlaskClient, ops: Any, status: int) -> None:
    put(client, "Patient/p1", patient(id="p1"))
    assert _patch(client, "Patient/p1", ops).status_code == status
    assert client.get("/fhir/Patient/p1").headers["ETag"] == 'W/"1"'


def test_patch_needs_json_patch_media_type(client: FlaskClient) -> None:
    put(client, "Patient/p1", patient(id="p1"))
    resp = _patch(client, "Patient/p1", [], ctype="application/json")
    assert resp.status_code == 415


def test_patch_unknown_resource_is_404(client: FlaskClient) -> None:
    assert _patch(client, "Patient/nope", []).status_code == 404


# --- conditional interactions ------------------------------------------------------------------

IDENT = {"system": "urn:oid:1.2.276.0.76.4.8", "value": "MRN-1"}


def test_conditional_create(client: FlaskClient) -> None:
    crit = {"If-None-Exist": "identifier=urn:oid:1.2.276.0.76.4.8|MRN-1"}
    first = post(client, "Patient", patient(identifier=[IDENT]), **crit)
    assert first.status_code == 201
    second = post(client, "Patient", patient(identifier=[IDENT]), **crit)
    assert second.status_code == 200
    assert second.get_json()["id"] == first.get_json()["id"]
    assert count(client, "Patient") == 1


def test_conditional_create_with_several_matches_is_412(client: FlaskClient) -> None:
    post(client, "Patient", patient(identifier=[IDENT]))
    post(client, "Patient", patient(identifier=[IDENT]))
    resp = post(
        client,
        "Patient",
        patient(identifier=[IDENT]),
        **{"If-None-Exist": "identifier=urn:oid:1.2.276.0.76.4.8|MRN-1"},
    )
    assert resp.status_code == 412


def test_conditional_create_with_unknown_parameter_is_400(client: FlaskClient) -> None:
    resp = post(client, "Patient", patient(), **{"If-None-Exist": "no-such-param=1"})
    assert resp.status_code == 400
    assert count(client, "Patient") == 0


def test_conditional_update(client: FlaskClient) -> None:
    url = "Patient?identifier=urn:oid:1.2.276.0.76.4.8|MRN-1"
    created = put(client, url, patient(identifier=[IDENT]))
    assert created.status_code == 201
    pid = created.get_json()["id"]
    updated = put(client, url, patient(identifier=[IDENT], gender="male"))
    assert updated.status_code == 200
    assert updated.get_json()["id"] == pid
    assert updated.headers["ETag"] == 'W/"2"'
    post(client, "Patient", patient(identifier=[IDENT]))
    assert put(client, url, patient(identifier=[IDENT])).status_code == 412


def test_conditional_delete(client: FlaskClient) -> None:
    # system|value: the node stores Patient identifiers as pseudonyms (trust center step).
    by_mrn = "/fhir/Patient?identifier=urn:oid:1.2.276.0.76.4.8|MRN-1"
    pid = post(client, "Patient", patient(identifier=[IDENT])).get_json()["id"]
    assert client.delete(by_mrn).status_code == 204
    assert client.get(f"/fhir/Patient/{pid}").status_code == 410
    assert client.delete(by_mrn).status_code == 204
    post(client, "Patient", patient(identifier=[IDENT]))
    post(client, "Patient", patient(identifier=[IDENT]))
    assert client.delete(by_mrn).status_code == 412
    assert client.delete("/fhir/Patient").status_code == 400


# --- Prefer, formats, limits -------------------------------------------------------------------


def test_prefer_return(client: FlaskClient) -> None:
    minimal = post(client, "Patient", patient(), Prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.data == b""
    assert minimal.headers["Location"]
    outcome = post(client, "Patient", patient(), Prefer="return=OperationOutcome")
    assert outcome.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("url", "headers", "status"),
    [
        ("/fhir/metadata?_format=xml", {}, 406),
        ("/fhir/metadata?_format=application/fhir+xml", {}, 406),
        ("/fhir/metadata", {"Accept": "application/fhir+xml"}, 406),
        ("/fhir/metadata", {"Accept": "application/fhir+json; fhirVersion=3.0"}, 406),
        ("/fhir/metadata", {"Accept": "application/fhir+json; fhirVersion=4.0"}, 200),
        ("/fhir/metadata", {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, 200),
        ("/fhir/metadata?_format=json", {"Accept": "application/xml"}, 200),
    ],
)
def test_accept_and_format(
    client: FlaskClient, url: str, headers: dict[str, str], status: int
) -> None:
    resp = client.get(url, headers=headers)
    assert resp.status_code == status
    if status != 200:
        assert issue(resp)["code"] == "not-supported"


def test_unsupported_content_type_is_415(client: FlaskClient) -> None:
    resp = client.post("/fhir/Patient", data="<Patient/>", content_type="application/fhir+xml")
    assert resp.status_code == 415
    resp = client.post(
        "/fhir/Patient",
        data=json.dumps(patient()),
        content_type="application/fhir+json; fhirVersion=5.0",
    )
    assert resp.status_code == 415
    assert count(client, "Patient") == 0


def test_pretty(client: FlaskClient) -> None:
    assert b"\n  " in client.get("/fhir/metadata?_pretty=true").data
    assert b"\n  " not in client.get("/fhir/metadata").data


def test_wrong_method_is_405_outcome(client: FlaskClient) -> None:
    resp = client.patch("/fhir/Patient", data="[]", content_type="application/json-patch+json")
    assert resp.status_code == 405
    assert issue(resp)["code"] == "not-supported"


def test_capability_statement(client: FlaskClient) -> None:
    cs = client.get("/fhir/metadata").get_json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["kind"] == "instance"
    patient_cap = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    codes = {i["code"] for i in patient_cap["interaction"]}
    assert {"read", "vread", "update", "patch", "delete", "create", "history-instance"} <= codes
    assert {"transaction", "batch", "history-system"} <= {
        i["code"] for i in cs["rest"][0]["interaction"]
    }


# --- history --------------------------------------------------------------------------------------


def test_history_paging_and_filters(client: FlaskClient) -> None:
    for i in range(5):
        put(client, f"Patient/p{i}", patient(id=f"p{i}"))
    put(client, "Observation/o1", observation("Patient/p1", id="o1"))
    page = client.get("/fhir/Patient/_history?_count=2").get_json()
    assert page["type"] == "history"
    assert len(page["entry"]) == 2
    seen = [e["fullUrl"].rsplit("/", 1)[1] for e in page["entry"]]
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    while nxt:
        page = client.get(nxt.split("localhost", 1)[1]).get_json()
        seen += [e["fullUrl"].rsplit("/", 1)[1] for e in page["entry"]]
        nxt = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert sorted(seen) == [f"p{i}" for i in range(5)]
    system = client.get("/fhir/_history").get_json()
    assert len(system["entry"]) == 6
    assert system["entry"][0]["fullUrl"].endswith("Observation/o1")  # newest first
    future = "2999-01-01T00:00:00Z"
    assert client.get(f"/fhir/_history?_since={future}").get_json()["entry"] == []
    now_year = time.strftime("%Y")
    assert len(client.get(f"/fhir/_history?_at={now_year}").get_json()["entry"]) == 6


@pytest.mark.parametrize(
    "query",
    ["_since=2020-13-45", "_at=yesterday", "_count=-1", "_page=tampered", "_frobnicate=1"],
)
def test_history_bad_parameters_are_400(client: FlaskClient, query: str) -> None:
    resp = client.get(f"/fhir/_history?{query}")
    assert resp.status_code == 400
    assert issue(resp)["severity"] == "error"


def test_history_page_token_cannot_be_altered(client: FlaskClient) -> None:
    for i in range(3):
        put(client, f"Patient/p{i}", patient(id=f"p{i}"))
    page = client.get("/fhir/Patient/_history?_count=1").get_json()
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    token = nxt.split("_page=")[1]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.get(f"/fhir/Patient/_history?_page={forged}").status_code == 400
    # A token of the type history cannot page the system history.
    assert client.get(f"/fhir/_history?_page={token}").status_code == 400


def test_history_of_unknown_instance_is_404(client: FlaskClient) -> None:
    assert client.get("/fhir/Patient/nope/_history").status_code == 404
