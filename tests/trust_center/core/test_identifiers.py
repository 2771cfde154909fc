from __future__ import annotations

import pytest

from trust_center.core.errors import InvalidIdentifier
from trust_center.core.identifiers import (
    kvnr_check_digit,
    new_vorgangsnummer,
    validate_arbeitsnummer,
    validate_ik,
    validate_kvnr,
    validate_transfer_number,
)


@pytest.mark.parametrize(
    "kvnr",
    [
        "X110411675",  # gematik test KVNR (E-Rezept test data)
        "A123456780",  # worked by hand: 0+2+1+4+3+8+5+(1+2)+7+(1+6) = 40
        "Z000000005",  # Z = 26: 2 + (1+2) = 5
        "J000000001",  # J = 10: 1 + 0 = 1
    ],
)
def test_known_valid_kvnrs(kvnr: str) -> None:
    assert validate_kvnr(kvnr) == kvnr
    assert kvnr_check_digit(kvnr[:9]) == int(kvnr[9])


def test_every_wrong_check_digit_is_refused() -> None:
    for digit in "012346789":  # all but the right one (5)
        with pytest.raises(InvalidIdentifier, match="check digit"):
            validate_kvnr("X11041167" + digit)


def test_check_digit_uses_digit_sums_of_doubled_digits() -> None:
    # 9 in a doubled position gives 18 -> 1 + 8 = 9 (a plain sum would give 18).
    assert kvnr_check_digit("A09000000") == (0 + 2 + 0 + 9) % 10
    assert kvnr_check_digit("A00000009") == (0 + 2 + 9) % 10  # 9th digit has weight 1


@pytest.mark.parametrize(
    "bad", ["", "A12345678", "A1234567800", "a123456780", "1123456780", "Ä123456780",
            "A12345678O", " A123456780", None, 1234567890],
)
def test_malformed_kvnrs_are_refused(bad: object) -> None:
    with pytest.raises(InvalidIdentifier):
        validate_kvnr(bad)  # type: ignore[arg-type]


def test_ik() -> None:
    assert validate_ik("260326822") == "260326822"
    for bad in ("26032682", "2603268222", "26032682a", "", None):
        with pytest.raises(InvalidIdentifier):
            validate_ik(bad)  # type: ignore[arg-type]


def test_arbeitsnummer() -> None:
    assert validate_arbeitsnummer("x" * 40) == "x" * 40
    assert validate_arbeitsnummer("2026/ONK-0815") == "2026/ONK-0815"
    for bad in ("", "x" * 41, " lead", "trail ", "tab\there", "nul\x00", None):
        with pytest.raises(InvalidIdentifier):
            validate_arbeitsnummer(bad)  # type: ignore[arg-type]


def test_vorgangsnummer_is_64_random_hex() -> None:
    numbers = {new_vorgangsnummer() for _ in range(100)}
    assert len(numbers) == 100
    assert all(len(n) == 64 and int(n, 16) >= 0 and n == n.lower() for n in numbers)


def test_transfer_number_normalised_and_placeholder_refused() -> None:
    assert validate_transfer_number("AB" * 32) == "ab" * 32
    for bad in ("0" * 64, "a" * 65, "a" * 63, "z" * 64, ""):
        with pytest.raises(InvalidIdentifier):
            validate_transfer_number(bad)
