"""The OAuth 2.0 authorization server, built on authlib's RFC 6749 framework.

RFC 6749 (authorization code section 4.1, client credentials section 4.4, refresh section 6),
RFC 7636 (PKCE; only S256, always required), RFC 7523 section 2.2 (private_key_jwt client
authentication, RS256/RS384/ES256/ES384, one-time ``jti``), RFC 7009 (revocation), RFC 8693
(token exchange for GA4GH passports, AAI 1.2 "Token Exchange"), RFC 9207 (``iss`` in
authorization responses), RFC 9700 section 4.14 (refresh token rotation with reuse detection:
presenting a rotated refresh token revokes its whole family).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants.base import BaseGrant, TokenEndpointMixin
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter

from ga4gh.passport.broker import Broker
from ga4gh.passport.core import scopes as smart
from ga4gh.passport.core.clearinghouse import Clearinghouse
from ga4gh.passport.core.jose import (
    CLIENT_ASSERTION_ALGORITHMS,
    InvalidToken,
    check_claims,
    check_header,
    import_public_jwk,
    split_compact,
    verify_signature,
)
from ga4gh.passport.core.visas import (
    ACCESS_TOKEN_TYPE,
    PASSPORT_SCOPE,
    PASSPORT_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
)
from ga4gh.passport.ports import Client, User
from ga4gh.passport.storage.sql import (
    AuthorizationCode,
    PassportStore,
    RefreshToken,
    SqlUserDirectory,
)

log = logging.getLogger("genomseq.passport")

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
CONFIDENTIAL_METHODS = ["private_key_jwt", *SECRET_METHODS]


class OAuthClient:
    """authlib's ClientMixin over a registered client; only approved clients exist for it."""

    def __init__(self, client: Client, store: PassportStore) -> None:
        self.client = client
        self._store = store
        self.client_id = client.client_id

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 section 3.1.2.3: with several registered URIs the request must name one.
        uris = self.client.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return " ".join(self.client.scopes)
        return " ".join(smart.narrow(scope.split(), self.client.scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (RFC 9700 section 4.1.3), no prefix or pattern matching.
        return redirect_uri in self.client.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self._store.check_client_secret(self.client.client_id, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        registered = self.client.token_endpoint_auth_method
        if registered == "client_secret_basic":
            return method in SECRET_METHODS
        return method == registered

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.client.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.client.grant_types


def _require_covered_scope(grant: BaseGrant, default_to_client: bool = True) -> str:
    """Refuse requested scopes the client was not registered for (no silent narrowing)."""
    client: OAuthClient = grant.request.client
    requested = (grant.request.payload.scope or "").split()
    if not requested:
        if not default_to_client:
            return ""
        return " ".join(client.client.scopes)
    for scope in requested:
        if not smart.is_valid_scope(scope):
            raise InvalidScopeError(f"unknown scope {scope!r}")
    if smart.narrow(requested, client.client.scopes) != requested:
        raise InvalidScopeError("the requested scope exceeds what the client is registered for")
    return " ".join(requested)


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only, required for every authorization request (RFC 9700 2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (authlib's class attribute)
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("PKCE is required: missing 'code_verifier'")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge_method


class PrivateKeyJwt(JWTBearerClientAssertion):
    """RFC 7523 section 2.2 / OIDC Core section 9 ``private_key_jwt`` with replay protection."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(
        self, store: PassportStore, audiences: list[str], max_bytes: int,
        clock: Callable[[], int],
    ) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._store = store
        self._now = clock
        self._audiences = audiences
        self._max_bytes = max_bytes

    def __call__(self, query_client: Callable[[str], Any], request: Any) -> Any:
        data = request.form
        assertion = data.get("client_assertion")
        if data.get("client_assertion_type") != self.CLIENT_ASSERTION_TYPE or not assertion:
            return None
        try:
            header, claims = split_compact(assertion, self._max_bytes)
            check_header(header, typ=("JWT", "client-authentication+jwt"),
                         algorithms=CLIENT_ASSERTION_ALGORITHMS, allowed_jku=None)
        except InvalidToken as exc:
            raise InvalidClientError(description=exc.message) from exc
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or claims.get("iss") != client_id:
            raise InvalidClientError(description="iss and sub must be the client_id")
        client = query_client(client_id)
        if client is None or client.client.jwks is None:
            raise InvalidClientError(description="unknown client")
        keys = {k.get("kid"): k for k in client.client.jwks.get("keys", [])}
        jwk = keys.get(header["kid"])
        if jwk is None:
            raise InvalidClientError(description="the assertion's key is not registered")
        try:
            verify_signature(assertion, import_public_jwk(jwk), header["alg"])
            check_claims(claims, now=self._now(), issuer=client_id, audience=self._audiences,
                         required=("iss", "sub", "aud", "exp", "jti"), max_lifetime=None)
        except InvalidToken as exc:
            raise InvalidClientError(description=exc.message) from exc
        if claims["exp"] - self._now() > 600:
            raise InvalidClientError(description="client assertions may live at most 10 minutes")
        if not self._store.first_use_of_assertion(client_id, claims["jti"], int(claims["exp"])):
            raise InvalidClientError(description="the client assertion was used before")
        request.client = client
        return self.authenticate_client(client)


class PassportAuthorizationServer(AuthorizationServer):
    """authlib's Flask server bound to the passport store and broker."""

    def __init__(self, store: PassportStore, broker: Broker) -> None:
        super().__init__()
        self.store = store
        self.broker = broker

    def query_client(self, client_id: str) -> OAuthClient | None:
        client = self.store.get(client_id) if isinstance(client_id, str) else None
        if client is None or client.status != "approved":
            return None
        return OAuthClient(client, self.store)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        # Tokens are persisted by the generator itself (it knows the jti and family).
        return None

    def get_issuer(self) -> str:
        return self.broker.config.issuer

    def handle_response(self, status_code: int, payload: Any, headers: Any) -> Any:
        if isinstance(payload, dict) and payload.get("error") == "invalid_client":
            # RFC 6749 5.2: a failed client authentication answers 401 whatever the method.
            status_code = 401
            headers = [*[(k, v) for k, v in headers if k.lower() != "www-authenticate"],
                       ("WWW-Authenticate", 'Basic realm="token", error="invalid_client"')]
        resp = super().handle_response(status_code, payload, headers)
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Pragma"] = "no-cache"
        return resp


class _IssuerParameter(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self._issuer = issuer

    def get_issuer(self) -> str:
        return self._issuer


def build_server(
    app: Any,
    store: PassportStore,
    users: SqlUserDirectory,
    broker: Broker,
    clearinghouse: Clearinghouse,
    token_url: str,
) -> PassportAuthorizationServer:
    """Configure grants, client authentication, endpoints and extensions."""
    server = PassportAuthorizationServer(store, broker)
    server.init_app(app)
    cfg = broker.config

    def generate(
        grant_type: str, client: OAuthClient, user: User | None = None, scope: str | None = None,
        expires_in: int | None = None, include_refresh_token: bool = True,
        family_id: str | None = None,
    ) -> dict[str, Any]:
        subject = user.subject if user is not None else client.client_id
        minted = broker.access_token(client_id=client.client_id, subject=subject,
                                     scope=scope or "", grant_type=grant_type)
        family = family_id or (uuid.uuid4().hex if include_refresh_token else None)
        store.record_access_token(minted.jti, client.client_id, subject, minted.expires_at, family)
        token: dict[str, Any] = {
            "access_token": minted.token,
            "token_type": "Bearer",
            "expires_in": minted.expires_at - broker.now(),
            "scope": scope or "",
        }
        if include_refresh_token and user is not None and family is not None:
            refresh = secrets.token_urlsafe(32)
            store.save_refresh_token(refresh, family_id=family, client_id=client.client_id,
                                     subject=subject, scope=scope or "",
                                     expires_at=broker.now() + cfg.refresh_token_lifetime)
            token["refresh_token"] = refresh
        return token

    server.register_token_generator("default", generate)

    class ClientCredentialsGrant(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS  # noqa: RUF012

        def validate_requested_scope(self) -> None:
            self.request.scope_checked = _require_covered_scope(self)

        def create_token_response(self) -> Any:
            token = self.generate_token(scope=self.request.scope_checked,
                                        include_refresh_token=False)
            self.save_token(token)
            return 200, token, self.TOKEN_RESPONSE_HEADER

    class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["none", *CONFIDENTIAL_METHODS]  # noqa: RUF012

        def validate_authorization_request(self) -> Any:
            redirect_uri = super().validate_authorization_request()
            self.request.checked_scope = _require_covered_scope(self)
            return redirect_uri

        def validate_requested_scope(self) -> None:
            _require_covered_scope(self)

        def save_authorization_code(self, code: str, request: Any) -> None:
            data = request.payload.data
            user: User = request.user
            store.save_code(
                code,
                client_id=request.client.client_id,
                subject=user.subject,
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.checked_scope,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                nonce=data.get("nonce"),
                auth_time=broker.now(),
                expires_at=broker.now() + 60,
            )

        def query_authorization_code(self, code: str, client: OAuthClient) -> Any:
            found = store.find_code(code, client.client_id)
            if found is None or found.expires_at < broker.now():
                return None
            return found

        def delete_authorization_code(self, authorization_code: Any) -> None:
            return None  # marked used in create_token_response, kept for reuse detection

        def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
            return users.get(authorization_code.subject)

        def create_token_response(self) -> Any:
            client = self.request.client
            code = self.request.authorization_code
            user = self.authenticate_user(code)
            if user is None or not user.active:
                raise InvalidGrantError("the user of this code is not active")
            family = uuid.uuid4().hex
            if not store.use_code(self.request.form["code"], family):
                raise InvalidGrantError("the code was used before")
            token = generate(self.GRANT_TYPE, client, user, code.scope,
                             include_refresh_token=client.check_grant_type("refresh_token"),
                             family_id=family)
            if "openid" in code.scope.split():
                token["id_token"] = broker.id_token(client_id=client.client_id, user=user,
                                                    nonce=code.nonce, auth_time=code.auth_time)
            return 200, token, self.TOKEN_RESPONSE_HEADER

    class RefreshTokenGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["none", *CONFIDENTIAL_METHODS]  # noqa: RUF012
        INCLUDE_NEW_REFRESH_TOKEN = True

        def authenticate_refresh_token(self, refresh_token: str) -> Any:
            found = store.find_refresh_token(refresh_token)
            if found is None:
                return None
            if found.rotated_at is not None or found.revoked_at is not None:
                # RFC 9700 4.14.2: a rotated token presented again means one of two parties
                # is an attacker; revoke the whole family so neither keeps access.
                store.revoke_family(found.family_id)
                log.warning("refresh token reuse detected; token family revoked")
                return None
            if found.expires_at < broker.now():
                return None
            return _Refresh(found)

        def authenticate_user(self, refresh_token: _Refresh) -> User | None:
            user = users.get(refresh_token.row.subject)
            return user if user is not None and user.active else None

        def issue_token(self, user: User, refresh_token: _Refresh) -> dict[str, Any]:
            if not store.rotate_refresh_token(self.request.form["refresh_token"]):
                store.revoke_family(refresh_token.row.family_id)
                raise InvalidGrantError("the refresh token was used before")
            scope = self.request.payload.scope or refresh_token.row.scope
            return generate(self.GRANT_TYPE, self.request.client, user, scope,
                            include_refresh_token=True, family_id=refresh_token.row.family_id)

        def revoke_old_credential(self, refresh_token: Any) -> None:
            return None  # rotated in issue_token (atomically)

    class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):
        """RFC 8693 section 2: an access token of this broker for a GA4GH passport."""

        GRANT_TYPE = TOKEN_EXCHANGE_GRANT
        TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS  # noqa: RUF012

        def validate_token_request(self) -> None:
            client = self.authenticate_token_endpoint_client()
            if not client.check_grant_type(self.GRANT_TYPE):
                raise UnauthorizedClientError("the client may not use token exchange")
            form = self.request.form
            if form.get("requested_token_type") != PASSPORT_TOKEN_TYPE:
                raise InvalidRequestError("requested_token_type must be "
                                          + PASSPORT_TOKEN_TYPE)
            if form.get("subject_token_type") != ACCESS_TOKEN_TYPE:
                raise InvalidRequestError("subject_token_type must be " + ACCESS_TOKEN_TYPE)
            subject_token = form.get("subject_token")
            if not subject_token:
                raise InvalidRequestError("missing subject_token")
            try:
                principal = clearinghouse.verify_access_token(subject_token)
            except InvalidToken as exc:
                raise InvalidRequestError("the subject_token is not valid") from exc
            if principal.client_id != client.client_id:
                # Only the client the token was issued to may exchange it.
                raise InvalidGrantError("the subject_token was issued to another client")
            if PASSPORT_SCOPE not in principal.scopes or principal.system:
                raise InvalidScopeError("the subject_token lacks the ga4gh_passport_v1 scope")
            self.request.client = client
            self.request.subject_principal = principal

        def create_token_response(self) -> Any:
            principal = self.request.subject_principal
            user = users.get(principal.subject)
            if user is None or not user.active:
                raise InvalidGrantError("the token's user is not active")
            visas = broker.visas(user)
            passport = broker.passport(user.subject, self.request.client.client_id, visas)
            body = {
                "access_token": passport.token,
                "issued_token_type": PASSPORT_TOKEN_TYPE,
                # RFC 8693 section 2.2.1: N_A when the issued token is not an access token.
                "token_type": "N_A",
                "expires_in": passport.expires_at - broker.now(),
            }
            return 200, body, self.TOKEN_RESPONSE_HEADER

    class Revocation(RevocationEndpoint):
        CLIENT_AUTH_METHODS = ["none", *CONFIDENTIAL_METHODS]  # noqa: RUF012

        def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
            found = store.find_refresh_token(token_string)
            if found is not None:
                return _Refresh(found)
            try:
                principal = clearinghouse.verify_access_token(token_string)
            except InvalidToken:
                return None
            return _Access(principal.token_id, principal.client_id)

        def revoke_token(self, token: Any, request: Any) -> None:
            if isinstance(token, _Refresh):
                store.revoke_family(token.row.family_id)
            else:
                store.revoke_access_token(token.jti, token.client_id)

    server.register_client_auth_method(
        "private_key_jwt",
        PrivateKeyJwt(store, [token_url, cfg.issuer], 16 * 1024, broker.now),
    )
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(RefreshTokenGrant)
    server.register_grant(TokenExchangeGrant)
    server.register_endpoint(Revocation)
    server.register_extension(_IssuerParameter(cfg.issuer))
    return server


class _Refresh:
    """authlib's TokenMixin over a stored refresh token."""

    def __init__(self, row: RefreshToken) -> None:
        self.row = row

    def check_client(self, client: OAuthClient) -> bool:
        return client.client_id == self.row.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None

    def is_expired(self) -> bool:
        return False


class _Access:
    """A verified access token presented for revocation."""

    def __init__(self, jti: str, client_id: str) -> None:
        self.jti = jti
        self.client_id = client_id

    def check_client(self, client: OAuthClient) -> bool:
        return client.client_id == self.client_id


def error_redirect(redirect_uri: str, error: OAuth2Error, issuer: str, state: str | None) -> str:
    """An RFC 6749 4.1.2.1 error redirect with RFC 9207 ``iss``."""
    params = [("error", error.error)]
    if error.description:
        params.append(("error_description", error.description))
    if state:
        params.append(("state", state))
    params.append(("iss", issuer))
    return add_params_to_uri(redirect_uri, params)

