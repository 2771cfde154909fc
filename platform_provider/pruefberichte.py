"""Reception of Prüfberichte from approved data nodes and the Meldebestätigung for each accepted
initial submission (BfArM Prüfbericht model v0.x as shipped in grz-pydantic-models;
"Dokumentation Meldebestätigung MVGenomSeq" Version 01, see core.meldebestaetigung).

A Prüfbericht is accepted only from an approved participant (a GRZ/KDK id the platform provider
knows) and only for itself (``dataNodeId`` is the sender). The tanG is kept because BfArM
matches it to the Leistungserbringer's case and the hospital's CSV lists it as Vorgangsnummer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grz_pydantic_models.pruefbericht import Pruefbericht
from pydantic import ValidationError

from common.errors import Conflict, InvalidInput, PermissionDenied
from platform_provider.core.meldebestaetigung import (
    ArtDerDaten,
    Meldebestaetigung,
    Produktzuordnung,
    art_der_sequenzierung_from_library_type,
    csv_for_hospital,
    indikationsbereich_from_disease_type,
    kostentraeger_from_coverage_type,
    meldungstyp_from_submission_type,
    new_code,
)


@dataclass(frozen=True)
class Receipt:
    """What the platform provider answers to a Prüfbericht."""

    tan: str
    meldebestaetigung: Meldebestaetigung | None


class PruefberichtRegister:
    """Prüfberichte and Meldebestätigungen kept as one JSON document per tanG (atomic writes)."""

    def __init__(self, root: Path, approved_participants: Iterable[str]) -> None:
        self.root = root
        self.approved = frozenset(approved_participants)

    def submit(self, report: dict[str, object], *, participant: str) -> None:
        """PruefberichtReceiver port: accept one report or raise a 4xx error."""
        self.receive(report, participant=participant)

    def receive(self, report: dict[str, object], *, participant: str) -> Receipt:
        """Validate, store and confirm one Prüfbericht."""
        if participant not in self.approved:
            raise PermissionDenied("the sender is not an approved participant")
        try:
            model = Pruefbericht.model_validate(report)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"invalid Prüfbericht: {loc}: {first['msg']}") from None
        case = model.submitted_case
        if case.data_node_id != participant:
            raise PermissionDenied("a data node reports only its own submissions")
        path = self._path(case.tan)
        previous = json.loads(path.read_text()) if path.is_file() else None
        if (
            previous
            and previous["report"]["SubmittedCase"]["submissionType"] != case.submission_type
        ):
            raise Conflict("a Prüfbericht with this tan and another submission type exists")
        mb = None
        if str(case.submission_type) == "initial":
            mb = self._meldebestaetigung(case, previous)
        record = {
            "participant": participant,
            "report": model.model_dump(mode="json", by_alias=True),
            "meldebestaetigung": mb.hash_string if mb else None,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
        return Receipt(case.tan, mb)

    def _meldebestaetigung(self, case: object, previous: dict | None) -> Meldebestaetigung:
        c = case  # grz_pydantic_models.pruefbericht.SubmittedCase
        # A corrected Prüfbericht (e.g. failed detailed QC) keeps the code and Zähler.
        if previous and previous.get("meldebestaetigung"):
            old = Meldebestaetigung.parse(previous["meldebestaetigung"])
            code, zaehler = old.code, old.zaehler
        else:
            code, zaehler = new_code(), self._next_counter(c.submitter_id, c.submission_date)  # type: ignore[attr-defined]
        return Meldebestaetigung(
            code=code,
            leistungsdatum=c.submission_date,  # type: ignore[attr-defined]
            zaehler=zaehler,
            leistungserbringer_id=c.submitter_id,  # type: ignore[attr-defined]
            datenknoten_id=c.data_node_id,  # type: ignore[attr-defined]
            meldungstyp=meldungstyp_from_submission_type(str(c.submission_type)),  # type: ignore[attr-defined]
            indikationsbereich=indikationsbereich_from_disease_type(str(c.disease_type)),  # type: ignore[attr-defined]
            produktzuordnung=Produktzuordnung.MV_GENOMSEQ,
            kostentraeger=kostentraeger_from_coverage_type(str(c.coverage_type)),  # type: ignore[attr-defined]
            art_der_daten=(
                ArtDerDaten.GENOMISCH if str(c.data_category) == "genomic" else ArtDerDaten.KLINISCH  # type: ignore[attr-defined]
            ),
            art_der_sequenzierung=art_der_sequenzierung_from_library_type(str(c.library_type)),  # type: ignore[attr-defined]
            qc_bestanden=bool(c.data_quality_check_passed),  # type: ignore[attr-defined]
        )

    def _next_counter(self, submitter_id: str, day: object) -> int:
        prefix = f"{day:%Y%m%d}"  # type: ignore[str-format]
        used = 0
        for rec in self._records():
            mb = rec.get("meldebestaetigung")
            if mb:
                parts = mb.split("&")
                if parts[2] == submitter_id and parts[1].startswith(prefix):
                    used = max(used, int(parts[1][8:]))
        return used + 1

    def _records(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.root.glob("*.json"))]

    def _path(self, tan: str) -> Path:
        return self.root / f"{tan.lower()}.json"

    def meldebestaetigung(self, tan: str) -> Meldebestaetigung | None:
        """The Meldebestätigung issued for a tanG, if any."""
        path = self._path(tan)
        if not path.is_file():
            return None
        mb = json.loads(path.read_text()).get("meldebestaetigung")
        return Meldebestaetigung.parse(mb) if mb else None

    def hospital_csv(self, submitter_id: str) -> str:
        """CSV of every Meldebestätigung issued for one Leistungserbringer (IK)."""
        entries = []
        for rec in self._records():
            mb = rec.get("meldebestaetigung")
            case = rec["report"]["SubmittedCase"]
            if mb and case["submitterId"] == submitter_id:
                entries.append((case["tan"], Meldebestaetigung.parse(mb)))
        return csv_for_hospital(entries)
