"""GA4GH DRS 1.4 PassportAuth: OPTIONS Authorizations, POST /objects/{id} and POST
/objects/{id}/access/{access_id} with passports, verified by the clearinghouse and enforced
like any broker token (grant visa on the dataset + donor consent, 404 outside, audited)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from common.audit import AuditLog
from ga4gh.catalogue.ports import GenomicCatalogue
from ga4gh.passport.core.visas import RESEARCHER_STATUS
from ga4gh.passport.enforcement import Enforcer
from tests.ga4gh.genomic_data import GenomicFiles
from tests.ga4gh.passport.conftest import HMB, ISSUER, World, bearer
from tests.ga4gh.passport.test_security import passport, visa

DRS = "/ga4gh/drs/v1"


@pytest.fixture()
def objects(world: World, genomic_files: GenomicFiles) -> Iterator[bytes]:
    catalogue = world.ctx.get(GenomicCatalogue)  # type: ignore[type-abstract]
    catalogue.add("reads-ds1", genomic_files.bam, dataset="ds-1", donor_pseudonym="d1")
    catalogue.add("reads-ds2", genomic_files.bam, dataset="ds-2", donor_pseudonym="d1")
    catalogue.add("reads-d2", genomic_files.cram, dataset="ds-1", donor_pseudonym="d2")
    yield genomic_files.bam.read_bytes()
    for object_id in ("reads-ds1", "reads-ds2", "reads-d2"):
        catalogue.remove(object_id)


def _granted(world: World) -> str:
    """A valid passport whose grant visa covers ds-1 (donor d1 consented)."""
    grant = world.grants.add(world.user_sub, "ds-1", HMB)
    world.consent.allowed["d1"] = {HMB}
    return passport(world, [visa(world, grant_id=grant.grant_id)])


def _error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.data)
    assert resp.mimetype == "application/json"
    body: dict[str, Any] = resp.get_json()
    assert body["status_code"] == status and isinstance(body["msg"], str) and body["msg"]
    return body


def _decisions(world: World) -> list[Any]:
    world.ctx.get(Enforcer).flush()
    return [e for e in world.ctx.get(AuditLog).entries(limit=10_000)
            if e.event == "access.decision"]


EXPECTED_AUTH = {"supported_types": ["PassportAuth", "BearerAuth"],
                 "passport_auth_issuers": [ISSUER], "bearer_auth_issuers": [ISSUER]}


def test_options_answers_authorizations_without_authentication(
    world: World, objects: bytes
) -> None:
    resp = world.http.options(f"{DRS}/objects/reads-ds1")
    assert resp.status_code == 200, resp.data
    assert resp.get_json() == {"drs_object_id": "reads-ds1", **EXPECTED_AUTH}
    access = world.http.options(f"{DRS}/objects/reads-ds1/access/https")
    assert access.status_code == 200
    assert access.get_json() == {"drs_object_id": "reads-ds1", **EXPECTED_AUTH}
    # The same answer for ids that do not exist or lie outside any grant: no existence leak.
    unknown = world.http.options(f"{DRS}/objects/nope")
    assert unknown.status_code == 200
    assert unknown.get_json() == {"drs_object_id": "nope", **EXPECTED_AUTH}
    bulk = world.http.options(f"{DRS}/objects", json={"bulk_object_ids": ["reads-ds1", "x"]})
    assert bulk.status_code == 200
    assert [o["drs_object_id"] for o in bulk.get_json()["resolved_drs_object"]] == [
        "reads-ds1", "x"]
    _error(world.http.options(f"{DRS}/objects", json={"bulk_object_ids": []}), 400)


def test_access_methods_carry_authorizations(world: World, objects: bytes) -> None:
    world.grants.add(world.user_sub, "ds-1", HMB)
    world.consent.allowed["d1"] = {HMB}
    token = world.code_flow(world.public)["access_token"]  # type: ignore[arg-type]
    doc = world.http.get(f"{DRS}/objects/reads-ds1", headers=bearer(token)).get_json()
    methods = {m["type"]: m for m in doc["access_methods"]}
    assert methods["https"]["authorizations"] == {"drs_object_id": "reads-ds1", **EXPECTED_AUTH}
    # htsget takes bearer tokens only (a GET API: no body for passports).
    assert methods["htsget"]["authorizations"] == {
        "drs_object_id": "reads-ds1", "supported_types": ["BearerAuth"],
        "bearer_auth_issuers": [ISSUER]}


def test_post_object_and_access_with_a_valid_passport(world: World, objects: bytes) -> None:
    token = _granted(world)
    resp = world.http.post(f"{DRS}/objects/reads-ds1",
                           json={"expand": False, "passports": [token]})
    assert resp.status_code == 200, resp.data
    doc = resp.get_json()
    assert doc["id"] == "reads-ds1" and doc["size"] == len(objects)
    assert "authorizations" in doc["access_methods"][0]
    assert world.http.post(f"{DRS}/objects/reads-ds1",
                           json={"expand": True, "passports": [token]}).status_code == 200
    access = world.http.post(f"{DRS}/objects/reads-ds1/access/https",
                             json={"passports": [token]})
    assert access.status_code == 200, access.data
    url = urlsplit(access.get_json()["url"])
    data = world.http.get(f"{url.path}?{url.query}")
    assert data.status_code == 200 and data.data == objects
    last = _decisions(world)[-1]
    assert last.details["kind"] == "genomics" and last.details["outcome"] == "allow"
    assert last.details["dataset"] == "ds-1"
    assert last.actor == world.user_sub


def test_post_without_passports_uses_the_bearer_token(world: World, objects: bytes) -> None:
    world.grants.add(world.user_sub, "ds-1", HMB)
    world.consent.allowed["d1"] = {HMB}
    token = world.code_flow(world.public)["access_token"]  # type: ignore[arg-type]
    ok = world.http.post(f"{DRS}/objects/reads-ds1", json={}, headers=bearer(token))
    assert ok.status_code == 200, ok.data
    ok = world.http.post(f"{DRS}/objects/reads-ds1/access/https", json={"passports": []},
                         headers=bearer(token))
    assert ok.status_code == 200
    _error(world.http.post(f"{DRS}/objects/reads-ds1", json={}), 401)


def test_outside_the_grant_or_consent_is_not_found(world: World, objects: bytes) -> None:
    token = _granted(world)
    before = len(_decisions(world))
    for object_id in ("reads-ds2", "reads-d2", "nope"):  # other dataset, no consent, unknown
        _error(world.http.post(f"{DRS}/objects/{object_id}", json={"passports": [token]}), 404)
        _error(world.http.post(f"{DRS}/objects/{object_id}/access/https",
                               json={"passports": [token]}), 404)
    refusals = _decisions(world)[before:]
    assert [d.details["outcome"] for d in refusals] == ["not_found"] * 4
    assert {d.details["reason"] for d in refusals} == {"no-grant", "consent"}


def test_passport_without_grant_visa_or_with_revoked_grant(world: World, objects: bytes) -> None:
    world.consent.allowed["d1"] = {HMB}
    status_only = passport(world, [visa(world, vtype=RESEARCHER_STATUS, source=ISSUER,
                                        by="so")])
    _error(world.http.post(f"{DRS}/objects/reads-ds1", json={"passports": [status_only]}),
           404)
    token = _granted(world)
    assert world.http.post(f"{DRS}/objects/reads-ds1",
                           json={"passports": [token]}).status_code == 200
    world.grants.revoke(world.grants.grants[0])
    _error(world.http.post(f"{DRS}/objects/reads-ds1/access/https",
                           json={"passports": [token]}), 404)


def test_visa_for_another_subject_grants_nothing(world: World, objects: bytes) -> None:
    grant = world.grants.add("someone-else", "ds-1", HMB)
    world.consent.allowed["d1"] = {HMB}
    token = passport(world, [visa(world, sub="someone-else", grant_id=grant.grant_id)])
    _error(world.http.post(f"{DRS}/objects/reads-ds1", json={"passports": [token]}), 404)


def test_invalid_passports_are_401(world: World, objects: bytes) -> None:
    valid = _granted(world)
    now = int(time.time())
    grant_visa = visa(world, grant_id=world.grants.grants[0].grant_id)
    expired = passport(world, [grant_visa], iat=now - 1200, exp=now - 600)
    other_aud = passport(world, [grant_visa], aud="https://elsewhere.example")
    other_sub = passport(world, [grant_visa], sub="someone-else")
    attacker = ECKey.generate_key("P-256", parameters={"kid": "evil"})
    untrusted = jwt.encode(
        {"alg": "ES256", "kid": "evil", "typ": "vnd.ga4gh.passport+jwt",
         "jku": "https://evil.example/jwks"},
        {"iss": "https://evil.example", "sub": world.user_sub, "aud": ISSUER, "iat": now,
         "exp": now + 600, "jti": uuid.uuid4().hex, "ga4gh_passport_v1": [grant_visa]},
        attacker, algorithms=["ES256"])
    forged = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
    access_token = world.code_flow(world.public)["access_token"]  # type: ignore[arg-type]
    for bad in (expired, other_aud, untrusted, forged, "not-a-jwt", access_token):
        for path in ("/objects/reads-ds1", "/objects/reads-ds1/access/https"):
            body = _error(world.http.post(DRS + path, json={"passports": [bad]}), 401)
            assert "passport refused" in body["msg"]
    # One bad passport spoils the request; passports of different subjects are not merged.
    _error(world.http.post(f"{DRS}/objects/reads-ds1", json={"passports": [valid, expired]}),
           401)
    _error(world.http.post(f"{DRS}/objects/reads-ds1",
                           json={"passports": [valid, other_sub]}), 401)
    # A bearer header does not rescue a bad passport.
    _error(world.http.post(f"{DRS}/objects/reads-ds1", json={"passports": [expired]},
                           headers=bearer(access_token)), 401)


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'"passports"', b'{"passports": "eyJ"}', b'{"passports": [1]}',
    b'{"passports": [""]}', b'{"passports": null}', b'{"expand": "yes", "passports": []}',
])
def test_malformed_bodies_are_400(world: World, objects: bytes, body: bytes) -> None:
    resp = world.http.post(f"{DRS}/objects/reads-ds1", data=body,
                           content_type="application/json")
    _error(resp, 400)


def test_oversized_bodies_are_413(world: World, objects: bytes) -> None:
    token = _granted(world)
    _error(world.http.post(f"{DRS}/objects/reads-ds1", json={"passports": [token] * 11}), 413)
    limit = world.clearinghouse.limits.max_passport_bytes
    huge = "x" * (limit + 1)
    _error(world.http.post(f"{DRS}/objects/reads-ds1/access/https",
                           json={"passports": [huge]}), 413)
    _error(world.http.post(f"{DRS}/objects/reads-ds1",
                           data=b'{"passports": ["' + b"x" * (12 * limit) + b'"]}',
                           content_type="application/json"), 413)


def test_wrong_access_id_and_method(world: World, objects: bytes) -> None:
    token = _granted(world)
    _error(world.http.post(f"{DRS}/objects/reads-ds1/access/s3", json={"passports": [token]}),
           404)
    _error(world.http.put(f"{DRS}/objects/reads-ds1", json={"passports": [token]}), 405)
