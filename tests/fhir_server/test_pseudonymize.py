"""The pseudonymizing write step on its own (pure; a keyed stand-in for the trust center)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import pytest

from fhir_server.core.errors import InvalidRequest
from fhir_server.core.pipeline import CriteriaRewriter, WriteStep
from fhir_server.core.pseudonymize import PSEUDED, PseudonymizeStep, pseudonym_system

DOMAIN = "kdk:KDKXXX001"
SYSTEM = pseudonym_system(DOMAIN)
KVNR_SYSTEM = "http://fhir.de/sid/gkv/kvid-10"


class FakeTrustCenter:
    """Keyed, deterministic pseudonyms; counts calls so batching is visible."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        self.calls.append(list(pairs))
        return ["k1." + hmac.new(b"k", f"{s}|{v}".encode(), hashlib.sha256).hexdigest()[:32]
                for s, v in pairs]


@pytest.fixture()
def tc() -> FakeTrustCenter:
    return FakeTrustCenter()


@pytest.fixture()
def step(tc: FakeTrustCenter) -> PseudonymizeStep:
    return PseudonymizeStep(tc, DOMAIN)


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "text": {"status": "generated", "div": "<div>Erika Mustermann</div>"},
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
             "valueString": "Gabler"},
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
             "valueAddress": {"city": "Köln"}},
            {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
             "valueCode": "F"},
        ],
        "identifier": [
            {"system": KVNR_SYSTEM, "value": "A123456780",
             "type": {"coding": [{"system": "http://fhir.de/CodeSystem/identifier-type-de-basis",
                                  "code": "GKV", "display": "x"}], "text": "Erika's card"}},
            {"use": "usual", "system": "urn:oid:1.2.276.0.76.4.8", "value": "MRN-77"},
            {"value": "no-system-42"},
        ],
        "name": [{"family": "Mustermann", "given": ["Erika"]}],
        "telecom": [{"system": "phone", "value": "+49 221 123456"}],
        "gender": "female",
        "birthDate": "1964-08-12",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/"
                                             "patient-birthTime",
                                      "valueDateTime": "1964-08-12T10:05:00+01:00"}]},
        "deceasedDateTime": "2024-02-03T04:05:06+01:00",
        "address": [
            {"line": ["Heidestraße 17"], "city": "Köln", "postalCode": "51147",
             "state": "NW", "country": "DE",
             "extension": [{"url": "http://fhir.de/StructureDefinition/destatis/ags",
                            "valueCoding": {"system": "http://fhir.de/sid/destatis/ags",
                                            "code": "05315000"}}]},
            {"line": ["Postfach 1"], "city": "Bonn", "postalCode": "53111"},
        ],
        "photo": [{"contentType": "image/png", "data": "aGVsbG8="}],
        "contact": [{"name": {"family": "Mustermann", "given": ["Max"]}}],
        "generalPractitioner": [{"reference": "Practitioner/dr", "display": "Dr. Who"}],
    }


def test_is_a_write_step_and_criteria_rewriter(step: PseudonymizeStep) -> None:
    assert isinstance(step, CriteriaRewriter)
    writer: WriteStep = step  # the static protocol check
    assert callable(writer.apply)


def test_patient_is_pseudonymized(step: PseudonymizeStep, tc: FakeTrustCenter) -> None:
    resources = [patient()]
    step.apply(resources)
    p = resources[0]
    for gone in ("name", "telecom", "photo", "contact", "text", "_birthDate"):
        assert gone not in p
    assert p["birthDate"] == "1964-08" and p["deceasedDateTime"] == "2024-02"
    assert p["address"] == [{"state": "NW", "country": "DE", "district": "05315"}]
    assert [e["url"].rsplit("/", 1)[1] for e in p["extension"]] == ["us-core-birthsex"]
    assert len(p["identifier"]) == 3
    assert all(i["system"] == SYSTEM and i["value"].startswith("k1.") for i in p["identifier"])
    assert p["identifier"][0]["type"] == {"coding": [{
        "system": "http://fhir.de/CodeSystem/identifier-type-de-basis", "code": "GKV"}]}
    assert p["identifier"][1]["use"] == "usual"
    assert p["identifier"][0]["value"] == tc([(KVNR_SYSTEM, "A123456780")])[0]
    assert PSEUDED in p["meta"]["security"]
    assert p["generalPractitioner"] == [{"reference": "Practitioner/dr", "display": "Dr. Who"}]
    assert len(tc.calls) == 2  # one batch for the resources (+ the call made above)
    text = repr(p)
    for needle in ("Mustermann", "Erika", "221 123456", "Heidestra", "A123456780", "MRN-77",
                   "no-system-42", "51147", "Köln", "Gabler", "1964-08-12"):
        assert needle not in text


def test_idempotent_and_consistent(step: PseudonymizeStep) -> None:
    once = [patient()]
    step.apply(once)
    twice = copy.deepcopy(once)
    step.apply(twice)
    assert twice == once  # already pseudonymized input stays as it is
    other = [patient()]
    step.apply(other)
    assert other[0]["identifier"] == once[0]["identifier"]


def test_references_and_attachments_everywhere(step: PseudonymizeStep) -> None:
    note = base64.b64encode(b"Erika Mustermann was seen today").decode()
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"code": "AMB"},
                 "text": {"status": "generated", "div": "<div>Erika</div>"},
                 "subject": {"reference": "urn:uuid:p1", "display": "Erika Mustermann"},
                 "participant": [{"individual": {"reference": "Practitioner/dr",
                                                 "display": "Dr. Who"}}]}
    claim = {"resourceType": "Claim", "patient": {"reference": "Patient/p1",
                                                  "display": "Mrs. Erika Mustermann"},
             "contained": [{"resourceType": "Coverage", "text": {"div": "x"},
                            "beneficiary": {"reference": "Patient/p1", "display": "Erika"}}]}
    doc = {"resourceType": "DocumentReference", "status": "current",
           "subject": {"identifier": {"system": KVNR_SYSTEM, "value": "A123456780"},
                       "display": "Erika"},
           "content": [{"attachment": {"contentType": "text/plain", "data": note,
                                       "title": "Erika's note", "url": "http://x/y"}}]}
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": f"Patient?identifier={KVNR_SYSTEM}|A123456780"}}
    resources = [patient(), encounter, claim, doc, obs]
    step.apply(resources)
    _, encounter, claim, doc, obs = resources
    assert "text" not in encounter and encounter["subject"] == {"reference": "urn:uuid:p1"}
    assert encounter["participant"][0]["individual"]["display"] == "Dr. Who"
    assert claim["patient"] == {"reference": "Patient/p1"}
    assert "text" not in claim["contained"][0]
    assert claim["contained"][0]["beneficiary"] == {"reference": "Patient/p1"}
    assert PSEUDED in claim["contained"][0]["meta"]["security"]
    assert doc["subject"] == {"identifier": {"system": SYSTEM,
                                             "value": resources[0]["identifier"][0]["value"]}}
    assert doc["content"][0]["attachment"] == {"contentType": "text/plain"}
    assert obs["subject"]["reference"] == (
        f"Patient?identifier={SYSTEM}|{resources[0]['identifier'][0]['value']}")
    assert "Erika" not in repr(resources) and "A123456780" not in repr(resources)


def test_address_without_municipality_key(step: PseudonymizeStep) -> None:
    p = patient()
    p["address"] = [{"line": ["1 Main St"], "city": "Boston", "postalCode": "02110",
                     "district": "Suffolk", "state": "MA", "country": "US"},
                    {"line": ["x"], "district": "09162000"},
                    {"line": ["nothing else"]}]
    step.apply([p])
    assert p["address"] == [{"state": "MA", "country": "US"}, {"district": "09162"}]


@pytest.mark.parametrize("value", ["1999-02-30", "1999-13", "19990101", "1999-02-03T25:00:00Z"])
def test_invalid_dates_are_left_for_validation(step: PseudonymizeStep, value: str) -> None:
    p = {"resourceType": "Patient", "birthDate": value}
    step.apply([p])
    assert p["birthDate"] == value


def test_no_identifiers_no_trust_center_call(step: PseudonymizeStep, tc: FakeTrustCenter) -> None:
    step.apply([{"resourceType": "Observation", "status": "final", "code": {"text": "x"}}])
    assert tc.calls == []


def test_rewrite_criteria(step: PseudonymizeStep, tc: FakeTrustCenter) -> None:
    crit = [("identifier", f"{KVNR_SYSTEM}|A123456780"), ("gender", "female")]
    out = step.rewrite_criteria("Patient", crit)
    assert out == [("identifier", f"{SYSTEM}|{tc([(KVNR_SYSTEM, 'A123456780')])[0]}"),
                   ("gender", "female")]
    assert step.rewrite_criteria("Observation", crit) == crit
    own = [("identifier", f"{SYSTEM}|k1.abc")]
    assert step.rewrite_criteria("Patient", own) == own
    for bad in ([("identifier", "MRN-1")], [("identifier:text", "x|y")]):
        with pytest.raises(InvalidRequest):
            step.rewrite_criteria("Patient", bad)


def test_vorgangsnummer_is_exchanged_once_per_transaction(tc: FakeTrustCenter) -> None:
    from fhir_server.core.pseudonymize import VORGANGSNUMMER_SYSTEM

    traded: list[str] = []

    def exchange(number: str) -> str:
        traded.append(number)
        return "k1." + "d" * 32

    step = PseudonymizeStep(tc, DOMAIN, exchange)
    p = patient()
    p["identifier"].append({"system": VORGANGSNUMMER_SYSTEM, "value": "ab" * 32})
    ref = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"identifier": {"system": VORGANGSNUMMER_SYSTEM, "value": "ab" * 32}}}
    step.apply([p, ref])
    assert traded == ["ab" * 32]
    assert {"system": SYSTEM, "value": "k1." + "d" * 32} in p["identifier"]
    assert ref["subject"]["identifier"] == {"system": SYSTEM, "value": "k1." + "d" * 32}
    assert all(VORGANGSNUMMER_SYSTEM not in repr(call) for call in tc.calls)
    with pytest.raises(InvalidRequest):
        step.rewrite_criteria("Patient", [("identifier", f"{VORGANGSNUMMER_SYSTEM}|x")])
    without = PseudonymizeStep(tc, DOMAIN)
    with pytest.raises(InvalidRequest):
        without.apply([{"resourceType": "Patient", "identifier": [
            {"system": VORGANGSNUMMER_SYSTEM, "value": "ab" * 32}]}])


def test_only_data_about_a_patient_is_labelled(step: PseudonymizeStep) -> None:
    org = {"resourceType": "Organization", "name": "Klinikum",
           "text": {"status": "generated", "div": "<div>Klinikum</div>"}}
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "Patient/p1"}}
    med = {"resourceType": "Medication", "code": {"text": "aspirin"},
           "meta": {"security": [{"system": "x", "code": "y"}]}}
    step.apply([org, obs, med])
    assert "meta" not in org and "text" not in org
    assert PSEUDED in obs["meta"]["security"]
    assert med["meta"]["security"] == [{"system": "x", "code": "y"}]


def test_references_typed_to_non_persons_are_kept(step: PseudonymizeStep,
                                                  tc: FakeTrustCenter) -> None:
    npi = {"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999926559"}
    enc = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
           "participant": [{"individual": {"type": "Practitioner", "identifier": npi,
                                           "display": "Dr. Billy Kiehn"}}],
           "subject": {"type": "Patient", "identifier": {"system": "urn:mrn", "value": "7"},
                       "display": "Erika"}}
    step.apply([enc])
    assert enc["participant"][0]["individual"] == {"type": "Practitioner", "identifier": npi,
                                                   "display": "Dr. Billy Kiehn"}
    assert enc["subject"]["identifier"]["system"] == SYSTEM and "display" not in enc["subject"]
    assert tc.calls == [[("urn:mrn", "7")]]
