"""Keyed, domain-separated pseudonyms of the trust center (§ 64e Abs. 9c SGB V; GenDV § 4).

Scheme (version 1; the known-answer tests pin it, so a change cannot go unnoticed):

- One secret master key (32 bytes). Every other key is derived from it with HKDF-SHA-256
  (RFC 5869), salt ``genomseq/trust-center/v1`` and an ``info`` naming the key's purpose.
- Per-domain pseudonym keys: ``info = "pseudonym-key" 0x00 <domain> 0x00 <version>``. A domain
  is a clinical data node (``kdk:KDKXXX001``), a genome data center (``grz:GRZXXX001``), an
  approved research project (``project:<id>``) or the trust center itself (``tc:internal``).
  Rotating a domain's key means deriving it with the next version number.
- A pseudonym is HMAC-SHA-256(domain key, subject), truncated to 128 bits, written as
  ``k<version>.<32 hex>``: the key id is part of every stored pseudonym, so pseudonyms of
  different key versions never collide and a reader knows which key made one.
- Subjects are never direct identifiers: a KVNR or a local record number is first reduced to an
  internal subject id, HMAC-SHA-256 under the internal subject key (``info =
  "subject-key" 0x00 "v1"``). The same person therefore gets the same pseudonym in one domain
  and unlinkable pseudonyms across domains; without the master key nothing is enumerable.
- Arbeitsnummern are encrypted with AES-256-GCM under ``info = "arbeitsnummer-aead" 0x00 "v1"``
  (96-bit random nonce; the case id and IK as associated data) and found again through a
  blind index, HMAC-SHA-256 under ``info = "arbeitsnummer-index" 0x00 "v1"``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trust_center.core.errors import InvalidIdentifier

HKDF_SALT = b"genomseq/trust-center/v1"
MASTER_KEY_BYTES = 32
PSEUDONYM_BYTES = 16
_PSEUDONYM_RE = re.compile(r"k([1-9][0-9]{0,5})\.([0-9a-f]{32})")
_DOMAIN_ID_RE = {
    "kdk": re.compile(r"KDK[A-Z0-9]{3}[0-9]{3}"),  # BfArM ClinicalDataNodeId
    "grz": re.compile(r"GRZ[A-Z0-9]{3}[0-9]{3}"),  # BfArM GenomicDataCenterId
    "project": re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"),
    "tc": re.compile(r"internal"),
}


class DomainKind(StrEnum):
    """Where a pseudonym is valid."""

    CLINICAL_DATA_NODE = "kdk"
    GENOME_DATA_CENTER = "grz"
    RESEARCH_PROJECT = "project"
    TRUST_CENTER = "tc"


@dataclass(frozen=True, order=True)
class Domain:
    """A pseudonym domain: kind and id, written ``kind:id``."""

    kind: DomainKind
    id: str

    @classmethod
    def parse(cls, text: str) -> Domain:
        """``kdk:KDKXXX001``, ``grz:GRZXXX001``, ``project:<id>`` or ``tc:internal``."""
        kind, sep, ident = text.partition(":") if isinstance(text, str) else ("", "", "")
        pattern = _DOMAIN_ID_RE.get(kind)
        if not sep or pattern is None or not pattern.fullmatch(ident):
            raise InvalidIdentifier(
                "a domain is kdk:<clinical data node id>, grz:<genome data center id>, "
                "project:<project id> or tc:internal"
            )
        return cls(DomainKind(kind), ident)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


TRUST_CENTER_DOMAIN = Domain(DomainKind.TRUST_CENTER, "internal")


@dataclass(frozen=True)
class ParsedPseudonym:
    """A stored pseudonym split into its key version and MAC."""

    version: int
    mac_hex: str


def parse_pseudonym(value: str) -> ParsedPseudonym:
    """Split ``k<version>.<hex>``; InvalidIdentifier if it is not a pseudonym of this scheme."""
    match = _PSEUDONYM_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidIdentifier("not a pseudonym of this trust center (k<version>.<32 hex>)")
    return ParsedPseudonym(int(match.group(1)), match.group(2))


def _hkdf(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=info).derive(master)


class KeyRing:
    """Keys derived from one master key; derived keys are cached (they are cheap but not free)."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise ValueError(f"the master key must be {MASTER_KEY_BYTES} bytes")
        self._master = master_key
        self._domain_keys: dict[tuple[str, int], bytes] = {}
        self.subject_key = _hkdf(master_key, b"subject-key\x00v1")
        self.aead_key = _hkdf(master_key, b"arbeitsnummer-aead\x00v1")
        self.index_key = _hkdf(master_key, b"arbeitsnummer-index\x00v1")
        # Fingerprint for operators (which master key is loaded), never the key itself.
        self.fingerprint = hashlib.sha256(_hkdf(master_key, b"fingerprint\x00v1")).hexdigest()[:16]

    def domain_key(self, domain: Domain, version: int) -> bytes:
        """The pseudonym key of one domain at one key version."""
        if version < 1:
            raise ValueError("key versions start at 1")
        cache_key = (str(domain), version)
        key = self._domain_keys.get(cache_key)
        if key is None:
            info = b"pseudonym-key\x00" + str(domain).encode() + b"\x00" + str(version).encode()
            key = self._domain_keys[cache_key] = _hkdf(self._master, info)
        return key

    def subject_id(self, namespace: str, value: str) -> str:
        """Internal subject id of an identifier (e.g. ``kvnr``/KVNR): keyed, never reversible."""
        message = namespace.encode() + b"\x00" + value.encode()
        return hmac.digest(self.subject_key, message, "sha256").hex()

    def pseudonym(self, domain: Domain, version: int, subject: str) -> str:
        """The pseudonym of one subject in one domain under one key version."""
        return pseudonyms_for(self.domain_key(domain, version), version, (subject,))[0]

    def pseudonyms(self, domain: Domain, version: int, subjects: Iterable[str]) -> list[str]:
        """Batch form of :meth:`pseudonym` (the hot path of bulk pseudonymisation)."""
        return pseudonyms_for(self.domain_key(domain, version), version, subjects)

    def arbeitsnummer_index(self, ik: str, arbeitsnummer: str) -> str:
        """Blind index of (IK, Arbeitsnummer): finds duplicates without storing them in clear."""
        message = ik.encode() + b"\x00" + arbeitsnummer.encode()
        return hmac.digest(self.index_key, message, "sha256").hex()

    def encrypt_arbeitsnummer(self, case_id: str, ik: str, arbeitsnummer: str) -> bytes:
        """AES-256-GCM of the Arbeitsnummer, bound to its case and IK; nonce || ciphertext."""
        nonce = os.urandom(12)
        aad = _aad(case_id, ik)
        return nonce + AESGCM(self.aead_key).encrypt(nonce, arbeitsnummer.encode(), aad)

    def decrypt_arbeitsnummer(self, case_id: str, ik: str, blob: bytes) -> str:
        """Inverse of :meth:`encrypt_arbeitsnummer`; raises if the row was tampered with."""
        return AESGCM(self.aead_key).decrypt(blob[:12], blob[12:], _aad(case_id, ik)).decode()


def _aad(case_id: str, ik: str) -> bytes:
    return b"genomseq-case\x00" + case_id.encode() + b"\x00" + ik.encode()


def pseudonyms_for(key: bytes, version: int, subjects: Iterable[str]) -> list[str]:
    """``k<version>.<hex>`` pseudonyms of many subjects under one derived key."""
    prefix = f"k{version}."
    digest = hmac.digest
    return [
        prefix + digest(key, s.encode(), "sha256")[:PSEUDONYM_BYTES].hex() for s in subjects
    ]


def dataset_subject(case_id: str, kind: str) -> str:
    """Subject of a dataset pseudonym: one case's genomic or clinical dataset."""
    return f"dataset:{case_id}:{kind}"


def person_subject(person_id: str) -> str:
    """Subject of a person-level pseudonym (research projects link a person's datasets)."""
    return f"person:{person_id}"


def identifier_subject(subject_id: str) -> str:
    """Subject of a pseudonym a node derives from a local identifier (already keyed)."""
    return f"identifier:{subject_id}"


def parse_domains(values: Sequence[str]) -> list[Domain]:
    """Parse several ``kind:id`` domain names."""
    return [Domain.parse(v) for v in values]
