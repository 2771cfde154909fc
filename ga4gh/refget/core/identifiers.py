"""Refget 2.0.0 sequence identifiers: "Namespace of the checksums", "Unique Identifiers" and
"Checksum Identifier Identification".

An identifier is an MD5 (32 hex), a ``ga4gh`` digest (``SQ.`` + base64url of the first 24 bytes
of SHA-512), a deprecated TRUNC512 (48 hex, the same 24 bytes in hex), any of them optionally
prefixed by its namespace (``md5:``, ``ga4gh:``, ``trunc512:``), or a namespaced alias CURIE
such as ``insdc:CM000663.2``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Literal

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX48 = re.compile(r"[0-9a-fA-F]{48}")
_GA4GH = re.compile(r"SQ\.[A-Za-z0-9_-]{32,}")
_NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")

Kind = Literal["md5", "ga4gh", "alias", "unknown"]


@dataclass(frozen=True)
class Identifier:
    """A parsed request identifier: what to look the sequence up by."""

    kind: Kind
    value: str
    naming_authority: str = ""


def trunc512_to_ga4gh(hex48: str) -> str:
    """The ``ga4gh`` identifier with the same 24 digest bytes as a TRUNC512 hex string."""
    return "SQ." + base64.urlsafe_b64encode(bytes.fromhex(hex48)).decode("ascii")


def ga4gh_to_trunc512(ga4gh: str) -> str:
    """The deprecated TRUNC512 (hex) form of a ``ga4gh`` identifier (refget 1.0.0 metadata)."""
    return base64.urlsafe_b64decode(ga4gh.removeprefix("SQ.")).hex()


def parse_identifier(raw: str) -> Identifier:
    """Classify a path identifier; malformed digests are ``unknown`` (answered with 404)."""
    namespace, sep, rest = raw.partition(":")
    if sep:
        ns = namespace.lower()
        if ns == "md5":
            return Identifier("md5", rest.lower()) if _HEX32.fullmatch(rest) else _unknown(raw)
        if ns == "ga4gh":
            return Identifier("ga4gh", rest) if _GA4GH.fullmatch(rest) else _unknown(raw)
        if ns == "trunc512":
            if _HEX48.fullmatch(rest):
                return Identifier("ga4gh", trunc512_to_ga4gh(rest))
            return _unknown(raw)
        if _NAMESPACE.fullmatch(namespace) and rest:
            return Identifier("alias", rest, naming_authority=ns)
        return _unknown(raw)
    if _GA4GH.fullmatch(raw):
        return Identifier("ga4gh", raw)
    if _HEX32.fullmatch(raw):
        return Identifier("md5", raw.lower())
    if _HEX48.fullmatch(raw):
        return Identifier("ga4gh", trunc512_to_ga4gh(raw))
    return _unknown(raw)


def _unknown(raw: str) -> Identifier:
    return Identifier("unknown", raw)
