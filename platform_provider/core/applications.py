"""Data-access applications to the platform provider (§ 64e Abs. 9 and 10 SGB V) and their
workflow as a pure state machine.

States and transitions (anything else raises :class:`IllegalTransition`, HTTP 409)::

    draft --submit--> submitted --start_review--> under_review
    under_review --record_opinion--> under_review     (scientific committee members)
    under_review --approve--> approved | --reject--> rejected        (with reasons)
    approved --activate--> active --expire--> expired                (after valid_until)
    approved | active --revoke--> revoked                            (with reasons)
    active --extend--> active                                        (new end date)
    draft | submitted | under_review --withdraw--> withdrawn
    active | expired | revoked --report_result--> (same state)       (publications)

Every transition returns the new application and a :class:`TransitionEvent` that the caller
writes to the history and the audit log. Approval records the DUO outcome of every requested
dataset; only datasets that match, or whose ``needs_review`` outcome the approver explicitly
confirmed, are granted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from common.errors import Conflict, InvalidInput, Unprocessable
from platform_provider.core.duo import (
    DataUseTerms,
    MatchResult,
    Outcome,
    RequestContext,
    ResearchPurpose,
    match,
)


class State(StrEnum):
    """Workflow state of an application."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    WITHDRAWN = "withdrawn"


class AccessLevel(StrEnum):
    """Aggregated (counts, statistics) or individual-level data."""

    AGGREGATED = "aggregated"
    INDIVIDUAL = "individual"


# Data categories of the Modellvorhaben data sets (clinical data at the KDK, genomic data at
# the GRZ), as an application may request them.
DATA_CATEGORIES = (
    "clinical",
    "phenotype",
    "variant-calls",
    "aligned-reads",
    "raw-reads",
    "quality-metrics",
)
MAX_PERIOD = timedelta(days=5 * 366)
_DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class IllegalTransition(Conflict):
    """The action is not allowed in the application's current state."""

    code = "illegal-transition"


class ConflictOfInterest(Conflict):
    """A reviewer or approver is the applicant or one of the authorized users."""

    code = "conflict-of-interest"


class NothingToGrant(Conflict):
    """Approval would grant no dataset (all no_match or unconfirmed needs_review)."""

    code = "nothing-to-grant"


class Recommendation(StrEnum):
    """A committee member's opinion."""

    APPROVE = "approve"
    REJECT = "reject"
    REVISE = "revise"


@dataclass(frozen=True)
class AuthorizedUser:
    """A person allowed to use the data (Nutzungsberechtigte), identified by account ``sub``."""

    subject: str
    name: str
    institution: str


@dataclass(frozen=True)
class Opinion:
    """A scientific committee member's recorded opinion."""

    reviewer: str
    recommendation: Recommendation
    comment: str
    at: datetime


@dataclass(frozen=True)
class DatasetDecision:
    """The DUO outcome for one requested dataset and whether it is granted."""

    dataset_id: str
    outcome: Outcome
    granted: bool
    reasons: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    confirmed_by: str = ""  # approver who confirmed a needs_review outcome
    valid_until_cap: date | None = None


@dataclass(frozen=True)
class Extension:
    """A prolongation of an active application."""

    previous_until: date
    new_until: date
    reason: str
    at: datetime


@dataclass(frozen=True)
class Publication:
    """A result reported for the register (publication, preprint, data set)."""

    title: str
    reference: str  # DOI or URL
    year: int
    reported_at: datetime


@dataclass(frozen=True)
class Application:
    """A data-access application with its complete decision record."""

    application_id: str
    state: State
    applicant_subject: str
    applicant_name: str
    institution: str
    project_title: str
    project_summary: str
    purpose: ResearchPurpose
    datasets: tuple[str, ...]
    data_categories: tuple[str, ...]
    access_level: AccessLevel
    authorized_users: tuple[AuthorizedUser, ...]
    requested_from: date
    requested_until: date
    ethics_vote: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    decision_reasons: str = ""
    activated_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str = ""
    valid_from: date | None = None
    valid_until: date | None = None  # last day of permitted use (inclusive)
    opinions: tuple[Opinion, ...] = ()
    dataset_decisions: tuple[DatasetDecision, ...] = ()
    extensions: tuple[Extension, ...] = ()
    publications: tuple[Publication, ...] = ()
    version: int = 0

    def granted_datasets(self) -> list[DatasetDecision]:
        """Decisions of the datasets this application grants."""
        return [d for d in self.dataset_decisions if d.granted]

    def involves(self, subject: str) -> bool:
        """True if the subject is the applicant or an authorized user."""
        return subject == self.applicant_subject or any(
            u.subject == subject for u in self.authorized_users
        )


@dataclass(frozen=True)
class TransitionEvent:
    """What happened to an application, for its history and the audit log."""

    application_id: str
    action: str
    from_state: State | None
    to_state: State
    actor: str
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)


Transition = tuple[Application, TransitionEvent]


def _text(value: object, name: str, max_len: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{name} is required")
    if len(value) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters")
    return value


def _require(app: Application, action: str, *allowed: State) -> None:
    if app.state not in allowed:
        raise IllegalTransition(
            f"cannot {action.replace('_', ' ')} an application that is {app.state.value}"
        )


def _event(
    before: Application, after: Application, action: str, actor: str, at: datetime, **details: Any
) -> TransitionEvent:
    return TransitionEvent(
        after.application_id, action, before.state, after.state, actor, at, details
    )


def new_application(
    application_id: str,
    *,
    applicant_subject: str,
    applicant_name: str,
    institution: str,
    project_title: str,
    project_summary: str,
    purpose: ResearchPurpose,
    datasets: Iterable[str],
    data_categories: Iterable[str],
    access_level: str,
    authorized_users: Iterable[AuthorizedUser],
    requested_from: date,
    requested_until: date,
    ethics_vote: str = "",
    actor: str,
    at: datetime,
) -> Transition:
    """A validated draft application."""
    ds = tuple(dict.fromkeys(datasets))
    if not ds:
        raise InvalidInput("at least one dataset must be requested")
    for d in ds:
        if not isinstance(d, str) or not _DATASET_ID.match(d):
            raise InvalidInput(f"invalid dataset id {d!r}")
    cats = tuple(dict.fromkeys(data_categories))
    if not cats:
        raise InvalidInput("at least one data category must be requested")
    bad = [c for c in cats if c not in DATA_CATEGORIES]
    if bad:
        raise InvalidInput(f"unknown data categories {bad}; known: {', '.join(DATA_CATEGORIES)}")
    try:
        level = AccessLevel(access_level)
    except ValueError:
        raise InvalidInput("access_level must be aggregated or individual") from None
    users = tuple(authorized_users)
    if not users:
        raise InvalidInput("at least one authorized user is required")
    subjects = [u.subject for u in users]
    if len(set(subjects)) != len(subjects):
        raise InvalidInput("authorized users are listed twice")
    for u in users:
        _text(u.subject, "authorized user subject", 255)
        _text(u.name, "authorized user name", 200)
        _text(u.institution, "authorized user institution", 300)
    if requested_until <= requested_from:
        raise InvalidInput("requested_until must be after requested_from")
    if requested_until - requested_from > MAX_PERIOD:
        raise InvalidInput("the requested period is longer than five years")
    app = Application(
        application_id=application_id,
        state=State.DRAFT,
        applicant_subject=_text(applicant_subject, "applicant subject", 255),
        applicant_name=_text(applicant_name, "applicant name", 200),
        institution=_text(institution, "institution", 300),
        project_title=_text(project_title, "project title", 300),
        project_summary=_text(project_summary, "project summary", 5000),
        purpose=purpose,
        datasets=ds,
        data_categories=cats,
        access_level=level,
        authorized_users=users,
        requested_from=requested_from,
        requested_until=requested_until,
        ethics_vote=_text(ethics_vote, "ethics vote reference", 200, required=False),
        created_at=at,
        updated_at=at,
    )
    event = TransitionEvent(application_id, "create", None, State.DRAFT, actor, at, {})
    return app, event


def submit(app: Application, *, actor: str, at: datetime) -> Transition:
    """Submit a draft for review; the ethics vote reference must be given by then."""
    _require(app, "submit", State.DRAFT)
    if not app.ethics_vote:
        raise Unprocessable("an ethics vote reference is required before submission")
    new = replace(app, state=State.SUBMITTED, submitted_at=at, updated_at=at)
    return new, _event(app, new, "submit", actor, at)


def start_review(app: Application, *, actor: str, at: datetime) -> Transition:
    """Hand a submitted application to the scientific committee."""
    _require(app, "start_review", State.SUBMITTED)
    new = replace(app, state=State.UNDER_REVIEW, updated_at=at)
    return new, _event(app, new, "start_review", actor, at)


def record_opinion(
    app: Application, *, reviewer: str, recommendation: str, comment: str, at: datetime
) -> Transition:
    """Record one committee member's opinion (one per member; no conflict of interest)."""
    _require(app, "record_opinion", State.UNDER_REVIEW)
    try:
        rec = Recommendation(recommendation)
    except ValueError:
        raise InvalidInput("recommendation must be approve, reject or revise") from None
    if app.involves(reviewer):
        raise ConflictOfInterest("the applicant and authorized users cannot review")
    if any(o.reviewer == reviewer for o in app.opinions):
        raise Conflict("this reviewer has already recorded an opinion")
    opinion = Opinion(reviewer, rec, _text(comment, "comment", 5000, required=False), at)
    new = replace(app, opinions=(*app.opinions, opinion), updated_at=at)
    return new, _event(app, new, "record_opinion", reviewer, at, recommendation=rec.value)


def evaluate(app: Application, terms: Mapping[str, DataUseTerms]) -> dict[str, MatchResult]:
    """DUO outcome per requested dataset; an unknown dataset is a no_match."""
    request = RequestContext(
        application_id=app.application_id,
        institution=app.institution,
        users=tuple(u.subject for u in app.authorized_users),
        ethics_vote=app.ethics_vote,
        requested_from=app.requested_from,
        requested_until=app.requested_until,
    )
    results: dict[str, MatchResult] = {}
    for ds in app.datasets:
        if ds not in terms:
            results[ds] = MatchResult(Outcome.NO_MATCH, ("the dataset is not registered",))
        else:
            results[ds] = match(app.purpose, terms[ds], request)
    return results


def approve(
    app: Application,
    *,
    terms: Mapping[str, DataUseTerms],
    confirm: Iterable[str] = (),
    reasons: str,
    actor: str,
    at: datetime,
    min_opinions: int = 1,
    valid_from: date | None = None,
    valid_until: date | None = None,
) -> Transition:
    """Approve after review, granting the datasets that match or whose review was confirmed."""
    _require(app, "approve", State.UNDER_REVIEW)
    reasons = _text(reasons, "decision reasons", 5000)
    if app.involves(actor):
        raise ConflictOfInterest("the applicant and authorized users cannot decide")
    if len(app.opinions) < min_opinions:
        raise Conflict(
            f"at least {min_opinions} committee opinion(s) must be recorded before a decision"
        )
    confirmed = set(confirm)
    unknown = confirmed - set(app.datasets)
    if unknown:
        raise InvalidInput(f"confirmed datasets were not requested: {sorted(unknown)}")
    start = valid_from or app.requested_from
    end = valid_until or app.requested_until
    if end <= start:
        raise InvalidInput("valid_until must be after valid_from")
    if start < app.requested_from or end > app.requested_until:
        raise InvalidInput("the approved period must lie within the requested period")
    decisions = []
    for ds, result in evaluate(app, terms).items():
        if ds in confirmed and result.outcome is Outcome.NO_MATCH:
            raise InvalidInput(f"dataset {ds} does not match its data-use terms; cannot confirm")
        granted = result.outcome is Outcome.MATCH or (
            result.outcome is Outcome.NEEDS_REVIEW and ds in confirmed
        )
        decisions.append(
            DatasetDecision(
                ds,
                result.outcome,
                granted,
                result.reasons,
                result.obligations,
                actor if (granted and result.outcome is Outcome.NEEDS_REVIEW) else "",
                result.valid_until_cap,
            )
        )
    if not any(d.granted for d in decisions):
        raise NothingToGrant("no requested dataset matches its data-use terms or was confirmed")
    new = replace(
        app,
        state=State.APPROVED,
        decided_at=at,
        decision_reasons=reasons,
        dataset_decisions=tuple(decisions),
        valid_from=start,
        valid_until=end,
        updated_at=at,
    )
    return new, _event(
        app,
        new,
        "approve",
        actor,
        at,
        granted=[d.dataset_id for d in decisions if d.granted],
        not_granted=[d.dataset_id for d in decisions if not d.granted],
    )


def reject(app: Application, *, reasons: str, actor: str, at: datetime) -> Transition:
    """Reject after review; reasons are required and published in the register."""
    _require(app, "reject", State.UNDER_REVIEW)
    reasons = _text(reasons, "decision reasons", 5000)
    if app.involves(actor):
        raise ConflictOfInterest("the applicant and authorized users cannot decide")
    new = replace(app, state=State.REJECTED, decided_at=at, decision_reasons=reasons, updated_at=at)
    return new, _event(app, new, "reject", actor, at)


def activate(app: Application, *, actor: str, at: datetime) -> Transition:
    """Put an approved application into force (grants are issued for it)."""
    _require(app, "activate", State.APPROVED)
    assert app.valid_until is not None
    if at.date() > app.valid_until:
        raise IllegalTransition("the approved period has already ended")
    new = replace(app, state=State.ACTIVE, activated_at=at, updated_at=at)
    return new, _event(app, new, "activate", actor, at)


def expire(app: Application, *, actor: str, at: datetime) -> Transition:
    """End an active application whose period is over."""
    _require(app, "expire", State.ACTIVE)
    assert app.valid_until is not None
    if at.date() <= app.valid_until:
        raise IllegalTransition(f"the application is valid until {app.valid_until.isoformat()}")
    new = replace(app, state=State.EXPIRED, ended_at=at, end_reason="period ended", updated_at=at)
    return new, _event(app, new, "expire", actor, at)


def revoke(app: Application, *, reasons: str, actor: str, at: datetime) -> Transition:
    """Revoke an approved or active application; all its grants end now."""
    _require(app, "revoke", State.APPROVED, State.ACTIVE)
    reasons = _text(reasons, "revocation reasons", 5000)
    new = replace(app, state=State.REVOKED, ended_at=at, end_reason=reasons, updated_at=at)
    return new, _event(app, new, "revoke", actor, at)


def extend(
    app: Application, *, new_until: date, reason: str, actor: str, at: datetime
) -> Transition:
    """Prolong an active application to a later last day of use."""
    _require(app, "extend", State.ACTIVE)
    assert app.valid_until is not None and app.valid_from is not None
    reason = _text(reason, "extension reason", 2000)
    if new_until <= app.valid_until:
        raise InvalidInput("an extension must end after the current end date")
    if new_until - app.valid_from > MAX_PERIOD:
        raise InvalidInput("the total period would be longer than five years")
    ext = Extension(app.valid_until, new_until, reason, at)
    new = replace(app, valid_until=new_until, extensions=(*app.extensions, ext), updated_at=at)
    return new, _event(
        app,
        new,
        "extend",
        actor,
        at,
        previous_until=app.valid_until.isoformat(),
        new_until=new_until.isoformat(),
    )


def withdraw(app: Application, *, actor: str, at: datetime) -> Transition:
    """The applicant withdraws before a decision."""
    _require(app, "withdraw", State.DRAFT, State.SUBMITTED, State.UNDER_REVIEW)
    new = replace(app, state=State.WITHDRAWN, ended_at=at, end_reason="withdrawn", updated_at=at)
    return new, _event(app, new, "withdraw", actor, at)


def report_result(
    app: Application, *, title: str, reference: str, year: int, actor: str, at: datetime
) -> Transition:
    """Record a publication or other result of the project for the register."""
    _require(app, "report_result", State.ACTIVE, State.EXPIRED, State.REVOKED)
    if not isinstance(year, int) or not 1900 <= year <= at.year + 1:
        raise InvalidInput("year must be a plausible publication year")
    pub = Publication(
        _text(title, "result title", 500), _text(reference, "result reference", 500), year, at
    )
    new = replace(app, publications=(*app.publications, pub), updated_at=at)
    return new, _event(app, new, "report_result", actor, at, reference=pub.reference)
