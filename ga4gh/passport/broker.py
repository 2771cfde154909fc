"""The passport broker's token minting: access tokens, ID tokens, visas and passports.

RFC 9068 (JWT profile for OAuth 2.0 access tokens) sections 2.1-2.2; OpenID Connect Core 1.0
section 2 (ID Token); GA4GH AAI OpenID Connect Profile 1.2 ("Visa Document Token Format",
"Passport Format": ``jku`` header, explicit ``typ``) and GA4GH Passport 1.2 visa types.
Beyond what the specs require, every token has ``aud`` and ``jti``, and a passport lives at
most one hour and never beyond its earliest visa.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from common.keys import KeyStore, SigningKey
from ga4gh.passport.core.jose import PublicKey, import_public_jwk
from ga4gh.passport.core.visas import (
    ACCEPTED_TERMS_AND_POLICIES,
    ACCESS_TOKEN_TYP,
    AFFILIATION_AND_ROLE,
    BONA_FIDE_POLICY,
    CONTROLLED_ACCESS_GRANTS,
    PASSPORT_TYP,
    RESEARCHER_STATUS,
    VISA_TYP,
    dataset_value,
    visa_object,
)
from ga4gh.passport.ports import User
from platform_provider.ports import Grant, GrantDirectory

TOKEN_KEY = "passport-es256"  # noqa: S105 (a key file name)
ID_TOKEN_KEY = "passport-rs256"  # noqa: S105 (a key file name)


@dataclass(frozen=True)
class BrokerConfig:
    """What the broker needs from settings."""

    issuer: str
    audience: str
    platform_url: str
    access_token_lifetime: int = 600
    refresh_token_lifetime: int = 8 * 3600
    visa_lifetime: int = 3600
    passport_lifetime: int = 3600


@dataclass(frozen=True)
class MintedToken:
    """A signed token with its id and expiry."""

    token: str
    jti: str
    expires_at: int


class BrokerKeys:
    """The broker's signing keys from the key store and their public halves by kid."""

    def __init__(self, keys: KeyStore) -> None:
        self.es256: SigningKey = keys.signing_key(TOKEN_KEY, "ec-p256")
        self.rs256: SigningKey = keys.signing_key(ID_TOKEN_KEY, "rsa-2048")
        self._private: dict[str, ECKey | RSAKey] = {
            self.es256.kid: ECKey.import_key(self.es256.private_pem()),
            self.rs256.kid: RSAKey.import_key(self.rs256.private_pem()),
        }
        self.public: dict[str, PublicKey] = {
            k.kid: import_public_jwk(k.public_jwk()) for k in (self.es256, self.rs256)
        }

    def jwks(self) -> dict[str, Any]:
        """The JWK Set published at the jwks_uri (and named by visas' jku)."""
        return {"keys": [self.es256.public_jwk(), self.rs256.public_jwk()]}

    def sign(self, header: dict[str, Any], claims: dict[str, Any], key: SigningKey) -> str:
        """A compact JWS of the claims with this key."""
        full = {**header, "alg": key.alg, "kid": key.kid}
        return jwt.encode(full, claims, self._private[key.kid], algorithms=[key.alg])


class Broker:
    """Mints every token this authorization server issues."""

    def __init__(
        self,
        config: BrokerConfig,
        keys: BrokerKeys,
        grants: Callable[[], GrantDirectory | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.keys = keys
        self._grants = grants
        self._clock = clock

    @property
    def jwks_uri(self) -> str:
        return self.config.issuer.rstrip("/") + "/passport/jwks"

    def now(self) -> int:
        return int(self._clock())

    def access_token(
        self, *, client_id: str, subject: str, scope: str, grant_type: str,
        lifetime: int | None = None,
    ) -> MintedToken:
        """An RFC 9068 access token for the configured resource audience."""
        now = self.now()
        exp = now + (lifetime or self.config.access_token_lifetime)
        jti = uuid.uuid4().hex
        claims = {
            "iss": self.config.issuer,
            "sub": subject,
            "aud": self.config.audience,
            "client_id": client_id,
            "scope": scope,
            "iat": now,
            "exp": exp,
            "jti": jti,
            "gty": grant_type,
        }
        # RS256: verified on every request by every resource server, and RSA verification is
        # several times cheaper than ECDSA (visas and passports stay ES256, verified rarely).
        token = self.keys.sign({"typ": ACCESS_TOKEN_TYP}, claims, self.keys.rs256)
        return MintedToken(token, jti, exp)

    def id_token(self, *, client_id: str, user: User, nonce: str | None, auth_time: int) -> str:
        """An OpenID Connect ID Token (RS256, the OIDC default algorithm)."""
        now = self.now()
        claims: dict[str, Any] = {
            "iss": self.config.issuer,
            "sub": user.subject,
            "aud": client_id,
            "iat": now,
            "exp": now + self.config.access_token_lifetime,
            "auth_time": auth_time,
            "jti": uuid.uuid4().hex,
        }
        if nonce:
            claims["nonce"] = nonce
        return self.keys.sign({"typ": "JWT"}, claims, self.keys.rs256)

    # -- visas and passports -------------------------------------------------------------

    def visas(self, user: User) -> list[MintedToken]:
        """Visa Document Tokens for everything the broker can assert about the user now."""
        now = self.now()
        issuer = self.config.issuer
        until = now + self.config.visa_lifetime
        out: list[MintedToken] = []
        if user.researcher_status == "bona-fide":
            obj = visa_object(RESEARCHER_STATUS, BONA_FIDE_POLICY, issuer, "so", now)
            out.append(self._visa(user.subject, obj, until))
        if user.affiliation:
            obj = visa_object(AFFILIATION_AND_ROLE, user.affiliation, issuer, "so", now)
            out.append(self._visa(user.subject, obj, until))
        for policy in user.accepted_terms:
            obj = visa_object(ACCEPTED_TERMS_AND_POLICIES, policy, issuer, "self", now)
            out.append(self._visa(user.subject, obj, until))
        directory = self._grants()
        if directory is not None:
            at = datetime.fromtimestamp(now, UTC)
            for grant in directory.active_grants(user.subject, at):
                out.append(self._grant_visa(user.subject, grant, now))
        return out

    def _grant_visa(self, subject: str, grant: Grant, now: int) -> MintedToken:
        until = int(grant.valid_until.timestamp())
        exp = min(until, now + self.config.visa_lifetime)
        obj = visa_object(
            CONTROLLED_ACCESS_GRANTS,
            dataset_value(self.config.platform_url, grant.dataset_id),
            self.config.platform_url,
            "dac",
            int(grant.valid_from.timestamp()),
        )
        # Extension members (Passport 1.2 allows and clearinghouses ignore unknown ones):
        # which approved purpose and which grant this visa stands for.
        obj["purpose"] = grant.purpose
        obj["grant"] = grant.grant_id
        return self._visa(subject, obj, exp)

    def _visa(self, subject: str, visa: dict[str, Any], exp: int) -> MintedToken:
        now = self.now()
        jti = uuid.uuid4().hex
        claims = {
            "iss": self.config.issuer,
            "sub": subject,
            "iat": now,
            "exp": exp,
            "jti": jti,
            "ga4gh_visa_v1": visa,
        }
        header = {"typ": VISA_TYP, "jku": self.jwks_uri}
        return MintedToken(self.keys.sign(header, claims, self.keys.es256), jti, exp)

    def passport(
        self,
        subject: str,
        client_id: str,
        visas: Sequence[MintedToken],
        audience: str | None = None,
    ) -> MintedToken:
        """A passport (AAI 1.2 "Passport Format"): <= 1 hour and <= the earliest visa's exp."""
        now = self.now()
        exp = now + min(self.config.passport_lifetime, 3600)
        if visas:
            exp = min(exp, min(v.expires_at for v in visas))
        jti = uuid.uuid4().hex
        claims = {
            "iss": self.config.issuer,
            "sub": subject,
            "aud": audience or self.config.audience,
            "azp": client_id,
            "iat": now,
            "exp": exp,
            "jti": jti,
            "ga4gh_passport_v1": [v.token for v in visas],
        }
        header = {"typ": PASSPORT_TYP, "jku": self.jwks_uri}
        return MintedToken(self.keys.sign(header, claims, self.keys.es256), jti, exp)
