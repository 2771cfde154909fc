"""batch and transaction (FHIR R4 4.0.1 http.html#transaction)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.fhir_server.conftest import FHIR_JSON, observation, patient

IDENT = {"system": "https://hospital.example/mrn", "value": "4711"}


def send(client: FlaskClient, bundle: dict[str, Any], **headers: str) -> Any:
    return client.post(
        "/fhir", data=json.dumps(bundle), headers={"Content-Type": FHIR_JSON, **headers}
    )


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def total(client: FlaskClient) -> int:
    return len(client.get("/fhir/_history?_count=1000").get_json()["entry"])


def test_transaction_rewrites_urn_uuid_references(client: FlaskClient) -> None:
    resp = send(
        client,
        bundle(
            "transaction",
            {
                "fullUrl": "urn:uuid:0b7f6b1a-0000-4000-8000-000000000001",
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:0b7f6b1a-0000-4000-8000-000000000002",
                "resource": observation("urn:uuid:0b7f6b1a-0000-4000-8000-000000000001"),
                "request": {"method": "POST", "url": "Observation"},
            },
        ),
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["type"] == "transaction-response"
    loc_p, loc_o = (e["response"]["location"] for e in body["entry"])
    assert all(e["response"]["status"] == "201 Created" for e in body["entry"])
    assert all(e["response"]["etag"] == 'W/"1"' for e in body["entry"])
    pid = loc_p.split("/")[1]
    obs = client.get("/fhir/" + loc_o.rsplit("/_history", 1)[0]).get_json()
    assert obs["subject"]["reference"] == f"Patient/{pid}"


def test_transaction_is_all_or_nothing(client: FlaskClient) -> None:
    resp = send(
        client,
        bundle(
            "transaction",
            {"resource": patient(id="ok"), "request": {"method": "PUT", "url": "Patient/ok"}},
            {
                "resource": {"resourceType": "Patient", "birthDate": "yesterday"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ),
    )
    assert resp.status_code == 400
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[1].resource.Patient.birthDate"]
    assert client.get("/fhir/Patient/ok").status_code == 404
    assert total(client) == 0


def test_transaction_failing_late_rolls_back_earlier_writes(client: FlaskClient) -> None:
    client.put("/fhir/Patient/a", data=json.dumps(patient(id="a")), content_type=FHIR_JSON)
    resp = send(
        client,
        bundle(
            "transaction",
            {"resource": patient(id="b"), "request": {"method": "PUT", "url": "Patient/b"}},
            {"request": {"method": "DELETE", "url": "Patient/a"}},
            {
                "resource": patient(id="a"),
                "request": {"method": "PUT", "url": "Patient/a", "ifMatch": 'W/"9"'},
            },
        ),
    )
    assert resp.status_code == 400  # same resource twice in one transaction
    resp = send(
        client,
        bundle(
            "transaction",
            {"resource": patient(id="b"), "request": {"method": "PUT", "url": "Patient/b"}},
            {
                "resource": patient(id="a", gender="male"),
                "request": {"method": "PUT", "url": "Patient/a", "ifMatch": 'W/"9"'},
            },
        ),
    )
    assert resp.status_code == 412
    assert client.get("/fhir/Patient/b").status_code == 404
    assert client.get("/fhir/Patient/a").get_json()["gender"] == "female"


def test_transaction_conditional_create_and_references(client: FlaskClient) -> None:
    org = {
        "resourceType": "Organization",
        "name": "Uniklinik",
        "identifier": [{"system": "http://fhir.de/sid/arge-ik/iknr", "value": "260530103"}],
    }
    first = send(
        client,
        bundle(
            "batch",
            {
                "resource": org,
                "request": {
                    "method": "POST",
                    "url": "Organization",
                    "ifNoneExist": "identifier=http://fhir.de/sid/arge-ik/iknr|260530103",
                },
            },
        ),
    )
    assert first.get_json()["entry"][0]["response"]["status"] == "201 Created"
    again = send(
        client,
        bundle(
            "batch",
            {
                "resource": org,
                "request": {
                    "method": "POST",
                    "url": "Organization",
                    "ifNoneExist": "identifier=http://fhir.de/sid/arge-ik/iknr|260530103",
                },
            },
        ),
    )
    assert again.get_json()["entry"][0]["response"]["status"] == "200 OK"
    org_loc = first.get_json()["entry"][0]["response"]["location"].split("/_history")[0]
    resp = send(
        client,
        bundle(
            "transaction",
            {
                "resource": patient(
                    managingOrganization={
                        "reference": "Organization?identifier=http://fhir.de/sid/arge-ik/iknr|260530103"
                    }
                ),
                "request": {"method": "POST", "url": "Patient"},
            },
        ),
    )
    assert resp.status_code == 200
    loc = resp.get_json()["entry"][0]["response"]["location"].split("/_history")[0]
    assert client.get(f"/fhir/{loc}").get_json()["managingOrganization"]["reference"] == org_loc


@pytest.mark.parametrize(
    ("reference", "status"),
    [
        ("Organization?identifier=nothing|here", 422),
        ("urn:uuid:9f2b0c38-dead-beef-0000-000000000000", 422),
    ],
)
def test_transaction_unresolvable_reference(
    client: FlaskClient, reference: str, status: int
) -> None:
    resp = send(
        client,
        bundle(
            "transaction",
            {
                "resource": patient(managingOrganization={"reference": reference}),
                "request": {"method": "POST", "url": "Patient"},
            },
        ),
    )
    assert resp.status_code == status
    assert total(client) == 0


def test_transaction_processing_order_and_patch(client: FlaskClient) -> None:
    client.put("/fhir/Patient/old", data=json.dumps(patient(id="old")), content_type=FHIR_JSON)
    client.put("/fhir/Patient/p", data=json.dumps(patient(id="p")), content_type=FHIR_JSON)
    ops = base64.b64encode(
        json.dumps([{"op": "replace", "path": "/gender", "value": "male"}]).encode()
    ).decode()
    resp = send(
        client,
        bundle(
            "transaction",
            {"request": {"method": "GET", "url": "Patient/p"}},
            {
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": ops,
                },
                "request": {"method": "PATCH", "url": "Patient/p"},
            },
            {"request": {"method": "DELETE", "url": "Patient/old"}},
        ),
        Prefer="return=representation",
    )
    assert resp.status_code == 200
    entries = resp.get_json()["entry"]
    assert entries[0]["resource"]["gender"] == "male"  # GET runs after the PATCH
    assert entries[1]["response"]["etag"] == 'W/"2"'
    assert entries[2]["response"]["status"] == "204 No Content"
    assert client.get("/fhir/Patient/old").status_code == 410


def test_batch_entries_are_independent(client: FlaskClient) -> None:
    resp = send(
        client,
        bundle(
            "batch",
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {"resourceType": "Patient", "birthDate": "1999-02-30"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "Patient/missing"}},
        ),
    )
    assert resp.status_code == 200
    entries = resp.get_json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"].startswith("400")
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert entries[2]["response"]["status"].startswith("404")
    assert total(client) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Bundle", "type": "collection", "entry": []},
        {"resourceType": "Patient"},
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]},
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "POST", "url": "Patient/1"}, "resource": patient()}],
        },
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"request": {"method": "PUT", "url": "Patient/1"}, "resource": patient(id="2")}
            ],
        },
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "POST", "url": "Observation"}, "resource": patient()}],
        },
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "TRACE", "url": "Patient"}}],
        },
    ],
)
def test_malformed_bundles_are_400(client: FlaskClient, body: dict[str, Any]) -> None:
    resp = send(client, body)
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert total(client) == 0


def test_large_transaction_without_entry_cap(client: FlaskClient) -> None:
    entries = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
            "resource": patient(),
            "request": {"method": "POST", "url": "Patient"},
        }
        for i in range(1200)
    ]
    resp = send(client, bundle("transaction", *entries))
    assert resp.status_code == 200
    assert len(resp.get_json()["entry"]) == 1200
