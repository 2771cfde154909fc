"""FHIR search over HTTP (http.html#search, search.html, patient-operation-everything.html)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from flask.testing import FlaskClient

LOINC = "http://loinc.org"
FHIR_JSON = "application/fhir+json"


def put(client: FlaskClient, resource: Any) -> None:
    data = json.loads(resource.model_dump_json())
    resp = client.put(
        f"/fhir/{data['resourceType']}/{data['id']}", json=data, headers={"Content-Type": FHIR_JSON}
    )
    assert resp.status_code in (200, 201), resp.get_data(as_text=True)


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


@pytest.fixture()
def data(plain_client: FlaskClient) -> FlaskClient:
    """Demographic search needs names and dates as sent: a node without pseudonymization."""
    client = plain_client
    put(client, Organization(id="org1", name="Uniklinik"))
    put(
        client,
        Patient(
            id="p1",
            name=[{"family": "Müller"}],
            gender="male",
            birthDate="1970-01-01",
            managingOrganization={"reference": "Organization/org1"},
        ),
    )
    put(client, Patient(id="p2", name=[{"family": "Meier"}], gender="female"))
    for i, (pid, code, when) in enumerate(
        [
            ("p1", "8302-2", "2020-01-01"),
            ("p1", "29463-7", "2021-01-01"),
            ("p2", "8302-2", "2022-01-01"),
        ]
    ):
        put(
            client,
            Observation(
                id=f"o{i + 1}",
                status="final",
                code={"coding": [{"system": LOINC, "code": code}]},
                subject={"reference": f"Patient/{pid}"},
                effectiveDateTime=when,
            ),
        )
    put(
        client,
        Encounter(
            id="e1",
            status="finished",
            subject={"reference": "Patient/p1"},
            **{
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                }
            },
            serviceProvider={"reference": "Organization/org1"},
            period={"start": "2020-01-01", "end": "2020-01-02"},
        ),
    )
    return client


def test_type_search_returns_searchset(data: FlaskClient) -> None:
    resp = data.get("/fhir/Observation?code=8302-2&_total=accurate")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith(FHIR_JSON)
    bundle = resp.get_json()
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    assert ids(bundle) == ["o1", "o3"]
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert self_link.endswith("/fhir/Observation?code=8302-2&_total=accurate")
    assert bundle["entry"][0]["fullUrl"].endswith("/fhir/Observation/o1")


def test_post_search(data: FlaskClient) -> None:
    resp = data.post(
        "/fhir/Patient/_search",
        data={"name": "meier"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200
    assert ids(resp.get_json()) == ["p2"]
    resp = data.post("/fhir/Patient/_search", json={"name": "x"})
    assert resp.status_code == 400


def test_paging_links(data: FlaskClient) -> None:
    bundle = data.get("/fhir/Observation?_count=2&_sort=date").get_json()
    assert ids(bundle) == ["o1", "o2"]
    nxt = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    path = nxt.split("/fhir", 1)[1]
    second = data.get("/fhir" + path).get_json()
    assert ids(second) == ["o3"]
    prev = next(link["url"] for link in second["link"] if link["relation"] == "previous")
    assert ids(data.get("/fhir" + prev.split("/fhir", 1)[1]).get_json()) == ["o1", "o2"]
    bad = data.get("/fhir" + path.replace("_cursor=", "_cursor=x"))
    assert bad.status_code == 400
    assert bad.get_json()["resourceType"] == "OperationOutcome"


def test_include_marks_mode(data: FlaskClient) -> None:
    bundle = data.get("/fhir/Observation?patient=p1&_include=Observation:patient").get_json()
    assert ids(bundle) == ["o1", "o2"]
    assert ids(bundle, "include") == ["p1"]
    own = data.get("/fhir/Observation?subject=http://localhost/fhir/Patient/p1").get_json()
    assert ids(own) == ["o1", "o2"]
    bundle = data.get("/fhir/Patient?_id=p1&_revinclude=Encounter:subject").get_json()
    assert ids(bundle, "include") == ["e1"]


def test_errors_are_400_operation_outcomes(data: FlaskClient) -> None:
    for url in (
        "/fhir/Patient?birthdate=2020-13-45",
        "/fhir/Patient?birthdate=xx2020",
        "/fhir/Patient?foo=bar",
        "/fhir/Patient?name:nope=x",
        "/fhir/Patient?_count=abc",
        "/fhir/Patient?_sort=nope",
        "/fhir/Patient?_summary=maybe",
        "/fhir/Observation?value-quantity=1e400",
        "/fhir/Observation?code-value-quantity=x",
        "/fhir/Observation?date=ap2020-02-30",
        "/fhir/Observation?subject=a/b/c",
        "/fhir/Observation?_include=Nope:x",
        "/fhir/Patient?_has:Observation:nope:code=1",
    ):
        resp = data.get(url)
        assert resp.status_code == 400, url
        body = resp.get_json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "invalid"
    assert data.get("/fhir/Nope?x=1").status_code == 404
    issue = data.get("/fhir/Patient?foo=bar").get_json()["issue"][0]
    assert issue["expression"] == ["foo"] and "foo" in issue["diagnostics"]


def test_lenient_handling_reports_ignored(data: FlaskClient) -> None:
    resp = data.get("/fhir/Patient?foo=bar&gender=female", headers={"Prefer": "handling=lenient"})
    assert resp.status_code == 200
    bundle = resp.get_json()
    assert ids(bundle) == ["p2"]
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and outcome[0]["resource"]["issue"][0]["expression"] == ["foo"]
    self_link = bundle["link"][0]["url"]
    assert "foo" not in self_link and "gender=female" in self_link
    resp = data.get("/fhir/Patient?name:nope=x&gender=male", headers={"Prefer": "handling=lenient"})
    assert resp.status_code == 200 and ids(resp.get_json()) == ["p1"]


def test_summary_and_elements(data: FlaskClient) -> None:
    bundle = data.get("/fhir/Observation?code=8302-2&_summary=count").get_json()
    assert bundle["total"] == 2 and "entry" not in bundle
    bundle = data.get("/fhir/Patient?_id=p1&_elements=gender").get_json()
    res = bundle["entry"][0]["resource"]
    assert res["gender"] == "male" and "name" not in res
    assert any(t["code"] == "SUBSETTED" for t in res["meta"]["tag"])
    res = data.get("/fhir/Patient?_id=p1&_summary=true").get_json()["entry"][0]["resource"]
    assert res["birthDate"] == "1970-01-01" and "managingOrganization" in res
    obs = data.get("/fhir/Observation?_id=o1&_summary=text").get_json()["entry"][0]["resource"]
    assert set(obs) == {"resourceType", "id", "meta", "status", "code"}  # mandatory + text
    obs = data.get("/fhir/Observation?_id=o1&_summary=data").get_json()["entry"][0]["resource"]
    assert "text" not in obs and obs["effectiveDateTime"] == "2020-01-01"
    assert data.get("/fhir/Observation?_id=o1&_summary=false").get_json()["entry"][0][
        "resource"]["subject"] == {"reference": "Patient/p1"}


def test_compartment_search(data: FlaskClient) -> None:
    bundle = data.get("/fhir/Patient/p1/Observation").get_json()
    assert ids(bundle) == ["o1", "o2"]
    bundle = data.get("/fhir/Patient/p1/Observation?code=29463-7").get_json()
    assert ids(bundle) == ["o2"]
    assert data.get("/fhir/Patient/p1/Organization").status_code == 400


def test_system_search(data: FlaskClient) -> None:
    bundle = data.get("/fhir?_type=Patient,Organization&_id=p1,org1").get_json()
    assert sorted(ids(bundle)) == ["org1", "p1"]
    assert data.get("/fhir?_type=Nope").status_code == 400


def test_everything(data: FlaskClient) -> None:
    bundle = data.get("/fhir/Patient/p1/$everything").get_json()
    assert sorted(ids(bundle)) == ["e1", "o1", "o2", "p1"]
    assert ids(bundle, "include") == ["org1"]
    bundle = data.get("/fhir/Patient/p1/$everything?start=2021-01-01").get_json()
    assert sorted(ids(bundle)) == ["o2", "p1"]
    bundle = data.get("/fhir/Patient/p1/$everything?_type=Observation&_count=1").get_json()
    assert ids(bundle) == ["o1"]
    nxt = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    assert ids(data.get("/fhir" + nxt.split("/fhir", 1)[1]).get_json()) == ["o2"]
    assert data.get("/fhir/Patient/nobody/$everything").status_code == 404


def test_capability_statement_lists_search_params(client: FlaskClient) -> None:
    cs = client.get("/fhir/metadata").get_json()
    obs = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Observation")
    names = {p["name"] for p in obs["searchParam"]}
    assert {
        "code",
        "subject",
        "patient",
        "value-quantity",
        "code-value-quantity",
        "_id",
        "_lastUpdated",
        "_tag",
        "_profile",
        "_text",
        "_content",
    } <= names
    by_name = {p["name"]: p for p in obs["searchParam"]}
    assert by_name["_content"]["type"] == "string"
    assert (
        by_name["_content"]["definition"] == "http://hl7.org/fhir/SearchParameter/Resource-content"
    )
    assert "search-type" in {i["code"] for i in obs["interaction"]}


def test_delete_removes_from_results_and_conditional_create(data: FlaskClient) -> None:
    assert data.delete("/fhir/Observation/o1").status_code == 204
    assert ids(data.get("/fhir/Observation?code=8302-2").get_json()) == ["o3"]
    body = {"resourceType": "Patient", "name": [{"family": "Meier"}], "gender": "female"}
    resp = data.post(
        "/fhir/Patient",
        json=body,
        headers={"Content-Type": FHIR_JSON, "If-None-Exist": "family=meier&gender=female"},
    )
    assert resp.status_code == 200  # matched p2: nothing created
    assert ids(data.get("/fhir/Patient?family=meier").get_json()) == ["p2"]


def test_custom_search_parameter(data: FlaskClient) -> None:
    sp = {
        "resourceType": "SearchParameter",
        "id": "patient-birth-year-ext",
        "url": "http://example.org/SearchParameter/patient-nickname",
        "name": "nickname",
        "status": "active",
        "description": "nickname",
        "code": "nickname",
        "base": ["Patient"],
        "type": "string",
        "expression": "Patient.extension('http://example.org/nickname').value",
    }
    resp = data.put(
        "/fhir/SearchParameter/patient-birth-year-ext", json=sp, headers={"Content-Type": FHIR_JSON}
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    put(
        data,
        Patient(
            id="p7", extension=[{"url": "http://example.org/nickname", "valueString": "Hansi"}]
        ),
    )
    assert ids(data.get("/fhir/Patient?nickname=hans").get_json()) == ["p7"]


def test_transaction_get_entry_search(data: FlaskClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "Patient?gender=male"}}],
    }
    resp = data.post("/fhir", json=bundle, headers={"Content-Type": FHIR_JSON})
    assert resp.status_code == 200
    inner = resp.get_json()["entry"][0]["resource"]
    assert inner["type"] == "searchset" and ids(inner) == ["p1"]


def test_conditional_update_uses_full_search(data: FlaskClient) -> None:
    body = {"resourceType": "Observation", "status": "amended",
            "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
            "subject": {"reference": "Patient/p1"}}
    resp = data.put(f"/fhir/Observation?code={LOINC}|29463-7&patient=p1", json=body,
                    headers={"Content-Type": FHIR_JSON})
    assert resp.status_code == 200  # exactly one match (o2): updated in place
    assert resp.headers["Location"].split("/_history")[0].endswith("/Observation/o2")
    assert ids(data.get("/fhir/Observation?status=amended").get_json()) == ["o2"]
    resp = data.put("/fhir/Observation?code=8302-2", json=body, headers={"Content-Type": FHIR_JSON})
    assert resp.status_code == 412  # two matches


# search.html#content: the full-text index is written by the REST write path (and rewritten
# by updates) in the same transaction as the other index rows.
def test_content_search_over_rest(data: FlaskClient) -> None:
    assert ids(data.get("/fhir/Patient?_content=MULLER").get_json()) == ["p1"]
    assert ids(data.get("/fhir/Observation?_content=8302").get_json()) == ["o1", "o3"]
    assert ids(data.get("/fhir/Observation?_content=8302,29463&patient=p1").get_json()) == [
        "o1",
        "o2",
    ]
    put(data, Patient(id="p1", name=[{"family": "Neumann"}]))
    assert ids(data.get("/fhir/Patient?_content=muller").get_json()) == []
    assert ids(data.get("/fhir/Patient?_content=neumann").get_json()) == ["p1"]
    for url in (
        "/fhir/Patient?_content=--",
        "/fhir/Patient?_content:contains=mul",
        "/fhir/Patient?_text=",
        "/fhir/Patient?_text:missing=true",
    ):
        resp = data.get(url)
        assert resp.status_code == 400, url
        assert resp.get_json()["issue"][0]["code"] == "invalid"
