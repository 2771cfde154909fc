"""SQL adapter: timestamps, optimistic concurrency, search escaping, participant directory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from common.errors import Conflict, NotFound
from config.context import AppContext
from platform_provider.core import applications as wf
from platform_provider.core import participants as pr
from platform_provider.core.duo import ResearchPurpose
from platform_provider.ports import ParticipantDirectory
from platform_provider.storage.sql import SqlPlatformStore, from_micros, to_micros

T = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)


def test_micros_round_trip() -> None:
    assert from_micros(to_micros(T)) == T
    cet = T.astimezone(timezone(timedelta(hours=2)))
    assert to_micros(cet) == to_micros(T)
    assert from_micros(to_micros(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))) == (
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    )
    assert from_micros(None) is None
    with pytest.raises(ValueError, match="naive"):
        to_micros(datetime(2026, 1, 1))


def _draft(app_id: str, title: str) -> wf.Application:
    app, _ = wf.new_application(
        app_id,
        applicant_subject="s",
        applicant_name="n",
        institution="Inst 100% real",
        project_title=title,
        project_summary="x",
        purpose=ResearchPurpose("HMB"),
        datasets=("ds-1",),
        data_categories=("clinical",),
        access_level="aggregated",
        authorized_users=(wf.AuthorizedUser("s", "n", "i"),),
        requested_from=date(2026, 1, 1),
        requested_until=date(2026, 6, 1),
        ethics_vote="EK",
        actor="a",
        at=T,
    )
    return app


def test_optimistic_concurrency(ctx: AppContext) -> None:
    store = SqlPlatformStore(ctx.engine)
    with store.transaction() as tx:
        stored = tx.insert_application(_draft("DAA-2026-00000001", "A"))
    assert stored.version == 1
    with store.transaction() as tx:
        first = tx.save_application(replace(stored, project_title="B"))
    assert first.version == 2
    with pytest.raises(Conflict, match="concurrently"), store.transaction() as tx:
        tx.save_application(replace(stored, project_title="C"))  # stale version 1
    with store.read() as tx:
        assert tx.get_application("DAA-2026-00000001").project_title == "B"
        with pytest.raises(NotFound):
            tx.get_application("DAA-2026-FFFFFFFF")


def test_search_treats_wildcards_literally(ctx: AppContext) -> None:
    store = SqlPlatformStore(ctx.engine)
    with store.transaction() as tx:
        tx.insert_application(_draft("DAA-2026-00000001", "Alpha_beta"))
        tx.insert_application(_draft("DAA-2026-00000002", "Alphaxbeta"))
    with store.read() as tx:
        found, total = tx.list_applications(query="alpha_beta")
        assert total == 1 and found[0].application_id == "DAA-2026-00000001"
        assert tx.list_applications(query="100%")[1] == 2
        assert tx.list_applications(query="_x")[1] == 0  # unescaped "_" would match "ax"
        assert tx.list_applications(public_only=True)[1] == 0  # drafts are not public


def test_participant_directory(ctx: AppContext) -> None:
    store = SqlPlatformStore(ctx.engine)
    p, change = pr.register("GRZK00001", "genome-data-center", "GRZ", actor="a", at=T)
    with store.transaction() as tx:
        tx.insert_participant(p)
        tx.add_status_change(change)
    directory = ctx.get(ParticipantDirectory)  # type: ignore[type-abstract]
    assert directory.is_approved("GRZK00001")
    assert directory.is_approved("GRZK00001", "genome-data-center")
    assert not directory.is_approved("GRZK00001", "clinical-data-node")
    assert not directory.is_approved("GRZK00002")
    suspended, change = pr.change_status(p, "suspended", actor="a", at=T, reason="r")
    with store.transaction() as tx:
        tx.update_participant(suspended)
        tx.add_status_change(change)
    assert not directory.is_approved("GRZK00001")
    with store.read() as tx:
        assert [h.to_status.value for h in tx.history("GRZK00001")] == ["approved", "suspended"]
