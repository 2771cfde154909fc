"""HTTP room of the passport broker: discovery, JWKS, authorize (login form), token,
revocation and userinfo.

OpenID Connect Discovery 1.0 section 3 and RFC 8414 section 2 (metadata), RFC 7517 (JWKS),
OpenID Connect Core 1.0 section 5.3 (UserInfo) with GA4GH AAI 1.2 ``ga4gh_passport_v1``.
The login form is plain server-rendered HTML (works without JavaScript); it posts the
authorization request back with a short-lived HMAC-protected form token so a login cannot be
forged cross-site for parameters this server did not render.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Blueprint, Flask, Response, jsonify, make_response, redirect, request

from common.auth import bearer_token
from common.errors import Unauthenticated
from common.http import register_error_renderer
from ga4gh.passport.broker import Broker
from ga4gh.passport.core.clearinghouse import Clearinghouse
from ga4gh.passport.core.jose import InvalidToken
from ga4gh.passport.core.visas import PASSPORT_SCOPE, TOKEN_EXCHANGE_GRANT
from ga4gh.passport.http.oauth import PassportAuthorizationServer, error_redirect
from ga4gh.passport.storage.sql import SqlUserDirectory

PREFIX = "/passport"
FORM_TOKEN_LIFETIME = 600
_AUTHZ_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state",
                 "code_challenge", "code_challenge_method", "nonce")


def oauth_error(status: int, error: str, description: str) -> Response:
    """RFC 6749 section 5.2 error body."""
    resp = jsonify({"error": error, "error_description": description})
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    if status == 401:
        resp.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return resp


def _render_error(status: int, code: str, message: str) -> Response:
    error = {401: "invalid_token", 404: "not_found", 405: "invalid_request"}.get(
        status, "invalid_request" if status < 500 else "server_error")
    return oauth_error(status, error, message)


def _page(title: str, body: str, status: int = 200) -> Response:
    resp = make_response(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>",
        status,
    )
    resp.mimetype = "text/html"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def create_blueprint(
    app: Flask,
    server: PassportAuthorizationServer,
    broker: Broker,
    users: SqlUserDirectory,
    clearinghouse: Clearinghouse,
    form_secret: bytes,
) -> Blueprint:
    """The broker's routes (discovery documents are at the application root)."""
    bp = Blueprint("passport", __name__)
    issuer = broker.config.issuer.rstrip("/")

    def metadata() -> dict[str, Any]:
        return {
            "issuer": broker.config.issuer,
            "authorization_endpoint": issuer + PREFIX + "/authorize",
            "token_endpoint": issuer + PREFIX + "/token",
            "revocation_endpoint": issuer + PREFIX + "/revoke",
            "userinfo_endpoint": issuer + PREFIX + "/userinfo",
            "jwks_uri": broker.jwks_uri,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials",
                                      "refresh_token", TOKEN_EXCHANGE_GRANT],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "private_key_jwt", "client_secret_basic", "client_secret_post", "none"],
            "token_endpoint_auth_signing_alg_values_supported": [
                "RS256", "RS384", "ES256", "ES384"],
            "revocation_endpoint_auth_methods_supported": [
                "private_key_jwt", "client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access",
                                 PASSPORT_SCOPE, "system/*.rs", "user/*.rs", "patient/*.rs"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
                                 PASSPORT_SCOPE],
            "authorization_response_iss_parameter_supported": True,
            "require_pushed_authorization_requests": False,
        }

    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        """OpenID Connect Discovery 1.0 provider metadata."""
        return jsonify(metadata())

    @app.get("/.well-known/oauth-authorization-server")
    def oauth_metadata() -> Response:
        """RFC 8414 authorization server metadata."""
        return jsonify(metadata())

    @bp.get(PREFIX + "/jwks")
    def jwks() -> Response:
        """The broker's public keys (RFC 7517); visas name this URL in ``jku``."""
        resp = jsonify(broker.keys.jwks())
        resp.mimetype = "application/jwk-set+json"
        resp.headers["Cache-Control"] = "public, max-age=300"
        return resp

    def form_token(params: Mapping[str, str], issued: int) -> str:
        msg = "\x00".join([str(issued), *(params.get(k, "") for k in _AUTHZ_PARAMS)])
        mac = hmac.new(form_secret, msg.encode(), hashlib.sha256).hexdigest()
        return f"{issued}.{mac}"

    def form_token_ok(params: Mapping[str, str], token: str) -> bool:
        issued_s, _, _mac = token.partition(".")
        if not issued_s.isdigit():
            return False
        issued = int(issued_s)
        if not 0 <= broker.now() - issued <= FORM_TOKEN_LIFETIME:
            return False
        return hmac.compare_digest(form_token(params, issued), token)

    def login_form(params: Mapping[str, str], client_name: str, error: str = "",
                   status: int = 200) -> Response:
        hidden = "".join(
            f"<input type='hidden' name='{k}' value='{html.escape(params[k], quote=True)}'>"
            for k in _AUTHZ_PARAMS if params.get(k)
        )
        hidden += (f"<input type='hidden' name='form_token' "
                   f"value='{form_token(params, broker.now())}'>")
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
        err = f"<p role='alert'><strong>{html.escape(error)}</strong></p>" if error else ""
        body = (
            f"<h1>Sign in</h1><p>{html.escape(client_name)} asks for access to:</p>"
            f"<ul>{scopes}</ul>{err}"
            f"<form method='post' action='{PREFIX}/authorize'>{hidden}"
            "<p><label for='username'>Username</label> "
            "<input id='username' name='username' autocomplete='username' required></p>"
            "<p><label for='password'>Password</label> "
            "<input id='password' name='password' type='password' "
            "autocomplete='current-password' required></p>"
            "<p><button type='submit'>Sign in and allow</button></p></form>"
        )
        return _page("Sign in", body, status)

    @bp.route(PREFIX + "/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        """RFC 6749 4.1.1 authorization endpoint with the embedded login form."""
        params = {k: v for k in _AUTHZ_PARAMS if (v := request.values.get(k)) is not None}
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            redirect_uri = getattr(error, "redirect_uri", None)
            if redirect_uri:
                return redirect(error_redirect(redirect_uri, error, broker.config.issuer,
                                               params.get("state")), 302)
            # RFC 6749 4.1.2.1: an invalid client or redirect URI is never redirected to.
            return _page("Authorization error",
                         f"<h1>Authorization error</h1><p>{html.escape(error.error)}: "
                         f"{html.escape(error.description or '')}</p>", 400)
        client_name = grant.client.client.name
        if request.method == "GET":
            return login_form(params, client_name)
        if not form_token_ok(params, request.form.get("form_token", "")):
            return login_form(params, client_name, "The sign-in form expired; please retry.", 400)
        user = users.authenticate(request.form.get("username", ""),
                                  request.form.get("password", ""))
        if user is None:
            return login_form(params, client_name, "Unknown username or wrong password.", 401)
        return server.create_authorization_response(grant_user=user, grant=grant)

    @bp.post(PREFIX + "/token")
    def token() -> Response:
        """RFC 6749 section 3.2 token endpoint (all grants, including token exchange)."""
        return server.create_token_response()

    @bp.post(PREFIX + "/revoke")
    def revoke() -> Response:
        """RFC 7009 token revocation."""
        return server.create_endpoint_response("revocation")

    @bp.route(PREFIX + "/userinfo", methods=["GET", "POST"])
    def userinfo() -> Response:
        """OIDC UserInfo with the user's visas in ``ga4gh_passport_v1`` (AAI 1.2)."""
        try:
            principal = clearinghouse.verify_access_token(
                bearer_token(request.headers.get("Authorization")))
        except (InvalidToken, Unauthenticated) as exc:
            return oauth_error(401, "invalid_token", exc.message)
        if "openid" not in principal.scopes or principal.system:
            return oauth_error(403, "insufficient_scope", "the token lacks the openid scope")
        user = users.get(principal.subject)
        if user is None or not user.active:
            return oauth_error(401, "invalid_token", "the token's user is not active")
        body: dict[str, Any] = {"sub": user.subject}
        if "profile" in principal.scopes:
            body["preferred_username"] = user.username
        if "email" in principal.scopes and user.email:
            body["email"] = user.email
        if PASSPORT_SCOPE in principal.scopes:
            body[PASSPORT_SCOPE] = [v.token for v in broker.visas(user)]
        resp = jsonify(body)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    register_error_renderer(app, PREFIX, _render_error)
    return bp

