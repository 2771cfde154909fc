"""Standard FHIR clients against a live server: fhirclient (SMART) and fhirpy."""

from __future__ import annotations

import pytest
import requests

from tests.fhir_server.conftest import patient


@pytest.mark.slow
def test_fhirclient_create_read_update_history_transaction(live_server: str) -> None:
    from fhirclient import client as smart_client
    from fhirclient.models.bundle import Bundle, BundleEntry, BundleEntryRequest
    from fhirclient.models.patient import Patient

    smart = smart_client.FHIRClient(
        settings={"app_id": "genomseq-test", "api_base": live_server + "/"}
    )
    pat = Patient({"gender": "female", "birthDate": "1970-05"})
    created = pat.create(smart.server)
    assert created["resourceType"] == "Patient"
    pid = created["id"]
    read = Patient.read(pid, smart.server)
    assert read.gender == "female"
    read.gender = "male"
    read.update(smart.server)
    assert Patient.read(pid, smart.server).meta.versionId == "2"
    history = requests.get(f"{live_server}/Patient/{pid}/_history", timeout=10).json()
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "POST"]

    tx = Bundle({"type": "transaction"})
    tx.entry = [
        BundleEntry(
            {
                "fullUrl": "urn:uuid:6b6c2b7e-5a8d-4a54-9d43-0b0c1f7c9e11",
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient"},
            }
        )
    ]
    tx.entry[0].request = BundleEntryRequest({"method": "POST", "url": "Patient"})
    response = smart.server.post_json("", tx.as_json()).json()
    assert response["type"] == "transaction-response"
    assert response["entry"][0]["response"]["status"] == "201 Created"


@pytest.mark.slow
def test_fhirpy_sync_client(live_server: str) -> None:
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(live_server)
    pat = client.resource("Patient", gender="female", birthDate="1971-01")
    pat.save()
    assert pat.id
    fetched = client.reference("Patient", pat.id).to_resource()
    assert fetched["gender"] == "female"
    fetched["gender"] = "other"
    fetched.save()
    again = client.reference("Patient", pat.id).to_resource()
    assert again["meta"]["versionId"] == "2"
    assert again["gender"] == "other"
    fetched.delete()
    resp = requests.get(f"{live_server}/Patient/{pat.id}", timeout=10)
    assert resp.status_code == 410
