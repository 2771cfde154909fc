"""Ports of the passport broker that other components use or implement.

The platform provider registers participants (clinical data nodes, genome data centers, data
services, hospitals) as OAuth 2.0 clients of this broker (RFC 6749 section 2, RFC 7591 client
metadata names) and creates researcher accounts in the embedded identity provider. Both go
through these Protocols, found on the AppContext with ``ctx.find(ClientRegistry)`` and
``ctx.find(UserDirectory)``; neither component imports the other's storage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ClientRole = Literal["clinical-data-node", "genome-data-center", "data-service", "hospital",
                     "researcher-app", "admin"]
ClientStatus = Literal["approved", "suspended", "revoked"]
# Only "approved" clients may authenticate at the token endpoint.
CLIENT_STATUSES: tuple[ClientStatus, ...] = ("approved", "suspended", "revoked")

ResearcherStatus = Literal["none", "bona-fide"]


@dataclass(frozen=True)
class ClientCredentials:
    """What a new client needs to authenticate: its id and, for secret clients, the secret.

    ``client_secret`` is shown exactly once (only its hash is stored) and is None for
    private_key_jwt clients (those registered with a JWKS).
    """

    client_id: str
    client_secret: str | None = None


@dataclass(frozen=True)
class Client:
    """A registered OAuth 2.0 client as the broker knows it (never holds the secret)."""

    client_id: str
    name: str
    role: str
    status: ClientStatus
    # private_key_jwt, client_secret_basic, client_secret_post or none (public clients)
    token_endpoint_auth_method: str
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()
    jwks: Mapping[str, Any] | None = None


class ClientRegistry(Protocol):
    """Registration and lifecycle of OAuth 2.0 clients."""

    def register_client(
        self,
        name: str,
        role: str,
        *,
        jwks: Mapping[str, Any] | None = None,
        redirect_uris: Sequence[str] = (),
        scopes: Sequence[str] = ("system/*.rs",),
        grant_types: Sequence[str] | None = None,
        public: bool = False,
    ) -> ClientCredentials:
        """Register a client. With ``jwks`` it authenticates with private_key_jwt (no secret);
        with ``redirect_uris`` it may use the authorization code flow (PKCE S256 required);
        ``public=True`` makes a client without credentials (code flow only)."""
        ...

    def get(self, client_id: str) -> Client | None:
        """The client, or None if unknown."""
        ...

    def set_status(self, client_id: str, status: ClientStatus) -> None:
        """Approve, suspend or revoke a client; suspension/revocation revokes its tokens.

        Raises common.errors.NotFound for an unknown client_id and InvalidInput for an
        unknown status."""
        ...


@dataclass(frozen=True)
class User:
    """A researcher (or staff) account of the embedded identity provider."""

    subject: str  # stable, opaque ``sub``; never the username
    username: str
    affiliation: str = ""  # e.g. "faculty@uni-heidelberg.de" (eduPersonScopedAffiliation)
    roles: tuple[str, ...] = ()
    researcher_status: ResearcherStatus = "none"
    accepted_terms: tuple[str, ...] = field(default_factory=tuple)  # policy URLs accepted
    email: str = ""
    active: bool = True


class UserDirectory(Protocol):
    """Accounts of the embedded upstream identity (hashed passwords, never stored in clear)."""

    def create_user(
        self,
        username: str,
        password: str,
        *,
        affiliation: str = "",
        roles: Sequence[str] = (),
        researcher_status: ResearcherStatus = "none",
        accepted_terms: Sequence[str] = (),
        email: str = "",
    ) -> User:
        """Create an account; raises common.errors.Conflict if the username is taken."""
        ...

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with these credentials, or None (constant work for unknown names)."""
        ...

    def get(self, subject: str) -> User | None:
        """The user with this ``sub``, or None."""
        ...

    def find_by_username(self, username: str) -> User | None:
        """The user with this username, or None."""
        ...
