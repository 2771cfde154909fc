"""Strict JWS/JWT verification shared by the clearinghouse and the broker.

RFC 7515 (JWS) section 4.1, RFC 7519 (JWT) section 4.1, RFC 8725 (JWT Best Current Practices)
sections 2 and 3, GA4GH AAI OpenID Connect Profile 1.2 section "Conformance for
Clearinghouses". Everything that can be refused without cryptography is refused first: the
size of the token, the header's ``alg`` (RS256/ES256 only, never ``none`` or HMAC), ``typ``,
and any key-carrying header (``jwk``, ``x5c``, ``x5u``; ``jku`` only from an allow-list).
The key is then chosen by ``kid`` from keys pinned for the issuer, never from the token.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from common.errors import Unauthenticated

# RFC 8725 section 3.1: an explicit allow-list. RS384/ES384 are accepted only for client
# assertions (private_key_jwt) where the client chooses its key type.
TOKEN_ALGORITHMS = ("RS256", "ES256")
CLIENT_ASSERTION_ALGORITHMS = ("RS256", "RS384", "ES256", "ES384")
# Headers that would let the token choose its own verification key (RFC 8725 section 3.10).
FORBIDDEN_HEADERS = ("jwk", "x5c", "x5u", "x5t", "x5t#S256")
DEFAULT_LEEWAY_SECONDS = 30

PublicKey = ECKey | RSAKey


class InvalidToken(Unauthenticated):
    """A token that must not be accepted; ``reason`` is a short machine-readable code."""

    code = "invalid_token"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed", "the token is not a compact JWS") from exc


def split_compact(token: str, max_bytes: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, unverified; size-checked before decoding anything."""
    if len(token) > max_bytes:
        raise InvalidToken("too_large", f"the token exceeds {max_bytes} bytes")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise InvalidToken("malformed", "the token is not a compact JWS")
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("malformed", "the token is not a compact JWS") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("malformed", "the token is not a compact JWS")
    return header, claims


def check_header(
    header: Mapping[str, Any],
    *,
    typ: str | Collection[str],
    algorithms: Collection[str] = TOKEN_ALGORITHMS,
    allowed_jku: Collection[str] | None = (),
) -> None:
    """Refuse a header by ``alg``, ``typ``, ``crit`` and key-carrying members, before crypto."""
    alg = header.get("alg")
    if alg not in algorithms:
        raise InvalidToken("alg", "the token's signing algorithm is not accepted")
    expected = (typ,) if isinstance(typ, str) else tuple(typ)
    got = header.get("typ")
    # RFC 8725 section 3.11: explicit typing; media types compare case-insensitively and the
    # "application/" prefix may be omitted (RFC 7515 section 4.1.9).
    if not isinstance(got, str) or _media(got) not in {_media(t) for t in expected}:
        raise InvalidToken("typ", "the token type is not accepted here")
    for name in FORBIDDEN_HEADERS:
        if name in header:
            raise InvalidToken("header", f"the '{name}' header is not accepted")
    if "crit" in header:
        raise InvalidToken("header", "no critical header extensions are understood")
    if "jku" in header:
        jku = header["jku"]
        if allowed_jku is None or not isinstance(jku, str) or jku not in allowed_jku:
            raise InvalidToken("jku", "the token's jku is not on the issuer's allow-list")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("kid", "the token has no key id")


def _media(typ: str) -> str:
    lowered = typ.lower()
    return lowered[len("application/"):] if lowered.startswith("application/") else lowered


def verify_signature(token: str, key: PublicKey, alg: str) -> None:
    """Verify the JWS signature with exactly this key and algorithm (RFC 7518 section 3).

    Verified directly with ``cryptography`` on the already-split token: the header was parsed
    and checked once, so it is not parsed again (about twice as fast as a generic JWS call).
    """
    digest = _DIGESTS.get(alg)
    if digest is None:
        raise InvalidToken("alg", "the token's signing algorithm is not accepted")
    signing_input, _, encoded = token.rpartition(".")
    signature = _b64decode(encoded)
    public = key.raw_value
    try:
        if alg.startswith("ES"):
            size = _EC_SIZES[alg]
            if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.key_size != (
                256 if alg == "ES256" else 384
            ):
                raise InvalidToken("key", "the signing key does not match the algorithm")
            if len(signature) != 2 * size:
                raise InvalidToken("signature", "the token's signature does not verify")
            der = encode_dss_signature(
                int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            )
            public.verify(der, signing_input.encode("ascii"), ec.ECDSA(digest()))
        else:
            if not isinstance(public, rsa.RSAPublicKey):
                raise InvalidToken("key", "the signing key does not match the algorithm")
            public.verify(signature, signing_input.encode("ascii"), padding.PKCS1v15(), digest())
    except (InvalidSignature, UnicodeEncodeError, ValueError) as exc:
        raise InvalidToken("signature", "the token's signature does not verify") from exc


_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256, "RS384": hashes.SHA384, "ES256": hashes.SHA256, "ES384": hashes.SHA384,
}
_EC_SIZES = {"ES256": 32, "ES384": 48}


def check_claims(
    claims: Mapping[str, Any],
    *,
    now: float,
    issuer: str | Collection[str] | None,
    audience: str | Collection[str] | None,
    leeway: int = DEFAULT_LEEWAY_SECONDS,
    required: Collection[str] = ("iss", "sub", "iat", "exp", "jti"),
    max_lifetime: int | None = None,
) -> None:
    """RFC 7519 section 4.1 checks with a small leeway; every claim in ``required`` present."""
    for name in required:
        if name not in claims:
            raise InvalidToken("claims", f"the token has no '{name}' claim")
    for name in ("exp", "nbf", "iat"):
        if name in claims and (
            not isinstance(claims[name], int | float) or isinstance(claims[name], bool)
        ):
            raise InvalidToken("claims", f"the '{name}' claim is not a number")
    if "exp" in claims and now > claims["exp"] + leeway:
        raise InvalidToken("expired", "the token has expired")
    if "nbf" in claims and now + leeway < claims["nbf"]:
        raise InvalidToken("not_yet_valid", "the token is not valid yet")
    if "iat" in claims and now + leeway < claims["iat"]:
        raise InvalidToken("iat", "the token was issued in the future")
    if (
        max_lifetime is not None
        and "exp" in claims
        and "iat" in claims
        and claims["exp"] - claims["iat"] > max_lifetime
    ):
        raise InvalidToken("lifetime", "the token's lifetime is longer than allowed")
    for name in ("iss", "sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken("claims", f"the '{name}' claim is not a string")
    if issuer is not None:
        allowed = (issuer,) if isinstance(issuer, str) else tuple(issuer)
        if claims.get("iss") not in allowed:
            raise InvalidToken("iss", "the token was issued by an issuer not trusted here")
    if audience is not None:
        wanted = {audience} if isinstance(audience, str) else set(audience)
        aud = claims.get("aud")
        got = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        if not got or not all(isinstance(a, str) for a in got) or not (got & wanted):
            raise InvalidToken("aud", "the token is not meant for this audience")


KeyLookup = Callable[[str, str, str | None], PublicKey | None]
"""(issuer, kid, jku) -> pinned public key, or None if unknown."""


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose header, signature and time claims were checked."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    raw: str


def import_public_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """A public key from a JWK (EC P-256/P-384 or RSA >= 2048 bits); private parts dropped."""
    public = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
    try:
        if public.get("kty") == "EC":
            return ECKey.import_key(public)
        if public.get("kty") == "RSA":
            key = RSAKey.import_key(public)
            if key.raw_value.key_size < 2048:
                raise InvalidToken("key", "RSA keys shorter than 2048 bits are refused")
            return key
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidToken("key", "the JWK cannot be read") from exc
    raise InvalidToken("key", "only EC and RSA keys are accepted")
