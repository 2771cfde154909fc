"""Participation declaration and the combined decision (pure rules)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from trust_center.core.consent import (
    ParticipationScope,
    ParticipationStatement,
    Purpose,
    ScopeStatus,
    decide,
    participation_permitted,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
MV = ParticipationScope.MV_SEQUENCING


def st(scope: ParticipationScope, status: ScopeStatus, day: date, rec: datetime = T0):
    return ParticipationStatement(scope, status, day, rec)


def test_nothing_stated_means_no() -> None:
    assert not participation_permitted([], MV, date(2025, 1, 1))
    for purpose in Purpose:
        assert not decide(purpose, date(2025, 1, 1), T0, [], []).allowed


def test_newest_statement_on_or_before_the_day_decides() -> None:
    statements = [
        st(MV, ScopeStatus.PERMITTED, date(2025, 1, 10)),
        st(MV, ScopeStatus.CANCELLED, date(2025, 3, 1)),
        st(MV, ScopeStatus.PERMITTED, date(2025, 6, 1)),
    ]
    assert not participation_permitted(statements, MV, date(2025, 1, 9))
    assert participation_permitted(statements, MV, date(2025, 1, 10))
    assert not participation_permitted(statements, MV, date(2025, 3, 1))
    assert participation_permitted(statements, MV, date(2025, 6, 1))


def test_same_day_later_recording_wins() -> None:
    later = datetime(2025, 1, 2, tzinfo=UTC)
    statements = [st(MV, ScopeStatus.DENIED, date(2025, 1, 1), later),
                  st(MV, ScopeStatus.PERMITTED, date(2025, 1, 1), T0)]
    assert not participation_permitted(statements, MV, date(2025, 1, 5))


def test_purposes_need_their_scope_and_participation() -> None:
    case_id = ParticipationScope.CASE_IDENTIFICATION
    only_case = [st(case_id, ScopeStatus.PERMITTED, date(2025, 1, 1))]
    assert not decide(Purpose.CASE_IDENTIFICATION, date(2025, 2, 1), T0, only_case, []).allowed
    both = only_case + [st(MV, ScopeStatus.PERMITTED, date(2025, 1, 1))]
    assert decide(Purpose.CASE_IDENTIFICATION, date(2025, 2, 1), T0, both, []).allowed
    assert not decide(Purpose.RE_IDENTIFICATION, date(2025, 2, 1), T0, both, []).allowed
    assert decide(Purpose.MV_SEQUENCING, date(2025, 2, 1), T0, both, []).allowed
    decision = decide(Purpose.RESEARCH, date(2025, 2, 1), T0, both, [])
    assert not decision.allowed and "broad consent" in decision.reason


def test_withdrawal_counts_for_every_later_request() -> None:
    statements = [st(MV, ScopeStatus.PERMITTED, date(2025, 1, 1)),
                  st(MV, ScopeStatus.CANCELLED, date(2025, 5, 1))]
    before = datetime(2025, 4, 1, tzinfo=UTC)
    after = datetime(2025, 5, 2, tzinfo=UTC)
    # Asked before the withdrawal about March: yes. Asked after it about March: no.
    assert decide(Purpose.MV_SEQUENCING, date(2025, 3, 1), before, statements, []).allowed
    assert not decide(Purpose.MV_SEQUENCING, date(2025, 3, 1), after, statements, []).allowed
    # A question about a future day is answered for that day.
    future = [st(MV, ScopeStatus.PERMITTED, date(2025, 1, 1))]
    assert decide(Purpose.MV_SEQUENCING, date(2030, 1, 1), before, future, []).allowed
