"""Key lookup for the clearinghouse: local keys without network, remote JWKS only if pinned.

A remote JWKS is fetched only from a URL on the issuer's allow-list (the token's ``jku`` was
already checked against it before this runs), over HTTPS, with a size limit and a timeout,
and cached; an unknown ``kid`` triggers at most one refetch per minute per URL.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from ga4gh.passport.core.clearinghouse import TrustedIssuer
from ga4gh.passport.core.jose import InvalidToken, PublicKey, import_public_jwk

MAX_JWKS_BYTES = 64 * 1024
CACHE_SECONDS = 300
REFETCH_SECONDS = 60


def fetch_jwks(url: str) -> Mapping[str, object]:
    """GET a JWK Set over HTTPS (size-limited)."""
    if not url.startswith("https://"):
        raise InvalidToken("jku", "JWKS URLs must be https")
    req = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (https only, pinned)
        body = resp.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise InvalidToken("jku", "the JWKS is too large")
    data = json.loads(body)
    if not isinstance(data, dict):
        raise InvalidToken("jku", "the JWKS is not a JSON object")
    return data


class PinnedKeys:
    """KeyLookup over the broker's own keys and the trusted issuers' pinned JWKS URLs."""

    def __init__(
        self,
        own_issuer: str,
        own_keys: Mapping[str, PublicKey],
        trusted: Sequence[TrustedIssuer],
        fetch: Callable[[str], Mapping[str, object]] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._own_issuer = own_issuer
        self._own = dict(own_keys)
        self._trusted = {t.issuer: t for t in trusted}
        self._fetch = fetch
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, PublicKey]]] = {}
        self._lock = threading.Lock()

    def __call__(self, issuer: str, kid: str, jku: str | None) -> PublicKey | None:
        if issuer == self._own_issuer:
            # Our own keys never come from the network, whatever jku says (it was checked).
            return self._own.get(kid)
        trusted = self._trusted.get(issuer)
        if trusted is None or not trusted.jwks_uris:
            return None
        urls = [jku] if jku is not None else list(trusted.jwks_uris)
        for url in urls:
            if url not in trusted.jwks_uris:
                return None  # defence in depth: never fetch an un-allow-listed URL
            key = self._from_url(url, kid)
            if key is not None:
                return key
        return None

    def _from_url(self, url: str, kid: str) -> PublicKey | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
        if cached and (kid in cached[1] or now - cached[0] < REFETCH_SECONDS) \
                and now - cached[0] < CACHE_SECONDS:
            return cached[1].get(kid)
        try:
            data = self._fetch(url)
        except (OSError, ValueError, InvalidToken):
            return cached[1].get(kid) if cached else None
        keys: dict[str, PublicKey] = {}
        listed = data.get("keys")
        for jwk in listed if isinstance(listed, list) else []:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                try:
                    keys[jwk["kid"]] = import_public_jwk(jwk)
                except InvalidToken:
                    continue
        with self._lock:
            self._cache[url] = (now, keys)
        return keys.get(kid)
