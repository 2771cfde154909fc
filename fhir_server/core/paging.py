"""Opaque, tamper-proof paging tokens for FHIR Bundle links (http.html#paging: the server
decides the form of paging links; clients must treat them as opaque)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from fhir_server.core.errors import InvalidRequest


def encode_token(key: bytes, state: dict[str, Any]) -> str:
    """URL-safe token carrying ``state``, authenticated with HMAC-SHA-256."""
    body = orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
    mac = hmac.new(key, body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac + body).rstrip(b"=").decode()


def decode_token(key: bytes, token: str) -> dict[str, Any]:
    """The state of a token made by encode_token; 400 if it was altered or is malformed."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raise InvalidRequest("malformed paging token") from None
    mac, body = raw[:16], raw[16:]
    if len(mac) < 16 or not hmac.compare_digest(
        mac, hmac.new(key, body, hashlib.sha256).digest()[:16]
    ):
        raise InvalidRequest("invalid paging token")
    try:
        state = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest("malformed paging token") from None
    if not isinstance(state, dict):
        raise InvalidRequest("malformed paging token")
    return state
