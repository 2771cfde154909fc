from __future__ import annotations

import stat
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from common.keys import KeyStore, jwks


@pytest.mark.parametrize("kind", ["ed25519", "ec-p256", "rsa-2048"])
def test_key_is_created_private_and_stable(tmp_path: Path, kind: str) -> None:
    store = KeyStore(tmp_path / "keys")
    key = store.signing_key("issuer", kind)  # type: ignore[arg-type]
    path = tmp_path / "keys" / f"issuer.{kind}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = KeyStore(tmp_path / "keys").signing_key("issuer", kind)  # type: ignore[arg-type]
    assert again.kid == key.kid
    assert "d" not in key.public_jwk()


def test_jwks_verifies_a_token(tmp_path: Path) -> None:
    key = KeyStore(tmp_path).signing_key("broker", "ec-p256")
    from joserfc.jwk import ECKey

    token = jwt.encode(
        {"alg": "ES256", "kid": key.kid}, {"sub": "x"}, ECKey.import_key(key.private_pem())
    )
    keyset = KeySet.import_key_set(jwks([key]))  # type: ignore[arg-type]
    assert jwt.decode(token, keyset).claims["sub"] == "x"


def test_secret_is_stable(tmp_path: Path) -> None:
    a = KeyStore(tmp_path).secret("hmac")
    assert len(a) == 32 and KeyStore(tmp_path).secret("hmac") == a
