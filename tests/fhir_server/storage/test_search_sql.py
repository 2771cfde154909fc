"""FHIR search on both backends: every parameter type, modifier and prefix with real resources.

FHIR R4 4.0.1 search.html; each test names the section it checks.
"""

from __future__ import annotations

import pytest
from fhir.resources.R4B.list import List as FhirList
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.riskassessment import RiskAssessment
from fhir.resources.R4B.valueset import ValueSet

from common.errors import InvalidInput
from config.context import AppContext
from tests.fhir_server.storage.search_support import Store

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MRN = "http://hospital.example/mrn"


def obs(
    oid: str,
    patient: str,
    code: str,
    value: float | None = None,
    unit: str = "mg",
    when: str = "2020-03-01T10:00:00Z",
    **extra: object,
) -> Observation:
    data: dict[str, object] = {
        "id": oid,
        "status": "final",
        "code": {
            "coding": [{"system": LOINC, "code": code, "display": f"Test {code}"}],
            "text": f"Lab test {code}",
        },
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
    }
    if value is not None:
        data["valueQuantity"] = {"value": value, "system": UCUM, "code": unit, "unit": unit}
    data.update(extra)
    return Observation(**data)


@pytest.fixture()
def store(ctx: AppContext) -> Store:
    s = Store(ctx)
    s.put(
        Organization(id="org1", name="Uniklinik Köln", identifier=[{"system": MRN, "value": "O1"}]),
        Practitioner(id="dr1", name=[{"family": "House", "given": ["Gregory"]}]),
        Patient(
            id="p1",
            name=[{"family": "Müller", "given": ["Hans", "Peter"]}],
            birthDate="1970-05-01",
            gender="male",
            active=True,
            identifier=[
                {
                    "system": MRN,
                    "value": "12345",
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "MR",
                            }
                        ]
                    },
                }
            ],
            telecom=[{"system": "email", "value": "hans@example.org"}],
            address=[{"city": "Köln", "postalCode": "50937", "country": "DE"}],
            managingOrganization={"reference": "Organization/org1"},
            generalPractitioner=[{"reference": "Practitioner/dr1"}],
        ),
        Patient(
            id="p2",
            name=[{"family": "Meier", "given": ["Anna"]}],
            birthDate="1980",
            gender="female",
            active=False,
            identifier=[{"system": "http://other.example/id", "value": "12345"}],
        ),
        Patient(
            id="p3",
            name=[{"family": "Schmidt"}],
            gender="other",
            managingOrganization={"reference": "Organization/missing"},
        ),
    )
    s.put(
        obs("o1", "p1", "8302-2", 180, "cm"),
        obs("o2", "p1", "29463-7", 80.5, "kg", when="2021-01-15"),
        obs("o3", "p2", "8302-2", 165, "cm", when="2019"),
        obs(
            "o4",
            "p2",
            "29463-7",
            62,
            "kg",
            when="2022-06-30T23:59:59+02:00",
            performer=[{"reference": "Practitioner/dr1"}],
        ),
        Observation(
            id="o5",
            status="final",
            code={"coding": [{"system": LOINC, "code": "85354-9"}]},
            subject={"reference": "Patient/p1"},
            effectivePeriod={"start": "2020-01-01", "end": "2020-12-31"},
            component=[
                {
                    "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                    "valueQuantity": {"value": 140, "system": UCUM, "code": "mm[Hg]"},
                },
                {
                    "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                    "valueQuantity": {"value": 90, "system": UCUM, "code": "mm[Hg]"},
                },
            ],
        ),
    )
    return s


# search.html#string
def test_string_default_is_case_and_accent_insensitive_prefix(store: Store) -> None:
    assert store.ids("Patient", "name=MUL") == ["p1"]
    assert store.ids("Patient", "family=muller") == ["p1"]
    assert store.ids("Patient", "given=pet") == ["p1"]
    assert store.ids("Patient", "address-city=koln") == ["p1"]
    assert store.ids("Patient", "name=ller") == []


def test_string_exact_and_contains(store: Store) -> None:
    assert store.ids("Patient", "family:exact=Müller") == ["p1"]
    assert store.ids("Patient", "family:exact=muller") == []
    assert store.ids("Patient", "family:contains=ei") == ["p2"]
    assert store.ids("Patient", "name:contains=ULL") == ["p1"]


# search.html#token
def test_token_forms(store: Store) -> None:
    assert store.ids("Observation", "code=8302-2") == ["o1", "o3"]
    assert store.ids("Observation", f"code={LOINC}|8302-2") == ["o1", "o3"]
    assert store.ids("Observation", "code=http://other|8302-2") == []
    assert store.ids("Observation", "code=|8302-2") == []
    assert store.ids("Patient", "gender=|male") == ["p1"]
    assert store.ids("Observation", f"code={LOINC}|") == ["o1", "o2", "o3", "o4", "o5"]
    assert store.ids("Patient", "identifier=12345") == ["p1", "p2"]
    assert store.ids("Patient", f"identifier={MRN}|12345") == ["p1"]
    assert store.ids("Patient", "active=true") == ["p1"]
    assert store.ids("Patient", "email=hans@example.org") == ["p1"]


def test_token_modifiers(store: Store) -> None:
    assert store.ids("Patient", "gender:not=male") == ["p2", "p3"]
    assert store.ids("Observation", "code:text=lab test 8302") == ["o1", "o3"]
    assert store.ids("Observation", "code:text=test 29463") == ["o2", "o4"]
    assert store.ids(
        "Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345"
    ) == ["p1"]


def test_or_and_escaping(store: Store) -> None:
    assert store.ids("Observation", "code=8302-2,29463-7&patient=p2") == ["o3", "o4"]
    assert store.ids("Patient", "name=hans&name=muller") == ["p1"]
    assert store.ids("Patient", "name=hans&name=meier") == []
    store.put(Patient(id="p9", name=[{"family": "a,b|c"}]))
    assert store.ids("Patient", r"family:exact=a\,b\|c") == ["p9"]


# search.html#reference
def test_reference_forms(store: Store) -> None:
    assert store.ids("Observation", "subject=Patient/p1") == ["o1", "o2", "o5"]
    assert store.ids("Observation", "subject=p1") == ["o1", "o2", "o5"]
    assert store.ids("Observation", "subject:Patient=p2") == ["o3", "o4"]
    assert store.ids("Observation", "patient=Patient/p2/_history/1") == ["o3", "o4"]
    assert store.ids("Observation", "performer=Practitioner/dr1") == ["o4"]
    assert store.ids("Observation", "subject:Group=p1") == []


def test_chaining(store: Store) -> None:
    assert store.ids("Observation", "subject:Patient.name=meier") == ["o3", "o4"]
    assert store.ids("Observation", "patient.gender=male") == ["o1", "o2", "o5"]
    # two levels, across types
    assert store.ids("Observation", "subject:Patient.organization.name=uniklinik") == [
        "o1",
        "o2",
        "o5",
    ]
    assert store.ids("Observation", "subject:Patient.general-practitioner.family=house") == [
        "o1",
        "o2",
        "o5",
    ]
    with pytest.raises(InvalidInput):
        store.ids("Observation", "code.name=x")


def test_reverse_chaining(store: Store) -> None:
    assert store.ids("Patient", "_has:Observation:patient:code=29463-7") == ["p1", "p2"]
    assert store.ids("Patient", "_has:Observation:subject:value-quantity=gt170") == ["p1"]
    assert store.ids("Practitioner", "_has:Observation:performer:patient=p2") == ["dr1"]


# search.html#date
def test_date_precision_and_prefixes(store: Store) -> None:
    assert store.ids("Patient", "birthdate=1970") == ["p1"]
    assert store.ids("Patient", "birthdate=1970-05") == ["p1"]
    assert store.ids("Patient", "birthdate=1970-05-01") == ["p1"]
    assert store.ids("Patient", "birthdate=1970-05-02") == []
    # "1980" is a whole year: eq 1980-06 does not contain it, but it overlaps
    assert store.ids("Patient", "birthdate=1980-06") == []
    assert store.ids("Patient", "birthdate=ne1970") == ["p2"]
    assert store.ids("Patient", "birthdate=gt1975") == ["p2"]
    assert store.ids("Patient", "birthdate=lt1975") == ["p1"]
    assert store.ids("Patient", "birthdate=ge1980") == ["p2"]
    assert store.ids("Patient", "birthdate=le1970-05-01") == ["p1"]
    assert store.ids("Patient", "birthdate=sa1970-05-01") == ["p2"]
    assert store.ids("Patient", "birthdate=eb1980") == ["p1"]
    assert store.ids("Patient", "birthdate=ap1970-05-03") == ["p1"]
    # timezone: 2022-06-30T23:59:59+02:00 is 21:59:59Z
    assert store.ids("Observation", "date=2022-06-30T21:59:59Z") == ["o4"]
    assert store.ids("Observation", "date=2022-07-01") == []
    # a Period is a range: eq needs containment, gt/lt look at its ends
    assert store.ids("Observation", "date=2020&code=85354-9") == ["o5"]
    assert store.ids("Observation", "date=2020-06&code=85354-9") == []
    assert store.ids("Observation", "date=gt2020-06-01&code=85354-9") == ["o5"]


@pytest.mark.parametrize(
    "bad", ["2020-13-45", "2020-02-30", "20200101", "xx2020", "2020-01-01T25:00"]
)
def test_malformed_date_is_invalid_input(store: Store, bad: str) -> None:
    with pytest.raises(InvalidInput):
        store.ids("Patient", f"birthdate={bad}")


# search.html#quantity and #number
def test_quantity(store: Store) -> None:
    assert store.ids("Observation", "value-quantity=180") == ["o1"]
    assert store.ids("Observation", f"value-quantity=180|{UCUM}|cm") == ["o1"]
    assert store.ids("Observation", "value-quantity=180||cm") == ["o1"]
    assert store.ids("Observation", "value-quantity=180||kg") == []
    assert store.ids("Observation", "value-quantity=80") == []  # 80 means [79.5, 80.5)
    assert store.ids("Observation", "value-quantity=80.5") == ["o2"]
    assert store.ids("Observation", "value-quantity=gt100") == ["o1", "o3"]
    assert store.ids("Observation", "value-quantity=lt70") == ["o4"]
    assert store.ids("Observation", "value-quantity=ge165&value-quantity=le170") == ["o3"]
    assert store.ids("Observation", "value-quantity=ne180||cm") == ["o3"]
    assert store.ids("Observation", "value-quantity=ap60") == ["o4"]
    assert store.ids("Observation", "value-quantity=sa170") == ["o1"]
    assert store.ids("Observation", "value-quantity=eb70") == ["o4"]
    with pytest.raises(InvalidInput):
        store.ids("Observation", "value-quantity=zz5")
    with pytest.raises(InvalidInput):
        store.ids("Observation", "value-quantity=abc")
    for bad in ("1e400", "nan", "gt", "5|a"):
        with pytest.raises(InvalidInput):
            store.ids("Observation", f"value-quantity={bad}")


def test_number(store: Store) -> None:
    store.put(
        RiskAssessment(
            id="ra1",
            status="final",
            subject={"reference": "Patient/p1"},
            prediction=[{"probabilityDecimal": 0.25}],
        ),
        RiskAssessment(
            id="ra2",
            status="final",
            subject={"reference": "Patient/p2"},
            prediction=[{"probabilityDecimal": 0.8}],
        ),
    )
    assert store.ids("RiskAssessment", "probability=0.25") == ["ra1"]
    assert store.ids("RiskAssessment", "probability=0.3") == ["ra1"]  # [0.25, 0.35)
    assert store.ids("RiskAssessment", "probability=0.30") == []
    assert store.ids("RiskAssessment", "probability=gt0.5") == ["ra2"]
    assert store.ids("RiskAssessment", "probability=le0.25") == ["ra1"]


# search.html#composite
def test_composite(store: Store) -> None:
    assert store.ids("Observation", f"component-code-value-quantity={LOINC}|8480-6$gt130") == ["o5"]
    assert store.ids("Observation", "component-code-value-quantity=8480-6$lt130") == []
    assert store.ids("Observation", "component-code-value-quantity=8462-4$90") == ["o5"]
    assert store.ids("Observation", "code-value-quantity=8302-2$gt170") == ["o1"]
    assert store.ids("Observation", f"code-value-quantity=8302-2$180|{UCUM}|cm") == ["o1"]
    assert store.ids("Observation", "code-value-quantity=8302-2$180||cm") == ["o1"]
    assert store.ids("Observation", f"code-value-quantity=8302-2$180|{UCUM}|kg") == []
    with pytest.raises(InvalidInput):
        store.ids("Observation", "code-value-quantity=8302-2")


# search.html#uri
def test_uri_modifiers(store: Store) -> None:
    store.put(
        ValueSet(id="vs1", status="active", url="http://acme.org/fhir/ValueSet/123"),
        ValueSet(id="vs2", status="active", url="http://acme.org/fhir/ValueSet/123/_history/5"),
    )
    assert store.ids("ValueSet", "url=http://acme.org/fhir/ValueSet/123") == ["vs1"]
    assert store.ids("ValueSet", "url:below=http://acme.org/fhir/") == ["vs1", "vs2"]
    assert store.ids("ValueSet", "url:above=http://acme.org/fhir/ValueSet/123/_history/5/x") == [
        "vs1",
        "vs2",
    ]


# search.html#missing
def test_missing(store: Store) -> None:
    assert store.ids("Patient", "birthdate:missing=true") == ["p3"]
    assert store.ids("Patient", "birthdate:missing=false") == ["p1", "p2"]
    assert store.ids("Patient", "organization:missing=true") == ["p2"]
    with pytest.raises(InvalidInput):
        store.ids("Patient", "birthdate:missing=maybe")


# search.html#id, #lastUpdated, #list, #text
def test_special_parameters(store: Store) -> None:
    assert store.ids("Patient", "_id=p1,p3") == ["p1", "p3"]
    assert store.ids("Patient", "_lastUpdated=gt2000-01-01") == ["p1", "p2", "p3"]
    assert store.ids("Patient", "_lastUpdated=lt2000-01-01") == []
    store.put(
        FhirList(
            id="l1", status="current", mode="working", entry=[{"item": {"reference": "Patient/p2"}}]
        )
    )
    assert store.ids("Patient", "_list=l1") == ["p2"]
    store.put(
        Patient(
            id="p5",
            text={
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">Rare '
                "<b>Kinderkrankheit</b></div>",
            },
        )
    )
    assert store.ids("Patient", "_text=kinderkrank") == ["p5"]


def test_meta_parameters(store: Store) -> None:
    store.put(
        Patient(
            id="p6",
            meta={
                "tag": [{"system": "http://t", "code": "research"}],
                "profile": ["http://mii/Profile/Patient"],
                "security": [{"system": "http://s", "code": "R"}],
                "source": "http://hospital#abc",
            },
        )
    )
    assert store.ids("Patient", "_tag=http://t|research") == ["p6"]
    assert store.ids("Patient", "_profile=http://mii/Profile/Patient") == ["p6"]
    assert store.ids("Patient", "_security=R") == ["p6"]
    assert store.ids("Patient", "_source=http://hospital#abc") == ["p6"]


# search.html#errors
def test_unknown_parameter_and_lenient(store: Store) -> None:
    with pytest.raises(InvalidInput) as err:
        store.ids("Patient", "foo=bar")
    assert "foo" in err.value.message
    page = store.search("Patient", "foo=bar&name=meier", lenient=True)
    assert [m.res_id for m in page.matches] == ["p2"]
    with pytest.raises(InvalidInput):
        store.ids("Patient", "name:bogus=x")
    with pytest.raises(InvalidInput):
        store.ids("Patient", "_count=-1")


# search.html#sort and paging
def test_sort_and_keyset_paging(store: Store) -> None:
    assert store.ids("Patient", "_sort=birthdate") == ["p1", "p2", "p3"]
    assert store.ids("Patient", "_sort=-birthdate") == ["p2", "p1", "p3"]
    assert store.ids("Patient", "_sort=family") == ["p2", "p1", "p3"]
    assert store.ids("Observation", "_sort=patient,-date") == ["o2", "o5", "o1", "o4", "o3"]
    assert store.ids("Patient", "_sort=-_id&_count=1") == ["p3", "p2", "p1"]
    assert store.ids("Observation", "_sort=code,-_lastUpdated&_count=2") == [
        "o4",
        "o2",
        "o3",
        "o1",
        "o5",
    ]


def test_paging_stable_under_concurrent_writes(store: Store) -> None:
    from urllib.parse import parse_qsl

    q = store.parser.parse(("Observation",), parse_qsl("_count=2&_sort=date"))
    first = store.searcher.search(q)
    assert [m.res_id for m in first.matches] == ["o3", "o5"]
    store.put(obs("o0", "p1", "1-8", when="2018-01-01"))  # sorts before the cursor
    store.delete("Observation", "o1")
    q.cursor = first.next_cursor
    second = store.searcher.search(q)
    assert [m.res_id for m in second.matches] == ["o2", "o4"]
    assert second.next_cursor is None and second.prev_cursor
    q.cursor = second.prev_cursor
    back = store.searcher.search(q)
    assert [m.res_id for m in back.matches] == ["o3", "o5"]


def test_cursor_is_tamper_proof(store: Store) -> None:
    from urllib.parse import parse_qsl

    q = store.parser.parse(("Patient",), parse_qsl("_count=1"))
    page = store.searcher.search(q)
    token = page.next_cursor
    assert token
    mid = len(token) // 2
    q.cursor = token[:mid] + ("AA" if token[mid:mid + 2] != "AA" else "BB") + token[mid + 2:]
    with pytest.raises(InvalidInput):
        store.searcher.search(q)
    other = store.parser.parse(("Patient",), parse_qsl("_count=1&gender=male"))
    other.cursor = token
    with pytest.raises(InvalidInput):
        store.searcher.search(other)


def test_totals_and_count(store: Store) -> None:
    assert store.search("Observation", "code=8302-2&_summary=count").total == 2
    assert store.search("Observation", "code=8302-2,29463-7&_summary=count").total == 4
    page = store.search("Observation", "_count=1&_total=accurate")
    assert page.total == 5 and len(page.matches) == 1
    assert store.search("Observation", "_count=1").total is None
    assert store.search("Observation", "_count=1&_total=estimate").total == 5
    assert store.search("Observation", "_count=0&_total=accurate").matches == []


# search.html#include
def test_include_and_revinclude(store: Store) -> None:
    page = store.search("Observation", "patient=p1&_include=Observation:subject&_count=2")
    assert [m.res_id for m in page.matches] == ["o1", "o2"]
    assert [i.res_id for i in page.includes] == ["p1"]
    page = store.search("Patient", "_id=p3&_include=Patient:organization")
    assert page.includes == []  # missing target is no error
    page = store.search("Patient", "_id=p1&_revinclude=Observation:subject")
    assert sorted(i.res_id for i in page.includes) == ["o1", "o2", "o5"]
    page = store.search("Observation", "_id=o1&_include=Observation:*")
    assert [i.res_id for i in page.includes] == ["p1"]
    page = store.search(
        "Observation", "_id=o1&_include=Observation:patient&_include:iterate=Patient:organization"
    )
    assert sorted(i.res_id for i in page.includes) == ["org1", "p1"]
    page = store.search(
        "Observation", "_id=o1&_include=Observation:patient&_include=Patient:organization"
    )
    assert [i.res_id for i in page.includes] == ["p1"]
    with pytest.raises(InvalidInput):
        store.search("Observation", "_include=Observation:code")


def test_deleted_resources_do_not_match(store: Store) -> None:
    store.delete("Patient", "p2")
    assert store.ids("Patient", "identifier=12345") == ["p1"]
    assert store.ids("Patient", "") == ["p1", "p3"]
    assert store.ids("Observation", "patient.gender=female") == []


def test_update_reindexes(store: Store) -> None:
    store.put(Patient(id="p1", name=[{"family": "Neumann"}]))
    assert store.ids("Patient", "name=muller") == []
    assert store.ids("Patient", "name=neumann") == ["p1"]


# search.html#modifiers (:identifier on references) and _revinclude:iterate
def test_reference_identifier_modifier_and_revinclude_iterate(store: Store) -> None:
    store.put(
        Observation(
            id="oi", status="final", code={"coding": [{"system": LOINC, "code": "1-8"}]},
            subject={"identifier": {"system": MRN, "value": "12345"}},
            hasMember=[{"reference": "Observation/o1"}],
        )
    )
    assert store.ids("Observation", f"subject:identifier={MRN}|12345") == ["oi"]
    assert store.ids("Observation", "subject:identifier=12345") == ["oi"]
    assert store.ids("Observation", "subject:identifier=other|12345") == []
    page = store.search(
        "Patient",
        "_id=p1&_revinclude=Observation:subject&_revinclude:iterate=Observation:has-member",
    )
    assert sorted(i.res_id for i in page.includes) == ["o1", "o2", "o5", "oi"]


def test_type_qualified_chain_across_several_targets(store: Store) -> None:
    # performer may point at Practitioner, Organization, Patient, ...: name is common to them
    assert store.ids("Observation", "performer.name=house") == ["o4"]
    assert store.ids("Observation", "performer:Organization.name=house") == []
    with pytest.raises(InvalidInput):
        store.ids("Observation", "performer:Nope.name=x")


# search.html#content: _content over every string of the resource, _text over the narrative
def test_content_full_text(store: Store) -> None:
    # Words anywhere in the resource: name, address, identifier, telecom; case, accents and
    # word starts as in string search; several words must all occur (in any element).
    assert store.ids("Patient", "_content=KOLN") == ["p1"]
    assert store.ids("Patient", "_content=hans%20koln") == ["p1"]
    assert store.ids("Patient", "_content=hans%20meier") == []
    assert store.ids("Patient", "_content=12345") == ["p1", "p2"]
    assert store.ids("Patient", "_content=schmi") == ["p3"]
    assert store.ids("Patient", "_content=mit") == []  # a word's start, not any substring
    assert store.ids("Patient", "_content=schmidt,anna") == ["p2", "p3"]  # values are OR
    assert store.ids("Patient", "_content=schmidt&_content=anna") == []  # parameters are AND
    assert store.ids("Observation", "_content=lab%20test%2029463") == ["o2", "o4"]
    assert store.ids("Observation", "_content=hans") == []  # a patient's words stay its own
    assert store.ids("Observation", "patient._content=koln&code=8302-2") == ["o1"]
    # Hyphens and other punctuation separate words on both backends.
    assert store.ids("Observation", "_content=8302-2") == ["o1", "o3"]


def test_content_follows_updates_and_deletes(store: Store) -> None:
    store.put(Patient(id="p1", name=[{"family": "Neumann"}]))
    assert store.ids("Patient", "_content=muller") == []
    assert store.ids("Patient", "_content=neumann") == ["p1"]
    store.delete("Patient", "p1")
    assert store.ids("Patient", "_content=neumann") == []


def test_text_searches_the_narrative_only(store: Store) -> None:
    store.put(
        Patient(
            id="p7",
            name=[{"family": "Vogel"}],
            text={
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Seltene '
                "<b>Stoffwechselerkrankung</b>, Verlauf stabil</p></div>",
            },
        )
    )
    assert store.ids("Patient", "_text=stoffwechsel") == ["p7"]
    assert store.ids("Patient", "_text=verlauf%20selten") == ["p7"]
    assert store.ids("Patient", "_text=vogel") == []  # the name is content, not narrative
    assert store.ids("Patient", "_content=vogel%20stoffwechsel") == ["p7"]
    assert store.ids("Patient", "_text=xhtml") == []  # markup is not text
    assert store.ids("Patient", "_text=p") == []


@pytest.mark.parametrize(
    "query",
    [
        "_content=",
        "_content=--",
        "_content=a,",
        "_text=%20",
        "_content:contains=x",
        "_text:exact=x",
        "_content:missing=true",
    ],
)
def test_full_text_refusals(store: Store, query: str) -> None:
    with pytest.raises(InvalidInput):
        store.ids("Patient", query)
