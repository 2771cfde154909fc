"""The FHIRPath subset against every R4 4.0.1 search parameter expression (FHIRPath N1)."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from common.errors import InvalidInput
from fhir_server.core.search.extract import Extractor, identity
from fhir_server.core.search.fhirpath import compile_path
from fhir_server.core.search.registry import load_default

REGISTRY = load_default()
EXTRACTOR = Extractor(REGISTRY)


def test_registry_covers_r4() -> None:
    assert len(REGISTRY.resource_types) == 145 + 2 or len(REGISTRY.resource_types) >= 145
    assert "Patient" in REGISTRY.resource_types and "MolecularSequence" in REGISTRY.resource_types
    total = sum(len(p) for p in REGISTRY.by_type.values())
    assert total > 2500
    assert REGISTRY.require("Observation", "code-value-quantity").type == "composite"
    with pytest.raises(InvalidInput):
        REGISTRY.require("Observation", "nope")


def test_every_expression_compiles_for_every_type() -> None:
    for res_type in REGISTRY.resource_types:
        for sp in REGISTRY.params(res_type).values():
            if sp.expression:
                REGISTRY.compiled(res_type, sp)
            for comp in sp.components:
                REGISTRY.component_path(sp, comp)


def _dict(model) -> dict:  # noqa: ANN001
    return json.loads(model.model_dump_json())


def test_constructs() -> None:
    obs = _dict(
        Observation(
            id="o",
            status="final",
            code={"text": "x"},
            subject={"reference": "Group/g"},
            valueQuantity={"value": 1, "unit": "mg"},
            extension=[{"url": "http://e", "valueString": "s"}],
        )
    )
    ev = lambda expr: [v for v, _ in compile_path(expr).evaluate(obs)]  # noqa: E731
    assert ev("Observation.subject.where(resolve() is Patient)") == []
    assert ev("Observation.subject.where(resolve() is Group)") == [{"reference": "Group/g"}]
    assert ev("Observation.value.ofType(Quantity).value") == [1]
    assert ev("(Observation.value as Quantity).unit") == ["mg"]
    assert ev("Observation.value.ofType(string)") == []
    assert ev("Observation.extension('http://e').value") == ["s"]
    assert ev("Observation.code.exists() and Observation.status != 'final'") == [False]
    assert ev("Observation.status | Observation.code.text") == ["final", "x"]
    assert ev("Observation.extension[0].url") == ["http://e"]
    with pytest.raises(InvalidInput):
        compile_path("Observation.foo(")
    with pytest.raises(InvalidInput):
        compile_path("Observation.aggregate(1)")


def _indexed(res_type: str, resource: dict) -> set[str]:
    rows = EXTRACTOR.extract(res_type, resource)
    idents = {row[0] for table in rows.values() for row in table}
    return {code for code in REGISTRY.params(res_type) if identity(res_type, code) in idents}


def test_patient_parameters() -> None:
    p = _dict(
        Patient(
            id="p",
            active=True,
            gender="female",
            birthDate="1990-02-03",
            deceasedDateTime="2020-01-01T00:00:00Z",
            identifier=[{"system": "s", "value": "v"}],
            name=[{"family": "F", "given": ["G"], "text": "G F"}],
            telecom=[{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}],
            address=[
                {
                    "line": ["L"],
                    "city": "C",
                    "state": "S",
                    "postalCode": "P",
                    "country": "DE",
                    "use": "home",
                }
            ],
            generalPractitioner=[{"reference": "Practitioner/x"}],
            managingOrganization={"reference": "Organization/o"},
            communication=[{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "de"}]}}],
            link=[{"other": {"reference": "Patient/q"}, "type": "seealso"}],
            meta={
                "tag": [{"code": "t"}],
                "profile": ["http://p"],
                "security": [{"code": "s"}],
                "source": "http://src",
            },
        )
    )
    expected = {
        "active",
        "address",
        "address-city",
        "address-country",
        "address-postalcode",
        "address-state",
        "address-use",
        "birthdate",
        "death-date",
        "deceased",
        "email",
        "family",
        "gender",
        "general-practitioner",
        "given",
        "identifier",
        "language",
        "link",
        "name",
        "organization",
        "phone",
        "phonetic",
        "telecom",
        "_tag",
        "_profile",
        "_security",
        "_source",
    }
    assert expected <= _indexed("Patient", p)


def test_observation_parameters() -> None:
    o = _dict(
        Observation(
            id="o",
            status="final",
            identifier=[{"value": "i"}],
            basedOn=[{"reference": "ServiceRequest/s"}],
            partOf=[{"reference": "Procedure/p"}],
            category=[{"coding": [{"code": "vital-signs"}]}],
            code={"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            subject={"reference": "Patient/p"},
            focus=[{"reference": "Condition/c"}],
            encounter={"reference": "Encounter/e"},
            effectiveDateTime="2020-01-01",
            performer=[{"reference": "Practitioner/d"}],
            valueCodeableConcept={"coding": [{"code": "pos"}]},
            dataAbsentReason={"coding": [{"code": "x"}]},
            method={"coding": [{"code": "m"}]},
            specimen={"reference": "Specimen/s"},
            device={"reference": "Device/d"},
            hasMember=[{"reference": "Observation/m"}],
            derivedFrom=[{"reference": "Observation/d"}],
            component=[
                {
                    "code": {"coding": [{"code": "8480-6"}]},
                    "valueQuantity": {"value": 120, "code": "mm[Hg]"},
                    "dataAbsentReason": {"coding": [{"code": "y"}]},
                }
            ],
        )
    )
    expected = {
        "identifier",
        "based-on",
        "part-of",
        "category",
        "code",
        "subject",
        "patient",
        "focus",
        "encounter",
        "date",
        "performer",
        "value-concept",
        "data-absent-reason",
        "method",
        "specimen",
        "device",
        "has-member",
        "derived-from",
        "status",
        "combo-code",
        "combo-value-quantity",
        "combo-data-absent-reason",
        "component-code",
        "component-value-quantity",
        "component-data-absent-reason",
        "code-value-concept",
        "component-code-value-quantity",
        "combo-code-value-quantity",
    }
    got = _indexed("Observation", o)
    assert expected <= got, expected - got


def test_condition_encounter_medicationrequest_parameters() -> None:
    c = _dict(
        Condition(
            id="c",
            subject={"reference": "Patient/p"},
            code={"coding": [{"code": "x"}]},
            clinicalStatus={"coding": [{"code": "active"}]},
            onsetDateTime="2020",
            abatementAge={"value": 3, "unit": "a"},
            recordedDate="2020-02-02",
            encounter={"reference": "Encounter/e"},
            severity={"coding": [{"code": "s"}]},
            bodySite=[{"coding": [{"code": "b"}]}],
            category=[{"coding": [{"code": "k"}]}],
            evidence=[{"detail": [{"reference": "Observation/o"}]}],
        )
    )
    assert {
        "subject",
        "patient",
        "code",
        "clinical-status",
        "onset-date",
        "abatement-age",
        "recorded-date",
        "encounter",
        "severity",
        "body-site",
        "category",
        "evidence-detail",
    } <= _indexed("Condition", c)
    e = _dict(
        Encounter(
            id="e",
            status="finished",
            subject={"reference": "Patient/p"},
            **{"class": {"code": "AMB"}},
            period={"start": "2020-01-01"},
            participant=[{"individual": {"reference": "Practitioner/d"}}],
            serviceProvider={"reference": "Organization/o"},
            length={"value": 2, "unit": "h"},
            location=[{"location": {"reference": "Location/l"}}],
            reasonCode=[{"coding": [{"code": "r"}]}],
        )
    )
    assert {
        "subject",
        "patient",
        "class",
        "date",
        "participant",
        "practitioner",
        "service-provider",
        "length",
        "location",
        "reason-code",
        "status",
    } <= _indexed("Encounter", e)
    m = _dict(
        MedicationRequest(
            id="m",
            status="active",
            intent="order",
            subject={"reference": "Patient/p"},
            medicationCodeableConcept={"coding": [{"code": "x"}]},
            authoredOn="2020-01-01",
            requester={"reference": "Practitioner/d"},
            dosageInstruction=[{"timing": {"event": ["2020-01-02"]}}],
        )
    )
    assert {
        "subject",
        "patient",
        "code",
        "authoredon",
        "requester",
        "intent",
        "status",
        "date",
    } <= _indexed("MedicationRequest", m)
