"""Meldebestätigung of the Modellvorhaben Genomsequenzierung (§ 64e SGB V).

Spec: BfArM, "Dokumentation Aufbau und Beschreibung Meldebestätigung im Modellvorhaben
Genomsequenzierung nach § 64e SGB V" (Dokumentation Meldebestätigung MVGenomSeq, Version 01),
sections "Inhalte und Formate des Hash-Strings", "Syntax des Hash-Strings", "Hash-Algorithmus"
and "Vorgaben zur Übermittlung in Datenübermittlungsverfahren zu Abrechnungszwecken".

The platform provider confirms each data set whose Prüfbericht a KDK or GRZ sent with a
Meldebestätigung; only an Erstmeldung (type 0) with passed QC (1) is billable. The hash string is
eleven fields joined by ``&``, restricted to ``[a-zA-Z0-9&]`` so that it survives every
character set of the § 301 SGB V exchange and never contains an EDIFACT control character
(``+ : ' ?``). Its SHA-256 is given as 64 lower-case hex digits.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from common.errors import InvalidInput

CODE_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits
_CODE = re.compile(r"^[A-Za-z0-9]{10}$")
_IK = re.compile(r"^[0-9]{9}$")
# KDKXXXnnn / GRZXXXnnn as BfArM assigns them (same patterns as grz-pydantic-models'
# ClinicalDataNodeId / GenomicDataCenterId).
_NODE = re.compile(r"^(KDK|GRZ)[A-Z0-9]{3}[0-9]{3}$")
_HASH_STRING = re.compile(r"^[A-Za-z0-9&]+$")


class Meldungstyp(StrEnum):
    """Typ der Meldung (n1)."""

    ERSTMELDUNG = "0"
    FOLLOW_UP = "1"
    NACHMELDUNG = "2"
    KORREKTUR = "3"


class Indikationsbereich(StrEnum):
    """Indikationsbereich (a1)."""

    ONKOLOGISCH = "O"
    SELTEN = "R"
    HEREDITAER = "H"


class Produktzuordnung(StrEnum):
    """Produktzuordnung (n1); always 9 in the Modellvorhaben."""

    KEINE = "0"
    IMPLANTAT = "1"
    MV_GENOMSEQ = "9"


class Kostentraeger(StrEnum):
    """Kostenträger (n1)."""

    GKV = "1"
    PKV = "2"
    PKV_BEIHILFE = "3"
    ANDERE = "4"


class ArtDerDaten(StrEnum):
    """Art der Daten (a1): one Meldebestätigung for clinical, one for genomic data."""

    KLINISCH = "C"
    GENOMISCH = "G"


class ArtDerSequenzierung(StrEnum):
    """Art der Sequenzierung (n1)."""

    KEINE = "0"
    WGS = "1"
    WES = "2"
    PANEL = "3"
    WGS_LR = "4"


# grz-pydantic-models (metadata schema v1) vocabularies -> Meldebestätigung codes.
_SUBMISSION_TYPE = {
    "initial": Meldungstyp.ERSTMELDUNG,
    "followup": Meldungstyp.FOLLOW_UP,
    "addition": Meldungstyp.NACHMELDUNG,
    "correction": Meldungstyp.KORREKTUR,
}
_DISEASE_TYPE = {
    "oncological": Indikationsbereich.ONKOLOGISCH,
    "rare": Indikationsbereich.SELTEN,
    "hereditary": Indikationsbereich.HEREDITAER,
}
# "andere" covers every special case (Selbstzahler, BG, Sozialamt, ...), as the spec says.
_COVERAGE_TYPE = {
    "GKV": Kostentraeger.GKV,
    "PKV": Kostentraeger.PKV,
    "BEI": Kostentraeger.PKV_BEIHILFE,
}
# Only the four sequencing kinds the spec names; wxs/panel_lr/... have no code there, so the
# caller must decide rather than this module guessing.
_LIBRARY_TYPE = {
    "wgs": ArtDerSequenzierung.WGS,
    "wes": ArtDerSequenzierung.WES,
    "panel": ArtDerSequenzierung.PANEL,
    "wgs_lr": ArtDerSequenzierung.WGS_LR,
    "none": ArtDerSequenzierung.KEINE,
}


def meldungstyp_from_submission_type(value: str) -> Meldungstyp:
    """Map grz-pydantic-models' submissionType (initial, followup, ...) to the Typ der Meldung."""
    try:
        return _SUBMISSION_TYPE[value]
    except KeyError:
        raise InvalidInput(f"submission type {value!r} has no Meldebestätigung") from None


def indikationsbereich_from_disease_type(value: str) -> Indikationsbereich:
    """Map grz-pydantic-models' diseaseType to the Indikationsbereich."""
    try:
        return _DISEASE_TYPE[value]
    except KeyError:
        raise InvalidInput(f"unknown disease type {value!r}") from None


def kostentraeger_from_coverage_type(value: str) -> Kostentraeger:
    """Map grz-pydantic-models' coverageType (GKV, PKV, BEI, ...) to the Kostenträger code."""
    return _COVERAGE_TYPE.get(value, Kostentraeger.ANDERE)


def art_der_sequenzierung_from_library_type(value: str) -> ArtDerSequenzierung:
    """Map a library type (wgs, wes, panel, wgs_lr, none) to the Art der Sequenzierung."""
    try:
        return _LIBRARY_TYPE[value]
    except KeyError:
        raise InvalidInput(
            f"library type {value!r} has no Art der Sequenzierung in the Meldebestätigung"
        ) from None


def new_code() -> str:
    """A random ten-character Meldebestätigung code from [A-Za-z0-9] (uniqueness: storage)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class Meldebestaetigung:
    """The eleven fields of a Meldebestätigung, validated on construction."""

    code: str
    leistungsdatum: date
    zaehler: int
    leistungserbringer_id: str
    datenknoten_id: str
    meldungstyp: Meldungstyp
    indikationsbereich: Indikationsbereich
    produktzuordnung: Produktzuordnung
    kostentraeger: Kostentraeger
    art_der_daten: ArtDerDaten
    art_der_sequenzierung: ArtDerSequenzierung
    qc_bestanden: bool

    def __post_init__(self) -> None:
        if not _CODE.match(self.code):
            raise InvalidInput("Meldebestätigung code must be exactly 10 characters [A-Za-z0-9]")
        if not 1 <= self.zaehler <= 999:
            raise InvalidInput("Zähler must be between 1 and 999")
        if not 1 <= self.leistungsdatum.year <= 9999:
            raise InvalidInput("Leistungsdatum out of range")
        if not _IK.match(self.leistungserbringer_id):
            raise InvalidInput(
                "ID des Leistungserbringers must be a 9-digit Institutionskennzeichen"
            )
        if not _NODE.match(self.datenknoten_id):
            raise InvalidInput("ID des Datenknotens must be KDKXXXnnn or GRZXXXnnn")
        # Enum fields given as raw strings are converted (and refused if unknown).
        for name, enum in _ENUM_FIELDS.items():
            value = getattr(self, name)
            if not isinstance(value, enum):
                try:
                    object.__setattr__(self, name, enum(value))
                except ValueError:
                    raise InvalidInput(f"invalid {name}: {value!r}") from None

    @property
    def hash_string(self) -> str:
        """The ``&``-separated hash string (56 characters)."""
        return "&".join(
            [
                self.code,
                f"{self.leistungsdatum:%Y%m%d}{self.zaehler:03d}",
                self.leistungserbringer_id,
                self.datenknoten_id,
                self.meldungstyp.value,
                self.indikationsbereich.value,
                self.produktzuordnung.value,
                self.kostentraeger.value,
                self.art_der_daten.value,
                self.art_der_sequenzierung.value,
                "1" if self.qc_bestanden else "0",
            ]
        )

    @property
    def hash_value(self) -> str:
        """SHA-256 of the hash string as 64 lower-case hex digits."""
        return hash_value(self.hash_string)

    @property
    def billable(self) -> bool:
        """True for an Erstmeldung with passed QC: the only kind the hospital bills with."""
        return self.meldungstyp is Meldungstyp.ERSTMELDUNG and self.qc_bestanden

    def ibe_segment(self) -> str:
        """The EDIFACT IBE segment of the § 301 exchange: IBE+code+hash string+9+hash value."""
        return (
            f"IBE+{self.code}+{self.hash_string}+{Produktzuordnung.MV_GENOMSEQ.value}"
            f"+{self.hash_value}"
        )

    @classmethod
    def parse(cls, text: str) -> Meldebestaetigung:
        """Parse and validate a hash string; InvalidInput names the first bad field."""
        if not _HASH_STRING.match(text):
            raise InvalidInput("a Meldebestätigung contains only [A-Za-z0-9&]")
        parts = text.split("&")
        if len(parts) != 11:
            raise InvalidInput(f"a Meldebestätigung has 11 fields, got {len(parts)}")
        datum = parts[1]
        if not re.fullmatch(r"[0-9]{11}", datum):
            raise InvalidInput("Leistungsdatum must be JJJJMMTTZZZ")
        try:
            leistungsdatum = date(int(datum[0:4]), int(datum[4:6]), int(datum[6:8]))
        except ValueError:
            raise InvalidInput("Leistungsdatum is not a calendar date") from None
        if parts[10] not in ("0", "1"):
            raise InvalidInput("Ergebnis der Qualitätskontrolle must be 0 or 1")
        return cls(
            code=parts[0],
            leistungsdatum=leistungsdatum,
            zaehler=int(datum[8:11]),
            leistungserbringer_id=parts[2],
            datenknoten_id=parts[3],
            meldungstyp=parts[4],  # type: ignore[arg-type]  # converted in __post_init__
            indikationsbereich=parts[5],  # type: ignore[arg-type]
            produktzuordnung=parts[6],  # type: ignore[arg-type]
            kostentraeger=parts[7],  # type: ignore[arg-type]
            art_der_daten=parts[8],  # type: ignore[arg-type]
            art_der_sequenzierung=parts[9],  # type: ignore[arg-type]
            qc_bestanden=parts[10] == "1",
        )


_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "meldungstyp": Meldungstyp,
    "indikationsbereich": Indikationsbereich,
    "produktzuordnung": Produktzuordnung,
    "kostentraeger": Kostentraeger,
    "art_der_daten": ArtDerDaten,
    "art_der_sequenzierung": ArtDerSequenzierung,
}


def hash_value(hash_string: str) -> str:
    """SHA-256 (hex) of a Meldebestätigung hash string (ASCII by construction)."""
    return hashlib.sha256(hash_string.encode("ascii")).hexdigest()


def csv_for_hospital(entries: Iterable[tuple[str, Meldebestaetigung]]) -> str:
    """The CSV the hospital receives: ``Vorgangsnummer,Meldebestaetigung`` per confirmation.

    The second column is the IBE segment the hospital forwards in its § 301 billing exchange.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Vorgangsnummer", "Meldebestaetigung"])
    for vorgangsnummer, mb in entries:
        writer.writerow([vorgangsnummer, mb.ibe_segment()])
    return out.getvalue()
