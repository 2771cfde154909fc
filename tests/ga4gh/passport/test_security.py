"""Security tests of the passport broker, clearinghouse and enforcement (first-class).

Each test builds a real attack with real keys and asserts the exact refusal: HTTP status and
error code at the edge, and the clearinghouse's reason code underneath, so a token refused
for the wrong reason (e.g. "unknown jti" instead of "expired") fails the test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from common.audit import AuditLog
from ga4gh.passport.core import clearinghouse as clearinghouse_module
from ga4gh.passport.core.jose import InvalidToken
from ga4gh.passport.core.visas import (
    CONTROLLED_ACCESS_GRANTS,
    PASSPORT_TOKEN_TYPE,
    RESEARCHER_STATUS,
    dataset_value,
    visa_object,
)
from tests.ga4gh.passport.conftest import (
    GRU,
    HMB,
    ISSUER,
    REDIRECT,
    World,
    bearer,
    query,
)

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JKU = ISSUER + "/passport/jwks"
PLATFORM = ISSUER + "/platform"
RESOURCE = "/test-resource/ds-1/Observation/pat-1"


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def access_claims(world: World, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": world.user_sub, "aud": ISSUER,
              "client_id": world.public.client_id, "scope": "user/*.rs",  # type: ignore[union-attr]
              "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, "gty": "authorization_code"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signed(world: World, claims: dict[str, Any], header: dict[str, Any] | None = None,
           *, record: bool = True) -> str:
    """A token signed with the broker's real ES256 key (and recorded as issued)."""
    keys = world.broker.keys
    header = header if header is not None else {"typ": "at+jwt"}
    # Access tokens are RS256 like the broker's; visas and passports ES256.
    key = keys.es256 if "vnd.ga4gh" in str(header.get("typ")) else keys.rs256
    token = keys.sign(header, claims, key)
    if record and "jti" in claims:
        world.store.record_access_token(claims["jti"], str(claims.get("client_id", "x")),
                                        str(claims.get("sub", "x")), int(claims.get("exp", 0)),
                                        None)
    return token


def signed_claims(world: World) -> dict[str, Any]:
    """Valid access token claims whose jti is recorded as issued."""
    claims = access_claims(world)
    world.store.record_access_token(claims["jti"], "x", "x", claims["exp"], None)
    return claims


def reason(world: World, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        world.clearinghouse.verify_access_token(token)
    return info.value.reason


def refused(world: World, token: str) -> None:
    resp = world.http.get(RESOURCE, headers=bearer(token))
    assert resp.status_code == 401, resp.json
    assert resp.mimetype == "application/problem+json"


def ready(world: World, purpose: str = HMB) -> None:
    """A grant on ds-1 and consent of pat-1 for HMB: the baseline that is allowed."""
    world.grants.add(world.user_sub, "ds-1", purpose)
    world.consent.allowed["pat-1"] = {HMB}


# -- JOSE attacks on access tokens ------------------------------------------------------


def test_baseline_crafted_token_is_accepted(world: World) -> None:
    # Guards the tests below: the helper's token is valid, so each refusal is the attack's.
    ready(world)
    resp = world.http.get(RESOURCE, headers=bearer(signed(world, access_claims(world))))
    assert resp.status_code == 200, resp.json


def test_alg_none(world: World) -> None:
    claims = access_claims(world)
    kid = world.broker.keys.es256.kid
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{b64(claims)}."
    assert reason(world, token) == "alg"
    refused(world, token)


def test_rs256_to_hs256_key_confusion(world: World) -> None:
    rsa = world.broker.keys.rs256
    public_pem = rsa.private_key.public_key().public_bytes(  # type: ignore[union-attr]
        *_pem_public())
    # The classic attack: HMAC-sign with the RSA public key (PEM) as the shared secret.
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': rsa.kid})}." \
                    f"{b64(signed_claims(world))}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(mac)}"
    assert reason(world, token) == "alg"
    refused(world, token)


def _pem_public() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


@pytest.mark.parametrize(("field", "offset", "expected"), [
    ("exp", -3600, "expired"),
    ("nbf", 3600, "not_yet_valid"),
    ("iat", 3600, "iat"),
])
def test_time_claims(world: World, field: str, offset: int, expected: str) -> None:
    now = int(time.time())
    claims = access_claims(world, **{field: now + offset})
    if field == "iat":
        claims["exp"] = now + 3700
    token = signed(world, claims)
    assert reason(world, token) == expected
    refused(world, token)


def test_small_clock_skew_is_tolerated(world: World) -> None:
    ready(world)
    now = int(time.time())
    token = signed(world, access_claims(world, iat=now + 10, nbf=now + 10))
    assert world.http.get(RESOURCE, headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("aud", "https://other-resource.example", "aud"),
    ("aud", None, "claims"),
    ("iss", "https://evil.example", "iss"),
    ("jti", None, "claims"),
])
def test_wrong_audience_and_issuer(world: World, field: str, value: Any, expected: str) -> None:
    token = signed(world, access_claims(world, **{field: value}))
    assert reason(world, token) == expected
    refused(world, token)


@pytest.mark.parametrize("typ", [None, "JWT", "vnd.ga4gh.visa+jwt", "at+jwt+x"])
def test_missing_or_wrong_typ(world: World, typ: str | None) -> None:
    header = {} if typ is None else {"typ": typ}
    token = signed(world, access_claims(world), header)
    assert reason(world, token) == "typ"
    refused(world, token)


def test_visa_used_as_access_token(world: World) -> None:
    ready(world)
    tokens = world.code_flow(world.public)  # type: ignore[arg-type]
    visas = world.http.get("/passport/userinfo",
                           headers=bearer(tokens["access_token"])).json["ga4gh_passport_v1"]
    for visa in visas:
        assert reason(world, visa) == "typ"
        refused(world, visa)


def test_passport_used_as_access_token(world: World) -> None:
    ready(world)
    tokens = world.code_flow(world.confidential)  # type: ignore[arg-type]
    passport = _exchange(world, tokens["access_token"]).json["access_token"]
    assert reason(world, passport) == "typ"
    refused(world, passport)


def test_id_token_used_as_access_token(world: World) -> None:
    tokens = world.code_flow(world.public)  # type: ignore[arg-type]
    assert reason(world, tokens["id_token"]) == "typ"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_unknown_key_with_known_kid(world: World, alg: str) -> None:
    keys = world.broker.keys
    if alg == "RS256":
        attacker: Any = RSAKey.generate_key(2048)
        kid = keys.rs256.kid
    else:
        attacker = ECKey.generate_key("P-256")
        kid = keys.es256.kid
    claims = access_claims(world)
    world.store.record_access_token(claims["jti"], "x", "x", claims["exp"], None)
    token = jwt.encode({"alg": alg, "typ": "at+jwt", "kid": kid}, claims, attacker,
                       algorithms=[alg])
    assert reason(world, token) == "signature"
    refused(world, token)


def test_algorithm_not_matching_the_key(world: World) -> None:
    # An ES256 header naming the RSA key's kid must not be verified with that key.
    attacker = ECKey.generate_key("P-256")
    claims = signed_claims(world)
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": world.broker.keys.rs256.kid},
                       claims, attacker, algorithms=["ES256"])
    assert reason(world, token) == "key"


def test_unknown_kid(world: World) -> None:
    attacker = ECKey.generate_key("P-256")
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "attacker"},
                       access_claims(world), attacker, algorithms=["ES256"])
    assert reason(world, token) == "kid"


def test_tampered_payload(world: World) -> None:
    token = signed(world, access_claims(world, scope="user/Patient.rs"))
    header, _, signature = token.split(".")
    forged = f"{header}.{b64(access_claims(world, scope='user/*.cruds'))}.{signature}"
    assert reason(world, forged) == "signature"
    refused(world, forged)


def test_embedded_jwk_header(world: World) -> None:
    attacker = ECKey.generate_key("P-256", parameters={"kid": "k"})
    header = {"alg": "ES256", "typ": "at+jwt", "kid": "k",
              "jwk": attacker.as_dict(private=False)}
    token = jwt.encode(header, access_claims(world), attacker, algorithms=["ES256"])
    assert reason(world, token) == "header"
    refused(world, token)


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail the test if anything opens a network connection."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.mark.parametrize("member", ["jku", "x5u"])
def test_jku_or_x5u_elsewhere_is_refused_without_fetch(
    world: World, no_network: list[Any], member: str
) -> None:
    attacker = ECKey.generate_key("P-256", parameters={"kid": "evil"})
    header = {"alg": "ES256", "typ": "vnd.ga4gh.visa+jwt", "kid": "evil",
              member: "https://evil.example/jwks.json"}
    now = int(time.time())
    visa = jwt.encode(header, {
        "iss": ISSUER, "sub": world.user_sub, "iat": now, "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "ga4gh_visa_v1": visa_object(CONTROLLED_ACCESS_GRANTS, dataset_value(PLATFORM, "ds-1"),
                                     PLATFORM, "dac", now)}, attacker, algorithms=["ES256"])
    with pytest.raises(InvalidToken) as info:
        world.clearinghouse.verify_visa(visa, subject=world.user_sub)
    assert info.value.reason == ("jku" if member == "jku" else "header")
    # And as an access token header, the same refusal.
    token = jwt.encode({**header, "typ": "at+jwt"}, access_claims(world), attacker,
                       algorithms=["ES256"])
    assert reason(world, token) in ("jku", "header")
    assert no_network == []


def test_trusted_external_issuer_is_fetched_only_from_its_pinned_url(world: World) -> None:
    from ga4gh.passport.core.clearinghouse import Clearinghouse, TrustedIssuer, VisaPolicy
    from ga4gh.passport.storage.jwks import PinnedKeys

    other = ECKey.generate_key("P-256", parameters={"kid": "o1"})
    pinned = "https://broker.other.example/jwks"
    fetched: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return {"keys": [other.as_dict(private=False)]}

    trusted = [TrustedIssuer("https://broker.other.example", (pinned,))]
    house = Clearinghouse(
        own_issuer=ISSUER, audience=ISSUER,
        keys=PinnedKeys(ISSUER, {}, trusted, fetch=fetch), trusted=trusted,
        visa_policies=[VisaPolicy(RESEARCHER_STATUS)])
    now = int(time.time())
    claims = {"iss": "https://broker.other.example", "sub": "s", "iat": now, "exp": now + 60,
              "jti": "j", "ga4gh_visa_v1": visa_object(RESEARCHER_STATUS, "x", "y", "so", now)}
    good = jwt.encode({"alg": "ES256", "typ": "vnd.ga4gh.visa+jwt", "kid": "o1", "jku": pinned},
                      claims, other, algorithms=["ES256"])
    assert house.verify_visa(good, subject="s").type == RESEARCHER_STATUS
    evil = jwt.encode({"alg": "ES256", "typ": "vnd.ga4gh.visa+jwt", "kid": "o1",
                       "jku": "https://broker.other.example/jwks?x=evil"},
                      claims, other, algorithms=["ES256"])
    with pytest.raises(InvalidToken) as info:
        house.verify_visa(evil, subject="s")
    assert info.value.reason == "jku"
    assert fetched == [pinned]


# -- visas and passports ----------------------------------------------------------------


def visa(world: World, *, iss: str = ISSUER, sub: str | None = None, by: str = "dac",
         source: str = PLATFORM, vtype: str = CONTROLLED_ACCESS_GRANTS, exp: int | None = None,
         key: ECKey | None = None, conditions: Any = (), grant_id: str | None = None,
         dataset: str = "ds-1") -> str:
    now = int(time.time())
    value = dataset_value(PLATFORM, dataset) if vtype == CONTROLLED_ACCESS_GRANTS else \
        "https://doi.org/10.1038/s41431-018-0219-y"
    obj = visa_object(vtype, value, source, by, now - 10, conditions)
    if grant_id:
        obj.update({"grant": grant_id, "purpose": HMB})
    claims = {"iss": iss, "sub": sub or world.user_sub, "iat": now,
              "exp": exp if exp is not None else now + 600, "jti": uuid.uuid4().hex,
              "ga4gh_visa_v1": obj}
    header = {"typ": "vnd.ga4gh.visa+jwt", "jku": JKU}
    if key is None:
        return signed(world, claims, header, record=False)
    return jwt.encode({**header, "alg": "ES256", "kid": key.kid}, claims, key,
                      algorithms=["ES256"])


def passport(world: World, visas: list[str], **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": world.user_sub, "aud": ISSUER, "iat": now,
              "exp": now + 600, "jti": uuid.uuid4().hex, "ga4gh_passport_v1": visas}
    claims.update(overrides)
    return signed(world, claims, {"typ": "vnd.ga4gh.passport+jwt", "jku": JKU}, record=False)


def visa_reason(world: World, token: str, subject: str | None = None) -> str:
    with pytest.raises(InvalidToken) as info:
        world.clearinghouse.verify_visa(token, subject=subject or world.user_sub)
    return info.value.reason


def test_visa_baseline_is_accepted(world: World) -> None:
    grant = world.grants.add(world.user_sub, "ds-1")
    world.consent.allowed["pat-1"] = {HMB}
    token = visa(world, grant_id=grant.grant_id)
    assert world.clearinghouse.verify_visa(token, subject=world.user_sub).by == "dac"
    resp = world.http.post("/test-passport/ds-1/pat-1", json={"passport": passport(world, [token])})
    assert resp.status_code == 200, resp.json


def test_visa_from_untrusted_issuer(world: World) -> None:
    attacker = ECKey.generate_key("P-256", parameters={"kid": "a"})
    token = visa(world, iss="https://evil.example", key=attacker)
    assert visa_reason(world, token) == "iss"
    assert world.clearinghouse.verify_passport(passport(world, [token])).visas == ()


def test_visa_signed_by_unknown_key_for_trusted_issuer(world: World) -> None:
    attacker = ECKey.generate_key("P-256", parameters={"kid": world.broker.keys.es256.kid})
    assert visa_reason(world, visa(world, key=attacker)) == "signature"


def test_expired_visa(world: World) -> None:
    assert visa_reason(world, visa(world, exp=int(time.time()) - 3600)) == "expired"


def test_visa_for_another_subject(world: World) -> None:
    token = visa(world, sub="someone-else")
    assert visa_reason(world, token) == "sub"
    # Inside a passport for our user it is dropped, so it grants nothing.
    grant = world.grants.add("someone-else", "ds-1")
    token = visa(world, sub="someone-else", grant_id=grant.grant_id)
    world.consent.allowed["pat-1"] = {HMB}
    resp = world.http.post("/test-passport/ds-1/pat-1", json={"passport": passport(world, [token])})
    assert resp.status_code == 404


@pytest.mark.parametrize("by", ["self", "peer", "so", "system"])
def test_controlled_access_visa_not_by_dac(world: World, by: str) -> None:
    assert visa_reason(world, visa(world, by=by)) == "visa_policy"


def test_controlled_access_visa_from_untrusted_source(world: World) -> None:
    assert visa_reason(world, visa(world, source="https://rogue-dac.example")) == "visa_policy"


def test_unmet_conditions_drop_the_visa(world: World) -> None:
    grant = world.grants.add(world.user_sub, "ds-1")
    world.consent.allowed["pat-1"] = {HMB}
    needs_bona_fide = [[{"type": RESEARCHER_STATUS, "value": "const:https://doi.org/10.1038/s41431-018-0219-y",
                         "source": f"const:{ISSUER}", "by": "const:so"}]]
    conditional = visa(world, grant_id=grant.grant_id, conditions=needs_bona_fide)
    alone = world.clearinghouse.verify_passport(passport(world, [conditional]))
    assert alone.controlled_access() == ()
    resp = world.http.post("/test-passport/ds-1/pat-1",
                           json={"passport": passport(world, [conditional])})
    assert resp.status_code == 404
    # With a matching ResearcherStatus visa the condition holds.
    status = visa(world, vtype=RESEARCHER_STATUS, source=ISSUER, by="so")
    both = world.clearinghouse.verify_passport(passport(world, [conditional, status]))
    assert len(both.controlled_access()) == 1
    resp = world.http.post("/test-passport/ds-1/pat-1",
                           json={"passport": passport(world, [conditional, status])})
    assert resp.status_code == 200


def test_pattern_condition_with_wrong_source_is_unmet(world: World) -> None:
    cond = [[{"type": RESEARCHER_STATUS, "value": "pattern:https://doi.org/*",
              "source": "const:https://elsewhere.example"}]]
    conditional = visa(world, conditions=cond)
    status = visa(world, vtype=RESEARCHER_STATUS, source=ISSUER, by="so")
    checked = world.clearinghouse.verify_passport(passport(world, [conditional, status]))
    assert checked.controlled_access() == ()


def test_passport_lifetime_over_one_hour_is_refused(world: World) -> None:
    now = int(time.time())
    token = passport(world, [], iat=now, exp=now + 3601 + 60)
    with pytest.raises(InvalidToken) as info:
        world.clearinghouse.verify_passport(token)
    assert info.value.reason == "lifetime"


def test_passport_for_another_audience(world: World) -> None:
    with pytest.raises(InvalidToken) as info:
        world.clearinghouse.verify_passport(passport(world, [], aud="https://elsewhere.example"))
    assert info.value.reason == "aud"


def test_oversized_passport_is_refused_before_any_crypto(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        raise AssertionError("signature verification ran on an oversized passport")

    monkeypatch.setattr(clearinghouse_module, "verify_signature", spy)
    limit = world.clearinghouse.limits.max_passport_bytes
    big = passport(world, ["x" * 1000] * (limit // 1000 + 1))
    with pytest.raises(InvalidToken) as info:
        world.clearinghouse.verify_passport(big)
    assert info.value.reason == "too_large"
    too_many = passport(world, ["a.b.c"] * (world.clearinghouse.limits.max_visas + 1))
    with pytest.raises(InvalidToken) as info:
        world.clearinghouse.verify_passport(too_many)
    assert info.value.reason == "too_large"
    assert calls == []
    # Oversized bearer tokens are refused the same way.
    refused(world, "a" * (world.clearinghouse.limits.max_token_bytes + 1))


# -- token exchange ---------------------------------------------------------------------


def _exchange(world: World, subject_token: str, client: Any = None, **overrides: str) -> Any:
    form = {"grant_type": EXCHANGE, "subject_token": subject_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "requested_token_type": PASSPORT_TOKEN_TYPE}
    form.update(overrides)
    if client is False:
        return world.http.post("/passport/token", data=form)
    return world.token(form, client or world.confidential)


def test_token_exchange_without_client_authentication(world: World) -> None:
    tokens = world.code_flow(world.confidential)  # type: ignore[arg-type]
    resp = _exchange(world, tokens["access_token"], client=False)
    assert resp.status_code == 401
    assert resp.json["error"] == "invalid_client"
    # A public client cannot use token exchange at all.
    resp = _exchange(world, tokens["access_token"], client=world.public)
    assert resp.status_code in (400, 401)
    assert resp.json["error"] in ("invalid_client", "unauthorized_client")


def test_token_exchange_with_wrong_requested_type(world: World) -> None:
    tokens = world.code_flow(world.confidential)  # type: ignore[arg-type]
    resp = _exchange(world, tokens["access_token"],
                     requested_token_type="urn:ietf:params:oauth:token-type:access_token")
    assert resp.status_code == 400
    assert resp.json["error"] == "invalid_request"


def test_token_exchange_with_garbage_subject_token(world: World) -> None:
    for garbage in ("garbage", "a.b.c", "x" * 100_000):
        resp = _exchange(world, garbage)
        assert resp.status_code == 400
        assert resp.json["error"] == "invalid_request"


def test_token_exchange_of_another_clients_token(world: World) -> None:
    tokens = world.code_flow(world.public)  # type: ignore[arg-type]
    resp = _exchange(world, tokens["access_token"])
    assert resp.status_code == 400
    assert resp.json["error"] == "invalid_grant"


def test_token_exchange_of_a_passport_is_refused(world: World) -> None:
    tokens = world.code_flow(world.confidential)  # type: ignore[arg-type]
    first = _exchange(world, tokens["access_token"]).json["access_token"]
    resp = _exchange(world, first)
    assert resp.status_code == 400
    assert resp.json["error"] == "invalid_request"


# -- authorization code and PKCE --------------------------------------------------------


def test_pkce_plain_is_refused(world: World) -> None:
    resp, _ = world.authorize(world.public.client_id, method="plain", challenge="p" * 43)  # type: ignore[union-attr]
    assert resp.status_code == 302
    params = query(resp)
    assert params["error"] == "invalid_request"
    assert params["iss"] == ISSUER
    assert "code" not in params


def test_pkce_missing_challenge_is_refused(world: World) -> None:
    resp, _ = world.authorize(world.public.client_id, method=None)  # type: ignore[union-attr]
    assert resp.status_code == 302
    assert query(resp)["error"] == "invalid_request"


def test_pkce_wrong_verifier(world: World) -> None:
    resp, _ = world.authorize(world.public.client_id)  # type: ignore[union-attr]
    code = query(resp)["code"]
    tok = world.token({"grant_type": "authorization_code", "code": code,
                       "redirect_uri": REDIRECT, "code_verifier": "w" * 50}, world.public)
    assert tok.status_code == 400
    assert tok.json["error"] == "invalid_grant"
    missing = world.token({"grant_type": "authorization_code", "code": code,
                           "redirect_uri": REDIRECT}, world.public)
    assert missing.status_code == 400
    assert missing.json["error"] == "invalid_request"


def test_code_reuse_is_refused_and_revokes_issued_tokens(world: World) -> None:
    ready(world)
    resp, verifier = world.authorize(world.public.client_id)  # type: ignore[union-attr]
    form = {"grant_type": "authorization_code", "code": query(resp)["code"],
            "redirect_uri": REDIRECT, "code_verifier": verifier}
    first = world.token(form, world.public)
    assert first.status_code == 200
    assert world.http.get(RESOURCE, headers=bearer(first.json["access_token"])).status_code == 200
    second = world.token(form, world.public)
    assert second.status_code == 400
    assert second.json["error"] == "invalid_grant"
    refused(world, first.json["access_token"])
    again = world.token({"grant_type": "refresh_token",
                         "refresh_token": first.json["refresh_token"]}, world.public)
    assert again.status_code == 400


def test_code_of_another_client_is_refused(world: World) -> None:
    resp, verifier = world.authorize(world.public.client_id)  # type: ignore[union-attr]
    tok = world.token({"grant_type": "authorization_code", "code": query(resp)["code"],
                       "redirect_uri": REDIRECT, "code_verifier": verifier}, world.confidential)
    assert tok.status_code == 400
    assert tok.json["error"] == "invalid_grant"


@pytest.mark.parametrize("uri", ["https://evil.example/callback",
                                 "https://app.example/callback/../evil",
                                 "https://app.example/callbackx"])
def test_unregistered_redirect_uri_is_never_redirected_to(world: World, uri: str) -> None:
    resp, _ = world.authorize(world.public.client_id, redirect_uri=uri)  # type: ignore[union-attr]
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert resp.mimetype == "text/html"


def test_unknown_client_is_not_redirected(world: World) -> None:
    resp, _ = world.authorize("gs-unknown")
    assert resp.status_code == 400
    assert "Location" not in resp.headers


def test_forged_login_post_without_form_token(world: World) -> None:
    resp = world.http.post("/passport/authorize", data={
        "response_type": "code", "client_id": world.public.client_id,  # type: ignore[union-attr]
        "redirect_uri": REDIRECT, "scope": "openid", "code_challenge": "c" * 43,
        "code_challenge_method": "S256", "username": "ada",
        "password": "correct horse battery staple"})
    assert resp.status_code == 400
    assert "Location" not in resp.headers


# -- scopes -----------------------------------------------------------------------------


def test_scope_escalation_client_credentials(world: World) -> None:
    for scope in ("system/*.cruds", "system/Patient.cruds", "user/*.rs", "admin",
                  "system/Observation.cruds system/Condition.rs"):
        resp = world.node_token(scope)
        assert resp.status_code == 400, scope
        assert resp.json["error"] == "invalid_scope"


def test_scope_escalation_authorization_code(world: World) -> None:
    resp, _ = world.authorize(world.public.client_id, scope="openid user/*.cruds")  # type: ignore[union-attr]
    assert resp.status_code == 302
    assert query(resp)["error"] == "invalid_scope"


def test_scope_escalation_on_refresh(world: World) -> None:
    tokens = world.code_flow(world.public, scope="openid user/Observation.rs")  # type: ignore[arg-type]
    resp = world.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                        "scope": "openid user/*.rs"}, world.public)
    assert resp.status_code == 400
    assert resp.json["error"] == "invalid_scope"


def test_scopes_limit_the_resource_server(world: World) -> None:
    ready(world)
    token = signed(world, access_claims(world, scope="user/Patient.rs"))
    resp = world.http.get(RESOURCE, headers=bearer(token))
    assert resp.status_code == 403
    # v1 syntax is understood as well.
    token = signed(world, access_claims(world, scope="user/Observation.read"))
    assert world.http.get(RESOURCE, headers=bearer(token)).status_code == 200
    # A read scope does not allow a create.
    node = world.node_token("system/Patient.rs").json["access_token"]
    assert world.http.post("/test-resource/ds-1/Observation",
                           headers=bearer(node)).status_code == 403


# -- refresh rotation, client assertions, revocation ------------------------------------


def test_refresh_token_reuse_after_rotation_revokes_the_family(world: World) -> None:
    ready(world)
    first = world.code_flow(world.public)  # type: ignore[arg-type]
    rotated = world.token({"grant_type": "refresh_token",
                           "refresh_token": first["refresh_token"]}, world.public)
    assert rotated.status_code == 200
    replay = world.token({"grant_type": "refresh_token",
                          "refresh_token": first["refresh_token"]}, world.public)
    assert replay.status_code == 400
    assert replay.json["error"] == "invalid_grant"
    # The legitimate successor is dead too, and so are the family's access tokens.
    successor = world.token({"grant_type": "refresh_token",
                             "refresh_token": rotated.json["refresh_token"]}, world.public)
    assert successor.status_code == 400
    refused(world, rotated.json["access_token"])
    refused(world, first["access_token"])


def test_private_key_jwt_replay(world: World) -> None:
    assertion = world.assertion()
    form = {"grant_type": "client_credentials", "scope": "system/Observation.rs",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    assert world.http.post("/passport/token", data=form).status_code == 200
    replay = world.http.post("/passport/token", data=form)
    assert replay.status_code == 401
    assert replay.json["error"] == "invalid_client"


@pytest.mark.parametrize("attack", ["wrong_key", "wrong_aud", "hs256", "alg_none"])
def test_private_key_jwt_forgeries(world: World, attack: str) -> None:
    now = int(time.time())
    claims = {"iss": world.node.client_id, "sub": world.node.client_id,  # type: ignore[union-attr]
              "aud": ISSUER + "/passport/token", "iat": now, "exp": now + 60,
              "jti": uuid.uuid4().hex}
    if attack == "wrong_key":
        assertion = world.assertion(key=ECKey.generate_key("P-256",
                                                           parameters={"kid": "node-key-1"}))
    elif attack == "wrong_aud":
        assertion = world.assertion(aud="https://other.example/token")
    elif attack == "hs256":
        assertion = jwt.encode({"alg": "HS256", "kid": "node-key-1"}, claims,
                               OctKey.import_key(b"k" * 32), algorithms=["HS256"])
    else:
        assertion = f"{b64({'alg': 'none', 'kid': 'node-key-1'})}.{b64(claims)}."
    resp = world.http.post("/passport/token", data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})
    assert resp.status_code == 401
    assert resp.json["error"] == "invalid_client"


def test_private_key_jwt_rs384_is_accepted(world: World) -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    creds = world.store.register_client("GRZ-XYZ", "genome-data-center",
                                        jwks={"keys": [rsa.as_dict(private=False)]},
                                        scopes=["system/*.rs"])
    now = int(time.time())
    assertion = jwt.encode({"alg": "RS384", "kid": "rsa-1", "typ": "JWT"},
                           {"iss": creds.client_id, "sub": creds.client_id,
                            "aud": ISSUER + "/passport/token", "iat": now, "exp": now + 60,
                            "jti": uuid.uuid4().hex}, rsa, algorithms=["RS384"])
    resp = world.http.post("/passport/token", data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})
    assert resp.status_code == 200, resp.json


def test_revoked_token(world: World) -> None:
    ready(world)
    token = world.node_token().json["access_token"]
    resp = world.http.post("/passport/revoke", data={
        "token": token,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": world.assertion()})
    assert resp.status_code == 200
    created = world.http.post("/test-resource/ds-1/Observation", headers=bearer(token))
    assert created.status_code == 401


def test_revoking_another_clients_token_is_refused(world: World) -> None:
    ready(world)
    tokens = world.code_flow(world.public)  # type: ignore[arg-type]
    resp = world.http.post("/passport/revoke", data={"token": tokens["access_token"]},
                           headers={"Authorization": "Basic " + base64.b64encode(
                               f"{world.confidential.client_id}:"  # type: ignore[union-attr]
                               f"{world.confidential.client_secret}".encode()).decode()})  # type: ignore[union-attr]
    assert resp.status_code == 400
    assert world.http.get(RESOURCE, headers=bearer(tokens["access_token"])).status_code == 200


# -- enforcement: grants, consent, purpose ----------------------------------------------


def _user_token(world: World) -> str:
    return signed(world, access_claims(world))


def test_no_grant_answers_404_not_403(world: World) -> None:
    world.consent.allowed["pat-1"] = {HMB}
    world.grants.add(world.user_sub, "ds-2")
    resp = world.http.get(RESOURCE, headers=bearer(_user_token(world)))
    assert resp.status_code == 404


def test_grant_revoked_after_the_passport_was_issued(world: World) -> None:
    grant = world.grants.add(world.user_sub, "ds-1")
    world.consent.allowed["pat-1"] = {HMB}
    tokens = world.code_flow(world.confidential)  # type: ignore[arg-type]
    issued = _exchange(world, tokens["access_token"]).json["access_token"]
    assert world.http.post("/test-passport/ds-1/pat-1",
                           json={"passport": issued}).status_code == 200
    assert world.http.get(RESOURCE, headers=bearer(tokens["access_token"])).status_code == 200
    world.grants.revoke(grant)
    assert world.http.post("/test-passport/ds-1/pat-1",
                           json={"passport": issued}).status_code == 404
    assert world.http.get(RESOURCE, headers=bearer(tokens["access_token"])).status_code == 404


def test_consent_withdrawn(world: World) -> None:
    ready(world)
    token = _user_token(world)
    assert world.http.get(RESOURCE, headers=bearer(token)).status_code == 200
    world.consent.allowed["pat-1"] = set()
    assert world.http.get(RESOURCE, headers=bearer(token)).status_code == 404


def test_consent_unavailable_fails_closed(world: World) -> None:
    from ga4gh.passport.enforcement import ConsentEvaluator
    from trust_center.ports import ConsentService

    ready(world)
    saved = world.ctx.find(ConsentService)  # type: ignore[type-abstract]
    world.ctx._services.pop(ConsentEvaluator)
    world.ctx._services.pop(ConsentService, None)
    try:
        assert world.http.get(RESOURCE, headers=bearer(_user_token(world))).status_code == 404
        entry = world.ctx.get(AuditLog).entries(limit=1000)[-1]
        assert entry.details["reason"] == "consent-unavailable"
    finally:
        if saved is not None:
            world.ctx.provide(ConsentService, saved)  # type: ignore[type-abstract]


def test_trust_center_consent_is_asked_for_research_use(world: World) -> None:
    from ga4gh.passport.enforcement import ConsentEvaluator
    from trust_center.core.consent import ConsentDecision, Purpose

    asked: list[tuple[Any, ...]] = []

    class Service:
        def __init__(self, answer: bool | None) -> None:
            self.answer = answer

        def may_use(self, domain: str, pseudonym: str, purpose: Any, on: Any) -> Any:
            asked.append((domain, pseudonym, purpose))
            if self.answer is None:
                raise OSError("trust center unreachable")
            return ConsentDecision(self.answer, "test")

    from ga4gh.passport.enforcement import TrustCenterConsent

    world.ctx._services.pop(ConsentEvaluator)
    ready(world)
    token = _user_token(world)
    for answer, status in ((True, 200), (False, 404), (None, 404)):
        world.ctx.provide(ConsentEvaluator, TrustCenterConsent(Service(answer), "kdk:KDKXXX001"))  # type: ignore[type-abstract]
        assert world.http.get(RESOURCE, headers=bearer(token)).status_code == status
    assert asked[0] == ("kdk:KDKXXX001", "pat-1", Purpose.RESEARCH)


def test_real_trust_center_denies_unknown_pseudonym(world: World) -> None:
    from ga4gh.passport.enforcement import ConsentEvaluator

    ready(world)
    world.ctx._services.pop(ConsentEvaluator)
    assert world.http.get(RESOURCE, headers=bearer(_user_token(world))).status_code == 404
    entry = world.ctx.get(AuditLog).entries(limit=1000)[-1]
    assert entry.details["reason"] == "consent"


def test_purpose_mismatch(world: World) -> None:
    ready(world)
    token = _user_token(world)
    # The caller declares a purpose its grant was not approved for.
    resp = world.http.get(RESOURCE, headers={**bearer(token), "X-GA4GH-Purpose": GRU})
    assert resp.status_code == 404
    ok = world.http.get(RESOURCE, headers={**bearer(token), "X-GA4GH-Purpose": HMB})
    assert ok.status_code == 200
    # The grant's purpose is one the patient did not consent to.
    world.consent.allowed["pat-1"] = {GRU}
    assert world.http.get(RESOURCE, headers=bearer(token)).status_code == 404


def test_every_decision_is_audited(world: World) -> None:
    ready(world)
    token = _user_token(world)
    world.http.get(RESOURCE, headers=bearer(token))
    world.http.get("/test-resource/ds-9/Observation/pat-1", headers=bearer(token))
    entries = [e for e in world.ctx.get(AuditLog).entries(limit=1000)
               if e.event == "access.decision"]
    outcomes = [(e.details["dataset"], e.details["outcome"]) for e in entries[-2:]]
    assert outcomes == [("ds-1", "allow"), ("ds-9", "not_found")]
    assert all(e.actor == world.user_sub for e in entries[-2:])
    assert token not in json.dumps([e.details for e in entries])
