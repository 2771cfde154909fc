"""Every BfArM consent fixture is evaluated as BfArM's grz-pydantic-models evaluate it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import grz_pydantic_models_testing.example_research_consent as fixtures
import pytest
from grz_pydantic_models.mii.consent import Consent as BfarmConsent
from grz_pydantic_models.submission.metadata.v1 import ResearchConsent
from pydantic import ValidationError

from trust_center.core.consent import research_permitted, validate_broad_consent
from trust_center.core.errors import InvalidConsent

FIXTURES = sorted(
    p for p in resources.files(fixtures).iterdir() if str(p).endswith(".json")  # type: ignore[union-attr]
)


def _dates(doc: dict[str, Any]) -> list[date | datetime]:
    """Days around every bound the document states, plus a few fixed moments."""
    raw: list[str] = [doc.get("dateTime", "")]
    root = doc.get("provision") or {}
    periods = [root.get("period") or {}]
    periods += [p.get("period") or {} for p in root.get("provision") or []]
    for period in periods:
        raw += [period.get("start", ""), period.get("end", "")]
    days: set[date | datetime] = {date(2019, 1, 1), date(2023, 6, 1), date(2049, 1, 1),
                                  date(2100, 1, 1)}
    for value in filter(None, raw):
        if "T" in value:
            moment = datetime.fromisoformat(value)
            for delta in (-1, 0, 1):
                days.add(moment + timedelta(seconds=delta))
            days.add(moment.astimezone(UTC).date())
        base = date.fromisoformat(value[:10]) if len(value) >= 10 else date(int(value[:4]), 1, 1)
        for delta in (-1, 0, 1):
            days.add(base + timedelta(days=delta))
            days.add(datetime.combine(base + timedelta(days=delta), datetime.max.time(), UTC))
    return sorted(days, key=lambda d: d if isinstance(d, datetime) else
                  datetime.combine(d, datetime.min.time(), UTC))


def _bfarm_parses(doc: dict[str, Any]) -> bool:
    try:
        BfarmConsent.model_validate(doc)
    except ValidationError:
        return False
    try:
        ResearchConsent(scope=doc)
    except ValidationError:
        return False
    return True


def test_fixtures_are_there() -> None:
    assert len(FIXTURES) >= 20


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: Path(str(p)).stem)
def test_fixture_is_evaluated_as_bfarm_evaluates_it(path: Any) -> None:
    doc = json.loads(path.read_text())
    readable = _bfarm_parses(doc) and isinstance(ResearchConsent(scope=doc).scope, BfarmConsent)
    # The fixture names say which ones BfArM means to be invalid.
    assert readable is not Path(str(path)).stem.startswith("invalid_")
    if not readable:
        # BfArM's models refuse it (or keep it as an unreadable dict that grants nothing):
        # the trust center refuses to store it at all.
        with pytest.raises(InvalidConsent):
            validate_broad_consent(doc)
        return
    stored = validate_broad_consent(doc)
    bfarm = ResearchConsent(scope=doc)
    compared = 0
    for on in _dates(doc):
        expected = ResearchConsent.consents_to_research([bfarm], on)  # type: ignore[arg-type]
        assert research_permitted([stored], on) is expected, f"differs at {on}"
        compared += 1
    assert compared >= 8


def test_several_consents_any_deny_wins_as_bfarm() -> None:
    files = {Path(str(p)).stem: json.loads(p.read_text()) for p in FIXTURES}
    pairs = [
        ("minimal_consented", "minimal_nonconsented"),
        ("minimal_consented", "withdrawal_complete"),
        ("minimal_consented_open_ended", "minimal_consented_expired"),
        ("mii_ig_consent_v2026_example1", "mii_ig_consent_v2026_example4"),
        ("minimal_consented", "status_rejected"),
    ]
    for a, b in pairs:
        docs = [files[a], files[b]]
        bfarm = [ResearchConsent(scope=d) for d in docs]
        stored = [validate_broad_consent(d) for d in docs]
        for on in _dates(files[a]) + _dates(files[b]):
            expected = ResearchConsent.consents_to_research(bfarm, on)  # type: ignore[arg-type]
            assert research_permitted(stored, on) is expected, (a, b, on)


def test_known_outcomes() -> None:
    """Pin a few outcomes in words, so the differential test is not the only guard."""
    files = {Path(str(p)).stem: json.loads(p.read_text()) for p in FIXTURES}
    consented = validate_broad_consent(files["minimal_consented"])
    assert research_permitted([consented], date(2023, 1, 1))
    assert not research_permitted([consented], date(2025, 9, 1))  # permit ended 2025-08-31
    assert research_permitted([consented], date(2025, 8, 31))  # end bound is inclusive
    assert not research_permitted([consented], date(2020, 8, 31))
    denied = validate_broad_consent(files["minimal_nonconsented"])
    assert not research_permitted([denied], date(2023, 1, 1))
    assert not research_permitted([consented, denied], date(2023, 1, 1))
    open_ended = validate_broad_consent(files["minimal_consented_open_ended"])
    assert research_permitted([open_ended], date(2300, 1, 1))
    rejected = validate_broad_consent(files["status_rejected"])
    assert not research_permitted([rejected], date(2023, 1, 1))
    assert not research_permitted([], date(2023, 1, 1))


def test_stored_copy_keeps_no_patient_or_narrative() -> None:
    doc = json.loads((resources.files(fixtures) / "minimal_consented_patient_by_identifier.json")
                     .read_text())
    doc["text"] = {"status": "generated", "div": "<div>Erika Mustermann</div>"}
    stored = validate_broad_consent(doc)
    assert stored["patient"] == {} and "text" not in stored
    assert doc["patient"]  # the caller's document is not changed


@pytest.mark.parametrize("bad", [None, [], "Consent", {"resourceType": "Patient"},
                                 {"resourceType": "Consent"}])
def test_non_consents_are_refused(bad: Any) -> None:
    with pytest.raises(InvalidConsent):
        validate_broad_consent(bad)


def test_root_permit_is_refused() -> None:
    doc = json.loads((resources.files(fixtures) / "minimal_consented.json").read_text())
    doc["provision"]["type"] = "permit"
    with pytest.raises(InvalidConsent, match="root provision"):
        validate_broad_consent(doc)
