"""Passport clearinghouse: verifies access tokens, passports and visas for resource servers.

GA4GH AAI OpenID Connect Profile 1.2, "Conformance for Passport Clearinghouses" and "Token
validation"; GA4GH Passport 1.2 "Passport Claim Format", "Visa Format" and "Conditions";
RFC 9068 (JWT profile for access tokens) section 4 "Validating JWT Access Tokens"; RFC 8725.

Trust is configured, never discovered: each trusted issuer is pinned with the exact JWKS
URLs (``jku``) its tokens may name, and keys come from a :data:`KeyLookup` that only ever
resolves allow-listed URLs (the broker's own keys come from the local key store without any
network). Per visa type, the accepted ``source`` and ``by`` values are pinned too.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.auth import Principal
from common.errors import InvalidInput
from ga4gh.passport.core.jose import (
    DEFAULT_LEEWAY_SECONDS,
    InvalidToken,
    KeyLookup,
    check_claims,
    check_header,
    split_compact,
    verify_signature,
)
from ga4gh.passport.core.visas import (
    ACCESS_TOKEN_TYP,
    CONTROLLED_ACCESS_GRANTS,
    PASSPORT_TYP,
    VISA_TYP,
    Visa,
    conditions_met,
    parse_visa_object,
)


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose tokens are accepted, with the only JWKS URLs it may name."""

    issuer: str
    jwks_uris: tuple[str, ...] = ()
    # Token kinds this issuer is trusted for: "visa", "passport", "access_token".
    issues: frozenset[str] = frozenset({"visa"})


@dataclass(frozen=True)
class VisaPolicy:
    """For one visa type: which sources and ``by`` values are trusted (empty: any source)."""

    visa_type: str
    sources: frozenset[str] = frozenset()
    by: frozenset[str] = frozenset()

    def accepts(self, visa: Visa) -> bool:
        """True if the visa's source and by are trusted for its type."""
        if self.sources and visa.source not in self.sources:
            return False
        return not self.by or visa.by in self.by


@dataclass(frozen=True)
class Limits:
    """Size limits checked before any cryptography (RFC 8725 section 3.7 spirit: bound work)."""

    max_token_bytes: int = 16 * 1024
    max_passport_bytes: int = 256 * 1024
    max_visas: int = 100
    max_passport_lifetime: int = 3600
    max_visa_lifetime: int = 366 * 24 * 3600
    leeway: int = DEFAULT_LEEWAY_SECONDS


@dataclass(frozen=True)
class TokenPrincipal(Principal):
    """A Principal from a verified token, with what resource servers need to authorize."""

    token_id: str = ""
    issuer: str = ""
    # "access_token" or "passport"
    token_kind: str = "access_token"  # noqa: S105
    visas: tuple[Visa, ...] = ()
    # True for machine clients (client credentials): the participant itself, not a user.
    system: bool = False
    patient: str | None = None
    expires_at: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def controlled_access(self) -> tuple[Visa, ...]:
        """The ControlledAccessGrants visas of a passport (empty for access tokens)."""
        return tuple(v for v in self.visas if v.type == CONTROLLED_ACCESS_GRANTS)


class Clearinghouse:
    """Verifies this broker's access tokens and trusted issuers' passports and visas."""

    def __init__(
        self,
        *,
        own_issuer: str,
        audience: str,
        keys: KeyLookup,
        trusted: Sequence[TrustedIssuer],
        visa_policies: Sequence[VisaPolicy],
        is_revoked: Callable[[str], bool] | None = None,
        limits: Limits = Limits(),
        clock: Callable[[], float] = time.time,
        cache_size: int = 4096,
    ) -> None:
        self.own_issuer = own_issuer
        self.audience = audience
        self._keys = keys
        self._trusted = {t.issuer: t for t in trusted}
        self._policies = {p.visa_type: p for p in visa_policies}
        self._is_revoked = is_revoked or (lambda jti: False)
        self.limits = limits
        self._clock = clock
        # Verified visas by SHA-256 of the token: a visa is immutable, so its verification
        # result holds until its exp (re-checked on every hit).
        self._visa_cache: dict[bytes, Visa] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def passport_issuers(self) -> tuple[str, ...]:
        """Issuers whose visas (in passports) this clearinghouse trusts, sorted."""
        return tuple(sorted(i for i, t in self._trusted.items()
                            if "visa" in t.issues and "passport" in t.issues))

    # -- access tokens -------------------------------------------------------------------

    def verify_access_token(self, token: str) -> TokenPrincipal:
        """An RFC 9068 access token of this broker, for this audience, not revoked."""
        header, claims = split_compact(token, self.limits.max_token_bytes)
        check_header(header, typ=ACCESS_TOKEN_TYP, allowed_jku=None)
        if claims.get("iss") != self.own_issuer:
            # Only this broker issues access tokens for this deployment's resource servers.
            raise InvalidToken("iss", "the token was issued by an issuer not trusted here")
        self._verify(token, header, self.own_issuer)
        now = self._clock()
        check_claims(
            claims,
            now=now,
            issuer=self.own_issuer,
            audience=self.audience,
            leeway=self.limits.leeway,
            required=("iss", "sub", "aud", "iat", "exp", "jti", "client_id"),
            max_lifetime=24 * 3600,
        )
        if self._is_revoked(claims["jti"]):
            raise InvalidToken("revoked", "the token has been revoked")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidToken("claims", "the 'scope' claim is not a string")
        client_id = claims["client_id"]
        if not isinstance(client_id, str):
            raise InvalidToken("claims", "the 'client_id' claim is not a string")
        patient = claims.get("patient")
        return TokenPrincipal(
            subject=claims["sub"],
            client_id=client_id,
            scopes=frozenset(scope.split()),
            claims=dict(claims),
            token_id=claims["jti"],
            issuer=claims["iss"],
            token_kind="access_token",  # noqa: S106
            system=claims.get("gty") == "client_credentials",
            patient=patient if isinstance(patient, str) else None,
            expires_at=int(claims["exp"]),
        )

    # -- passports and visas -------------------------------------------------------------

    def verify_passport(self, token: str) -> TokenPrincipal:
        """A passport from a trusted broker: lifetime <= 1 h, every visa checked.

        Visas that fail are dropped (AAI 1.2: a clearinghouse ignores visas it cannot
        trust); the passport itself must verify completely.
        """
        header, claims = split_compact(token, self.limits.max_passport_bytes)
        iss = claims.get("iss")
        trusted = self._trusted.get(iss) if isinstance(iss, str) else None
        if trusted is None or "passport" not in trusted.issues:
            raise InvalidToken("iss", "the passport was issued by a broker not trusted here")
        check_header(header, typ=PASSPORT_TYP, allowed_jku=trusted.jwks_uris)
        raw_visas = claims.get("ga4gh_passport_v1")
        if not isinstance(raw_visas, list) or not all(isinstance(v, str) for v in raw_visas):
            raise InvalidToken("claims", "ga4gh_passport_v1 must be a list of visa tokens")
        if len(raw_visas) > self.limits.max_visas:
            raise InvalidToken("too_large", "the passport holds too many visas")
        self._verify(token, header, iss)  # type: ignore[arg-type]
        now = self._clock()
        check_claims(
            claims,
            now=now,
            issuer=iss,
            audience=self.audience,
            leeway=self.limits.leeway,
            required=("iss", "sub", "aud", "iat", "exp", "jti"),
            max_lifetime=self.limits.max_passport_lifetime,
        )
        subject = claims["sub"]
        candidates: list[Visa] = []
        for raw in raw_visas:
            try:
                candidates.append(self.verify_visa(raw, subject=subject))
            except (InvalidToken, InvalidInput):
                continue
        # Conditions refer to other visas of the same passport, all already trusted.
        visas = tuple(v for v in candidates if conditions_met(v, candidates))
        return TokenPrincipal(
            subject=subject,
            client_id=str(claims.get("azp", "")),
            scopes=frozenset(),
            claims=dict(claims),
            token_id=claims["jti"],
            issuer=iss,  # type: ignore[arg-type]
            token_kind="passport",  # noqa: S106
            visas=visas,
            expires_at=int(claims["exp"]),
        )

    def verify_visa(self, token: str, *, subject: str) -> Visa:
        """One Visa Document Token: trusted issuer, pinned key, for ``subject``, policy met."""
        small = len(token) <= self.limits.max_token_bytes
        digest = hashlib.sha256(token.encode()).digest() if small else b""
        now = self._clock()
        cached = self._visa_cache.get(digest) if digest else None
        if cached is not None:
            if now > cached.expires_at + self.limits.leeway:
                raise InvalidToken("expired", "the visa has expired")
            if cached.subject != subject:
                raise InvalidToken("sub", "the visa was issued for another subject")
            return cached
        header, claims = split_compact(token, self.limits.max_token_bytes)
        iss = claims.get("iss")
        trusted = self._trusted.get(iss) if isinstance(iss, str) else None
        if trusted is None or "visa" not in trusted.issues:
            raise InvalidToken("iss", "the visa was issued by an issuer not trusted here")
        check_header(header, typ=VISA_TYP, allowed_jku=trusted.jwks_uris)
        if "jku" not in header:
            # AAI 1.2: Visa Document Tokens name their JWKS with jku.
            raise InvalidToken("jku", "the visa has no jku header")
        self._verify(token, header, iss)  # type: ignore[arg-type]
        check_claims(
            claims,
            now=now,
            issuer=iss,
            audience=None,
            leeway=self.limits.leeway,
            required=("iss", "sub", "iat", "exp", "jti", "ga4gh_visa_v1"),
            max_lifetime=self.limits.max_visa_lifetime,
        )
        # AAI 1.2: a visa's scope must not contain openid (it must not double as access token).
        if "openid" in str(claims.get("scope", "")).split():
            raise InvalidToken("claims", "a visa must not carry the openid scope")
        if claims["sub"] != subject:
            raise InvalidToken("sub", "the visa was issued for another subject")
        try:
            vtype, value, source, by, asserted, conditions = parse_visa_object(
                claims["ga4gh_visa_v1"]
            )
        except InvalidInput as exc:
            raise InvalidToken("claims", exc.message) from exc
        if asserted > now + self.limits.leeway:
            raise InvalidToken("claims", "the visa was asserted in the future")
        visa = Visa(
            issuer=iss,  # type: ignore[arg-type]
            subject=subject,
            type=vtype,
            value=value,
            source=source,
            by=by,
            asserted=asserted,
            expires_at=int(claims["exp"]),
            jti=claims["jti"],
            conditions=conditions,
            extra={k: v for k, v in claims["ga4gh_visa_v1"].items()
                   if k in ("purpose", "grant") and isinstance(v, str)},
        )
        policy = self._policies.get(vtype)
        if policy is None or not policy.accepts(visa):
            raise InvalidToken("visa_policy", "the visa's type, source or by is not trusted")
        with self._lock:
            if len(self._visa_cache) >= self._cache_size:
                self._visa_cache.clear()
            self._visa_cache[digest] = visa
        return visa

    def _verify(self, token: str, header: Mapping[str, Any], issuer: str) -> None:
        key = self._keys(issuer, header["kid"], header.get("jku"))
        if key is None:
            raise InvalidToken("kid", "the token's key is not known for its issuer")
        verify_signature(token, key, header["alg"])
