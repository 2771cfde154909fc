"""The broker's flows end to end: discovery, code + PKCE, refresh, client credentials with
private_key_jwt, userinfo with visas, token exchange for a passport, revocation."""

from __future__ import annotations

import time

from ga4gh.passport.core.jose import split_compact
from ga4gh.passport.core.visas import CONTROLLED_ACCESS_GRANTS, PASSPORT_TOKEN_TYPE
from tests.ga4gh.passport.conftest import ISSUER, World, bearer, query

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def exchange(world: World, access_token: str, client: object | None = None) -> object:
    return world.token({
        "grant_type": EXCHANGE,
        "subject_token": access_token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "requested_token_type": PASSPORT_TOKEN_TYPE,
    }, client or world.confidential)  # type: ignore[arg-type]


def test_discovery_documents(world: World) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        resp = world.http.get(path)
        assert resp.status_code == 200
        doc = resp.json
        assert doc["issuer"] == ISSUER
        assert doc["token_endpoint"] == ISSUER + "/passport/token"
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert doc["authorization_response_iss_parameter_supported"] is True
        assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
        assert EXCHANGE in doc["grant_types_supported"]


def test_jwks_publishes_public_keys_only(world: World) -> None:
    resp = world.http.get("/passport/jwks")
    assert resp.status_code == 200
    assert resp.mimetype == "application/jwk-set+json"
    keys = resp.json["keys"]
    assert {k["alg"] for k in keys} == {"ES256", "RS256"}
    assert all("d" not in k and "p" not in k for k in keys)


def test_login_form_works_without_javascript(world: World) -> None:
    resp = world.http.get("/passport/authorize", query_string={
        "response_type": "code", "client_id": world.public.client_id,  # type: ignore[union-attr]
        "redirect_uri": "https://app.example/callback", "code_challenge": "x" * 43,
        "code_challenge_method": "S256", "scope": "openid"})
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    assert "<script" not in resp.text
    assert "<form method='post'" in resp.text
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


def test_wrong_password_is_refused_without_redirect(world: World) -> None:
    page = world.http.get("/passport/authorize", query_string={
        "response_type": "code", "client_id": world.public.client_id,  # type: ignore[union-attr]
        "redirect_uri": "https://app.example/callback", "code_challenge": "x" * 43,
        "code_challenge_method": "S256", "scope": "openid", "state": "s"})
    import re

    form_token = re.search(r"name='form_token' value='([^']+)'", page.text).group(1)  # type: ignore[union-attr]
    resp = world.http.post("/passport/authorize", data={
        "response_type": "code", "client_id": world.public.client_id,  # type: ignore[union-attr]
        "redirect_uri": "https://app.example/callback", "code_challenge": "x" * 43,
        "code_challenge_method": "S256", "scope": "openid", "state": "s",
        "form_token": form_token, "username": "ada", "password": "wrong password!"})
    assert resp.status_code == 401
    assert "Location" not in resp.headers


def test_code_flow_with_pkce_issues_tokens_and_iss(world: World) -> None:
    resp, verifier = world.authorize(world.public.client_id)  # type: ignore[union-attr]
    assert resp.status_code == 302
    params = query(resp)
    assert params["iss"] == ISSUER  # RFC 9207
    assert params["state"] == "st-1"
    tok = world.token({"grant_type": "authorization_code", "code": params["code"],
                       "redirect_uri": "https://app.example/callback",
                       "code_verifier": verifier}, world.public)
    assert tok.status_code == 200, tok.json
    assert tok.headers["Cache-Control"] == "no-store"
    body = tok.json
    assert body["token_type"] == "Bearer"
    assert "refresh_token" in body and "id_token" in body
    header, claims = split_compact(body["access_token"], 16384)
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert claims["sub"] == world.user_sub
    assert claims["aud"] == ISSUER
    assert set(claims["scope"].split()) == {"openid", "user/*.rs", "ga4gh_passport_v1"}
    principal = world.clearinghouse.verify_access_token(body["access_token"])
    assert principal.subject == world.user_sub and not principal.system


def test_refresh_rotates(world: World) -> None:
    first = world.code_flow(world.public)  # type: ignore[arg-type]
    second = world.token({"grant_type": "refresh_token",
                          "refresh_token": first["refresh_token"]}, world.public)
    assert second.status_code == 200, second.json
    assert second.json["refresh_token"] != first["refresh_token"]
    third = world.token({"grant_type": "refresh_token",
                         "refresh_token": second.json["refresh_token"]}, world.public)
    assert third.status_code == 200


def test_client_credentials_with_private_key_jwt(world: World) -> None:
    resp = world.node_token()
    assert resp.status_code == 200, resp.json
    assert "refresh_token" not in resp.json
    principal = world.clearinghouse.verify_access_token(resp.json["access_token"])
    assert principal.system and principal.subject == world.node.client_id  # type: ignore[union-attr]
    created = world.http.post("/test-resource/ds-1/Observation",
                              headers=bearer(resp.json["access_token"]))
    assert created.status_code == 201


def test_client_secret_basic_and_post(world: World) -> None:
    secret_client = world.store.register_client("Hospital 260326822", "hospital",
                                                scopes=["system/Observation.c"])
    assert secret_client.client_secret
    basic = world.token({"grant_type": "client_credentials"}, secret_client)
    assert basic.status_code == 200, basic.json
    post = world.http.post("/passport/token", data={
        "grant_type": "client_credentials", "client_id": secret_client.client_id,
        "client_secret": secret_client.client_secret})
    assert post.status_code == 200
    wrong = world.http.post("/passport/token", data={
        "grant_type": "client_credentials", "client_id": secret_client.client_id,
        "client_secret": "not-the-secret"})
    assert wrong.status_code == 401
    assert wrong.json["error"] == "invalid_client"


def test_userinfo_returns_visas(world: World) -> None:
    world.grants.add(world.user_sub, "ds-1")
    tokens = world.code_flow(world.public)  # type: ignore[arg-type]
    resp = world.http.get("/passport/userinfo", headers=bearer(tokens["access_token"]))
    assert resp.status_code == 200, resp.json
    visas = resp.json["ga4gh_passport_v1"]
    principal_visas = [world.clearinghouse.verify_visa(v, subject=world.user_sub) for v in visas]
    types = sorted(v.type for v in principal_visas)
    assert types == ["AffiliationAndRole", "ControlledAccessGrants", "ResearcherStatus"]
    grant_visa = next(v for v in principal_visas if v.type == CONTROLLED_ACCESS_GRANTS)
    assert grant_visa.by == "dac"
    assert grant_visa.value == ISSUER + "/platform/datasets/ds-1"
    header, _ = split_compact(visas[0], 16384)
    assert header["jku"] == ISSUER + "/passport/jwks"
    assert header["typ"] == "vnd.ga4gh.visa+jwt"


def test_token_exchange_issues_short_lived_passport(world: World) -> None:
    world.grants.add(world.user_sub, "ds-1")
    tokens = world.code_flow(world.confidential)  # type: ignore[arg-type]
    resp = exchange(world, tokens["access_token"])
    assert resp.status_code == 200, resp.json  # type: ignore[attr-defined]
    body = resp.json  # type: ignore[attr-defined]
    assert body["issued_token_type"] == PASSPORT_TOKEN_TYPE
    assert body["token_type"] == "N_A"
    header, claims = split_compact(body["access_token"], 262144)
    assert header["typ"] == "vnd.ga4gh.passport+jwt"
    assert claims["exp"] - claims["iat"] <= 3600
    assert {"aud", "jti", "iat", "exp"} <= claims.keys()
    passport = world.clearinghouse.verify_passport(body["access_token"])
    assert passport.subject == world.user_sub
    assert [v.value for v in passport.controlled_access()] == [ISSUER + "/platform/datasets/ds-1"]
    visa_exp = min(v.expires_at for v in passport.visas)
    assert claims["exp"] <= visa_exp


def test_passport_expires_with_its_earliest_visa(world: World) -> None:
    grant = world.grants.add(world.user_sub, "ds-1")
    # The grant ends in 10 minutes: the visa and so the passport end then too.
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    world.grants.grants = [replace(grant, valid_until=datetime.now(UTC) + timedelta(minutes=10))]
    tokens = world.code_flow(world.confidential)  # type: ignore[arg-type]
    body = exchange(world, tokens["access_token"]).json  # type: ignore[attr-defined]
    _, claims = split_compact(body["access_token"], 262144)
    assert claims["exp"] <= int(time.time()) + 600 + 1


def test_revocation_of_access_token(world: World) -> None:
    tokens = world.code_flow(world.public)  # type: ignore[arg-type]
    world.grants.add(world.user_sub, "ds-1")
    world.consent.allowed["pat-1"] = {"DUO:0000006"}
    ok = world.http.get("/test-resource/ds-1/Observation/pat-1",
                        headers=bearer(tokens["access_token"]))
    assert ok.status_code == 200, ok.json
    resp = world.http.post("/passport/revoke", data={
        "token": tokens["access_token"], "client_id": world.public.client_id})  # type: ignore[union-attr]
    assert resp.status_code == 200
    after = world.http.get("/test-resource/ds-1/Observation/pat-1",
                           headers=bearer(tokens["access_token"]))
    assert after.status_code == 401


def test_suspending_a_client_revokes_its_tokens(world: World) -> None:
    token = world.node_token().json["access_token"]
    world.store.set_status(world.node.client_id, "suspended")  # type: ignore[union-attr]
    resp = world.http.post("/test-resource/ds-1/Observation", headers=bearer(token))
    assert resp.status_code == 401
    again = world.node_token()
    assert again.status_code == 401, again.json
    assert again.json["error"] == "invalid_client"


def test_demo_seed_registers_one_public_client(world: World) -> None:
    from config.wiring.passport import seed_demo

    first = seed_demo(world.ctx)
    second = seed_demo(world.ctx)
    assert first == second
    client_id = first[1].split("client_id ")[1].split()[0]
    client = world.store.get(client_id)
    assert client is not None and client.token_endpoint_auth_method == "none"
    assert client.redirect_uris == ("http://127.0.0.1:8765/callback",)


def test_cli_add_user(world: World, monkeypatch: object) -> None:
    from click.testing import CliRunner

    from config.wiring.passport import passport_group

    settings = world.ctx.settings
    env = {"GENOMSEQ_DATA_DIR": str(settings.data_dir),
           "GENOMSEQ_DATABASE_URL": settings.database_url,
           "GENOMSEQ_TRUST_CENTER_DATABASE_URL": settings.trust_center.database_url}
    result = CliRunner().invoke(passport_group, ["add-user", "grace", "--bona-fide"],
                                input="a long enough password\na long enough password\n",
                                env=env)
    assert result.exit_code == 0, result.output
    assert world.store.authenticate("grace", "a long enough password") is not None
    assert "password" not in result.output.split("\n")[-2]


def test_bad_input_never_yields_a_server_error(world: World) -> None:
    bad_forms = [
        {},
        {"grant_type": ""},
        {"grant_type": "password", "username": "ada", "password": "x"},
        {"grant_type": "implicit"},
        {"grant_type": "authorization_code"},
        {"grant_type": "authorization_code", "code": "x" * 5000, "client_id": "nope"},
        {"grant_type": "refresh_token", "refresh_token": "\x00\x01"},
        {"grant_type": "client_credentials", "client_assertion_type":
         "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": "a.b.c"},
        {"grant_type": "client_credentials", "client_assertion_type":
         "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
         "client_assertion": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOlsxXX0.AAAA"},
        {"grant_type": EXCHANGE, "subject_token": "\u00e9" * 10},
    ]
    for form in bad_forms:
        resp = world.http.post("/passport/token", data=form)
        assert 400 <= resp.status_code < 500, (form, resp.status_code)
        assert resp.json["error"]
    for params in ({}, {"response_type": "token"}, {"client_id": "\u00e9", "response_type": "code"},
                  {"client_id": world.public.client_id, "response_type": "code",  # type: ignore[union-attr]
                   "redirect_uri": "javascript:alert(1)"}):
        resp = world.http.get("/passport/authorize", query_string=params)
        assert 400 <= resp.status_code < 500, (params, resp.status_code)
    for header in ("", "Bearer", "Bearer x.y.z", "Basic Zm9vOmJhcg==", "Bearer " + "a" * 70000):
        resp = world.http.get("/passport/userinfo", headers={"Authorization": header})
        assert resp.status_code == 401, header
        assert resp.json["error"] == "invalid_token"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = world.http.post("/passport/revoke", data={"token": "garbage",
                                                      "client_id": world.public.client_id})  # type: ignore[union-attr]
    assert resp.status_code == 200  # RFC 7009 2.2: unknown tokens answer 200
    assert world.http.get("/passport/token").status_code == 405
    missing = world.http.get("/passport/nope")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"
