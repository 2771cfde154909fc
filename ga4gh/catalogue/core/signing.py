"""Short-lived signed data URLs: an HMAC-SHA-256 grant for one byte range of one stored
object until an expiry time, so the data endpoint serves bytes without a database lookup.

The signed message binds the storage key, the range and the expiry; the secret is the
deployment's ``htsget-url`` HMAC key (common.keys). Tokens are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from common.errors import PermissionDenied


@dataclass(frozen=True)
class Grant:
    """Permission to read bytes [start, end) of the object at ``key`` until ``expires``."""

    key: str
    start: int
    end: int
    expires: int  # seconds since the epoch


def _mac(secret: bytes, grant: Grant) -> str:
    msg = f"genomseq-data-v1\n{grant.key}\n{grant.start}\n{grant.end}\n{grant.expires}".encode()
    digest = hmac.new(secret, msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: bytes, grant: Grant) -> str:
    """The signature of a grant (URL-safe base64)."""
    return _mac(secret, grant)


def verify(secret: bytes, grant: Grant, signature: str, now: float) -> Grant:
    """Return the grant if the signature matches and it has not expired; else PermissionDenied."""
    if not hmac.compare_digest(_mac(secret, grant), signature):
        raise PermissionDenied("the data URL signature is invalid")
    if now > grant.expires:
        raise PermissionDenied("the data URL has expired; request a new ticket")
    return grant


def _payload_mac(secret: bytes, purpose: str, payload: str, expires: int) -> str:
    msg = f"genomseq-{purpose}-v1\n{payload}\n{expires}".encode()
    digest = hmac.new(secret, msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_payload(secret: bytes, purpose: str, payload: str, expires: int) -> str:
    """Signature of an opaque payload for one purpose until ``expires``."""
    return _payload_mac(secret, purpose, payload, expires)


def verify_payload(
    secret: bytes, purpose: str, payload: str, expires: int, signature: str, now: float
) -> None:
    """PermissionDenied unless the signature matches and has not expired."""
    if not hmac.compare_digest(_payload_mac(secret, purpose, payload, expires), signature):
        raise PermissionDenied("the data URL signature is invalid")
    if now > expires:
        raise PermissionDenied("the data URL has expired; request a new ticket")
