"""Researchers see FHIR resources under their project's ids and pseudonyms (issue #6):
two researchers of two projects read the same patient through the real broker, enforcement,
trust center and FHIR node."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.audit import AuditLog
from fhir_server.core.pseudonymize import VORGANGSNUMMER_SYSTEM, pseudonym_system
from ga4gh.passport.integrations import DATASET_TAG_SYSTEM
from platform_provider.ports import Grant
from tests.ga4gh.passport.conftest import (
    HMB,
    PASSWORD,
    REDIRECT,
    World,
    bearer,
    project_id,
    query,
    s256,
)
from trust_center.service import TrustCenterService

KVID = "http://fhir.de/sid/gkv/kvid-10"
KVNR = "A123456780"
NODE_DOMAIN = "kdk:KDKXXX001"
NODE_SYSTEM = pseudonym_system(NODE_DOMAIN)
FHIR_JSON = {"Content-Type": "application/fhir+json"}
PSEUDONYM = re.compile(r"k[0-9]+\.[0-9a-f]{32}")


@dataclass
class Clinic:
    """What the node stored: the patient (id = the node's person pseudonym) and its data."""

    patient: str
    observation: str
    encounter: str
    node_pseudonyms: set[str]
    node_ids: set[str]


def _grant(world: World, subject: str, app: str, dataset: str = "ds-1") -> Grant:
    now = datetime.now(UTC)
    grant = Grant(uuid.uuid4().hex, subject, dataset, HMB, app, now - timedelta(days=1),
                  now + timedelta(days=30))
    world.grants.grants.append(grant)
    return grant


def _token_of(world: World, username: str) -> tuple[str, str]:
    """(access token, subject) of another researcher account, through the login form."""
    user = world.store.create_user(username, PASSWORD, affiliation="faculty@uni-koeln.de",
                                   researcher_status="bona-fide")
    assert world.public is not None
    verifier = secrets.token_urlsafe(48)
    params = {"response_type": "code", "client_id": world.public.client_id,
              "redirect_uri": REDIRECT, "scope": "openid user/*.rs", "state": "st-2",
              "code_challenge_method": "S256", "code_challenge": s256(verifier)}
    page = world.http.get("/passport/authorize", query_string=params)
    form_token = re.search(r"name='form_token' value='([^']+)'", page.text)
    assert form_token, page.text
    done = world.http.post("/passport/authorize", data={
        **params, "form_token": form_token.group(1), "username": username,
        "password": PASSWORD})
    assert done.status_code == 302, done.text
    tok = world.token({"grant_type": "authorization_code", "code": query(done)["code"],
                       "redirect_uri": REDIRECT, "code_verifier": verifier}, world.public)
    assert tok.status_code == 200, tok.json
    return tok.json["access_token"], user.subject


@pytest.fixture()
def clinic(world: World) -> Clinic:
    tc = world.ctx.get(TrustCenterService)
    reg = tc.register_case(ik="260326822", arbeitsnummer=f"PV-{uuid.uuid4().hex[:8]}",
                           kvnr=KVNR, actor="le")
    # The node names the Patient by the patient's person pseudonym in its own domain.
    patient = tc.pseudonymize_identifiers(NODE_DOMAIN, [(KVID, KVNR)])[0]
    creds = world.store.register_client("KDK writer", "clinical-data-node",
                                        scopes=["system/Patient.cruds",
                                                "system/Observation.cruds",
                                                "system/Encounter.cruds"])
    node = world.token({"grant_type": "client_credentials"}, creds).json["access_token"]
    tag = {"tag": [{"system": DATASET_TAG_SYSTEM, "code": "ds-1"}]}
    resp = world.http.put(f"/fhir/Patient/{patient}", headers={**bearer(node), **FHIR_JSON},
                          json={"resourceType": "Patient", "id": patient, "meta": tag,
                                "identifier": [
                                    {"system": KVID, "value": KVNR},
                                    {"system": "urn:mrn", "value": "4711"},
                                    {"system": VORGANGSNUMMER_SYSTEM,
                                     "value": reg.vorgangsnummer_clinical}],
                                "gender": "female", "birthDate": "1970-04-12"})
    assert resp.status_code == 201, resp.json
    stored = resp.json
    resp = world.http.post("/fhir/Encounter", headers={**bearer(node), **FHIR_JSON}, json={
        "resourceType": "Encounter", "meta": tag, "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient}"}})
    assert resp.status_code == 201, resp.json
    encounter = resp.json["id"]
    resp = world.http.post("/fhir/Observation", headers={**bearer(node), **FHIR_JSON}, json={
        "resourceType": "Observation", "meta": tag, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient}",
                    "identifier": {"system": "urn:mrn", "value": "4711"}},
        "encounter": {"reference": f"Encounter/{encounter}"},
        "valueQuantity": {"value": 72, "unit": "/min"}})
    assert resp.status_code == 201, resp.json
    observation = resp.json
    node_pseudonyms = {i["value"] for i in stored["identifier"]} | {
        observation["subject"]["identifier"]["value"]}
    assert all(i["system"] == NODE_SYSTEM for i in stored["identifier"])
    assert len(node_pseudonyms) == 3 and patient in node_pseudonyms
    world.consent.allowed[patient] = {HMB}
    return Clinic(patient, observation["id"], encounter, node_pseudonyms,
                  {patient, observation["id"], encounter})


def _researchers(world: World) -> tuple[str, str]:
    _grant(world, world.user_sub, "app-A")
    ada = world.code_flow(world.public)["access_token"]  # type: ignore[arg-type]
    bob, bob_sub = _token_of(world, "bob")
    _grant(world, bob_sub, "app-B")
    return ada, bob


def _assert_no_node_values(body: str, clinic: Clinic) -> None:
    for value in clinic.node_pseudonyms | clinic.node_ids:
        assert value not in body, value
    assert NODE_SYSTEM not in body


def test_two_projects_see_the_same_patient_unlinkably(world: World, clinic: Clinic) -> None:
    ada, bob = _researchers(world)
    seen: dict[str, dict[str, Any]] = {}
    for who, token, app in (("ada", ada, "app-A"), ("bob", bob, "app-B")):
        pid = project_id(world, "Patient", clinic.patient, app)
        resp = world.http.get(f"/fhir/Patient/{pid}", headers=bearer(token))
        assert resp.status_code == 200, resp.json
        assert resp.headers["ETag"] == 'W/"1"'
        _assert_no_node_values(resp.text, clinic)
        patient = resp.json
        assert patient["id"] == pid and re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", pid)
        systems = {i["system"] for i in patient["identifier"]}
        assert systems == {f"urn:genomseq:pseudonym:project:{app}"}
        assert len(patient["identifier"]) == 3
        assert all(PSEUDONYM.fullmatch(i["value"]) for i in patient["identifier"])
        seen[who] = patient
    a, b = seen["ada"], seen["bob"]
    assert a["id"] != b["id"]
    values_a = {i["value"] for i in a["identifier"]}
    values_b = {i["value"] for i in b["identifier"]}
    assert not values_a & values_b and not (values_a | values_b) & clinic.node_pseudonyms
    # The trust center, and only it, links them: the project domains know their pseudonyms.
    tc = world.ctx.get(TrustCenterService)
    for value in values_a:
        assert tc.lookup("project:app-A", value).domain == "project:app-A"


def test_ids_map_back_only_within_the_project(world: World, clinic: Clinic) -> None:
    ada, bob = _researchers(world)
    mine = project_id(world, "Patient", clinic.patient, "app-A")
    theirs = project_id(world, "Patient", clinic.patient, "app-B")
    assert world.http.get(f"/fhir/Patient/{mine}", headers=bearer(ada)).status_code == 200
    assert world.http.get(f"/fhir/Patient/{mine}/_history/1",
                          headers=bearer(ada)).status_code == 200
    for path in (f"/fhir/Patient/{theirs}", f"/fhir/Patient/{clinic.patient}",
                 f"/fhir/Patient/{theirs}/_history/1", f"/fhir/Patient/{mine[:-2]}",
                 f"/fhir/Observation/{mine}",  # a Patient's project id is no Observation's
                 f"/fhir/Patient/{theirs}/Observation"):
        resp = world.http.get(path, headers=bearer(ada))
        assert resp.status_code == 404, path
        assert resp.json["resourceType"] == "OperationOutcome"
        if clinic.patient not in path:  # (an error may quote what the request itself sent)
            _assert_no_node_values(resp.text, clinic)
    # The node's error message quotes the id the researcher sent, not the node's.
    world.consent.allowed.clear()
    resp = world.http.get(f"/fhir/Patient/{mine}", headers=bearer(ada))
    assert resp.status_code == 404
    _assert_no_node_values(resp.text, clinic)


def test_references_are_consistent_within_a_project(world: World, clinic: Clinic) -> None:
    ada, _bob = _researchers(world)
    obs_id = project_id(world, "Observation", clinic.observation, "app-A")
    resp = world.http.get(f"/fhir/Observation/{obs_id}", headers=bearer(ada))
    assert resp.status_code == 200, resp.json
    _assert_no_node_values(resp.text, clinic)
    obs = resp.json
    patient_ref = obs["subject"]["reference"]
    assert patient_ref == "Patient/" + project_id(world, "Patient", clinic.patient, "app-A")
    assert obs["encounter"]["reference"] == "Encounter/" + project_id(
        world, "Encounter", clinic.encounter, "app-A")
    # Reference.identifier: the project's pseudonym of the same MRN the Patient carries.
    patient = world.http.get(f"/fhir/{patient_ref}", headers=bearer(ada)).json
    assert obs["subject"]["identifier"] in patient["identifier"]
    # Following the references works: the compartment under the project's patient id.
    resp = world.http.get(f"/fhir/{patient_ref}/Observation?_total=accurate",
                          headers=bearer(ada))
    assert resp.status_code == 200, resp.json
    _assert_no_node_values(resp.text, clinic)
    assert resp.json["total"] == 1
    entry = resp.json["entry"][0]
    assert entry["resource"]["id"] == obs_id
    assert entry["fullUrl"].endswith(f"/Observation/{obs_id}")
    assert entry["resource"]["subject"]["reference"] == patient_ref
    assert any(link["url"].split("?")[0].endswith(f"/{patient_ref}/Observation")
               for link in resp.json["link"] if link["relation"] == "self")
    # Reference-typed search parameters and _id take the project's ids.
    for search in (f"encounter=Encounter/{obs['encounter']['reference'].split('/')[1]}",
                   f"_id={obs_id}", f"subject={patient_ref}"):
        resp = world.http.get(f"/fhir/{patient_ref}/Observation?{search}", headers=bearer(ada))
        assert resp.status_code == 200, (search, resp.json)
        assert [e["resource"]["id"] for e in resp.json.get("entry", [])] == [obs_id], search
        _assert_no_node_values(resp.text, clinic)
    # Another project's or the node's ids find nothing (404), node pseudonyms are refused.
    other = project_id(world, "Encounter", clinic.encounter, "app-B")
    resp = world.http.get(f"/fhir/{patient_ref}/Observation?encounter=Encounter/{other}",
                          headers=bearer(ada))
    assert resp.status_code == 404
    resp = world.http.get(f"/fhir/{patient_ref}/Observation?subject:identifier="
                          f"{NODE_SYSTEM}|{clinic.patient}", headers=bearer(ada))
    assert resp.status_code == 400
    _assert_no_node_values(resp.text, clinic)


def test_paging_links_stay_in_the_project(world: World, clinic: Clinic) -> None:
    ada, bob = _researchers(world)
    creds = world.store.register_client("KDK writer 2", "clinical-data-node",
                                        scopes=["system/Observation.cruds"])
    node = world.token({"grant_type": "client_credentials"}, creds).json["access_token"]
    for value in (60, 80):
        world.http.post("/fhir/Observation", headers={**bearer(node), **FHIR_JSON}, json={
            "resourceType": "Observation", "status": "final",
            "meta": {"tag": [{"system": DATASET_TAG_SYSTEM, "code": "ds-1"}]},
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{clinic.patient}"},
            "valueQuantity": {"value": value, "unit": "/min"}})
    pid = project_id(world, "Patient", clinic.patient, "app-A")
    url = f"/fhir/Patient/{pid}/Observation?_count=1"
    ids = []
    while url:
        resp = world.http.get(url, headers=bearer(ada))
        assert resp.status_code == 200, resp.json
        _assert_no_node_values(resp.text, clinic)
        ids += [e["resource"]["id"] for e in resp.json.get("entry", [])]
        nxt = [link["url"] for link in resp.json["link"] if link["relation"] == "next"]
        url = nxt[0].split("genomseq.test", 1)[-1] if nxt else ""
        if nxt:
            # A cursor of one project is no use in another.
            other = url.replace(pid, project_id(world, "Patient", clinic.patient, "app-B"))
            leak = world.http.get(other, headers=bearer(bob))
            assert leak.status_code == 400
            assert "paging" in leak.json["issue"][0]["diagnostics"]
    assert len(ids) == len(set(ids)) == 3


@pytest.mark.parametrize("path", [
    "/fhir/Observation?code=http://loinc.org|8867-4&_include=Observation:subject",
    "/fhir/Patient?_revinclude=Observation:subject&_revinclude=Encounter:subject",
    "/fhir/Patient/{pid}/$everything",
    "/fhir/Patient/{pid}/_history",
    "/fhir/Observation/_history",
    "/fhir/Observation?subject=Patient/{pid}&_total=accurate",
])
def test_searches_and_history_show_only_project_values(
    world: World, clinic: Clinic, path: str
) -> None:
    ada, _ = _researchers(world)
    pid = project_id(world, "Patient", clinic.patient, "app-A")
    resp = world.http.get(path.format(pid=pid), headers=bearer(ada))
    assert resp.status_code == 200, resp.json
    assert resp.json["resourceType"] == "Bundle"
    assert resp.json.get("entry"), resp.json
    _assert_no_node_values(resp.text, clinic)
    ids = {e["resource"]["id"] for e in resp.json["entry"] if "resource" in e}
    assert ids & {pid, project_id(world, "Observation", clinic.observation, "app-A"),
                  project_id(world, "Encounter", clinic.encounter, "app-A")}


def test_project_must_be_named_when_several_are_granted(world: World, clinic: Clinic) -> None:
    _grant(world, world.user_sub, "app-A")
    _grant(world, world.user_sub, "app-C")
    ada = world.code_flow(world.public)["access_token"]  # type: ignore[arg-type]
    in_a = project_id(world, "Patient", clinic.patient, "app-A")
    in_c = project_id(world, "Patient", clinic.patient, "app-C")
    resp = world.http.get(f"/fhir/Patient/{in_a}", headers=bearer(ada))
    assert resp.status_code == 400 and resp.json["resourceType"] == "OperationOutcome"
    assert "X-Genomseq-Project" in resp.json["issue"][0]["diagnostics"]
    resp = world.http.get(f"/fhir/Patient/{in_a}",
                          headers={**bearer(ada), "X-Genomseq-Project": "app-B"})
    assert resp.status_code == 403 and resp.json["issue"][0]["code"] == "forbidden"
    for app, pid in (("app-A", in_a), ("app-C", in_c)):
        resp = world.http.get(f"/fhir/Patient/{pid}",
                              headers={**bearer(ada), "X-Genomseq-Project": app})
        assert resp.status_code == 200, resp.json
        assert resp.json["identifier"][0]["system"].endswith(f"project:{app}")
    resp = world.http.get(f"/fhir/Patient/{in_a}",
                          headers={**bearer(ada), "X-Genomseq-Project": "app-C"})
    assert resp.status_code == 404


def test_a_project_sees_only_its_own_grants(world: World, clinic: Clinic) -> None:
    # ada's project A covers ds-2 only; project C covers ds-1 where the data is.
    _grant(world, world.user_sub, "app-A", dataset="ds-2")
    _grant(world, world.user_sub, "app-C", dataset="ds-1")
    ada = world.code_flow(world.public)["access_token"]  # type: ignore[arg-type]
    in_a = project_id(world, "Patient", clinic.patient, "app-A")
    resp = world.http.get(f"/fhir/Patient/{in_a}",
                          headers={**bearer(ada), "X-Genomseq-Project": "app-A"})
    assert resp.status_code == 404
    last = [e for e in world.ctx.get(AuditLog).entries(limit=1000)
            if e.event == "access.decision"][-1]
    assert last.details["outcome"] == "not_found"


def test_machine_clients_see_stored_data_unchanged(world: World, clinic: Clinic) -> None:
    _researchers(world)
    node = world.node_token("system/Patient.rs").json["access_token"]
    resp = world.http.get(f"/fhir/Patient/{clinic.patient}", headers=bearer(node))
    assert resp.status_code == 200
    assert resp.json["id"] == clinic.patient
    assert {i["value"] for i in resp.json["identifier"]} <= clinic.node_pseudonyms
    assert all(i["system"] == NODE_SYSTEM for i in resp.json["identifier"])
