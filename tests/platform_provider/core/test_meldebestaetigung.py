"""Meldebestätigung: BfArM's test vector, field validation and the hospital CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from common.errors import InvalidInput
from platform_provider.core.meldebestaetigung import (
    ArtDerDaten,
    ArtDerSequenzierung,
    Indikationsbereich,
    Kostentraeger,
    Meldebestaetigung,
    Meldungstyp,
    Produktzuordnung,
    art_der_sequenzierung_from_library_type,
    csv_for_hospital,
    hash_value,
    indikationsbereich_from_disease_type,
    kostentraeger_from_coverage_type,
    meldungstyp_from_submission_type,
    new_code,
)

VECTOR = "A123456789&20240701001&260530103&KDKK00001&0&O&9&1&C&2&1"
VECTOR_HASH = "bad8a31b1759b565bee3d283e68af38e173499bfcce2f50691e7eddda62b2f31"


def _example(**changes: object) -> Meldebestaetigung:
    fields: dict[str, object] = dict(
        code="A123456789",
        leistungsdatum=date(2024, 7, 1),
        zaehler=1,
        leistungserbringer_id="260530103",
        datenknoten_id="KDKK00001",
        meldungstyp=Meldungstyp.ERSTMELDUNG,
        indikationsbereich=Indikationsbereich.ONKOLOGISCH,
        produktzuordnung=Produktzuordnung.MV_GENOMSEQ,
        kostentraeger=Kostentraeger.GKV,
        art_der_daten=ArtDerDaten.KLINISCH,
        art_der_sequenzierung=ArtDerSequenzierung.WES,
        qc_bestanden=True,
    )
    fields.update(changes)
    return Meldebestaetigung(**fields)  # type: ignore[arg-type]


def test_bfarm_test_vector() -> None:
    mb = _example()
    assert mb.hash_string == VECTOR
    assert len(mb.hash_string) == 56
    assert mb.hash_value == VECTOR_HASH
    assert hash_value(VECTOR) == VECTOR_HASH
    assert mb.billable


def test_ibe_segment_matches_spec_example() -> None:
    assert _example().ibe_segment() == f"IBE+A123456789+{VECTOR}+9+{VECTOR_HASH}"


def test_parse_round_trip() -> None:
    mb = Meldebestaetigung.parse(VECTOR)
    assert mb == _example()
    assert mb.hash_value == VECTOR_HASH


def test_counter_is_zero_padded() -> None:
    mb = _example(zaehler=42, leistungsdatum=date(2025, 1, 9))
    assert mb.hash_string.split("&")[1] == "20250109042"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"code": "A12345678"}, "10 characters"),
        ({"code": "A12345678+"}, "10 characters"),
        ({"zaehler": 0}, "Zähler"),
        ({"zaehler": 1000}, "Zähler"),
        ({"leistungserbringer_id": "26053010"}, "Institutionskennzeichen"),
        ({"datenknoten_id": "KDK000001X"}, "KDKXXXnnn"),
        ({"datenknoten_id": "XYZK00001"}, "KDKXXXnnn"),
        ({"meldungstyp": "4"}, "meldungstyp"),
        ({"indikationsbereich": "X"}, "indikationsbereich"),
        ({"art_der_sequenzierung": "5"}, "art_der_sequenzierung"),
    ],
)
def test_invalid_fields_are_refused(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        _example(**changes)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("A123456789&20240701001&260530103&KDKK00001&0&O&9&1&C&2", "11 fields"),
        ("A123456789&20241301001&260530103&KDKK00001&0&O&9&1&C&2&1", "calendar date"),
        ("A123456789&2024070100&260530103&KDKK00001&0&O&9&1&C&2&1", "JJJJMMTTZZZ"),
        ("A123456789&20240701001&260530103&KDKK00001&0&O&9&1&C&2&2", "Qualitätskontrolle"),
        ("A123456789+20240701001&260530103&KDKK00001&0&O&9&1&C&2&1", "only"),
    ],
)
def test_parse_refuses_malformed(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        Meldebestaetigung.parse(text)


def test_only_initial_with_passed_qc_is_billable() -> None:
    assert not _example(qc_bestanden=False).billable
    assert not _example(meldungstyp=Meldungstyp.KORREKTUR).billable


def test_grz_vocabulary_mapping() -> None:
    assert meldungstyp_from_submission_type("initial") is Meldungstyp.ERSTMELDUNG
    assert meldungstyp_from_submission_type("addition") is Meldungstyp.NACHMELDUNG
    with pytest.raises(InvalidInput):
        meldungstyp_from_submission_type("test")
    assert indikationsbereich_from_disease_type("rare") is Indikationsbereich.SELTEN
    assert kostentraeger_from_coverage_type("BEI") is Kostentraeger.PKV_BEIHILFE
    assert kostentraeger_from_coverage_type("SEL") is Kostentraeger.ANDERE
    assert art_der_sequenzierung_from_library_type("wgs_lr") is ArtDerSequenzierung.WGS_LR
    with pytest.raises(InvalidInput):
        art_der_sequenzierung_from_library_type("wxs")


def test_new_code_shape_and_randomness() -> None:
    codes = {new_code() for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        _example(code=code)  # validates


def test_csv_for_hospital() -> None:
    tan = "ab" * 32
    text = csv_for_hospital([(tan, _example())])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["Vorgangsnummer", "Meldebestaetigung"],
        [tan, f"IBE+A123456789+{VECTOR}+9+{VECTOR_HASH}"],
    ]
