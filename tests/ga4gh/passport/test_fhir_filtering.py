"""Security tests: what researchers see in FHIR searches, includes, chains, ``_has``,
``$everything``, history and totals (issue #6). Only resources tagged with a dataset the
researcher holds an active grant for (for the declared purpose), of types its scopes allow,
whose patient consented to that purpose today; everything else is as if it did not exist.

Researchers see the node's resources under their project's ids (project view, see
test_project_view.py); these tests speak node ids: ``ProjectClient`` maps the ids in request
URLs to the project's and the project's ids in answers back.

The cohort (created by the clinical data node; ``meta.tag`` names the dataset):

==========  =======  =======  ====================================================
id          patient  dataset  the researcher (grant ds-1 for HMB; p1, p3 consent)
==========  =======  =======  ====================================================
p1          p1       ds-1     sees it
p2          p2       ds-1     no: p2 did not consent
p3          p3       ds-2     no: no grant for ds-2
obs-in      p1       ds-1     sees it
obs-in2     p1       ds-1     sees it
obs-cross   p3       ds-1     sees it (its subject p3 is out of grant)
obs-other   p1       ds-2     no: no grant (the only one with code 29463-7)
obs-untag   p1       none     no: in no dataset
obs-p2      p2       ds-1     no: p2 did not consent
==========  =======  =======  ====================================================
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from common.audit import AuditLog
from fhir_server.core.project_view import IdCipher, project_key
from fhir_server.core.service import FhirService
from fhir_server.http.project_view import SECRET_NAME
from ga4gh.passport.integrations import DATASET_TAG_SYSTEM
from tests.ga4gh.passport.conftest import GRU, HMB, World, bearer

HR, WEIGHT = "8867-4", "29463-7"
SEEN = {"p1", "obs-in", "obs-in2", "obs-cross"}
HIDDEN = {"p2", "p3", "obs-other", "obs-untag", "obs-p2"}


def _tag(dataset: str | None) -> dict[str, Any]:
    return {"meta": {"tag": [{"system": DATASET_TAG_SYSTEM, "code": dataset}]}} \
        if dataset else {}


def _patient(pid: str, dataset: str, gender: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender, **_tag(dataset)}


def _obs(oid: str, patient: str, dataset: str | None, code: str = HR) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": f"Patient/{patient}"},
            "valueQuantity": {"value": 72, "unit": "/min"}, **_tag(dataset)}


_NODE_REF = re.compile(r"\b(Patient|Observation)/(p[0-9]|obs-[a-z0-9]+|does-not-exist)\b")
_PROJECT_ID = re.compile(r"[A-Za-z0-9\-.]{16,64}")


class _Answer:
    """A test response whose JSON and text carry node ids again."""

    def __init__(self, resp: Any, back: Any) -> None:
        self._resp, self.status_code = resp, resp.status_code
        self.text = back(resp.get_data(as_text=True))
        self.headers = resp.headers

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.text)


class ProjectClient:
    """The researcher's side of the project view, in node ids (see the module docstring)."""

    def __init__(self, http: FlaskClient, world: World, project: str = "app-1") -> None:
        self._http = http
        self._cipher = IdCipher(project_key(world.ctx.keys.secret(SECRET_NAME), project))

    def _out(self, text: str) -> str:
        return _NODE_REF.sub(lambda m: f"{m[1]}/{self._cipher.encode(m[1], m[2])}", text)

    def _back(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            for res_type in ("Patient", "Observation"):
                node = self._cipher.decode(res_type, m[0])
                if node is not None:
                    return node
            return m[0]

        return _PROJECT_ID.sub(one, text)

    def get(self, url: str, **kwargs: Any) -> Any:
        return _Answer(self._http.get(self._out(url), **kwargs), self._back)

    def post(self, url: str, data: Any = None, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            data = {k: self._out(v) if isinstance(v, str) else v for k, v in data.items()}
        return _Answer(self._http.post(self._out(url), data=data, **kwargs), self._back)


@pytest.fixture()
def cohort(world: World) -> World:
    service = world.ctx.get(FhirService)
    for res in (_patient("p1", "ds-1", "female"), _patient("p2", "ds-1", "other"),
                _patient("p3", "ds-2", "male"), _obs("obs-in", "p1", "ds-1"),
                _obs("obs-other", "p1", "ds-2", WEIGHT), _obs("obs-untag", "p1", None),
                _obs("obs-p2", "p2", "ds-1"), _obs("obs-in2", "p1", "ds-1"),
                _obs("obs-cross", "p3", "ds-1")):
        service.update(res["resourceType"], res["id"], res)
    world.grants.add(world.user_sub, "ds-1", HMB)
    world.consent.allowed.update({"p1": {HMB}, "p3": {HMB}})
    world.http = ProjectClient(world.http, world)  # type: ignore[assignment]
    return world


def _token(world: World, scope: str = "openid user/*.rs ga4gh_passport_v1") -> str:
    return world.code_flow(world.public, scope=scope)["access_token"]  # type: ignore[arg-type]


def _get(world: World, url: str, token: str, **headers: str) -> Any:
    resp = world.http.get(url, headers={**bearer(token), **headers})
    assert resp.status_code == 200, (url, resp.json)
    return resp.json


def _ids(bundle: dict[str, Any], mode: str | None = None) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])
            if "resource" in e and e["resource"]["resourceType"] != "OperationOutcome"
            and (mode is None or e.get("search", {}).get("mode") == mode)}


def _decisions(world: World) -> list[Any]:
    return [e for e in world.ctx.get(AuditLog).entries(limit=10_000)
            if e.event == "access.decision"]


def test_type_search_returns_only_permitted_data(cohort: World) -> None:
    token = _token(cohort)
    bundle = _get(cohort, "/fhir/Observation?_total=accurate", token)
    assert _ids(bundle) == {"obs-in", "obs-in2", "obs-cross"}
    assert bundle["total"] == 3
    # Searching for what lies outside the grants finds nothing, and says so exactly.
    bundle = _get(cohort, f"/fhir/Observation?code={WEIGHT}&_total=accurate", token)
    assert _ids(bundle) == set() and bundle["total"] == 0
    count = _get(cohort, "/fhir/Observation?_summary=count", token)
    assert count["total"] == 3
    patients = _get(cohort, "/fhir/Patient", token)
    assert _ids(patients) == {"p1"}
    posted = cohort.http.post("/fhir/Observation/_search", data={"subject": "Patient/p2"},
                              headers=bearer(token))
    assert posted.status_code == 200 and _ids(posted.json) == set()


def test_estimated_totals_are_not_given_to_researchers(cohort: World) -> None:
    bundle = _get(cohort, "/fhir/Observation?_total=estimate&_count=1", _token(cohort))
    assert "total" not in bundle


def test_paging_fills_pages_and_never_repeats_or_skips(cohort: World) -> None:
    token = _token(cohort)
    for url in ("/fhir/Observation?_count=1", "/fhir/Observation?_count=2&_sort=-_id",
                "/fhir?_type=Observation,Patient&_count=1"):
        seen: list[str] = []
        bundle = _get(cohort, url, token)
        pages = 0
        while True:
            pages += 1
            page_ids = [e["resource"]["id"] for e in bundle.get("entry", [])]
            assert page_ids, url  # refused rows do not leave holes: every page is filled
            seen.extend(page_ids)
            nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
            if not nxt:
                break
            bundle = _get(cohort, nxt[0].split("genomseq.test", 1)[-1], token)
        want = {"obs-in", "obs-in2", "obs-cross"} | ({"p1"} if "Patient" in url else set())
        assert sorted(seen) == sorted(want), url
        assert len(seen) == len(set(seen))
    # Back again: the previous page of the last page of ``_count=1``.
    first = _get(cohort, "/fhir/Observation?_count=1&_sort=_id", token)
    second = _get(cohort, next(link["url"] for link in first["link"]
                               if link["relation"] == "next").split("genomseq.test")[-1], token)
    prev = _get(cohort, next(link["url"] for link in second["link"]
                             if link["relation"] == "previous").split("genomseq.test")[-1],
                token)
    assert [e["resource"]["id"] for e in prev["entry"]] == ["obs-cross"]


def test_include_returns_only_permitted_targets(cohort: World) -> None:
    bundle = _get(cohort, "/fhir/Observation?_include=Observation:subject", _token(cohort))
    assert _ids(bundle, "match") == {"obs-in", "obs-in2", "obs-cross"}
    # obs-cross refers to p3 (ds-2): the reference stays, the resource is not included.
    assert _ids(bundle, "include") == {"p1"}
    everything = _get(cohort, "/fhir/Observation?_include=*&_include:iterate=*",
                      _token(cohort))
    assert not _ids(everything) & HIDDEN


def test_revinclude_returns_only_permitted_sources(cohort: World) -> None:
    token = _token(cohort)
    bundle = _get(cohort, "/fhir/Patient?_revinclude=Observation:subject", token)
    assert _ids(bundle, "match") == {"p1"}
    assert _ids(bundle, "include") == {"obs-in", "obs-in2"}
    iterate = _get(cohort, "/fhir/Patient?_revinclude=Observation:subject"
                   "&_include:iterate=Observation:subject", token)
    assert _ids(iterate) == {"p1", "obs-in", "obs-in2"}
    # Compartment searches may include as well, under the same filter.
    comp = _get(cohort, "/fhir/Patient/p1/Observation?_include=Observation:subject", token)
    assert _ids(comp) == {"obs-in", "obs-in2", "p1"}


def test_chained_parameters_do_not_reach_beyond_the_grants(cohort: World) -> None:
    token = _token(cohort)
    assert _ids(_get(cohort, "/fhir/Observation?subject:Patient.gender=female", token)) == {
        "obs-in", "obs-in2"}
    # obs-cross is visible, but its subject p3 is not: a match on p3's gender would tell it.
    assert _ids(_get(cohort, "/fhir/Observation?subject:Patient.gender=male", token)) == set()
    assert _ids(_get(cohort, "/fhir/Patient/p1/Observation?subject.gender=female",
                     token)) == {"obs-in", "obs-in2"}


def test_has_does_not_reach_beyond_the_grants(cohort: World) -> None:
    token = _token(cohort)
    assert _ids(_get(cohort, f"/fhir/Patient?_has:Observation:subject:code={HR}", token)) == {
        "p1"}
    # Only obs-other (ds-2) has this code: p1 must not match through it.
    assert _ids(_get(cohort, f"/fhir/Patient?_has:Observation:subject:code={WEIGHT}",
                     token)) == set()
    comp = _get(cohort, f"/fhir/Patient/p1/Observation?_has:Observation:subject:code={WEIGHT}",
                token)
    assert _ids(comp) == set()


@pytest.mark.parametrize("path", [
    "/fhir/Observation?encounter.status=finished",
    "/fhir/Observation?subject:Patient.general-practitioner.name=Doe",
    "/fhir/Patient?_has:Observation:performer:code=8867-4",
    "/fhir/Patient?_has:Observation:subject:_has:Provenance:target:agent=x",
])
def test_links_beyond_one_patients_data_are_refused(cohort: World, path: str) -> None:
    # Such a link could match on a resource of a patient who did not consent (admit judges
    # only the resources returned), so researchers may chain only through subject/patient.
    resp = cohort.http.get(path, headers=bearer(_token(cohort)))
    assert resp.status_code == 403, (path, resp.json)
    assert resp.json["resourceType"] == "OperationOutcome"
    assert "subject/patient" in resp.json["issue"][0]["diagnostics"]


def test_machine_clients_may_chain_through_any_link(cohort: World) -> None:
    node = cohort.node_token("system/Observation.rs system/Patient.rs").json["access_token"]
    resp = cohort.http.get("/fhir/Patient?_has:Observation:performer:code=8867-4",
                           headers=bearer(node))
    assert resp.status_code == 200, resp.json


def test_everything_returns_only_permitted_entries(cohort: World) -> None:
    token = _token(cohort)
    bundle = _get(cohort, "/fhir/Patient/p1/$everything", token)
    assert _ids(bundle) == {"p1", "obs-in", "obs-in2"}
    # A patient outside the grants answers exactly as one that does not exist.
    hidden = cohort.http.get("/fhir/Patient/p3/$everything", headers=bearer(token))
    unknown = cohort.http.get("/fhir/Patient/p9/$everything", headers=bearer(token))
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json["issue"][0]["diagnostics"].replace("p3", "p9") == \
        unknown.json["issue"][0]["diagnostics"]
    assert cohort.http.get("/fhir/Patient/p2/$everything",
                           headers=bearer(token)).status_code == 404


def test_history_contains_only_permitted_versions(cohort: World) -> None:
    token = _token(cohort)
    service = cohort.ctx.get(FhirService)
    # obs-in2 moves to ds-2: its first version stays visible, its second does not.
    service.update("Observation", "obs-in2", _obs("obs-in2", "p1", "ds-2"))
    typed = _get(cohort, "/fhir/Observation/_history", token)
    assert [(e["resource"]["id"], e["resource"]["meta"]["versionId"])
            for e in typed["entry"]] == [("obs-cross", "1"), ("obs-in2", "1"), ("obs-in", "1")]
    system = _get(cohort, "/fhir/_history?_count=2", token)
    seen = []
    while True:
        seen.extend(e["resource"]["id"] for e in system["entry"])
        nxt = [link["url"] for link in system["link"] if link["relation"] == "next"]
        if not nxt:
            break
        system = _get(cohort, nxt[0].split("genomseq.test")[-1], token)
    assert sorted(seen) == ["obs-cross", "obs-in", "obs-in2", "p1"]
    instance = _get(cohort, "/fhir/Observation/obs-in/_history", token)
    assert len(instance["entry"]) == 1
    for rid in ("obs-other", "obs-p2", "obs-in2", "does-not-exist"):
        resp = cohort.http.get(f"/fhir/Observation/{rid}/_history", headers=bearer(token))
        assert resp.status_code == 404, rid
        assert resp.json["issue"][0]["diagnostics"] == f"Observation/{rid} is not known"


def test_deleted_resources_outside_the_grants_answer_404_not_410(cohort: World) -> None:
    token = _token(cohort)
    service = cohort.ctx.get(FhirService)
    service.delete("Observation", "obs-other")
    service.delete("Observation", "obs-in")
    assert cohort.http.get("/fhir/Observation/obs-other",
                           headers=bearer(token)).status_code == 404
    assert cohort.http.get("/fhir/Observation/obs-other/_history/2",
                           headers=bearer(token)).status_code == 404
    assert cohort.http.get("/fhir/Observation/obs-in", headers=bearer(token)).status_code == 410
    history = _get(cohort, "/fhir/Observation/obs-in/_history", token)
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT"]
    typed = _get(cohort, "/fhir/Observation/_history", token)
    assert {e["fullUrl"].rsplit("/", 1)[-1] for e in typed["entry"]} == {"obs-in", "obs-in2",
                                                                         "obs-cross"}
    assert all("resource" in e for e in typed["entry"])  # no deletions of unknown standing


def test_withdrawn_consent_excludes_the_patients_resources(cohort: World) -> None:
    token = _token(cohort)
    cohort.consent.allowed["p1"] = set()
    bundle = _get(cohort, "/fhir/Observation?_total=accurate&_include=Observation:subject",
                  token)
    assert _ids(bundle) == {"obs-cross"} and bundle["total"] == 1
    assert _ids(_get(cohort, "/fhir/Observation/_history", token)) == {"obs-cross"}
    assert cohort.http.get("/fhir/Patient/p1/$everything",
                           headers=bearer(token)).status_code == 404
    comp = _get(cohort, "/fhir/Patient/p1/Observation?_total=accurate", token)
    assert _ids(comp) == set() and comp["total"] == 0


def test_purpose_must_match_the_grant(cohort: World) -> None:
    token = _token(cohort)
    other = _get(cohort, "/fhir/Observation?_total=accurate", token, **{"X-GA4GH-Purpose": GRU})
    assert _ids(other) == set() and other["total"] == 0
    assert _ids(_get(cohort, "/fhir/_history", token, **{"X-GA4GH-Purpose": GRU})) == set()
    same = _get(cohort, "/fhir/Observation", token, **{"X-GA4GH-Purpose": HMB})
    assert _ids(same) == {"obs-in", "obs-in2", "obs-cross"}
    # The grant's purpose is one p1 did not consent to.
    cohort.consent.allowed["p1"] = {GRU}
    assert _ids(_get(cohort, "/fhir/Observation", token)) == {"obs-cross"}


def test_grant_revocation_empties_searches(cohort: World) -> None:
    token = _token(cohort)
    assert _ids(_get(cohort, "/fhir/Observation", token))
    cohort.grants.revoke(cohort.grants.grants[0])
    assert _ids(_get(cohort, "/fhir/Observation?_include=Observation:subject", token)) == set()
    assert _ids(_get(cohort, "/fhir?_type=Patient,Observation", token)) == set()


def test_scopes_limit_types_in_searches_and_includes(cohort: World) -> None:
    token = _token(cohort, "openid user/Observation.rs ga4gh_passport_v1")
    bundle = _get(cohort, "/fhir/Observation?_include=Observation:subject", token)
    assert _ids(bundle) == {"obs-in", "obs-in2", "obs-cross"}  # no Patient included
    assert _ids(_get(cohort, "/fhir?_type=Patient,Observation", token)) == {
        "obs-in", "obs-in2", "obs-cross"}
    assert cohort.http.get("/fhir/Patient", headers=bearer(token)).status_code == 403
    assert _ids(_get(cohort, "/fhir/Observation?subject:Patient.gender=female",
                     token)) == set()


def test_batches_stay_refused_to_researchers(cohort: World) -> None:
    token = _token(cohort)
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation?code=" + WEIGHT}}]}
    resp = cohort.http.post("/fhir", json=bundle, headers={
        **bearer(token), "Content-Type": "application/fhir+json"})
    assert resp.status_code == 403, resp.json
    assert resp.json["resourceType"] == "OperationOutcome"
    assert "obs-other" not in resp.text


def test_one_audit_entry_per_search_with_counts(cohort: World) -> None:
    token = _token(cohort)
    before = len(_decisions(cohort))
    _get(cohort, "/fhir/Observation?_include=Observation:subject", token)
    entries = _decisions(cohort)[before:]
    assert len(entries) == 1
    details = entries[0].details
    assert entries[0].actor == cohort.user_sub
    assert details["kind"] == "Observation" and details["reason"] == "filtered"
    assert details["datasets"] == ["ds-1"]
    assert details["grants"] == [cohort.grants.grants[0].grant_id]
    assert details["returned"] == 4  # three matches and p1
    # obs-p2 was judged and withheld (consent); p3 (ds-2) never left the database.
    assert details["withheld_by"] == {"consent": 1}
    assert token not in str(details) and "obs-in" not in str(details)


def test_machine_clients_keep_their_semantics(cohort: World) -> None:
    node = cohort.node_token("system/Observation.rs").json["access_token"]
    bundle = _get(cohort, "/fhir/Observation?_total=accurate", node)
    assert bundle["total"] == 6
    resp = cohort.http.get("/fhir?_type=Observation", headers=bearer(node))
    assert resp.status_code == 403
    assert cohort.http.get("/fhir/_history", headers=bearer(node)).status_code == 403
    assert len(_get(cohort, "/fhir/Observation/_history", node)["entry"]) == 6


def test_real_trust_center_is_asked_in_batches_and_fails_closed(cohort: World) -> None:
    from ga4gh.passport.enforcement import ConsentEvaluator, TrustCenterConsent
    from trust_center.core.consent import Purpose

    asked: list[tuple[str, tuple[str, ...], Any]] = []

    class Service:
        def __init__(self, answer: set[str] | None) -> None:
            self.answer = answer

        def permitted(self, domain: str, pseudonyms: list[str], purpose: Any,
                      on: Any) -> frozenset[str]:
            asked.append((domain, tuple(pseudonyms), purpose))
            if self.answer is None:
                raise OSError("trust center unreachable")
            return frozenset(self.answer) & frozenset(pseudonyms)

    token = _token(cohort)
    for answer, want in (({"p1", "p3"}, {"obs-in", "obs-in2", "obs-cross"}),
                         ({"p3"}, {"obs-cross"}), (None, set())):
        asked.clear()
        cohort.ctx.provide(ConsentEvaluator,  # type: ignore[type-abstract]
                           TrustCenterConsent(Service(answer), "kdk:KDKXXX001"))
        assert _ids(_get(cohort, "/fhir/Observation", token)) == want
        # One question per page and purpose, covering the page's patients.
        assert asked == [("kdk:KDKXXX001", ("p1", "p2", "p3"), Purpose.RESEARCH)]
