"""Known-answer tests: a fixed master key gives fixed keys and pseudonyms (scheme version 1)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from trust_center.core.errors import InvalidIdentifier
from trust_center.core.pseudonyms import (
    HKDF_SALT,
    Domain,
    DomainKind,
    KeyRing,
    dataset_subject,
    parse_pseudonym,
    person_subject,
)

MASTER = bytes(range(32))
CASE = "00112233445566778899aabbccddeeff"
KDK = Domain.parse("kdk:KDKXXX001")


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing(MASTER)


def _rfc5869(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA-256 written out from RFC 5869 section 2, independent of the library."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def test_domain_key_known_answer(ring: KeyRing) -> None:
    assert ring.domain_key(KDK, 1).hex() == (
        "ffabcbdb2399a4c17be358570733402895a3f26381750815e27e243c7158f073")
    assert ring.domain_key(KDK, 2).hex() == (
        "eea4f1b442e5aaa8a38740c958eda4356607167a779effc0552611a978068c14")


def test_domain_key_is_hkdf_as_documented(ring: KeyRing) -> None:
    info = b"pseudonym-key\x00kdk:KDKXXX001\x001"
    assert ring.domain_key(KDK, 1) == _rfc5869(MASTER, HKDF_SALT, info)


def test_pseudonym_known_answers(ring: KeyRing) -> None:
    assert ring.pseudonym(KDK, 1, dataset_subject(CASE, "clinical")) == (
        "k1.132e7dca1452e62d5c024730ab63f6ef")
    assert ring.pseudonym(Domain.parse("grz:GRZXXX001"), 1, dataset_subject(CASE, "genomic")) == (
        "k1.79ee73a6b992f3eacfc0aa09151ac53f")
    person = ring.subject_id("kvnr", "A123456780")
    assert person == "ac415b7f14f1e80c785c1e67bf118cda12de4933d9dde0fd5c6b89feccaad4d3"
    assert ring.pseudonym(Domain.parse("project:P-2026-001"), 1, person_subject(person)) == (
        "k1.f3acc3731044a1d4a809b5392cf628cb")
    assert ring.arbeitsnummer_index("260326822", "AN-1") == (
        "79353c3b6d6fae90b9d8797d4afdd6f384adb82ec41677b44801974738f28c39")
    assert ring.fingerprint == "de7bfe6e6ab24c86"


def test_pseudonym_is_truncated_hmac_as_documented(ring: KeyRing) -> None:
    subject = dataset_subject(CASE, "clinical")
    mac = hmac.new(ring.domain_key(KDK, 1), subject.encode(), hashlib.sha256).digest()
    assert ring.pseudonym(KDK, 1, subject) == "k1." + mac[:16].hex()


def test_domains_are_separated(ring: KeyRing) -> None:
    subject = person_subject(ring.subject_id("kvnr", "A123456780"))
    projects = [Domain(DomainKind.RESEARCH_PROJECT, f"P{i}") for i in range(20)]
    values = {ring.pseudonym(d, 1, subject) for d in projects}
    assert len(values) == 20  # two projects cannot link their extracts
    assert ring.pseudonym(projects[0], 1, subject) == ring.pseudonym(projects[0], 1, subject)


def test_batch_equals_single(ring: KeyRing) -> None:
    subjects = [f"identifier:{i}" for i in range(50)]
    assert ring.pseudonyms(KDK, 3, subjects) == [ring.pseudonym(KDK, 3, s) for s in subjects]


def test_other_master_key_other_pseudonyms(ring: KeyRing) -> None:
    other = KeyRing(bytes(32))
    subject = dataset_subject(CASE, "clinical")
    assert other.pseudonym(KDK, 1, subject) != ring.pseudonym(KDK, 1, subject)
    with pytest.raises(ValueError):
        KeyRing(b"short")


def test_arbeitsnummer_encryption_round_trip_and_binding(ring: KeyRing) -> None:
    blob = ring.encrypt_arbeitsnummer(CASE, "260326822", "AN-1")
    assert b"AN-1" not in blob
    assert blob != ring.encrypt_arbeitsnummer(CASE, "260326822", "AN-1")  # random nonce
    assert ring.decrypt_arbeitsnummer(CASE, "260326822", blob) == "AN-1"
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):  # moved to another case or hospital: refused
        ring.decrypt_arbeitsnummer("ff" * 16, "260326822", blob)
    with pytest.raises(InvalidTag):
        ring.decrypt_arbeitsnummer(CASE, "261101015", blob)


@pytest.mark.parametrize("text", ["kdk:KDKXXX001", "grz:GRZABC123", "project:P-2026.1",
                                  "tc:internal"])
def test_domain_round_trip(text: str) -> None:
    assert str(Domain.parse(text)) == text


@pytest.mark.parametrize("bad", ["", "kdk", "kdk:", "kdk:GRZXXX001", "grz:KDKXXX001",
                                 "project:-x", "tc:other", "other:x", "project:" + "x" * 65])
def test_bad_domains(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        Domain.parse(bad)


def test_parse_pseudonym() -> None:
    parsed = parse_pseudonym("k12.0123456789abcdef0123456789abcdef")
    assert parsed.version == 12
    mac = "0123456789abcdef" * 2
    for bad in ("k0." + mac, "k1.0123", "x1." + mac, "k1." + mac.upper(), "k1" + mac):
        with pytest.raises(InvalidIdentifier):
            parse_pseudonym(bad)
