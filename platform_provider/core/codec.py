"""JSON forms of applications: the complete record (staff API, storage) and request input."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from common.errors import InvalidInput
from platform_provider.core.applications import (
    AccessLevel,
    Application,
    AuthorizedUser,
    DatasetDecision,
    Extension,
    Opinion,
    Publication,
    Recommendation,
    State,
    Transition,
    new_application,
)
from platform_provider.core.duo import Outcome, ResearchPurpose


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def purpose_to_dict(p: ResearchPurpose) -> dict[str, Any]:
    """All fields of a research purpose."""
    return {
        "category": p.category,
        "diseases": list(p.diseases),
        "commercial": p.commercial,
        "for_profit_organisation": p.for_profit_organisation,
        "methods_development": p.methods_development,
        "genetic_study": p.genetic_study,
        "population_ancestry": p.population_ancestry,
        "clinical_care": p.clinical_care,
        "publication_planned": p.publication_planned,
        "collaboration_agreed": p.collaboration_agreed,
        "return_of_results_agreed": p.return_of_results_agreed,
        "country": p.country,
    }


_PURPOSE_FLAGS = (
    "commercial",
    "for_profit_organisation",
    "methods_development",
    "genetic_study",
    "population_ancestry",
    "clinical_care",
    "publication_planned",
    "collaboration_agreed",
    "return_of_results_agreed",
)


def purpose_from_dict(data: Any) -> ResearchPurpose:
    """A research purpose from request JSON; InvalidInput names the bad member."""
    if isinstance(data, str):
        data = {"category": data}
    if not isinstance(data, Mapping):
        raise InvalidInput("purpose must be an object or a DUO code")
    extra = set(data) - {"category", "diseases", "country", *_PURPOSE_FLAGS}
    if extra:
        raise InvalidInput(f"unknown purpose members: {sorted(extra)}")
    category = data.get("category")
    if not isinstance(category, str):
        raise InvalidInput("purpose.category is required (GRU, HMB, DS or POA)")
    diseases = data.get("diseases", [])
    if not isinstance(diseases, list) or not all(isinstance(d, str) and d for d in diseases):
        raise InvalidInput("purpose.diseases must be a list of codes")
    flags: dict[str, bool] = {}
    for name in _PURPOSE_FLAGS:
        if name in data:
            if not isinstance(data[name], bool):
                raise InvalidInput(f"purpose.{name} must be true or false")
            flags[name] = data[name]
    country = data.get("country", "DE")
    if not isinstance(country, str):
        raise InvalidInput("purpose.country must be an ISO 3166-1 alpha-2 code")
    return ResearchPurpose(category, tuple(diseases), country=country, **flags)


def application_to_dict(app: Application) -> dict[str, Any]:
    """The complete record (staff only: contains personal data)."""
    return {
        "application_id": app.application_id,
        "state": app.state.value,
        "applicant_subject": app.applicant_subject,
        "applicant_name": app.applicant_name,
        "institution": app.institution,
        "project_title": app.project_title,
        "project_summary": app.project_summary,
        "purpose": purpose_to_dict(app.purpose),
        "datasets": list(app.datasets),
        "data_categories": list(app.data_categories),
        "access_level": app.access_level.value,
        "authorized_users": [
            {"subject": u.subject, "name": u.name, "institution": u.institution}
            for u in app.authorized_users
        ],
        "requested_from": _iso(app.requested_from),
        "requested_until": _iso(app.requested_until),
        "ethics_vote": app.ethics_vote,
        "created_at": _iso(app.created_at),
        "updated_at": _iso(app.updated_at),
        "submitted_at": _iso(app.submitted_at),
        "decided_at": _iso(app.decided_at),
        "decision_reasons": app.decision_reasons,
        "activated_at": _iso(app.activated_at),
        "ended_at": _iso(app.ended_at),
        "end_reason": app.end_reason,
        "valid_from": _iso(app.valid_from),
        "valid_until": _iso(app.valid_until),
        "opinions": [
            {
                "reviewer": o.reviewer,
                "recommendation": o.recommendation.value,
                "comment": o.comment,
                "at": _iso(o.at),
            }
            for o in app.opinions
        ],
        "dataset_decisions": [
            {
                "dataset_id": d.dataset_id,
                "outcome": d.outcome.value,
                "granted": d.granted,
                "reasons": list(d.reasons),
                "obligations": list(d.obligations),
                "confirmed_by": d.confirmed_by,
                "valid_until_cap": _iso(d.valid_until_cap),
            }
            for d in app.dataset_decisions
        ],
        "extensions": [
            {
                "previous_until": _iso(e.previous_until),
                "new_until": _iso(e.new_until),
                "reason": e.reason,
                "at": _iso(e.at),
            }
            for e in app.extensions
        ],
        "publications": [
            {
                "title": p.title,
                "reference": p.reference,
                "year": p.year,
                "reported_at": _iso(p.reported_at),
            }
            for p in app.publications
        ],
        "version": app.version,
    }


def application_from_dict(data: Mapping[str, Any]) -> Application:
    """Inverse of :func:`application_to_dict` (trusted input: our own storage)."""
    p = data["purpose"]
    purpose = ResearchPurpose(
        p["category"],
        tuple(p["diseases"]),
        country=p["country"],
        **{k: p[k] for k in _PURPOSE_FLAGS},
    )
    return Application(
        application_id=data["application_id"],
        state=State(data["state"]),
        applicant_subject=data["applicant_subject"],
        applicant_name=data["applicant_name"],
        institution=data["institution"],
        project_title=data["project_title"],
        project_summary=data["project_summary"],
        purpose=purpose,
        datasets=tuple(data["datasets"]),
        data_categories=tuple(data["data_categories"]),
        access_level=AccessLevel(data["access_level"]),
        authorized_users=tuple(
            AuthorizedUser(u["subject"], u["name"], u["institution"])
            for u in data["authorized_users"]
        ),
        requested_from=date.fromisoformat(data["requested_from"]),
        requested_until=date.fromisoformat(data["requested_until"]),
        ethics_vote=data["ethics_vote"],
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        submitted_at=_dt(data["submitted_at"]),
        decided_at=_dt(data["decided_at"]),
        decision_reasons=data["decision_reasons"],
        activated_at=_dt(data["activated_at"]),
        ended_at=_dt(data["ended_at"]),
        end_reason=data["end_reason"],
        valid_from=_d(data["valid_from"]),
        valid_until=_d(data["valid_until"]),
        opinions=tuple(
            Opinion(
                o["reviewer"],
                Recommendation(o["recommendation"]),
                o["comment"],
                datetime.fromisoformat(o["at"]),
            )
            for o in data["opinions"]
        ),
        dataset_decisions=tuple(
            DatasetDecision(
                d["dataset_id"],
                Outcome(d["outcome"]),
                d["granted"],
                tuple(d["reasons"]),
                tuple(d["obligations"]),
                d["confirmed_by"],
                _d(d["valid_until_cap"]),
            )
            for d in data["dataset_decisions"]
        ),
        extensions=tuple(
            Extension(
                date.fromisoformat(e["previous_until"]),
                date.fromisoformat(e["new_until"]),
                e["reason"],
                datetime.fromisoformat(e["at"]),
            )
            for e in data["extensions"]
        ),
        publications=tuple(
            Publication(
                x["title"], x["reference"], x["year"], datetime.fromisoformat(x["reported_at"])
            )
            for x in data["publications"]
        ),
        version=data["version"],
    )


def _req_date(data: Mapping[str, Any], name: str) -> date:
    value = data.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date (YYYY-MM-DD)") from None


def optional_date(data: Mapping[str, Any], name: str) -> date | None:
    """An optional ISO date member of request JSON."""
    return _req_date(data, name) if data.get(name) not in (None, "") else None


def required_date(data: Mapping[str, Any], name: str) -> date:
    """A required ISO date member of request JSON."""
    return _req_date(data, name)


_INPUT_MEMBERS = {
    "applicant_subject",
    "applicant_name",
    "institution",
    "project_title",
    "project_summary",
    "purpose",
    "datasets",
    "data_categories",
    "access_level",
    "authorized_users",
    "requested_from",
    "requested_until",
    "ethics_vote",
}


def new_application_from_dict(
    data: Any, *, application_id: str, actor: str, at: datetime
) -> Transition:
    """A draft from request JSON (the members of :func:`application_to_dict` one can set)."""
    if not isinstance(data, Mapping):
        raise InvalidInput("the application must be a JSON object")
    extra = set(data) - _INPUT_MEMBERS
    if extra:
        raise InvalidInput(f"unknown application members: {sorted(extra)}")
    users_in = data.get("authorized_users")
    if not isinstance(users_in, list):
        raise InvalidInput("authorized_users must be a list of {subject, name, institution}")
    users = []
    for u in users_in:
        if not isinstance(u, Mapping) or set(u) - {"subject", "name", "institution"}:
            raise InvalidInput("each authorized user is {subject, name, institution}")
        users.append(
            AuthorizedUser(
                u.get("subject", ""),
                u.get("name", ""),
                u.get("institution", data.get("institution", "")),
            )
        )
    for name in ("datasets", "data_categories"):
        value = data.get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"{name} must be a list of strings")
    return new_application(
        application_id,
        applicant_subject=data.get("applicant_subject", ""),
        applicant_name=data.get("applicant_name", ""),
        institution=data.get("institution", ""),
        project_title=data.get("project_title", ""),
        project_summary=data.get("project_summary", ""),
        purpose=purpose_from_dict(data.get("purpose")),
        datasets=data["datasets"],
        data_categories=data["data_categories"],
        access_level=data.get("access_level", "individual"),
        authorized_users=users,
        requested_from=required_date(data, "requested_from"),
        requested_until=required_date(data, "requested_until"),
        ethics_vote=data.get("ethics_vote", ""),
        actor=actor,
        at=at,
    )
