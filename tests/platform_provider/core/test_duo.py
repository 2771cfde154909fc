"""DUO matching: permission hierarchy, every modifier, three outcomes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from common.errors import InvalidInput
from platform_provider.core.duo import (
    DataUseTerms,
    Outcome,
    RequestContext,
    ResearchPurpose,
    match,
    term,
    terms_from_codes,
)

REQ = RequestContext(
    application_id="DAA-2026-00000001",
    institution="Universität Heidelberg",
    users=("sub-a", "sub-b"),
    ethics_vote="EK-123/26",
    requested_from=date(2026, 1, 1),
    requested_until=date(2026, 12, 31),
)


def outcome(purpose: ResearchPurpose, terms: DataUseTerms, req: RequestContext = REQ) -> Outcome:
    return match(purpose, terms, req).outcome


@pytest.mark.parametrize(
    ("permission", "category", "expected"),
    [
        ("NRES", "GRU", Outcome.MATCH),
        ("NRES", "POA", Outcome.MATCH),
        ("GRU", "GRU", Outcome.MATCH),
        ("GRU", "HMB", Outcome.MATCH),
        ("GRU", "POA", Outcome.MATCH),
        ("HMB", "HMB", Outcome.MATCH),
        ("HMB", "GRU", Outcome.NO_MATCH),
        ("HMB", "POA", Outcome.NO_MATCH),
        ("POA", "POA", Outcome.MATCH),
        ("POA", "HMB", Outcome.NO_MATCH),
        ("DS", "HMB", Outcome.NO_MATCH),
        ("DS", "GRU", Outcome.NO_MATCH),
    ],
)
def test_permission_hierarchy(permission: str, category: str, expected: Outcome) -> None:
    kwargs = {"diseases": ("MONDO:0007254",)} if permission == "DS" else {}
    terms = terms_from_codes([permission], **kwargs)
    purpose = ResearchPurpose(category)
    assert outcome(purpose, terms) is expected


def test_disease_specific() -> None:
    terms = terms_from_codes(["DS"], diseases=("MONDO:0007254",))
    same = ResearchPurpose("DS", diseases=("MONDO:0007254",))
    other = ResearchPurpose("DS", diseases=("MONDO:0005015",))
    assert outcome(same, terms) is Outcome.MATCH
    result = match(other, terms, REQ)
    assert result.outcome is Outcome.NEEDS_REVIEW
    assert "subclass" in result.reasons[0]
    # HMB and GRU cover disease-specific research.
    assert outcome(other, terms_from_codes(["HMB"])) is Outcome.MATCH
    assert outcome(other, terms_from_codes(["GRU"])) is Outcome.MATCH


@pytest.mark.parametrize(
    ("code", "purpose_changes", "expected"),
    [
        ("NCU", {"commercial": True}, Outcome.NO_MATCH),
        ("NCU", {}, Outcome.MATCH),
        ("NPU", {"for_profit_organisation": True}, Outcome.NO_MATCH),
        ("NPU", {"commercial": True}, Outcome.MATCH),
        ("NPUNCU", {"commercial": True}, Outcome.NO_MATCH),
        ("NPUNCU", {"for_profit_organisation": True}, Outcome.NO_MATCH),
        ("NPUNCU", {}, Outcome.MATCH),
        ("GSO", {"genetic_study": False}, Outcome.NO_MATCH),
        ("GSO", {}, Outcome.MATCH),
        ("NMDS", {"methods_development": True}, Outcome.NO_MATCH),
        ("NMDS", {}, Outcome.MATCH),
        ("NPOA", {"population_ancestry": True}, Outcome.NO_MATCH),
        ("NPOA", {}, Outcome.MATCH),
        ("PUB", {"publication_planned": False}, Outcome.NO_MATCH),
        ("PUB", {}, Outcome.MATCH),
        ("COL", {}, Outcome.NO_MATCH),
        ("COL", {"collaboration_agreed": True}, Outcome.NEEDS_REVIEW),
        ("RS", {}, Outcome.NEEDS_REVIEW),
        ("RTN", {}, Outcome.NEEDS_REVIEW),
        ("RTN", {"return_of_results_agreed": True}, Outcome.MATCH),
        ("CC", {"clinical_care": True}, Outcome.MATCH),
    ],
)
def test_modifiers(code: str, purpose_changes: dict[str, object], expected: Outcome) -> None:
    purpose = ResearchPurpose("HMB", **purpose_changes)  # type: ignore[arg-type]
    assert outcome(purpose, terms_from_codes(["GRU", code])) is expected


def test_clinical_care_needs_cc() -> None:
    assert outcome(ResearchPurpose("HMB", clinical_care=True), terms_from_codes(["GRU"])) is (
        Outcome.NO_MATCH
    )


def test_irb_requires_ethics_vote() -> None:
    terms = terms_from_codes(["HMB", "IRB"])
    assert outcome(ResearchPurpose("HMB"), terms) is Outcome.MATCH
    result = match(ResearchPurpose("HMB"), terms, replace(REQ, ethics_vote="  "))
    assert result.outcome is Outcome.NO_MATCH
    assert result.reasons[0].startswith("IRB")


def test_geographic_restriction() -> None:
    terms = terms_from_codes(["HMB", "GS"], countries=("DE", "AT"))
    assert outcome(ResearchPurpose("HMB", country="de"), terms) is Outcome.MATCH
    assert outcome(ResearchPurpose("HMB", country="US"), terms) is Outcome.NO_MATCH


def test_institution_user_and_project_restrictions() -> None:
    purpose = ResearchPurpose("HMB")
    ok_is = terms_from_codes(["HMB", "IS"], institutions=("Universität Heidelberg",))
    bad_is = terms_from_codes(["HMB", "IS"], institutions=("Charité",))
    assert outcome(purpose, ok_is) is Outcome.MATCH
    assert outcome(purpose, bad_is) is Outcome.NO_MATCH
    all_users = terms_from_codes(["HMB", "US"], users=("sub-a", "sub-b", "sub-c"))
    some_users = terms_from_codes(["HMB", "US"], users=("sub-a",))
    assert outcome(purpose, all_users) is Outcome.MATCH
    assert outcome(purpose, some_users) is Outcome.NO_MATCH
    named = terms_from_codes(["HMB", "PS"], projects=(REQ.application_id,))
    other = terms_from_codes(["HMB", "PS"], projects=("DAA-2025-FFFFFFFF",))
    assert outcome(purpose, named) is Outcome.MATCH
    assert outcome(purpose, other) is Outcome.NEEDS_REVIEW


def test_time_limit_caps_or_refuses() -> None:
    purpose = ResearchPurpose("HMB")
    within = match(purpose, terms_from_codes(["HMB", "TS"], time_limit=date(2027, 6, 30)), REQ)
    assert within.outcome is Outcome.MATCH and within.valid_until_cap == date(2027, 6, 30)
    capped = match(purpose, terms_from_codes(["HMB", "TS"], time_limit=date(2026, 6, 30)), REQ)
    assert capped.outcome is Outcome.MATCH
    assert capped.valid_until_cap == date(2026, 6, 30)
    assert any(o.startswith("TS") for o in capped.obligations)
    over = terms_from_codes(["HMB", "TS"], time_limit=date(2025, 12, 31))
    assert outcome(purpose, over) is Outcome.NO_MATCH


def test_moratorium_is_an_obligation() -> None:
    terms = terms_from_codes(["HMB", "MOR"], moratorium_until=date(2027, 1, 1))
    result = match(ResearchPurpose("HMB"), terms, REQ)
    assert result.outcome is Outcome.MATCH
    assert result.obligations == ("MOR: no publication before 2027-01-01",)


def test_no_match_wins_over_needs_review() -> None:
    terms = terms_from_codes(["HMB", "RS", "NCU"])
    result = match(ResearchPurpose("HMB", commercial=True), terms, REQ)
    assert result.outcome is Outcome.NO_MATCH
    assert len(result.reasons) == 2


def test_terms_validation() -> None:
    assert term("hmb").curie == "DUO:0000006"
    assert term("DUO:0000042").shorthand == "GRU"
    with pytest.raises(InvalidInput, match="unknown"):
        term("XYZ")
    with pytest.raises(InvalidInput, match="exactly one"):
        terms_from_codes(["HMB", "GRU"])
    with pytest.raises(InvalidInput, match="exactly one"):
        terms_from_codes(["IRB"])
    with pytest.raises(InvalidInput, match="modifier"):
        DataUseTerms("IRB")
    with pytest.raises(InvalidInput, match="permission"):
        DataUseTerms("HMB", frozenset({"GRU"}))
    with pytest.raises(InvalidInput, match="requires diseases"):
        terms_from_codes(["DS"])
    with pytest.raises(InvalidInput, match="requires countries"):
        terms_from_codes(["HMB", "GS"])
    with pytest.raises(InvalidInput, match="requires time_limit"):
        terms_from_codes(["HMB", "TS"])
    with pytest.raises(InvalidInput, match="GRU, HMB, DS, POA"):
        ResearchPurpose("NRES")
    with pytest.raises(InvalidInput, match="at least one disease"):
        ResearchPurpose("DS")
    with pytest.raises(InvalidInput, match="ISO 3166"):
        ResearchPurpose("HMB", country="DEU")
