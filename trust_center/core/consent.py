"""Consent evaluation: the model project's participation declaration and the MII Broad Consent.

Two layers, both stored by the trust center and evaluated together, default deny:

1. Teilnahmeerklärung of the Modellvorhaben Genomsequenzierung (GenDV Anlage III; BfArM GRZ
   submission metadata ``mvConsent.scope[]`` with the domains ``mvSequencing``,
   ``caseIdentification`` and ``reIdentification``). Each scope is *permitted*, *denied* or
   *cancelled* (Widerruf) on a date; the newest statement dated on or before the evaluated day
   decides, nothing stated means no.
2. MII Broad Consent as a FHIR R4 Consent (MII KDS Modul Consent, profile
   ``mii-pr-consent-einwilligung`` 1.0.8 / 1.0.9, packages 2025.0.x and 2026.0.0). The document
   is checked against BfArM's model of that profile (``grz_pydantic_models.mii.consent.Consent``,
   plus its rule that the root provision is ``deny``: opt-in). Research use is then decided as
   BfArM's ``ResearchConsent.consents_to_research`` decides it, implemented here on the raw
   resource (a parametrized test checks every BfArM fixture at many dates against BfArM's own
   function):

   - a consent grants nothing unless ``status`` is ``active``;
   - outside the root provision's period nothing applies;
   - each nested provision whose period contains the moment states its codes: ``permit`` keeps
     a code permitted unless something denied it, ``deny`` denies it; across several consents a
     code stays permitted only if every consent stating it permits it;
   - research is allowed iff at least one of the policies 2.16.840.1.113883.3.1937.777.24.5.3.1
     (PATDAT_erheben_speichern_nutzen) or ...24.5.3.8 (MDAT_wissenschaftlich_nutzen_EU_DSGVO_
     NIVEAU) is stated and every stated one is permitted (any deny wins; unknown means no);
   - period bounds are inclusive; a bound without a time covers its whole year, month or day
     (start from its first moment, end to its last), a time without zone and a plain evaluation
     date are read as UTC (a date as its midnight).

Decision (:func:`decide`): "may this subject's data be used for purpose P on date D?" needs the
participation scope of P (``mvSequencing`` for every purpose, plus ``caseIdentification`` or
``reIdentification`` for those purposes) and, for research, the broad consent rule. When D lies
before the moment of the request, the answer must hold at the request too: a withdrawal or an
expiry takes effect for every later request, whatever date it asks about.
"""

from __future__ import annotations

import calendar
import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from grz_pydantic_models.mii.consent import Consent as BfarmConsent
from pydantic import ValidationError

from trust_center.core.errors import InvalidConsent

RESEARCH_POLICY_CODES = frozenset(
    {
        "2.16.840.1.113883.3.1937.777.24.5.3.1",  # PATDAT_erheben_speichern_nutzen
        "2.16.840.1.113883.3.1937.777.24.5.3.8",  # MDAT_wissenschaftlich_nutzen_EU_DSGVO_NIVEAU
    }
)


class Purpose(StrEnum):
    """What a caller wants to use a subject's data for."""

    MV_SEQUENCING = "mvSequencing"  # care within the model project (§ 64e)
    CASE_IDENTIFICATION = "caseIdentification"  # re-identification between treating physicians
    RE_IDENTIFICATION = "reIdentification"  # informing the hospital of a care-relevant finding
    RESEARCH = "research"  # secondary use under the MII Broad Consent


class ParticipationScope(StrEnum):
    """Scopes of the Teilnahmeerklärung (BfArM ``MvConsentScopeDomain``)."""

    MV_SEQUENCING = "mvSequencing"
    CASE_IDENTIFICATION = "caseIdentification"
    RE_IDENTIFICATION = "reIdentification"


class ScopeStatus(StrEnum):
    """What the patient declared for one scope."""

    PERMITTED = "permitted"
    DENIED = "denied"
    CANCELLED = "cancelled"  # Widerruf of an earlier permission


@dataclass(frozen=True)
class ParticipationStatement:
    """One scope of a participation declaration (or its withdrawal) as recorded."""

    scope: ParticipationScope
    status: ScopeStatus
    date: date
    # When the trust center recorded it: orders statements of the same date.
    recorded_at: datetime


@dataclass(frozen=True)
class ConsentDecision:
    """The answer of :func:`decide`: allowed or not, and why (no identifiers in the reason)."""

    allowed: bool
    reason: str


_PURPOSE_SCOPES: dict[Purpose, tuple[ParticipationScope, ...]] = {
    Purpose.MV_SEQUENCING: (ParticipationScope.MV_SEQUENCING,),
    Purpose.CASE_IDENTIFICATION: (
        ParticipationScope.MV_SEQUENCING,
        ParticipationScope.CASE_IDENTIFICATION,
    ),
    Purpose.RE_IDENTIFICATION: (
        ParticipationScope.MV_SEQUENCING,
        ParticipationScope.RE_IDENTIFICATION,
    ),
    Purpose.RESEARCH: (ParticipationScope.MV_SEQUENCING,),
}


def as_moment(value: date | datetime) -> datetime:
    """A date as its midnight UTC, a naive datetime as UTC, an aware one unchanged."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)


# --- participation declaration ----------------------------------------------------------------


def participation_permitted(
    statements: Iterable[ParticipationStatement], scope: ParticipationScope, on: date | datetime
) -> bool:
    """True if the newest statement of ``scope`` dated on or before ``on`` permits it."""
    day = on.date() if isinstance(on, datetime) else on
    relevant = [s for s in statements if s.scope == scope and s.date <= day]
    if not relevant:
        return False
    newest = max(relevant, key=lambda s: (s.date, s.recorded_at))
    return newest.status == ScopeStatus.PERMITTED


# --- MII Broad Consent --------------------------------------------------------------------------


def validate_broad_consent(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Check a FHIR Consent against the MII profile as BfArM models it; return what to store.

    The stored copy drops ``text`` (narrative) and the ``patient`` element: the trust center
    links the consent to its case itself and keeps no patient reference or identifier.
    """
    if not isinstance(resource, Mapping):
        raise InvalidConsent("a broad consent must be a FHIR Consent resource (JSON object)")
    if resource.get("resourceType") not in (None, "Consent"):
        raise InvalidConsent("a broad consent must be a FHIR Consent resource")
    try:
        parsed = BfarmConsent.model_validate(dict(resource))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidConsent(
            f"not an MII broad consent ({len(exc.errors())} problem(s)); first at "
            f"{where or 'Consent'}: {first['msg']}"
        ) from None
    if parsed.provision is not None and parsed.provision.type != "deny":
        raise InvalidConsent(
            "the root provision must be deny: the MII broad consent is opt-in through nested "
            "permit provisions"
        )
    stored = copy.deepcopy(dict(resource))
    stored.pop("text", None)
    stored["patient"] = {}
    stored["resourceType"] = "Consent"
    return stored


def _bounds(raw: str) -> tuple[datetime, datetime]:
    """First and last moment a FHIR dateTime covers (checked by the profile model before)."""
    if "T" in raw:
        moment = as_moment(datetime.fromisoformat(raw))
        return moment, moment
    parts = [int(p) for p in raw.split("-")]
    year = parts[0]
    month_first, month_last = (parts[1], parts[1]) if len(parts) > 1 else (1, 12)
    first = date(year, month_first, parts[2] if len(parts) > 2 else 1)
    if len(parts) > 2:
        last = first
    else:
        last = date(year, month_last, calendar.monthrange(year, month_last)[1])
    return (
        datetime.combine(first, time.min, tzinfo=UTC),
        datetime.combine(last, time.max, tzinfo=UTC),
    )


def _period_contains(period: Mapping[str, Any] | None, moment: datetime) -> bool:
    if period is None:
        return True
    start = period.get("start")
    if start is not None and moment < _bounds(start)[0]:
        return False
    end = period.get("end")
    return end is None or moment <= _bounds(end)[1]


def codes_stated(consent: Mapping[str, Any], on: date | datetime) -> dict[str, bool]:
    """Policy code -> permitted, as one consent states them at a moment."""
    moment = as_moment(on)
    stated: dict[str, bool] = {}
    root = consent.get("provision")
    if consent.get("status") != "active" or not root:
        return stated
    if root.get("period") is not None and not _period_contains(root["period"], moment):
        return stated
    for provision in root.get("provision") or []:
        if not _period_contains(provision.get("period"), moment):
            continue
        permit = provision.get("type") == "permit"
        for concept in provision.get("code") or []:
            for coding in concept.get("coding") or []:
                code = coding.get("code")
                stated[code] = stated.get(code, True) if permit else False
    return stated


def research_permitted(consents: Sequence[Mapping[str, Any]], on: date | datetime) -> bool:
    """True if the broad consents, taken together, permit research use at ``on``."""
    merged: dict[str, bool] = {}
    for consent in consents:
        for code, permitted in codes_stated(consent, on).items():
            merged[code] = merged.get(code, True) and permitted
    research = [permitted for code, permitted in merged.items() if code in RESEARCH_POLICY_CODES]
    return bool(research) and all(research)


# --- the decision -----------------------------------------------------------------------------


def _decide_at(
    purpose: Purpose,
    on: date | datetime,
    statements: Sequence[ParticipationStatement],
    broad_consents: Sequence[Mapping[str, Any]],
) -> ConsentDecision:
    for scope in _PURPOSE_SCOPES[purpose]:
        if not participation_permitted(statements, scope, on):
            return ConsentDecision(False, f"participation scope {scope.value} is not permitted")
    if purpose == Purpose.RESEARCH and not research_permitted(broad_consents, on):
        return ConsentDecision(False, "the broad consent does not permit research use")
    return ConsentDecision(True, "permitted")


def decide(
    purpose: Purpose,
    on: date | datetime,
    now: datetime,
    statements: Sequence[ParticipationStatement],
    broad_consents: Sequence[Mapping[str, Any]],
) -> ConsentDecision:
    """May data be used for ``purpose`` on ``on``, asked at ``now``? Default deny."""
    decision = _decide_at(purpose, on, statements, broad_consents)
    if not decision.allowed or as_moment(on) >= as_moment(now):
        return decision
    # Asked about an earlier day: what was withdrawn or has expired since then still counts.
    current = _decide_at(purpose, now, statements, broad_consents)
    if not current.allowed:
        return ConsentDecision(False, current.reason + " any more")
    return decision


def next_change(
    statements: Sequence[ParticipationStatement],
    broad_consents: Sequence[Mapping[str, Any]],
    after: datetime,
) -> datetime | None:
    """The first moment after ``after`` at which :func:`decide` may answer differently for
    the same statements and consents (a statement dated later takes effect, a provision's
    period starts or ends), or None if nothing recorded is scheduled to change.

    Conservative: every future bound counts, whether or not it flips the answer; a period's
    end counts from the first moment after it (bounds are inclusive)."""
    after = as_moment(after)
    points: list[datetime] = []
    day = after.date()
    for s in statements:
        if s.date > day:
            points.append(datetime.combine(s.date, time.min, tzinfo=UTC))
    for consent in broad_consents:
        root = consent.get("provision") or {}
        for provision in [root, *(root.get("provision") or [])]:
            period = provision.get("period") or {}
            if period.get("start"):
                points.append(_bounds(period["start"])[0])
            if period.get("end"):
                points.append(_bounds(period["end"])[1] + timedelta(microseconds=1))
    return min((p for p in points if p > after), default=None)
