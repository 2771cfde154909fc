"""Fixtures for the passport broker: an app with authorization on, real keys, real clients.

The app carries a small resource blueprint guarded by the enforcement mechanism, standing in
for any resource server (FHIR, htsget, ...), so the whole chain token -> scopes -> grant ->
consent -> audit is exercised over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Blueprint, Flask, jsonify, request
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey

from config.app import create_app
from config.cli import upgrade_all
from config.context import AppContext, app_context
from config.settings import Settings
from ga4gh.passport.broker import Broker
from ga4gh.passport.core.clearinghouse import Clearinghouse
from ga4gh.passport.enforcement import ConsentEvaluator, Enforcer, current_principal, require
from ga4gh.passport.ports import ClientCredentials
from ga4gh.passport.storage.sql import PassportStore
from platform_provider.ports import Grant, GrantDirectory
from tests.conftest import truncate_all

ISSUER = "https://genomseq.test"
REDIRECT = "https://app.example/callback"
PASSWORD = "correct horse battery staple"
HMB = "DUO:0000006"
GRU = "DUO:0000042"


class FakeGrants:
    """GrantDirectory double the tests control (the platform provider owns the real one)."""

    def __init__(self) -> None:
        self.grants: list[Grant] = []

    def add(self, subject: str, dataset: str, purpose: str = HMB, days: int = 30) -> Grant:
        now = datetime.now(UTC)
        grant = Grant(uuid.uuid4().hex, subject, dataset, purpose, "app-1",
                      now - timedelta(days=1), now + timedelta(days=days))
        self.grants.append(grant)
        return grant

    def revoke(self, grant: Grant) -> None:
        self.grants = [replace(g, revoked_at=datetime.now(UTC) - timedelta(seconds=1))
                       if g.grant_id == grant.grant_id else g for g in self.grants]

    def active_grants(self, subject: str, at: datetime) -> list[Grant]:
        return [g for g in self.grants if g.subject == subject and g.is_active(at)]


@dataclass
class FakeConsent:
    """Consent evaluation double: allowed purposes per patient pseudonym."""

    allowed: dict[str, set[str]] = field(default_factory=dict)
    calls: int = 0

    def allows(self, domain: str | None, patient: str, purpose: str, at: datetime) -> bool:
        self.calls += 1
        return purpose in self.allowed.get(patient, set())


def _resource_blueprint() -> Blueprint:
    bp = Blueprint("test_resource", __name__)

    @bp.get("/test-resource/<dataset>/Observation/<patient>")
    @require("Observation", "r", dataset_of=lambda dataset, patient: dataset,
             patient_of=lambda dataset, patient: patient)
    def read(dataset: str, patient: str) -> Any:
        return jsonify({"dataset": dataset, "subject": current_principal().subject})

    @bp.post("/test-resource/<dataset>/Observation")
    @require("Observation", "c", dataset_of=lambda dataset: dataset)
    def create(dataset: str) -> Any:
        return jsonify({"created": True}), 201

    @bp.post("/test-passport/<dataset>/<patient>")
    def with_passport(dataset: str, patient: str) -> Any:
        from ga4gh.passport.core.enforcement import AccessRequest

        ctx = app_context()
        principal = ctx.get(Clearinghouse).verify_passport(request.get_json()["passport"])
        # Passport holders read with user/ scopes implied by their visas.
        principal = replace(principal, scopes=frozenset({"user/*.rs"}))
        ctx.get(Enforcer).enforce(principal, AccessRequest(
            "Observation", "r", dataset, patient, request.headers.get("X-GA4GH-Purpose")))
        return jsonify({"ok": True})

    return bp


@pytest.fixture(scope="session")
def secure_app(base_settings: Settings) -> Iterator[Flask]:
    settings = base_settings.replace(authorization="on", public_base_url=ISSUER)
    app = create_app(settings)
    app.config["TESTING"] = True
    app.register_blueprint(_resource_blueprint())
    ctx = app_context(app)
    upgrade_all(ctx)
    yield app
    ctx.engine.dispose()


@dataclass
class World:
    """Everything a test needs: app, client, context, store, doubles and registered parties."""

    app: Flask
    http: FlaskClient
    ctx: AppContext
    store: PassportStore
    grants: FakeGrants
    consent: FakeConsent
    user_sub: str = ""
    public: ClientCredentials | None = None
    confidential: ClientCredentials | None = None
    node: ClientCredentials | None = None
    node_key: ECKey | None = None

    @property
    def broker(self) -> Broker:
        return self.ctx.get(Broker)

    @property
    def clearinghouse(self) -> Clearinghouse:
        return self.ctx.get(Clearinghouse)

    # -- flows ---------------------------------------------------------------------------

    def authorize(self, client_id: str, *, scope: str = "openid user/*.rs ga4gh_passport_v1",
                  redirect_uri: str = REDIRECT, method: str | None = "S256",
                  challenge: str | None = None, extra: dict[str, str] | None = None,
                  ) -> tuple[Any, str]:
        """Run the login form; returns (final response, verifier)."""
        verifier = secrets.token_urlsafe(48)
        params = {"response_type": "code", "client_id": client_id,
                  "redirect_uri": redirect_uri, "scope": scope, "state": "st-1"}
        if method is not None:
            params["code_challenge_method"] = method
            params["code_challenge"] = challenge or s256(verifier)
        params.update(extra or {})
        page = self.http.get("/passport/authorize", query_string=params)
        if page.status_code != 200:
            return page, verifier
        token = re.search(r"name='form_token' value='([^']+)'", page.text)
        assert token, page.text
        form = {**params, "form_token": token.group(1), "username": "ada",
                "password": PASSWORD}
        return self.http.post("/passport/authorize", data=form), verifier

    def code_flow(
        self, client: ClientCredentials, scope: str = "openid user/*.rs ga4gh_passport_v1"
    ) -> dict[str, Any]:
        resp, verifier = self.authorize(client.client_id, scope=scope)
        assert resp.status_code == 302, resp.text
        code = query(resp)["code"]
        tok = self.token({"grant_type": "authorization_code", "code": code,
                          "redirect_uri": REDIRECT, "code_verifier": verifier}, client)
        assert tok.status_code == 200, tok.json
        return tok.json  # type: ignore[no-any-return]

    def token(self, form: dict[str, str], client: ClientCredentials | None = None) -> Any:
        headers = {}
        data = dict(form)
        if client is not None and client.client_secret:
            basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode())
            headers["Authorization"] = "Basic " + basic.decode()
        elif client is not None:
            data["client_id"] = client.client_id
        return self.http.post("/passport/token", data=data, headers=headers)

    def assertion(self, *, jti: str | None = None, aud: str | None = None,
                  alg: str = "ES256", key: ECKey | None = None) -> str:
        """A private_key_jwt client assertion of the node client."""
        assert self.node is not None and self.node_key is not None
        key = key or self.node_key
        now = int(time.time())
        claims = {"iss": self.node.client_id, "sub": self.node.client_id,
                  "aud": aud or ISSUER + "/passport/token", "iat": now, "exp": now + 60,
                  "jti": jti or uuid.uuid4().hex}
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key,
                          algorithms=[alg])

    def node_token(self, scope: str = "system/Observation.cruds") -> Any:
        return self.http.post("/passport/token", data={
            "grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.assertion()})


def s256(verifier: str) -> str:
    """RFC 7636 S256 code challenge."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query(resp: Any) -> dict[str, str]:
    """The query parameters of a redirect's Location."""
    return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


@pytest.fixture()
def world(secure_app: Flask) -> Iterator[World]:
    ctx = app_context(secure_app)
    truncate_all(ctx.engine)
    store = ctx.get(PassportStore)
    grants = FakeGrants()
    consent = FakeConsent()
    saved = {p: ctx.find(p) for p in (GrantDirectory, ConsentEvaluator)}
    ctx.provide(GrantDirectory, grants)  # type: ignore[type-abstract]
    ctx.provide(ConsentEvaluator, consent)  # type: ignore[type-abstract]
    w = World(secure_app, secure_app.test_client(), ctx, store, grants, consent)
    user = store.create_user("ada", PASSWORD, affiliation="faculty@uni-heidelberg.de",
                             researcher_status="bona-fide")
    w.user_sub = user.subject
    w.public = store.register_client("Research app", "researcher-app",
                                      redirect_uris=[REDIRECT], public=True,
                                      scopes=["openid", "profile", "offline_access",
                                              "ga4gh_passport_v1", "user/*.rs"])
    w.confidential = store.register_client(
        "Analysis portal", "data-service", redirect_uris=[REDIRECT],
        scopes=["openid", "ga4gh_passport_v1", "user/*.rs", "offline_access"],
        grant_types=["authorization_code", "refresh_token",
                     "urn:ietf:params:oauth:grant-type:token-exchange"])
    w.node_key = ECKey.generate_key("P-256", parameters={"kid": "node-key-1"})
    w.node = store.register_client(
        "KDK-ABC123", "clinical-data-node",
        jwks={"keys": [w.node_key.as_dict(private=False)]},
        scopes=["system/Observation.cruds", "system/Patient.rs"])
    try:
        yield w
    finally:
        for port, impl in saved.items():
            if impl is None:
                ctx._services.pop(port, None)
            else:
                ctx.provide(port, impl)


def project_id(world: World, res_type: str, node_id: str, project: str = "app-1") -> str:
    """The id a researcher acting for ``project`` sees for a resource (project view)."""
    from fhir_server.core.project_view import IdCipher, project_key
    from fhir_server.http.project_view import SECRET_NAME

    key = project_key(world.ctx.keys.secret(SECRET_NAME), project)
    return IdCipher(key).encode(res_type, node_id)
