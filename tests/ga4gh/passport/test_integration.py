"""Enforcement on the resource servers that exist: FHIR reads and htsget tickets with broker
tokens (grants, consent, 404 outside grants, machine clients by scope, audit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.audit import AuditLog
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.passport.integrations import DATASET_TAG_SYSTEM
from tests.ga4gh.genomic_data import GenomicFiles
from tests.ga4gh.passport.conftest import HMB, World, bearer, project_id

HTSGET = "/ga4gh/htsget/v1"


def _observation(patient: str, dataset: str | None) -> dict:
    obs = {"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "subject": {"reference": f"Patient/{patient}"},
           "valueQuantity": {"value": 72, "unit": "/min"}}
    if dataset:
        obs["meta"] = {"tag": [{"system": DATASET_TAG_SYSTEM, "code": dataset}]}
    return obs


@pytest.fixture()
def fhir_data(world: World) -> dict[str, str]:
    """Observations created by the clinical data node with client credentials."""
    node = world.node_token("system/Observation.cruds").json["access_token"]
    ids = {}
    for name, patient, dataset in (("in_grant", "p1", "ds-1"), ("other_ds", "p1", "ds-2"),
                                   ("untagged", "p1", None), ("no_consent", "p2", "ds-1")):
        resp = world.http.post("/fhir/Observation", json=_observation(patient, dataset),
                               headers={**bearer(node), "Content-Type": "application/fhir+json"})
        assert resp.status_code == 201, resp.json
        ids[name] = resp.json["id"]
    return ids


def _researcher(world: World) -> str:
    world.grants.add(world.user_sub, "ds-1", HMB)
    world.consent.allowed["p1"] = {HMB}
    return world.code_flow(world.public)["access_token"]  # type: ignore[arg-type]


def test_fhir_read_needs_grant_and_consent(world: World, fhir_data: dict[str, str]) -> None:
    token = _researcher(world)
    seen = {name: project_id(world, "Observation", rid) for name, rid in fhir_data.items()}
    ok = world.http.get(f"/fhir/Observation/{seen['in_grant']}", headers=bearer(token))
    assert ok.status_code == 200, ok.json
    for name in ("other_ds", "untagged", "no_consent"):
        resp = world.http.get(f"/fhir/Observation/{seen[name]}", headers=bearer(token))
        assert resp.status_code == 404, name
        assert resp.json["resourceType"] == "OperationOutcome"
    # Unknown ids look exactly the same.
    unknown = world.http.get("/fhir/Observation/does-not-exist", headers=bearer(token))
    assert unknown.status_code == 404
    vread = world.http.get(f"/fhir/Observation/{seen['other_ds']}/_history/1",
                           headers=bearer(token))
    assert vread.status_code == 404


def test_fhir_researcher_cannot_write(world: World) -> None:
    token = _researcher(world)
    resp = world.http.post("/fhir/Observation", json=_observation("p1", "ds-1"),
                           headers={**bearer(token), "Content-Type": "application/fhir+json"})
    assert resp.status_code == 403


def test_fhir_grant_revocation_is_effective_on_next_request(
    world: World, fhir_data: dict[str, str]
) -> None:
    token = _researcher(world)
    url = f"/fhir/Observation/{project_id(world, 'Observation', fhir_data['in_grant'])}"
    assert world.http.get(url, headers=bearer(token)).status_code == 200
    world.grants.revoke(world.grants.grants[0])
    assert world.http.get(url, headers=bearer(token)).status_code == 404


def test_fhir_decisions_are_audited(world: World, fhir_data: dict[str, str]) -> None:
    token = _researcher(world)
    world.http.get(f"/fhir/Observation/{project_id(world, 'Observation', fhir_data['other_ds'])}",
                   headers=bearer(token))
    last = [e for e in world.ctx.get(AuditLog).entries(limit=1000)
            if e.event == "access.decision"][-1]
    assert last.details["kind"] == "Observation"
    assert last.details["outcome"] == "not_found"
    assert last.details["dataset"] == "ds-2"


@pytest.fixture()
def genomic_object(world: World, genomic_files: GenomicFiles) -> Iterator[None]:
    catalogue = world.ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    catalogue.add("reads-ds1", genomic_files.bam, dataset="ds-1", donor_pseudonym="d1")
    catalogue.add("reads-ds2", genomic_files.bam, dataset="ds-2", donor_pseudonym="d1")
    yield
    catalogue.remove("reads-ds1")
    catalogue.remove("reads-ds2")


def test_htsget_ticket_needs_grant_and_consent(world: World, genomic_object: None) -> None:
    world.grants.add(world.user_sub, "ds-1", HMB)
    world.consent.allowed["d1"] = {HMB}
    token = world.code_flow(world.public)["access_token"]  # type: ignore[arg-type]
    ok = world.http.get(f"{HTSGET}/reads/reads-ds1", headers=bearer(token))
    assert ok.status_code == 200, ok.json
    assert ok.json["htsget"]["format"] == "BAM"
    other = world.http.get(f"{HTSGET}/reads/reads-ds2", headers=bearer(token))
    assert other.status_code == 404
    assert other.json["htsget"]["error"] == "NotFound"
    world.consent.allowed["d1"] = set()
    withdrawn = world.http.get(f"{HTSGET}/reads/reads-ds1", headers=bearer(token))
    assert withdrawn.status_code == 404


def test_htsget_scope_is_required(world: World, genomic_object: None) -> None:
    world.grants.add(world.user_sub, "ds-1", HMB)
    world.consent.allowed["d1"] = {HMB}
    token = world.code_flow(world.public, scope="openid user/Observation.rs")["access_token"]  # type: ignore[arg-type]
    resp = world.http.get(f"{HTSGET}/reads/reads-ds1", headers=bearer(token))
    assert resp.status_code == 403
    assert resp.json["htsget"]["error"] == "PermissionDenied"


def test_trust_center_accepts_broker_tokens_by_scope(world: World) -> None:
    creds = world.store.register_client("KDK-XYZ789 trust center client", "clinical-data-node",
                                        scopes=["trust-center:consent"])
    token = world.token({"grant_type": "client_credentials"}, creds).json["access_token"]
    body = {"domain": "kdk:KDKXXX001", "pseudonym": "k1." + "0" * 32, "purpose": "research"}
    allowed = world.http.post("/trust-center/consent/decision", json=body,
                              headers=bearer(token))
    assert allowed.status_code not in (401, 403), allowed.json
    denied = world.http.post("/trust-center/pseudonyms/lookup", json=body,
                             headers=bearer(token))
    assert denied.status_code == 403
    assert world.http.post("/trust-center/consent/decision", json=body).status_code == 401


def test_drs_objects_and_access_urls_only_within_grants(
    world: World, genomic_object: None
) -> None:
    world.grants.add(world.user_sub, "ds-1", HMB)
    world.consent.allowed["d1"] = {HMB}
    token = world.code_flow(world.public)["access_token"]  # type: ignore[arg-type]
    drs = "/ga4gh/drs/v1"
    ok = world.http.get(f"{drs}/objects/reads-ds1", headers=bearer(token))
    assert ok.status_code == 200, ok.json
    hidden = world.http.get(f"{drs}/objects/reads-ds2", headers=bearer(token))
    assert hidden.status_code == 404
    access_id = ok.json["access_methods"][0]["access_id"]
    url = world.http.get(f"{drs}/objects/reads-ds1/access/{access_id}", headers=bearer(token))
    assert url.status_code == 200 and url.json["url"]
    denied = world.http.get(f"{drs}/objects/reads-ds2/access/{access_id}", headers=bearer(token))
    assert denied.status_code == 404
    bulk = world.http.post(f"{drs}/objects", headers=bearer(token),
                           json={"bulk_object_ids": ["reads-ds1", "reads-ds2", "nope"]})
    assert bulk.status_code == 200
    assert bulk.json["summary"] == {"requested": 3, "resolved": 1, "unresolved": 2}
    assert bulk.json["unresolved_drs_objects"] == [
        {"error_code": 404, "object_ids": ["reads-ds2", "nope"]}]


def test_fhir_search_by_node_is_allowed_by_scope(world: World, fhir_data: dict[str, str]) -> None:
    node = world.node_token("system/Observation.rs").json["access_token"]
    resp = world.http.get("/fhir/Observation?subject=Patient/p1", headers=bearer(node))
    assert resp.status_code == 200, resp.json
    assert resp.json["resourceType"] == "Bundle"


def test_fhir_compartment_search_contains_only_permitted_data(
    world: World, fhir_data: dict[str, str]
) -> None:
    token = _researcher(world)
    p1, p2 = project_id(world, "Patient", "p1"), project_id(world, "Patient", "p2")
    resp = world.http.get(f"/fhir/Patient/{p1}/Observation?_total=accurate",
                          headers=bearer(token))
    assert resp.status_code == 200, resp.json
    ids = [e["resource"]["id"] for e in resp.json.get("entry", [])]
    assert ids == [project_id(world, "Observation", fhir_data["in_grant"])]
    assert resp.json["total"] == 1
    # p2 did not consent: nothing, and the total does not reveal that anything exists.
    resp = world.http.get(f"/fhir/Patient/{p2}/Observation?_total=accurate",
                          headers=bearer(token))
    assert resp.status_code == 200
    assert resp.json.get("entry", []) == [] and resp.json["total"] == 0
    # Revoking the grant empties the compartment on the next request.
    world.grants.revoke(world.grants.grants[0])
    resp = world.http.get(f"/fhir/Patient/{p1}/Observation", headers=bearer(token))
    assert resp.json.get("entry", []) == []
    # The node (client credentials) sees everything its scopes allow.
    node = world.node_token("system/Observation.rs").json["access_token"]
    resp = world.http.get("/fhir/Patient/p1/Observation?_total=accurate", headers=bearer(node))
    assert resp.json["total"] == 3
