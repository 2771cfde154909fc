"""Pseudonymous storage end to end: Synthea-like patients in, nothing identifying stored.

The patients are built in code the way Synthea writes them (transaction bundles with
``urn:uuid`` fullUrls; names, phone numbers, street addresses with geolocation, SSN, driver's
licence, passport and medical record numbers; the patient's name in reference displays and in
base64 clinical notes), plus a KVNR and a municipality key as a German hospital sends them.
After loading through the FHIR API, every table of the node's database is scanned.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import MetaData, select

from config.context import AppContext
from fhir_server.core.pseudonymize import pseudonym_system
from trust_center.core.consent import Purpose

FHIR_JSON = "application/fhir+json"
KVNR_SYSTEM = "http://fhir.de/sid/gkv/kvid-10"
SYSTEM = pseudonym_system("kdk:KDKXXX001")

PEOPLE = [
    {"given": "Chi716", "family": "Cormier289", "maiden": "Kiehn525", "mother": "Marlo857",
     "phone": "555-942-8848", "street": "310 Daugherty Path", "city": "East Douglas",
     "zip": "01516", "ssn": "999-82-5655", "dl": "S99934475", "ppn": "X31362978X",
     "kvnr": "A123456780", "ags": "05315000", "birth": "1929-03-21"},
    {"given": "Jeanett848", "family": "Lemke654", "maiden": "Hauck852", "mother": "Ria213",
     "phone": "555-376-1925", "street": "858 Gulgowski Crossroad Unit 49", "city": "Worcester",
     "zip": "01608", "ssn": "999-31-4270", "dl": "S99938717", "ppn": "X43510226X",
     "kvnr": "X110411675", "ags": "09162000", "birth": "1961-11-02"},
    {"given": "Rodrigo242", "family": "Bergstrom287", "maiden": "Zboncak558", "mother": "Ali918",
     "phone": "555-608-3377", "street": "1020 Legros Highlands", "city": "Framingham",
     "zip": "01701", "ssn": "999-64-8052", "dl": "S99912345", "ppn": "X87654321X",
     "kvnr": "Z000000005", "ags": "11000000", "birth": "2004-07-30"},
]


def _ident(code: str, system: str, value: str) -> dict[str, Any]:
    return {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                 "code": code}], "text": code},
            "system": system, "value": value}


def synthea_bundle(p: dict[str, str]) -> tuple[dict[str, Any], str]:
    """One patient's transaction bundle as Synthea writes it (plus KVNR and AGS)."""
    pid = str(uuid.uuid4())
    full = f"{p['given']} {p['family']}"
    patient = {
        "resourceType": "Patient", "id": pid,
        "text": {"status": "generated", "div": f"<div xmlns=\"http://www.w3.org/1999/xhtml\">"
                                               f"{full}</div>"},
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
             "valueString": f"{p['mother']} {p['maiden']}"},
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
             "valueAddress": {"city": p["city"], "state": "Massachusetts", "country": "US"}},
        ],
        "identifier": [
            {"system": "https://github.com/synthetichealth/synthea", "value": pid},
            _ident("MR", "http://hospital.smarthealthit.org", pid),
            _ident("SS", "http://hl7.org/fhir/sid/us-ssn", p["ssn"]),
            _ident("DL", "urn:oid:2.16.840.1.113883.4.3.25", p["dl"]),
            _ident("PPN", "http://standardhealthrecord.org/fhir/StructureDefinition/"
                          "passportNumber", p["ppn"]),
            {"system": KVNR_SYSTEM, "value": p["kvnr"]},
        ],
        "name": [{"use": "official", "family": p["family"], "given": [p["given"]],
                  "prefix": ["Mrs."]},
                 {"use": "maiden", "family": p["maiden"], "given": [p["given"]]}],
        "telecom": [{"system": "phone", "value": p["phone"], "use": "home"}],
        "gender": "female",
        "birthDate": p["birth"],
        "address": [{
            "extension": [
                {"url": "http://hl7.org/fhir/StructureDefinition/geolocation", "extension": [
                    {"url": "latitude", "valueDecimal": 42.066461868220706},
                    {"url": "longitude", "valueDecimal": -71.70504222214822}]},
                {"url": "http://fhir.de/StructureDefinition/destatis/ags",
                 "valueCoding": {"system": "http://fhir.de/sid/destatis/ags", "code": p["ags"]}},
            ],
            "line": [p["street"]], "city": p["city"], "state": "MA", "postalCode": p["zip"],
            "country": "US"}],
        "contact": [{"name": {"family": p["maiden"], "given": [p["mother"]]},
                     "telecom": [{"system": "phone", "value": p["phone"]}]}],
    }
    enc_id = str(uuid.uuid4())
    note = base64.b64encode(
        f"{full} is a 60 year-old. Patient lives at {p['street']}.".encode()).decode()
    entries = [
        {"fullUrl": f"urn:uuid:{pid}", "resource": patient,
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": f"urn:uuid:{enc_id}", "resource": {
            "resourceType": "Encounter", "id": enc_id, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "text": {"status": "generated", "div": f"<div xmlns=\"http://www.w3.org/1999/xhtml\">"
                                                   f"Visit of {full}</div>"},
            "subject": {"reference": f"urn:uuid:{pid}", "display": f"Mrs. {full}"}},
         "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
            "subject": {"reference": f"urn:uuid:{pid}"},
            "encounter": {"reference": f"urn:uuid:{enc_id}"},
            "valueQuantity": {"value": 165.2, "unit": "cm", "system": "http://unitsofmeasure.org",
                              "code": "cm"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
            "resourceType": "DocumentReference", "status": "current",
            "subject": {"reference": f"urn:uuid:{pid}"},
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                        "data": note}}]},
         "request": {"method": "POST", "url": "DocumentReference"}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
            "resourceType": "Claim", "status": "active",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                 "code": "institutional"}]},
            "use": "claim", "created": "2020-01-01T00:00:00Z",
            "patient": {"reference": f"urn:uuid:{pid}", "display": full},
            "provider": {"display": "Hospital"},
            "priority": {"coding": [{"code": "normal"}]},
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Medicare"}}]},
         "request": {"method": "POST", "url": "Claim"}},
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, pid


def _post(client: FlaskClient, body: dict[str, Any]) -> Any:
    return client.post("/fhir", data=json.dumps(body), headers={"Content-Type": FHIR_JSON})


def _dump(ctx: AppContext) -> str:
    """Every value of every table of the node's main database, as text."""
    meta = MetaData()
    meta.reflect(ctx.engine)
    parts: list[str] = []
    with ctx.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    parts.append(str(value))
    return "\n".join(parts)


def _needles(p: dict[str, str], pid: str) -> list[str]:
    return [p["given"], p["family"], p["maiden"], p["mother"], p["phone"], p["street"],
            p["street"].split()[1], p["city"], p["ssn"], p["dl"], p["ppn"], p["kvnr"], pid,
            p["birth"], p["zip"], "42.066461868220706"]


def test_stored_database_holds_no_identifier(client: FlaskClient, ctx: AppContext) -> None:
    loaded = []
    for person in PEOPLE:
        body, pid = synthea_bundle(person)
        resp = _post(client, body)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        loaded.append((person, pid, resp.get_json()))
    dump = _dump(ctx)
    assert "Observation" in dump and len(dump) > 5000  # the scan sees the stored resources
    for person, pid, _ in loaded:
        for needle in _needles(person, pid):
            assert needle not in dump, f"{needle!r} was stored"
        # Not even inside base64 (the clinical note is gone, not just re-encoded).
        assert base64.b64encode(person["given"].encode()).decode()[:8] not in dump
    assert "PSEUDED" in dump


def test_stored_patient_shape_and_links(client: FlaskClient, ctx: AppContext) -> None:
    person = PEOPLE[0]
    body, _ = synthea_bundle(person)
    result = _post(client, body).get_json()
    patient_url = result["entry"][0]["response"]["location"].split("/_history")[0]
    patient = client.get(f"/fhir/{patient_url}").get_json()
    assert patient["birthDate"] == "1929-03"
    assert patient["address"] == [{"state": "MA", "country": "US", "district": "05315"}]
    assert {i["system"] for i in patient["identifier"]} == {SYSTEM}
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "PSEUDED", "display": "pseudonymized"} in patient["meta"]["security"]
    for key in ("name", "telecom", "contact", "photo", "text"):
        assert key not in patient
    # References inside the transaction stay consistent.
    obs_url = result["entry"][2]["response"]["location"].split("/_history")[0]
    obs = client.get(f"/fhir/{obs_url}").get_json()
    assert obs["subject"] == {"reference": patient_url}
    enc_url = result["entry"][1]["response"]["location"].split("/_history")[0]
    assert obs["encounter"] == {"reference": enc_url}
    # The KVNR's pseudonym is the person's pseudonym at the trust center: consent links.
    from trust_center.service import TrustCenterService

    tc = ctx.get(TrustCenterService)
    kvnr_pseudonym = next(i["value"] for i in patient["identifier"] if "type" not in i
                          and tc.lookup("kdk:KDKXXX001", i["value"]).subject_type == "person")
    assert not tc.may_use("kdk:KDKXXX001", kvnr_pseudonym, Purpose.MV_SEQUENCING).allowed


def test_conditional_references_and_creates_by_original_identifier(
    client: FlaskClient,
) -> None:
    person = PEOPLE[1]
    body, _ = synthea_bundle(person)
    patient_entry = body["entry"][0]
    patient_entry["request"]["ifNoneExist"] = f"identifier={KVNR_SYSTEM}|{person['kvnr']}"
    first = _post(client, {"resourceType": "Bundle", "type": "transaction",
                           "entry": [patient_entry]}).get_json()
    patient_url = first["entry"][0]["response"]["location"].split("/_history")[0]
    # A later transaction of the same hospital names the patient by KVNR only.
    later = {"resourceType": "Bundle", "type": "transaction", "entry": [
        patient_entry,
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": f"Patient?identifier={KVNR_SYSTEM}|{person['kvnr']}"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    resp = _post(client, later)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    entries = resp.get_json()["entry"]
    assert entries[0]["response"]["status"].startswith("200")  # matched, not duplicated
    obs_url = entries[1]["response"]["location"].split("/_history")[0]
    assert client.get(f"/fhir/{obs_url}").get_json()["subject"] == {"reference": patient_url}
    # Conditional update by original identifier finds the pseudonymized patient.
    update = dict(patient_entry["resource"], gender="other")
    update.pop("id")
    put = client.put(f"/fhir/Patient?identifier={KVNR_SYSTEM}|{person['kvnr']}",
                     data=json.dumps(update), headers={"Content-Type": FHIR_JSON})
    assert put.status_code == 200 and put.get_json()["id"] == patient_url.split("/")[1]
    bare = client.delete(f"/fhir/Patient?identifier={person['kvnr']}")
    assert bare.status_code == 400
    assert bare.get_json()["resourceType"] == "OperationOutcome"


def test_invalid_input_is_still_refused(client: FlaskClient) -> None:
    resp = client.post("/fhir/Patient", data=json.dumps({
        "resourceType": "Patient", "name": [{"given": "not-a-list"}]}),
        headers={"Content-Type": FHIR_JSON})
    assert resp.status_code == 400


@pytest.fixture()
def plain_client(base_settings, app) -> Any:
    """An app with pseudonymization switched off (trust_center.pseudonymize_fhir=false)."""
    import dataclasses

    from config.app import create_app
    from config.context import app_context

    settings = dataclasses.replace(base_settings, trust_center=dataclasses.replace(
        base_settings.trust_center, pseudonymize_fhir=False))
    plain = create_app(settings)
    plain.config["ctx"] = app_context(plain)
    yield plain.test_client()
    app_context(plain).engine.dispose()
    app_context(plain).trust_center_engine.dispose()


def test_switch_off(plain_client: FlaskClient) -> None:
    """Without the step the same scan finds everything: the scan above is not vacuous."""
    person = PEOPLE[2]
    body, pid = synthea_bundle(person)
    result = _post(plain_client, body).get_json()
    url = result["entry"][0]["response"]["location"].split("/_history")[0]
    assert plain_client.get(f"/fhir/{url}").get_json()["name"][0]["family"] == "Bergstrom287"
    dump = _dump(plain_client.application.config["ctx"])
    found = [n for n in _needles(person, pid) if n in dump]
    assert {person["family"], person["phone"], person["street"], person["ssn"],
            person["kvnr"]} <= set(found)


def test_vorgangsnummer_in_fhir_becomes_the_dataset_pseudonym(
    client: FlaskClient, ctx: AppContext
) -> None:
    from datetime import date

    from fhir_server.core.pseudonymize import VORGANGSNUMMER_SYSTEM
    from trust_center.core.consent import ParticipationScope, ScopeStatus
    from trust_center.ports import ParticipationDeclaration
    from trust_center.service import TrustCenterService

    tc = ctx.get(TrustCenterService)
    reg = tc.register_case(ik="260326822", arbeitsnummer="FHIR-VN", kvnr="A123456780",
                           actor="le")
    person = dict(PEOPLE[0])
    body, _ = synthea_bundle(person)
    body["entry"][0]["resource"]["identifier"].append(
        {"system": VORGANGSNUMMER_SYSTEM, "value": reg.vorgangsnummer_clinical})
    resp = _post(client, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    url = resp.get_json()["entry"][0]["response"]["location"].split("/_history")[0]
    stored = client.get(f"/fhir/{url}").get_json()
    dataset = [i["value"] for i in stored["identifier"]
               if tc.lookup("kdk:KDKXXX001", i["value"]).subject_type == "dataset"]
    assert len(dataset) == 1
    assert reg.vorgangsnummer_clinical not in _dump(ctx)
    # Consent recorded at the trust center for the case now answers for the stored patient.
    tc.record_participation("kdk:KDKXXX001", dataset[0], [ParticipationDeclaration(
        ParticipationScope.MV_SEQUENCING, ScopeStatus.PERMITTED, date(2025, 1, 1))])
    assert tc.may_use("kdk:KDKXXX001", dataset[0], Purpose.MV_SEQUENCING).allowed
    # The number was single use: sending it again is refused and stores nothing.
    again, _ = synthea_bundle(person)
    again["entry"][0]["resource"]["identifier"].append(
        {"system": VORGANGSNUMMER_SYSTEM, "value": reg.vorgangsnummer_clinical})
    refused = _post(client, again)
    assert refused.status_code == 410
    assert refused.get_json()["resourceType"] == "OperationOutcome"
