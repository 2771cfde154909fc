"""The ClinicalFacts adapter over the FHIR tables: real rows, both backends."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text

from ga4gh.beacon.storage.fhir_facts import FhirClinicalFacts

ICD = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
HPO = "http://human-phenotype-ontology.org"
PSN = "https://example.org/fhir/NamingSystem/donor-pseudonym"


def put(conn, res_type: str, res_id: str, content: dict, deleted: bool = False) -> None:
    conn.execute(text(
        "INSERT INTO fhir_resource (res_type, res_id, version_id, last_updated, deleted) "
        "VALUES (:t, :i, 1, 0, :d)"), {"t": res_type, "i": res_id, "d": deleted})
    pk = conn.execute(text("SELECT id FROM fhir_resource WHERE res_type = :t AND res_id = :i"),
                      {"t": res_type, "i": res_id}).scalar_one()
    conn.execute(text(
        "INSERT INTO fhir_resource_version (resource_id, res_type, res_id, version_id, "
        "last_updated, method, deleted, content) VALUES (:r, :t, :i, 1, 0, 'PUT', :d, :c)"),
        {"r": pk, "t": res_type, "i": res_id, "d": deleted,
         "c": json.dumps({"resourceType": res_type, "id": res_id, **content}).encode()})


def test_facts_from_fhir(ctx) -> None:
    with ctx.engine.begin() as conn:
        put(conn, "Patient", "pat-1", {"gender": "female", "birthDate": "1970-03-02",
                                       "identifier": [{"system": PSN, "value": "PSN-A"}]})
        put(conn, "Patient", "PSN-B", {"gender": "other"})
        put(conn, "Patient", "pat-3", {"gender": "male",
                                       "identifier": [{"system": "other", "value": "PSN-C"}]})
        put(conn, "Condition", "c1", {"subject": {"reference": "Patient/pat-1"},
                                      "code": {"coding": [{"system": ICD, "code": "E11.9"}]}})
        put(conn, "Condition", "c2", {
            "subject": {"reference": "Patient/pat-1"},
            "verificationStatus": {"coding": [{"code": "refuted"}]},
            "code": {"coding": [{"system": ICD, "code": "I10"}]}})
        put(conn, "Condition", "c3", {"subject": {"reference": "Patient/PSN-B"},
                                      "code": {"coding": [{"system": HPO, "code": "HP:0001250"}]}})
        put(conn, "Observation", "o1", {"status": "final",
                                        "subject": {"reference": "Patient/pat-1"},
                                        "code": {"coding": [{"system": HPO,
                                                             "code": "HP:0000252"}]}})
        put(conn, "Observation", "o2", {"status": "final", "valueBoolean": False,
                                        "subject": {"reference": "Patient/pat-1"},
                                        "code": {"coding": [{"system": HPO,
                                                             "code": "HP:0000001"}]}})
        put(conn, "Condition", "c4", {"subject": {"reference": "Patient/pat-1"},
                                      "code": {"coding": [{"system": ICD, "code": "C50.1"}]}},
            deleted=True)
    facts = FhirClinicalFacts(ctx.engine, PSN).facts(["PSN-A", "PSN-B", "PSN-C", "PSN-X"])
    assert set(facts) == {"PSN-A", "PSN-B"}  # PSN-C is under another identifier system
    a = facts["PSN-A"]
    assert a.sex == "NCIT:C16576"
    assert a.birth_date == dt.date(1970, 3, 2)
    assert a.diagnoses == ("ICD10GM:E11.9",)  # refuted and deleted conditions left out
    assert a.phenotypes == ("HP:0000252",)  # the observation with value false left out
    b = facts["PSN-B"]
    assert b.sex == "NCIT:C45908" and b.phenotypes == ("HP:0001250",)
    any_system = FhirClinicalFacts(ctx.engine).facts(["PSN-C"])
    assert any_system["PSN-C"].sex == "NCIT:C20197"
