"""Key material of a deployment: signing keys (Ed25519, ES256, RS256) and HMAC secrets.

Keys are generated on first use into ``<data_dir>/keys`` with 0600 permissions (the directory
0700) or read from there if an operator placed them; nothing is ever logged. Public keys are
published as a JWKS (RFC 7517) by whatever component needs it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

KeyKind = Literal["ed25519", "ec-p256", "rsa-2048"]
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@dataclass(frozen=True)
class SigningKey:
    """A private key with its key id (RFC 7638 thumbprint) and JOSE algorithm."""

    name: str
    kind: KeyKind
    private_key: PrivateKey
    kid: str
    alg: str

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK with ``kid``, ``alg`` and ``use``."""
        jwk = _public_jwk(self.private_key)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _public_jwk(key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64u(raw)}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        nums = key.public_key().public_numbers()
        size = (key.curve.key_size + 7) // 8
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64u(nums.x.to_bytes(size, "big")),
            "y": _b64u(nums.y.to_bytes(size, "big")),
        }
    pub = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "n": _b64u(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")),
        "e": _b64u(pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big")),
    }


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of the required members."""
    required = {
        "OKP": ("crv", "kty", "x"),
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
    }
    members = ",".join(f'"{k}":"{jwk[k]}"' for k in required[jwk["kty"]])
    return _b64u(hashlib.sha256(("{" + members + "}").encode()).digest())


_ALG = {"ed25519": "EdDSA", "ec-p256": "ES256", "rsa-2048": "RS256"}


class KeyStore:
    """Loads or creates named keys under one directory; safe to share between threads."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}

    def signing_key(self, name: str, kind: KeyKind = "ed25519") -> SigningKey:
        """The named private key, generated on first use."""
        cache_key = f"sign:{name}:{kind}"
        with self._lock:
            if cache_key not in self._cache:
                path = self.directory / f"{name}.{kind}.pem"
                if not path.exists():
                    key = _generate(kind)
                    # Another process may create it first: then use theirs.
                    with contextlib.suppress(FileExistsError):
                        _write_private(path, _pem(key))
                loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(
                    loaded,
                    ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
                ):
                    raise ValueError(f"{path} holds an unsupported key type")
                jwk = _public_jwk(loaded)  # type: ignore[arg-type]
                self._cache[cache_key] = SigningKey(
                    name,
                    kind,
                    loaded,
                    _thumbprint(jwk),
                    _ALG[kind],  # type: ignore[arg-type]
                )
            return self._cache[cache_key]  # type: ignore[no-any-return]

    def secret(self, name: str, nbytes: int = 32) -> bytes:
        """A named random secret (HMAC keys, master keys), generated on first use."""
        cache_key = f"secret:{name}"
        with self._lock:
            if cache_key not in self._cache:
                path = self.directory / f"{name}.secret"
                if not path.exists():
                    with contextlib.suppress(FileExistsError):
                        _write_private(path, secrets.token_bytes(nbytes).hex().encode())
                self._cache[cache_key] = bytes.fromhex(path.read_text().strip())
            return self._cache[cache_key]  # type: ignore[no-any-return]


def _generate(kind: KeyKind) -> PrivateKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def jwks(keys: list[SigningKey]) -> dict[str, Any]:
    """A JWK Set of the public halves."""
    return {"keys": [k.public_jwk() for k in keys]}
