"""Identifiers of the Modellvorhaben Genomsequenzierung (§ 64e SGB V; GenDV §§ 4-5).

- Krankenversichertennummer, unchangeable part (§ 290 SGB V; GKV-Spitzenverband
  "Richtlinien für den Aufbau und das Verfahren der Vergabe der Krankenversichertennummer"):
  a capital letter, eight digits and a check digit. Check digit: the letter becomes its
  two-digit position in the alphabet (A = 01 ... Z = 26); the resulting ten digits are weighted
  1-2-1-2-1-2-1-2-1-2 from the left, the digit sums (Quersummen) of the products are added and
  the last digit of that sum (sum mod 10) is the check digit.
- Institutionskennzeichen (IK) of the Leistungserbringer: nine digits (as the BfArM submission
  schema's ``submitterId``).
- Arbeitsnummer: the hospital's own opaque case number, at most 40 characters.
- Vorgangsnummer (VNg, VNk): 32 random bytes as 64 lower-case hex characters, issued by the
  trust center; in compatibility mode the hospital's own ``tanG``/``tanC`` in the same format
  (BfArM GRZ submission metadata ``submission.tanG``).
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum

from trust_center.core.errors import InvalidIdentifier

_KVNR_RE = re.compile(r"[A-Z][0-9]{9}")
_IK_RE = re.compile(r"[0-9]{9}")
_TAN_RE = re.compile(r"[0-9a-fA-F]{64}")
ARBEITSNUMMER_MAX = 40
# The BfArM schema's placeholder for a redacted tanG: never a real transfer number.
REDACTED_TAN = "0" * 64


class DataKind(StrEnum):
    """Which half of a case a Vorgangsnummer or dataset pseudonym belongs to."""

    GENOMIC = "genomic"  # VNg -> Genomdatensatzpseudonym, at a genome data center
    CLINICAL = "clinical"  # VNk -> Klinikdatensatzpseudonym, at a clinical data node


def kvnr_check_digit(first_nine: str) -> int:
    """Check digit of the letter and eight digits of a KVNR's unchangeable part."""
    if len(first_nine) != 9 or not ("A" <= first_nine[0] <= "Z") or not first_nine[1:].isdigit():
        raise InvalidIdentifier("a KVNR starts with a capital letter and eight digits")
    letter = ord(first_nine[0]) - ord("A") + 1
    digits = [letter // 10, letter % 10] + [int(c) for c in first_nine[1:]]
    total = 0
    for i, d in enumerate(digits):
        product = d * (1 if i % 2 == 0 else 2)
        total += product // 10 + product % 10
    return total % 10


def validate_kvnr(value: str) -> str:
    """The unchangeable part of a KVNR, or InvalidIdentifier (format or check digit)."""
    if not isinstance(value, str) or not _KVNR_RE.fullmatch(value):
        raise InvalidIdentifier(
            "the KVNR must be its unchangeable part: a capital letter, eight digits and a "
            "check digit"
        )
    if kvnr_check_digit(value[:9]) != int(value[9]):
        raise InvalidIdentifier("the KVNR check digit does not match")
    return value


def validate_ik(value: str) -> str:
    """A nine-digit Institutionskennzeichen, or InvalidIdentifier."""
    if not isinstance(value, str) or not _IK_RE.fullmatch(value):
        raise InvalidIdentifier("the IK must be nine digits")
    return value


def validate_arbeitsnummer(value: str) -> str:
    """An Arbeitsnummer: 1 to 40 printable characters, no surrounding whitespace."""
    if not isinstance(value, str) or not 1 <= len(value) <= ARBEITSNUMMER_MAX:
        raise InvalidIdentifier(f"the Arbeitsnummer must be 1 to {ARBEITSNUMMER_MAX} characters")
    if value != value.strip() or not value.isprintable():
        raise InvalidIdentifier("the Arbeitsnummer must be printable without surrounding spaces")
    return value


def new_vorgangsnummer() -> str:
    """A fresh Vorgangsnummer: 32 bytes from the OS CSPRNG as 64 hex characters."""
    return secrets.token_bytes(32).hex()


def validate_transfer_number(value: str, name: str = "Vorgangsnummer") -> str:
    """A Vorgangsnummer or tanG/tanC (64 hex characters), normalised to lower case."""
    if not isinstance(value, str) or not _TAN_RE.fullmatch(value):
        raise InvalidIdentifier(f"the {name} must be 64 hexadecimal characters")
    value = value.lower()
    if value == REDACTED_TAN:
        raise InvalidIdentifier(f"the {name} is the redaction placeholder, not a real number")
    return value
