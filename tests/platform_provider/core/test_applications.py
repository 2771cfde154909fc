"""The application state machine: every transition, every refusal, and grants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from common.errors import Conflict, InvalidInput, Unprocessable
from platform_provider.core import applications as wf
from platform_provider.core.applications import (
    Application,
    AuthorizedUser,
    ConflictOfInterest,
    IllegalTransition,
    NothingToGrant,
    State,
)
from platform_provider.core.codec import (
    application_from_dict,
    application_to_dict,
    new_application_from_dict,
)
from platform_provider.core.duo import Outcome, ResearchPurpose, terms_from_codes
from platform_provider.core.grants import grants_for

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TERMS = {
    "ds-hmb": terms_from_codes(["HMB", "IRB"]),
    "ds-rs": terms_from_codes(["GRU", "RS"]),
    "ds-poa": terms_from_codes(["POA"]),
    "ds-ts": terms_from_codes(["GRU", "TS"], time_limit=date(2026, 6, 30)),
}
USERS = (
    AuthorizedUser("sub-alice", "Alice A.", "Universität Heidelberg"),
    AuthorizedUser("sub-bob", "Bob B.", "DKFZ"),
)


def draft(datasets: tuple[str, ...] = ("ds-hmb",), **changes: object) -> Application:
    app, event = wf.new_application(
        "DAA-2026-0000000A",
        applicant_subject="sub-alice",
        applicant_name="Alice A.",
        institution="Universität Heidelberg",
        project_title="Somatic variants in paediatric tumours",
        project_summary="We study recurrent variants.",
        purpose=ResearchPurpose("HMB"),
        datasets=datasets,
        data_categories=("variant-calls",),
        access_level="individual",
        authorized_users=USERS,
        requested_from=date(2026, 4, 1),
        requested_until=date(2027, 3, 31),
        ethics_vote="EK-HD S-123/2026",
        actor="staff",
        at=T0,
    )
    assert event.action == "create" and event.from_state is None
    return replace(app, **changes)  # type: ignore[arg-type]


def under_review(datasets: tuple[str, ...] = ("ds-hmb",)) -> Application:
    app, _ = wf.submit(draft(datasets), actor="staff", at=T0)
    app, _ = wf.start_review(app, actor="staff", at=T0)
    app, _ = wf.record_opinion(
        app, reviewer="sub-rev1", recommendation="approve", comment="fine", at=T0
    )
    return app


def approved(datasets: tuple[str, ...] = ("ds-hmb",), **kw: object) -> Application:
    app, _ = wf.approve(
        under_review(datasets), terms=TERMS, reasons="sound", actor="chair", at=T0, **kw
    )
    return app


def active(datasets: tuple[str, ...] = ("ds-hmb",)) -> Application:
    app, _ = wf.activate(approved(datasets), actor="staff", at=T0 + timedelta(days=31))
    return app


def test_happy_path_events() -> None:
    app = draft()
    app, ev = wf.submit(app, actor="staff", at=T0)
    assert (ev.from_state, ev.to_state, app.submitted_at) == (State.DRAFT, State.SUBMITTED, T0)
    app, ev = wf.start_review(app, actor="staff", at=T0)
    assert app.state is State.UNDER_REVIEW
    app, ev = wf.record_opinion(app, reviewer="r1", recommendation="approve", comment="", at=T0)
    assert ev.to_state is State.UNDER_REVIEW and len(app.opinions) == 1
    app, ev = wf.approve(app, terms=TERMS, reasons="ok", actor="chair", at=T0)
    assert app.state is State.APPROVED and ev.details["granted"] == ["ds-hmb"]
    assert (app.valid_from, app.valid_until) == (date(2026, 4, 1), date(2027, 3, 31))
    app, ev = wf.activate(app, actor="staff", at=T0)
    assert app.state is State.ACTIVE and app.activated_at == T0
    app, ev = wf.extend(app, new_until=date(2027, 9, 30), reason="more time", actor="s", at=T0)
    assert app.valid_until == date(2027, 9, 30) and app.extensions[0].previous_until == date(
        2027, 3, 31
    )
    app, ev = wf.report_result(
        app, title="Paper", reference="https://doi.org/10.1000/x", year=2026, actor="s", at=T0
    )
    assert len(app.publications) == 1
    later = datetime(2027, 10, 1, tzinfo=UTC)
    app, ev = wf.expire(app, actor="system", at=later)
    assert app.state is State.EXPIRED and app.ended_at == later
    app, _ = wf.report_result(
        app, title="Second", reference="doi:10.1/y", year=2027, actor="s", at=later
    )
    assert len(app.publications) == 2


ACTIONS = {
    "submit": lambda a: wf.submit(a, actor="s", at=T0),
    "start_review": lambda a: wf.start_review(a, actor="s", at=T0),
    "record_opinion": lambda a: wf.record_opinion(
        a, reviewer="r9", recommendation="approve", comment="", at=T0
    ),
    "approve": lambda a: wf.approve(a, terms=TERMS, reasons="x", actor="chair", at=T0),
    "reject": lambda a: wf.reject(a, reasons="x", actor="chair", at=T0),
    "activate": lambda a: wf.activate(a, actor="s", at=T0),
    "expire": lambda a: wf.expire(a, actor="s", at=datetime(2030, 1, 1, tzinfo=UTC)),
    "revoke": lambda a: wf.revoke(a, reasons="misuse", actor="s", at=T0),
    "extend": lambda a: wf.extend(a, new_until=date(2027, 12, 31), reason="r", actor="s", at=T0),
    "withdraw": lambda a: wf.withdraw(a, actor="s", at=T0),
    "report_result": lambda a: wf.report_result(
        a, title="t", reference="doi:1", year=2026, actor="s", at=T0
    ),
}
ALLOWED = {
    "submit": {State.DRAFT},
    "start_review": {State.SUBMITTED},
    "record_opinion": {State.UNDER_REVIEW},
    "approve": {State.UNDER_REVIEW},
    "reject": {State.UNDER_REVIEW},
    "activate": {State.APPROVED},
    "expire": {State.ACTIVE},
    "revoke": {State.APPROVED, State.ACTIVE},
    "extend": {State.ACTIVE},
    "withdraw": {State.DRAFT, State.SUBMITTED, State.UNDER_REVIEW},
    "report_result": {State.ACTIVE, State.EXPIRED, State.REVOKED},
}


def _in_state(state: State) -> Application:
    builders = {
        State.DRAFT: draft,
        State.SUBMITTED: lambda: wf.submit(draft(), actor="s", at=T0)[0],
        State.UNDER_REVIEW: under_review,
        State.APPROVED: approved,
        State.ACTIVE: active,
        State.REJECTED: lambda: wf.reject(under_review(), reasons="no", actor="c", at=T0)[0],
        State.EXPIRED: lambda: wf.expire(active(), actor="s", at=datetime(2028, 1, 1, tzinfo=UTC))[
            0
        ],
        State.REVOKED: lambda: wf.revoke(active(), reasons="r", actor="s", at=T0)[0],
        State.WITHDRAWN: lambda: wf.withdraw(draft(), actor="s", at=T0)[0],
    }
    app = builders[state]()
    assert app.state is state
    return app


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_transition_table(state: State, action: str) -> None:
    app = _in_state(state)
    if state in ALLOWED[action]:
        new, event = ACTIONS[action](app)
        assert event.from_state is state and event.to_state is new.state
        assert event.action == action
    else:
        with pytest.raises(IllegalTransition) as exc:
            ACTIONS[action](app)
        assert exc.value.status == 409 and exc.value.code == "illegal-transition"


def test_submit_requires_ethics_vote() -> None:
    with pytest.raises(Unprocessable, match="ethics vote"):
        wf.submit(draft(ethics_vote=""), actor="s", at=T0)


def test_reviewer_conflict_of_interest_and_duplicates() -> None:
    app = under_review()
    for who in ("sub-alice", "sub-bob"):
        with pytest.raises(ConflictOfInterest):
            wf.record_opinion(app, reviewer=who, recommendation="approve", comment="", at=T0)
    with pytest.raises(Conflict, match="already"):
        wf.record_opinion(app, reviewer="sub-rev1", recommendation="reject", comment="", at=T0)
    with pytest.raises(InvalidInput, match="recommendation"):
        wf.record_opinion(app, reviewer="r2", recommendation="maybe", comment="", at=T0)
    with pytest.raises(ConflictOfInterest):
        wf.approve(app, terms=TERMS, reasons="x", actor="sub-bob", at=T0)
    with pytest.raises(ConflictOfInterest):
        wf.reject(app, reasons="x", actor="sub-alice", at=T0)


def test_decision_needs_opinions_and_reasons() -> None:
    app, _ = wf.start_review(wf.submit(draft(), actor="s", at=T0)[0], actor="s", at=T0)
    with pytest.raises(Conflict, match="opinion"):
        wf.approve(app, terms=TERMS, reasons="x", actor="chair", at=T0)
    app = under_review()
    with pytest.raises(InvalidInput, match="reasons"):
        wf.approve(app, terms=TERMS, reasons=" ", actor="chair", at=T0)
    with pytest.raises(InvalidInput, match="reasons"):
        wf.reject(app, reasons="", actor="chair", at=T0)
    with pytest.raises(Conflict, match="2 committee"):
        wf.approve(app, terms=TERMS, reasons="x", actor="chair", at=T0, min_opinions=2)


def test_approval_grants_only_matching_or_confirmed() -> None:
    app = under_review(("ds-hmb", "ds-rs", "ds-poa", "ds-unknown"))
    new, _ = wf.approve(app, terms=TERMS, reasons="ok", actor="chair", at=T0)
    by_id = {d.dataset_id: d for d in new.dataset_decisions}
    assert by_id["ds-hmb"].outcome is Outcome.MATCH and by_id["ds-hmb"].granted
    assert by_id["ds-rs"].outcome is Outcome.NEEDS_REVIEW and not by_id["ds-rs"].granted
    assert by_id["ds-poa"].outcome is Outcome.NO_MATCH and not by_id["ds-poa"].granted
    assert by_id["ds-unknown"].outcome is Outcome.NO_MATCH
    confirmed, _ = wf.approve(
        app, terms=TERMS, reasons="ok", actor="chair", at=T0, confirm=["ds-rs"]
    )
    rs = next(d for d in confirmed.dataset_decisions if d.dataset_id == "ds-rs")
    assert rs.granted and rs.confirmed_by == "chair"
    with pytest.raises(InvalidInput, match="cannot confirm"):
        wf.approve(app, terms=TERMS, reasons="ok", actor="chair", at=T0, confirm=["ds-poa"])
    with pytest.raises(InvalidInput, match="not requested"):
        wf.approve(app, terms=TERMS, reasons="ok", actor="chair", at=T0, confirm=["ds-ts"])


def test_nothing_to_grant_refuses_approval() -> None:
    app = under_review(("ds-poa", "ds-rs"))
    with pytest.raises(NothingToGrant) as exc:
        wf.approve(app, terms=TERMS, reasons="ok", actor="chair", at=T0)
    assert exc.value.status == 409


def test_approved_period_within_requested() -> None:
    app = under_review()
    with pytest.raises(InvalidInput, match="within"):
        wf.approve(app, terms=TERMS, reasons="x", actor="c", at=T0, valid_until=date(2028, 1, 1))
    with pytest.raises(InvalidInput, match="after"):
        wf.approve(
            app,
            terms=TERMS,
            reasons="x",
            actor="c",
            at=T0,
            valid_from=date(2026, 6, 1),
            valid_until=date(2026, 5, 1),
        )
    new, _ = wf.approve(
        app, terms=TERMS, reasons="x", actor="c", at=T0, valid_until=date(2026, 9, 30)
    )
    assert new.valid_until == date(2026, 9, 30)


def test_activate_after_period_refused_and_expire_only_when_due() -> None:
    app = approved()
    with pytest.raises(IllegalTransition, match="ended"):
        wf.activate(app, actor="s", at=datetime(2027, 4, 1, tzinfo=UTC))
    act = active()
    with pytest.raises(IllegalTransition, match="valid until"):
        wf.expire(act, actor="s", at=datetime(2027, 3, 31, 23, 0, tzinfo=UTC))
    assert wf.expire(act, actor="s", at=datetime(2027, 4, 1, tzinfo=UTC))[0].state is State.EXPIRED


def test_extension_rules() -> None:
    act = active()
    with pytest.raises(InvalidInput, match="after the current"):
        wf.extend(act, new_until=date(2027, 3, 31), reason="r", actor="s", at=T0)
    with pytest.raises(InvalidInput, match="five years"):
        wf.extend(act, new_until=date(2032, 1, 1), reason="r", actor="s", at=T0)
    with pytest.raises(InvalidInput, match="reason"):
        wf.extend(act, new_until=date(2027, 6, 1), reason="", actor="s", at=T0)


def test_new_application_validation() -> None:
    base = dict(
        applicant_subject="s",
        applicant_name="n",
        institution="i",
        project_title="t",
        project_summary="s",
        purpose=ResearchPurpose("HMB"),
        datasets=("ds-hmb",),
        data_categories=("clinical",),
        access_level="aggregated",
        authorized_users=USERS,
        requested_from=date(2026, 1, 1),
        requested_until=date(2026, 12, 31),
        actor="a",
        at=T0,
    )
    bad: list[tuple[dict[str, object], str]] = [
        ({"datasets": ()}, "at least one dataset"),
        ({"datasets": ("bad id",)}, "invalid dataset"),
        ({"data_categories": ("dna",)}, "unknown data categories"),
        ({"access_level": "some"}, "access_level"),
        ({"authorized_users": ()}, "authorized user"),
        ({"authorized_users": USERS + USERS[:1]}, "twice"),
        ({"requested_until": date(2025, 1, 1)}, "after"),
        ({"requested_until": date(2032, 1, 1)}, "five years"),
        ({"project_title": " "}, "project title"),
        ({"project_summary": "x" * 5001}, "longer"),
    ]
    for changes, fragment in bad:
        with pytest.raises(InvalidInput, match=fragment):
            wf.new_application("DAA-1", **{**base, **changes})  # type: ignore[arg-type]


def test_grants_for_active_application() -> None:
    assert grants_for(approved()) == []
    app = active(("ds-hmb", "ds-ts"))
    grants = grants_for(app)
    assert len(grants) == 4  # 2 users x 2 datasets
    hmb = [g for g in grants if g.dataset_id == "ds-hmb"]
    assert {g.subject for g in hmb} == {"sub-alice", "sub-bob"}
    g = hmb[0]
    assert g.purpose == "DUO:0000006" and g.access_level == "individual"
    assert g.valid_from == datetime(2026, 4, 1, tzinfo=UTC)
    assert g.valid_until == datetime(2027, 4, 1, tzinfo=UTC)  # exclusive: day after last day
    ts = next(g for g in grants if g.dataset_id == "ds-ts")
    assert ts.valid_until == datetime(2026, 7, 1, tzinfo=UTC)  # TS cap
    assert g.is_active(datetime(2027, 3, 31, 23, 59, tzinfo=UTC))
    assert not g.is_active(datetime(2027, 4, 1, tzinfo=UTC))
    assert not g.is_active(datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    revoked = replace(g, revoked_at=datetime(2026, 5, 1, tzinfo=UTC))
    assert revoked.is_active(datetime(2026, 4, 30, tzinfo=UTC))
    assert not revoked.is_active(datetime(2026, 5, 1, tzinfo=UTC))
    # Stable ids: an extension updates the same grants.
    ext, _ = wf.extend(app, new_until=date(2027, 6, 30), reason="r", actor="s", at=T0)
    assert {x.grant_id for x in grants_for(ext)} == {x.grant_id for x in grants}


def test_codec_round_trip() -> None:
    app = active(("ds-hmb", "ds-ts"))
    app, _ = wf.report_result(app, title="t", reference="doi:1", year=2026, actor="s", at=T0)
    assert application_from_dict(application_to_dict(app)) == app


def test_codec_input_refusals() -> None:
    good = {
        "applicant_subject": "s",
        "applicant_name": "n",
        "institution": "i",
        "project_title": "t",
        "project_summary": "s",
        "purpose": "HMB",
        "datasets": ["ds-hmb"],
        "data_categories": ["clinical"],
        "authorized_users": [{"subject": "u", "name": "U"}],
        "requested_from": "2026-01-01",
        "requested_until": "2026-06-30",
    }
    app, _ = new_application_from_dict(good, application_id="DAA-X", actor="a", at=T0)
    assert app.authorized_users[0].institution == "i"
    for changes, fragment in [
        ({"extra": 1}, "unknown application members"),
        ({"purpose": {"category": "HMB", "foo": True}}, "unknown purpose members"),
        ({"purpose": {"category": "HMB", "commercial": "yes"}}, "true or false"),
        ({"requested_from": "01.01.2026"}, "ISO 8601"),
        ({"datasets": "ds-hmb"}, "list of strings"),
        ({"authorized_users": [{"subject": "u", "email": "x"}]}, "each authorized user"),
    ]:
        with pytest.raises(InvalidInput, match=fragment):
            new_application_from_dict({**good, **changes}, application_id="X", actor="a", at=T0)
    with pytest.raises(InvalidInput):
        new_application_from_dict([], application_id="X", actor="a", at=T0)
