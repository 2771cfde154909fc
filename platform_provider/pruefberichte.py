"""Reception of Prüfberichte from approved data nodes and the Meldebestätigung for each accepted
initial submission (BfArM Prüfbericht model v0.x as shipped in grz-pydantic-models;
"Dokumentation Meldebestätigung MVGenomSeq" Version 01, see core.meldebestaetigung).

A Prüfbericht is accepted only from an approved participant (asked of the platform's
ParticipantDirectory on every report) and only about itself (``dataNodeId`` is the sender).
The tanG is kept: BfArM matches it to the Leistungserbringer's case, and the hospital's CSV
lists it as the Vorgangsnummer. A later report for the same tanG (e.g. failed detailed QC)
replaces the earlier one and keeps the Meldebestätigung's code and Zähler.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from grz_pydantic_models.pruefbericht import Pruefbericht, SubmittedCase
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from common.db import write_transaction
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

_md = sa.MetaData()
pruefbericht_t = sa.Table(
    "platform_pruefbericht",
    _md,
    sa.Column("tan", sa.String(64), primary_key=True),
    sa.Column("participant", sa.String(16)),
    sa.Column("submitter_id", sa.String(9)),
    sa.Column("submission_date", sa.Date()),
    sa.Column("submission_type", sa.String(16)),
    sa.Column("report", sa.Text()),
    sa.Column("meldebestaetigung", sa.String(64)),
    sa.Column("zaehler", sa.Integer()),
    sa.Column("received", sa.DateTime(timezone=True)),
    sa.Column("updated", sa.DateTime(timezone=True)),
)


@dataclass(frozen=True)
class Receipt:
    """What the platform provider answers to a Prüfbericht."""

    tan: str
    meldebestaetigung: Meldebestaetigung | None


class PruefberichtRegister:
    """Prüfberichte and Meldebestätigungen in the main database (table platform_pruefbericht)."""

    def __init__(self, engine: Engine, is_approved: Callable[[str], bool]) -> None:
        self.engine = engine
        self.is_approved = is_approved

    def submit(self, report: dict[str, object], *, participant: str) -> None:
        """PruefberichtReceiver port: accept one report or raise a 4xx error."""
        self.receive(report, participant=participant)

    def receive(self, report: dict[str, object], *, participant: str) -> Receipt:
        """Validate, store and confirm one Prüfbericht."""
        if not self.is_approved(participant):
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
        tan = case.tan.lower()
        now = datetime.now(UTC)
        for _attempt in range(3):  # a concurrent report may take the same Zähler: retry
            try:
                return self._store(model, case, tan, participant, now)
            except IntegrityError:
                continue
        raise Conflict("concurrent Prüfberichte: please retry")

    def _store(
        self, model: Pruefbericht, case: SubmittedCase, tan: str, participant: str, now: datetime
    ) -> Receipt:
        t = pruefbericht_t
        with write_transaction(self.engine) as conn:
            previous = conn.execute(sa.select(t).where(t.c.tan == tan)).mappings().first()
            if previous is not None and previous["submission_type"] != str(case.submission_type):
                raise Conflict("a Prüfbericht with this tan and another submission type exists")
            mb = None
            if str(case.submission_type) == "initial":
                if previous is not None and previous["meldebestaetigung"]:
                    old = Meldebestaetigung.parse(previous["meldebestaetigung"])
                    code, zaehler = old.code, old.zaehler
                else:
                    code = new_code()
                    zaehler = 1 + (
                        conn.execute(
                            sa.select(sa.func.max(t.c.zaehler)).where(
                                t.c.submitter_id == case.submitter_id,
                                t.c.submission_date == case.submission_date,
                            )
                        ).scalar()
                        or 0
                    )
                mb = _meldebestaetigung(case, code, zaehler)
            values = {
                "participant": participant,
                "submitter_id": case.submitter_id,
                "submission_date": case.submission_date,
                "submission_type": str(case.submission_type),
                "report": json.dumps(model.model_dump(mode="json", by_alias=True)),
                "meldebestaetigung": mb.hash_string if mb else None,
                "zaehler": mb.zaehler if mb else None,
                "updated": now,
            }
            if previous is None:
                conn.execute(t.insert().values(tan=tan, received=now, **values))
            else:
                conn.execute(t.update().where(t.c.tan == tan).values(**values))
        return Receipt(tan, mb)

    def meldebestaetigung(self, tan: str) -> Meldebestaetigung | None:
        """The Meldebestätigung issued for a tanG, if any."""
        t = pruefbericht_t
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(t.c.meldebestaetigung).where(t.c.tan == tan.lower())
            ).scalar()
        return Meldebestaetigung.parse(value) if value else None

    def hospital_csv(self, submitter_id: str) -> str:
        """CSV of every Meldebestätigung issued for one Leistungserbringer (IK)."""
        t = pruefbericht_t
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.tan, t.c.meldebestaetigung)
                .where(t.c.submitter_id == submitter_id, t.c.meldebestaetigung.is_not(None))
                .order_by(t.c.submission_date, t.c.zaehler)
            ).all()
        return csv_for_hospital((tan, Meldebestaetigung.parse(mb)) for tan, mb in rows)


def _meldebestaetigung(case: SubmittedCase, code: str, zaehler: int) -> Meldebestaetigung:
    return Meldebestaetigung(
        code=code,
        leistungsdatum=case.submission_date,
        zaehler=zaehler,
        leistungserbringer_id=case.submitter_id,
        datenknoten_id=case.data_node_id,
        meldungstyp=meldungstyp_from_submission_type(str(case.submission_type)),
        indikationsbereich=indikationsbereich_from_disease_type(str(case.disease_type)),
        produktzuordnung=Produktzuordnung.MV_GENOMSEQ,
        kostentraeger=kostentraeger_from_coverage_type(str(case.coverage_type)),
        art_der_daten=(
            ArtDerDaten.GENOMISCH if str(case.data_category) == "genomic" else ArtDerDaten.KLINISCH
        ),
        art_der_sequenzierung=art_der_sequenzierung_from_library_type(str(case.library_type)),
        qc_bestanden=bool(case.data_quality_check_passed),
    )
