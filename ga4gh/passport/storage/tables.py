"""SQLAlchemy Core tables of the passport broker; migrations/versions/ creates them (a test
checks both agree)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Times are whole seconds since the epoch (UTC): JWT NumericDate, dialect-neutral.
clients = Table(
    "passport_client",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("auth_method", String(32), nullable=False),
    Column("secret_hash", String(200), nullable=True),
    Column("jwks", Text(), nullable=True),
    Column("redirect_uris", Text(), nullable=False),
    Column("scopes", Text(), nullable=False),
    Column("grant_types", Text(), nullable=False),
    Column("created_at", BigInteger(), nullable=False),
    Column("updated_at", BigInteger(), nullable=False),
)

users = Table(
    "passport_user",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("username", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("affiliation", String(200), nullable=False),
    Column("roles", Text(), nullable=False),
    Column("researcher_status", String(32), nullable=False),
    Column("accepted_terms", Text(), nullable=False),
    Column("email", String(200), nullable=False),
    Column("active", Boolean(), nullable=False),
    Column("created_at", BigInteger(), nullable=False),
    UniqueConstraint("username", name="uq_passport_user_username"),
)

# Authorization codes, refresh tokens and access tokens are stored by SHA-256 only.
auth_codes = Table(
    "passport_auth_code",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("redirect_uri", Text(), nullable=False),
    Column("scope", Text(), nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(8), nullable=False),
    Column("nonce", String(200), nullable=True),
    Column("auth_time", BigInteger(), nullable=False),
    Column("expires_at", BigInteger(), nullable=False),
    Column("used", Boolean(), nullable=False),
    # Access and refresh tokens issued for this code: revoked if the code is replayed.
    Column("family_id", String(64), nullable=True),
)

refresh_tokens = Table(
    "passport_refresh_token",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("scope", Text(), nullable=False),
    Column("issued_at", BigInteger(), nullable=False),
    Column("expires_at", BigInteger(), nullable=False),
    Column("rotated_at", BigInteger(), nullable=True),
    Column("revoked_at", BigInteger(), nullable=True),
    Index("ix_passport_refresh_family", "family_id"),
)

access_tokens = Table(
    "passport_access_token",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("family_id", String(64), nullable=True),
    Column("client_id", String(64), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("expires_at", BigInteger(), nullable=False),
    Column("revoked_at", BigInteger(), nullable=True),
    Index("ix_passport_access_family", "family_id"),
    Index("ix_passport_access_client", "client_id"),
)

# Client assertion jti values seen (RFC 7523 section 3 item 7: replay protection).
assertion_jtis = Table(
    "passport_assertion_jti",
    metadata,
    Column("jti_hash", String(64), primary_key=True),
    Column("expires_at", BigInteger(), nullable=False),
)
