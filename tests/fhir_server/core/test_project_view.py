"""The pure project view: project ids (AES-SIV), pseudonym translation, bundles and links."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from fhir_server.core.errors import InvalidRequest, ResourceNotFound
from fhir_server.core.project_view import (
    MAX_PACKED_ID,
    IdCipher,
    IdNotShareable,
    ProjectView,
    project_key,
)
from fhir_server.core.pseudonymize import pseudonym_system
from ga4gh.passport.core.projects import (
    ProjectAmbiguous,
    ProjectNotGranted,
    select_project,
    within_project,
)

SECRET = bytes(range(32))
NODE = "kdk:KDKXXX001"
NODE_SYSTEM = pseudonym_system(NODE)
BASE = "https://node.example/fhir"
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
P1 = "k1." + "a" * 32
MRN_P = "k1." + "b" * 32
UNKNOWN_P = "k1." + "c" * 32


def _cipher(project: str) -> IdCipher:
    return IdCipher(project_key(SECRET, project))


class Translator:
    """The trust center's translation as a table: node pseudonym -> project pseudonym."""

    def __init__(self, project: str) -> None:
        self.table = {v: "k1." + hashlib.md5(f"{project}|{v}".encode()).hexdigest()
                      for v in (P1, MRN_P)}
        self.calls: list[list[str]] = []

    def __call__(self, values: Sequence[str]) -> Mapping[str, str]:
        self.calls.append(list(values))
        return {v: self.table[v] for v in values if v in self.table}


def _view(project: str = "app-a") -> tuple[ProjectView, Translator]:
    translator = Translator(project)
    return ProjectView(project, NODE, _cipher(project), translator, (BASE,)), translator


UUID = "0b4f4b1c-3d0e-4a5e-8f5f-0e6f9c6d7a11"
IDS = [UUID, P1, "k123456." + "0" * 32, "p1", "A", "-", ".", "a" * MAX_PACKED_ID,
       "Zz09-." * 6, UUID.upper()]


@pytest.mark.parametrize("res_id", IDS)
def test_project_ids_round_trip_and_are_valid_fhir_ids(res_id: str) -> None:
    a, b = _cipher("app-a"), _cipher("app-b")
    pid = a.encode("Patient", res_id)
    assert FHIR_ID.fullmatch(pid), pid
    assert pid == a.encode("Patient", res_id) == _cipher("app-a").encode("Patient", res_id)
    assert a.decode("Patient", pid) == res_id
    # Unlinkable across projects and resource types; never the id itself.
    assert b.encode("Patient", res_id) != pid and a.encode("Observation", res_id) != pid
    assert res_id not in pid
    assert b.decode("Patient", pid) is None
    assert a.decode("Observation", pid) is None


def test_tampered_and_foreign_ids_do_not_decode() -> None:
    a = _cipher("app-a")
    pid = a.encode("Patient", str(uuid.uuid4()))
    flipped = ("B" if pid[5] != "B" else "C").join((pid[:5], pid[6:]))
    for bad in (flipped, pid[:-1], pid + "A", "p1", P1, "", "a" * 64, "a" * 65, "ab_cd",
                "x\n", "Patient/1"):
        assert a.decode("Patient", bad) is None, bad


def test_ids_too_long_cannot_be_shared() -> None:
    with pytest.raises(IdNotShareable):
        _cipher("a").encode("Patient", "a" * (MAX_PACKED_ID + 1))


def test_project_key_needs_a_real_secret() -> None:
    with pytest.raises(ValueError):
        project_key(b"short", "app-a")
    assert project_key(SECRET, "a") != project_key(SECRET, "b")
    assert len(project_key(SECRET, "a")) == 64


def _patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "id": P1, "meta": {"versionId": "2"},
            "identifier": [{"use": "official", "system": NODE_SYSTEM, "value": P1},
                           {"system": NODE_SYSTEM, "value": UNKNOWN_P},
                           {"system": NODE_SYSTEM, "value": MRN_P,
                            "assigner": {"reference": "Organization/org-1"}}],
            "managingOrganization": {"reference": f"{BASE}/Organization/org-1"},
            "link": [{"other": {"reference": "Patient/p2"}, "type": "seealso"}],
            "contained": [{"resourceType": "Organization", "id": "c1"}],
            "generalPractitioner": [{"reference": "#c1"},
                                    {"reference": "https://other.example/fhir/Practitioner/9"},
                                    {"reference": "urn:uuid:0b4f4b1c-3d0e-4a5e-8f5f-0e6f9c6d7a11"}]}


def test_resources_get_project_ids_and_pseudonyms() -> None:
    view, translator = _view("app-a")
    cipher = _cipher("app-a")
    patient = _patient()
    obs = {"resourceType": "Observation", "id": "o-1",
           "subject": {"reference": f"Patient/{P1}",
                       "identifier": {"system": NODE_SYSTEM, "value": MRN_P}},
           "hasMember": [{"reference": "Observation/o-2/_history/3"}],
           "focus": [{"identifier": {"system": NODE_SYSTEM, "value": UNKNOWN_P}}]}
    assert view.resources_out([patient, obs]) == [True, True]
    # One trust center call for the whole answer.
    assert translator.calls == [[P1, MRN_P, UNKNOWN_P]]
    project_system = "urn:genomseq:pseudonym:project:app-a"
    assert patient["id"] == cipher.encode("Patient", P1)
    assert patient["identifier"] == [
        {"use": "official", "system": project_system, "value": translator.table[P1]},
        {"system": project_system, "value": translator.table[MRN_P],
         "assigner": {"reference": "Organization/" + cipher.encode("Organization", "org-1")}}]
    assert patient["managingOrganization"]["reference"] == (
        f"{BASE}/Organization/" + cipher.encode("Organization", "org-1"))
    assert patient["link"][0]["other"]["reference"] == "Patient/" + cipher.encode("Patient", "p2")
    # Local, urn: and other servers' references and contained ids stay.
    assert patient["generalPractitioner"] == _patient()["generalPractitioner"]
    assert patient["contained"][0]["id"] == "c1"
    assert patient["meta"] == {"versionId": "2"}
    assert obs["subject"] == {"reference": "Patient/" + patient["id"],
                              "identifier": {"system": project_system,
                                             "value": translator.table[MRN_P]}}
    assert obs["hasMember"][0]["reference"] == (
        "Observation/" + cipher.encode("Observation", "o-2") + "/_history/3")
    # A pseudonym the trust center does not know is removed, never passed on.
    assert obs["focus"] == [{}]
    text = json.dumps([patient, obs])
    for node_value in (P1, MRN_P, UNKNOWN_P, NODE_SYSTEM, "org-1", "o-1", "o-2", '"p2"'):
        assert node_value not in text


def test_two_projects_see_unlinkable_resources() -> None:
    a, _ = _view("app-a")
    b, _ = _view("app-b")
    pa, pb = _patient(), _patient()
    a.resources_out([pa])
    b.resources_out([pb])
    assert pa["id"] != pb["id"]
    assert {i["value"] for i in pa["identifier"]}.isdisjoint(i["value"] for i in pb["identifier"])


def test_a_resource_whose_id_cannot_be_shared_is_withheld() -> None:
    view, _ = _view()
    long_id = "x" * (MAX_PACKED_ID + 1)
    with pytest.raises(ResourceNotFound):
        view.resource_out({"resourceType": "Observation", "id": long_id})
    obs = {"resourceType": "Observation", "id": "o-1",
           "subject": {"reference": f"Patient/{long_id}", "type": "Patient"}}
    view.resource_out(obs)
    assert obs["subject"] == {"type": "Patient"}


def test_searchset_bundle_entries_links_and_cursors() -> None:
    view, _ = _view()
    cipher = _cipher("app-a")
    patient_pid = cipher.encode("Patient", P1)
    node_patient = view.id_in("Patient", patient_pid)
    assert node_patient == P1
    params = view.params_in("Observation", [("subject", f"Patient/{patient_pid}")],
                            lambda t, c: ("Patient",) if c == "subject" else None)
    assert params == [("subject", f"Patient/{P1}")]
    bundle = {
        "resourceType": "Bundle", "type": "searchset", "total": 2,
        "link": [
            {"relation": "self",
             "url": f"{BASE}/Patient/{P1}/Observation?subject=Patient%2F{P1}&_count=1"},
            {"relation": "next",
             "url": f"{BASE}/Patient/{P1}/Observation?_count=1&_cursor=abc.DEF"}],
        "entry": [
            {"fullUrl": f"{BASE}/Observation/o-1", "search": {"mode": "match"},
             "resource": {"resourceType": "Observation", "id": "o-1",
                          "subject": {"reference": f"Patient/{P1}"}}},
            {"fullUrl": f"{BASE}/Observation/{'y' * 50}", "search": {"mode": "match"},
             "resource": {"resourceType": "Observation", "id": "y" * 50}},
            {"search": {"mode": "outcome"},
             "resource": {"resourceType": "OperationOutcome",
                          "issue": [{"severity": "warning", "code": "processing",
                                     "diagnostics": f"about Patient/{P1}"}]}}]}
    view.bundle_out(bundle)
    text = json.dumps(bundle)
    assert P1 not in text and "o-1" not in text and "abc.DEF" not in text
    obs_pid = cipher.encode("Observation", "o-1")
    entries = bundle["entry"]
    assert entries[0]["fullUrl"] == f"{BASE}/Observation/{obs_pid}"
    assert entries[0]["resource"]["subject"]["reference"] == f"Patient/{patient_pid}"
    assert entries[1]["resource"]["resourceType"] == "OperationOutcome"
    assert entries[1]["resource"]["issue"][0]["diagnostics"] == f"about Patient/{patient_pid}"
    assert entries[2]["search"] == {"mode": "outcome"}
    assert "not shown" in entries[2]["resource"]["issue"][0]["diagnostics"]
    self_url, next_url = (link["url"] for link in bundle["link"])
    assert self_url == (f"{BASE}/Patient/{patient_pid}/Observation?"
                        f"subject=Patient%2F{patient_pid}&_count=1")
    sealed = next_url.rsplit("_cursor=", 1)[1]
    # The cursor maps back in this project only.
    assert view.params_in("Observation", [("_cursor", sealed)], lambda t, c: None) == [
        ("_cursor", "abc.DEF")]
    other, _ = _view("app-b")
    with pytest.raises(InvalidRequest):
        other.params_in("Observation", [("_cursor", sealed)], lambda t, c: None)


def test_search_parameters_map_back_or_are_refused() -> None:
    view, _ = _view()
    cipher = _cipher("app-a")
    targets = {"subject": ("Group", "Patient"), "patient": ("Patient",)}

    def ref(res_type: str, code: str) -> Sequence[str] | None:
        return targets.get(code)

    pid, oid = cipher.encode("Patient", P1), cipher.encode("Observation", "o-1")
    assert view.params_in("Observation", [
        ("_id", f"{oid},{oid}"), ("patient", pid), ("subject:Patient", pid),
        ("subject", f"{BASE}/Patient/{pid}"), ("code", "8867-4"), ("_count", "5"),
        ("subject:missing", "true"), ("subject.name", "Doe")], ref) == [
        ("_id", "o-1,o-1"), ("patient", P1), ("subject:Patient", P1),
        ("subject", f"{BASE}/Patient/{P1}"), ("code", "8867-4"), ("_count", "5"),
        ("subject:missing", "true"), ("subject.name", "Doe")]
    with pytest.raises(InvalidRequest):  # a bare id of a parameter with several targets
        view.params_in("Observation", [("subject", pid)], ref)
    for bad in (("_id", "o-1"), ("patient", P1), ("subject", f"Patient/{oid}"),
                ("subject", f"Patient/{_cipher('app-b').encode('Patient', P1)}")):
        with pytest.raises(ResourceNotFound):
            view.params_in("Observation", [bad], ref)
    for system in (NODE_SYSTEM, "urn:genomseq:pseudonym:project:app-a"):
        with pytest.raises(InvalidRequest):
            view.params_in("Patient", [("identifier", f"{system}|{P1}")], ref)
    with pytest.raises(ResourceNotFound):
        view.id_in("Patient", P1)


def test_outcomes_quote_the_projects_ids() -> None:
    view, _ = _view()
    pid = _cipher("app-a").encode("Patient", "p1")
    view.id_in("Patient", pid)
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "not-found", "diagnostics": "Patient/p1 is not known",
         "details": {"text": "p1 (not p10)"}}]}
    view.resource_out(copy.deepcopy(outcome))
    out = view.resource_out(outcome)
    assert out["issue"][0]["diagnostics"] == f"Patient/{pid} is not known"
    assert out["issue"][0]["details"]["text"] == f"{pid} (not p10)"


class _G:
    def __init__(self, app: str | None) -> None:
        self.application_id = app


def test_select_project() -> None:
    one = [_G("app-a"), _G("app-a"), _G(None)]
    assert select_project(one, None) == "app-a"
    assert select_project(one, " app-a ") == "app-a"
    assert select_project([], None) is None
    assert select_project([_G(None)], None) is None
    with pytest.raises(ProjectNotGranted):
        select_project(one, "app-b")
    with pytest.raises(ProjectNotGranted):
        select_project([], "app-a")
    two = [_G("app-a"), _G("app-b")]
    with pytest.raises(ProjectAmbiguous) as err:
        select_project(two, None)
    assert err.value.status == 400
    assert select_project(two, "app-b") == "app-b"
    assert within_project(two, "app-b") == [two[1]]
    assert within_project(two, None) == two
