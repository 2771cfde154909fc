"""SQL adapter of the passport broker (SQLite and PostgreSQL, one code path)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from common.db import PreparedRead, write_transaction
from common.errors import Conflict, InvalidInput, NotFound
from ga4gh.passport.core import scopes as smart
from ga4gh.passport.core.jose import InvalidToken, import_public_jwk
from ga4gh.passport.core.passwords import dummy_verify, hash_password, verify_password
from ga4gh.passport.ports import (
    CLIENT_STATUSES,
    Client,
    ClientCredentials,
    ClientStatus,
    ResearcherStatus,
    User,
)
from ga4gh.passport.storage.tables import (
    access_tokens,
    assertion_jtis,
    auth_codes,
    clients,
    refresh_tokens,
    users,
)


def token_hash(value: str) -> str:
    """SHA-256 hex of a secret token: what the database stores instead of the token."""
    return hashlib.sha256(value.encode()).hexdigest()


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class AuthorizationCode:
    """A stored authorization code (RFC 6749 section 4.1.2) with its PKCE challenge."""

    client_id: str
    subject: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    auth_time: int
    expires_at: int
    used: bool
    family_id: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


@dataclass(frozen=True)
class RefreshToken:
    """A stored refresh token; ``rotated_at`` set once it was exchanged for a new one."""

    token_hash: str
    family_id: str
    client_id: str
    subject: str
    scope: str
    issued_at: int
    expires_at: int
    rotated_at: int | None
    revoked_at: int | None


_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
_DEFAULT_GRANTS = {
    "private_key_jwt": ("client_credentials", _EXCHANGE),
    "client_secret_basic": ("client_credentials", _EXCHANGE),
    "none": ("authorization_code", "refresh_token"),
}


class PassportStore:
    """Clients, users and token state; implements ClientRegistry and UserDirectory."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self._clock = clock
        # Called with a client_id whenever its status changes (the broker revokes tokens).
        self.on_status_change: list[Callable[[str, ClientStatus], None]] = []
        # Runs on every request carrying a broker token: compiled once.
        self._revoked_read = PreparedRead(engine, select(access_tokens.c.revoked_at).where(
            access_tokens.c.jti == bindparam("jti")))

    def _t(self) -> int:
        return int(self._clock())

    # -- ClientRegistry ----------------------------------------------------------------

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
        """Register a client; private_key_jwt with a JWKS, otherwise a secret (or public)."""
        if not name.strip():
            raise InvalidInput("a client needs a name")
        for scope in scopes:
            if not smart.is_valid_scope(scope):
                raise InvalidInput(f"unknown scope {scope!r}")
        for uri in redirect_uris:
            if not (uri.startswith("https://") or uri.startswith("http://127.0.0.1")
                    or uri.startswith("http://localhost")) or "#" in uri:
                raise InvalidInput("redirect URIs are https (or loopback http), no fragment")
        if jwks is not None:
            keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
            if not isinstance(keys, list) or not keys:
                raise InvalidInput("jwks must be a JWK Set with at least one key")
            for key in keys:
                if not isinstance(key, Mapping) or "d" in key or not key.get("kid"):
                    raise InvalidInput("jwks keys must be public keys with a kid")
                try:
                    import_public_jwk(key)
                except InvalidToken as exc:
                    raise InvalidInput(f"jwks: {exc.message}") from exc
            method = "private_key_jwt"
        elif public:
            method = "none"
        else:
            method = "client_secret_basic"
        if grant_types is None:
            grants = list(_DEFAULT_GRANTS[method])
            if redirect_uris and "authorization_code" not in grants:
                grants += ["authorization_code", "refresh_token"]
        else:
            grants = list(grant_types)
        if "authorization_code" in grants and not redirect_uris:
            raise InvalidInput("the authorization code grant needs redirect URIs")
        if method == "none" and "client_credentials" in grants:
            raise InvalidInput("a public client cannot use client credentials")
        client_id = "gs-" + uuid.uuid4().hex
        secret = None if method in ("private_key_jwt", "none") else secrets.token_urlsafe(32)
        now = self._t()
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(clients).values(
                    client_id=client_id,
                    name=name.strip(),
                    role=role,
                    status="approved",
                    auth_method=method,
                    secret_hash=hash_password(secret) if secret else None,
                    jwks=json.dumps(dict(jwks)) if jwks is not None else None,
                    redirect_uris=json.dumps(list(redirect_uris)),
                    scopes=" ".join(scopes),
                    grant_types=json.dumps(grants),
                    created_at=now,
                    updated_at=now,
                )
            )
        return ClientCredentials(client_id, secret)

    def get(self, client_id: str) -> Client | None:
        """The client, or None."""
        if not client_id or len(client_id) > 64:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(clients).where(clients.c.client_id == client_id)).first()
        if row is None:
            return None
        return Client(
            client_id=row.client_id,
            name=row.name,
            role=row.role,
            status=row.status,
            token_endpoint_auth_method=row.auth_method,
            scopes=tuple(row.scopes.split()),
            redirect_uris=tuple(json.loads(row.redirect_uris)),
            grant_types=tuple(json.loads(row.grant_types)),
            jwks=json.loads(row.jwks) if row.jwks else None,
        )

    def check_client_secret(self, client_id: str, secret: str) -> bool:
        """True if the secret matches the stored hash."""
        with self.engine.connect() as conn:
            stored = conn.execute(
                select(clients.c.secret_hash).where(clients.c.client_id == client_id)
            ).scalar()
        if not stored:
            dummy_verify(secret)
            return False
        return verify_password(secret, stored)

    def set_status(self, client_id: str, status: ClientStatus) -> None:
        """Change a client's status; leaving 'approved' revokes all its tokens."""
        if status not in CLIENT_STATUSES:
            raise InvalidInput(f"unknown client status {status!r}")
        now = self._t()
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                update(clients)
                .where(clients.c.client_id == client_id)
                .values(status=status, updated_at=now)
            )
            if result.rowcount == 0:
                raise NotFound("no such client")
            if status != "approved":
                conn.execute(
                    update(access_tokens)
                    .where(access_tokens.c.client_id == client_id,
                           access_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                conn.execute(
                    update(refresh_tokens)
                    .where(refresh_tokens.c.client_id == client_id,
                           refresh_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
        for hook in self.on_status_change:
            hook(client_id, status)

    # -- UserDirectory -----------------------------------------------------------------

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
        """Create an account with a scrypt-hashed password."""
        username = username.strip()
        if not username or len(username) > 200:
            raise InvalidInput("a username is 1 to 200 characters")
        if len(password) < 12:
            raise InvalidInput("a password has at least 12 characters")
        if researcher_status not in ("none", "bona-fide"):
            raise InvalidInput("researcher_status is 'none' or 'bona-fide'")
        subject = uuid.uuid4().hex
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(
                    insert(users).values(
                        subject=subject,
                        username=username,
                        password_hash=hash_password(password),
                        affiliation=affiliation,
                        roles=json.dumps(list(roles)),
                        researcher_status=researcher_status,
                        accepted_terms=json.dumps(list(accepted_terms)),
                        email=email,
                        active=True,
                        created_at=self._t(),
                    )
                )
        except IntegrityError as exc:
            raise Conflict("the username is taken") from exc
        user = self.get_user(subject)
        assert user is not None
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with these credentials, or None (same work for unknown names)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username.strip())).first()
        if row is None:
            dummy_verify(password)
            return None
        if not verify_password(password, row.password_hash) or not row.active:
            return None
        return _user(row)

    def get_user(self, subject: str) -> User | None:
        """The user with this sub, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.subject == subject)).first()
        return _user(row) if row else None

    def find_by_username(self, username: str) -> User | None:
        """The user with this username, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        return _user(row) if row else None

    # -- authorization codes -----------------------------------------------------------

    def save_code(self, code: str, **values: Any) -> None:
        """Store a new authorization code by hash."""
        with write_transaction(self.engine) as conn:
            conn.execute(insert(auth_codes).values(code_hash=token_hash(code), used=False,
                                                   family_id=None, **values))

    def find_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The code of this client, or None; a reused code revokes what it produced.

        RFC 6749 section 4.1.2: a code used twice must be refused and the tokens issued
        from it should be revoked."""
        h = token_hash(code)
        with write_transaction(self.engine) as conn:
            row = conn.execute(
                select(auth_codes).where(auth_codes.c.code_hash == h)
            ).first()
            if row is None or row.client_id != client_id:
                return None
            if row.used:
                if row.family_id:
                    self._revoke_family(conn, row.family_id)
                return None
        return AuthorizationCode(
            client_id=row.client_id, subject=row.subject, redirect_uri=row.redirect_uri,
            scope=row.scope, code_challenge=row.code_challenge,
            code_challenge_method=row.code_challenge_method, nonce=row.nonce,
            auth_time=row.auth_time, expires_at=row.expires_at, used=row.used,
            family_id=row.family_id,
        )

    def use_code(self, code: str, family_id: str) -> bool:
        """Mark a code used (atomically: False if another request used it first)."""
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                update(auth_codes)
                .where(auth_codes.c.code_hash == token_hash(code), auth_codes.c.used.is_(False))
                .values(used=True, family_id=family_id)
            )
            return result.rowcount == 1

    # -- tokens ------------------------------------------------------------------------

    def record_access_token(
        self, jti: str, client_id: str, subject: str, expires_at: int, family_id: str | None
    ) -> None:
        """Remember an issued access token so it can be revoked."""
        with write_transaction(self.engine) as conn:
            conn.execute(insert(access_tokens).values(
                jti=jti, client_id=client_id, subject=subject, expires_at=expires_at,
                family_id=family_id, revoked_at=None,
            ))

    def access_token_revoked(self, jti: str) -> bool:
        """True if revoked or never issued here (fail closed)."""
        row = self._revoked_read.first(jti=jti)
        return row is None or row[0] is not None

    def revoke_access_token(self, jti: str, client_id: str | None = None) -> bool:
        """Revoke one access token (of this client, if given)."""
        stmt = update(access_tokens).where(access_tokens.c.jti == jti,
                                           access_tokens.c.revoked_at.is_(None))
        if client_id is not None:
            stmt = stmt.where(access_tokens.c.client_id == client_id)
        with write_transaction(self.engine) as conn:
            return conn.execute(stmt.values(revoked_at=self._t())).rowcount == 1

    def save_refresh_token(
        self, token: str, *, family_id: str, client_id: str, subject: str, scope: str,
        expires_at: int,
    ) -> None:
        """Store a refresh token by hash in its rotation family."""
        with write_transaction(self.engine) as conn:
            conn.execute(insert(refresh_tokens).values(
                token_hash=token_hash(token), family_id=family_id, client_id=client_id,
                subject=subject, scope=scope, issued_at=self._t(), expires_at=expires_at,
                rotated_at=None, revoked_at=None,
            ))

    def find_refresh_token(self, token: str) -> RefreshToken | None:
        """The stored refresh token, whatever its state."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash(token))
            ).first()
        return RefreshToken(**row._mapping) if row else None

    def rotate_refresh_token(self, token: str) -> bool:
        """Mark a refresh token rotated (False if it was rotated or revoked meanwhile)."""
        with write_transaction(self.engine) as conn:
            return conn.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.token_hash == token_hash(token),
                       refresh_tokens.c.rotated_at.is_(None),
                       refresh_tokens.c.revoked_at.is_(None))
                .values(rotated_at=self._t())
            ).rowcount == 1

    def revoke_family(self, family_id: str) -> None:
        """Revoke every refresh and access token of one grant (reuse detected, logout)."""
        with write_transaction(self.engine) as conn:
            self._revoke_family(conn, family_id)

    def _revoke_family(self, conn: Any, family_id: str) -> None:
        now = self._t()
        conn.execute(update(refresh_tokens)
                     .where(refresh_tokens.c.family_id == family_id,
                            refresh_tokens.c.revoked_at.is_(None))
                     .values(revoked_at=now))
        conn.execute(update(access_tokens)
                     .where(access_tokens.c.family_id == family_id,
                            access_tokens.c.revoked_at.is_(None))
                     .values(revoked_at=now))

    # -- client assertion replay -------------------------------------------------------

    def first_use_of_assertion(self, client_id: str, jti: str, expires_at: int) -> bool:
        """True the first time a (client, jti) pair is seen; expired entries are purged."""
        key = token_hash(f"{client_id}\x00{jti}")
        now = self._t()
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(delete(assertion_jtis).where(assertion_jtis.c.expires_at < now - 3600))
                conn.execute(insert(assertion_jtis).values(jti_hash=key,
                                                           expires_at=max(expires_at, now)))
        except IntegrityError:
            return False
        return True


class SqlUserDirectory:
    """The UserDirectory port over the store (its ``get`` looks up users, not clients)."""

    def __init__(self, store: PassportStore) -> None:
        self._store = store
        self.create_user = store.create_user
        self.authenticate = store.authenticate
        self.find_by_username = store.find_by_username

    def get(self, subject: str) -> User | None:
        """The user with this sub, or None."""
        return self._store.get_user(subject)


def _user(row: Any) -> User:
    return User(
        subject=row.subject,
        username=row.username,
        affiliation=row.affiliation,
        roles=tuple(json.loads(row.roles)),
        researcher_status=row.researcher_status,
        accepted_terms=tuple(json.loads(row.accepted_terms)),
        email=row.email,
        active=bool(row.active),
    )
