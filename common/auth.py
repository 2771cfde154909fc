"""Who is calling: the authentication port every blueprint uses.

Every request is authenticated before a handler runs (``before_request`` of each blueprint
calls :func:`authenticate`). The composition root installs the :class:`Authenticator`: with
authorization off (local development only) every caller is a development principal; otherwise
the static-token authenticator below or, once configured, the passport clearinghouse.
Handlers then ask ``principal.has_scope(...)``; what a scope string means is the standard's
(SMART App Launch 2 for FHIR, GA4GH visas for data access).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from common.errors import PermissionDenied, Unauthenticated


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: subject, client and the scopes granted to this request."""

    subject: str
    client_id: str = ""
    scopes: frozenset[str] = frozenset()
    # Everything allowed (authorization off). Never set for a real token.
    unrestricted: bool = False
    claims: Mapping[str, object] = field(default_factory=dict)

    def has_scope(self, scope: str) -> bool:
        """True if the exact scope or the unrestricted flag was granted."""
        return self.unrestricted or scope in self.scopes

    def require_scope(self, *any_of: str) -> None:
        """Raise PermissionDenied unless one of the scopes was granted."""
        if not any(self.has_scope(s) for s in any_of):
            raise PermissionDenied("the access token does not grant this operation")


DEVELOPMENT_PRINCIPAL = Principal(subject="development", unrestricted=True)


class Authenticator(Protocol):
    """Turns the Authorization header of a request into a Principal or raises Unauthenticated."""

    def authenticate(self, authorization: str | None) -> Principal: ...


class DevelopmentAuthenticator:
    """Authorization off: everybody is the development principal."""

    def authenticate(self, authorization: str | None) -> Principal:
        return DEVELOPMENT_PRINCIPAL


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 section 2.1)."""
    if not authorization:
        raise Unauthenticated("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("authorization must use the Bearer scheme")
    return token


class StaticTokenAuthenticator:
    """Bearer tokens listed by SHA-256 in a file: for machine clients before OAuth is set up."""

    def __init__(self, tokens: Mapping[str, frozenset[str]]) -> None:
        self._tokens = dict(tokens)

    @classmethod
    def from_file(cls, path: str | Path) -> StaticTokenAuthenticator:
        """Read lines of ``<sha256 hex of token> <scope> <scope> ...``; '#' starts a comment."""
        tokens: dict[str, frozenset[str]] = {}
        for line in Path(path).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                digest, *scopes = line.split()
                tokens[digest.lower()] = frozenset(scopes)
        return cls(tokens)

    def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        digest = hashlib.sha256(token.encode()).hexdigest()
        for known, scopes in self._tokens.items():
            if hmac.compare_digest(known, digest):
                return Principal(subject="token:" + known[:12], scopes=scopes)
        raise Unauthenticated("invalid bearer token")


class DenyAllAuthenticator:
    """Authorization on with nothing configured: every request is refused."""

    def authenticate(self, authorization: str | None) -> Principal:
        bearer_token(authorization)
        raise Unauthenticated("no token issuer is configured on this server")
