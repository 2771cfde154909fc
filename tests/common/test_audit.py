from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from common.audit import (
    AuditError,
    AuditLog,
    audit_head,
    audit_log,
    entry_hash,
    head_message,
)
from common.keys import KeyStore
from config.context import AppContext


@pytest.fixture()
def log(ctx: AppContext) -> AuditLog:
    return ctx.get(AuditLog)


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append("test.event", "tester", {"n": i, "pseudonym": f"p{i}"})


def test_entries_chain_and_verify(log: AuditLog) -> None:
    first = log.append("case.registered", "le:260326822", {"case": "c1", "ok": True})
    second = log.append("vorgangsnummer.used", "node:fhir", {"case": "c1", "list": [1, None]})
    assert first.seq == 1 and second.seq == 2
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.hash
    stored = log.entries()
    assert [e.hash for e in stored] == [first.hash, second.hash]
    assert stored[0].details == {"case": "c1", "ok": True}
    result = log.verify()
    assert result.ok and result.entries == 2 and result.first_broken is None
    assert result.head_key_id == log.key_id


def test_empty_log_verifies(log: AuditLog) -> None:
    assert log.verify().ok


def test_tampered_entry_is_named(log: AuditLog) -> None:
    _fill(log, 5)
    with log.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 3)
                     .values(details='{"n":99,"pseudonym":"p2"}'))
    result = log.verify()
    assert not result.ok and result.first_broken == 3
    assert "changed" in result.reason


def test_tampered_actor_is_named(log: AuditLog) -> None:
    _fill(log, 3)
    with log.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(actor="someone"))
    assert log.verify().first_broken == 2


def test_deleted_entry_is_named(log: AuditLog) -> None:
    _fill(log, 5)
    with log.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 2))
    result = log.verify()
    assert not result.ok and result.first_broken == 2
    assert "missing" in result.reason


def test_deleted_last_entry_is_named(log: AuditLog) -> None:
    _fill(log, 4)
    with log.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 4))
    result = log.verify()
    assert not result.ok and result.first_broken == 4


def test_rewritten_tail_without_key_is_detected(log: AuditLog) -> None:
    """An attacker who rewrites an entry and re-hashes everything after it still lacks the key."""
    _fill(log, 4)
    with log.engine.begin() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()
        prev = rows[1].hash
        for row in rows[2:]:
            details = {"n": 1000 + row.seq, "pseudonym": "forged"}
            new_hash = entry_hash(row.seq, row.at_us, row.event, row.actor, details, prev)
            conn.execute(update(audit_log).where(audit_log.c.seq == row.seq).values(
                details=f'{{"n":{1000 + row.seq},"pseudonym":"forged"}}', prev_hash=prev,
                hash=new_hash))
            prev = new_hash
        conn.execute(update(audit_head).values(hash=prev))
    result = log.verify()
    assert not result.ok and result.first_broken == 4
    assert "signature" in result.reason


def test_forged_head_signature_is_detected(log: AuditLog, tmp_path) -> None:
    _fill(log, 3)
    other = KeyStore(tmp_path / "attacker").signing_key("audit", "ed25519")
    with log.engine.begin() as conn:
        head = conn.execute(select(audit_head)).one()
        import base64

        forged = base64.urlsafe_b64encode(
            other.private_key.sign(head_message(head.seq, head.hash))  # type: ignore[union-attr]
        ).rstrip(b"=").decode()
        # Claims our key id but was made with another key.
        conn.execute(update(audit_head).values(signature=forged))
    result = log.verify()
    assert not result.ok and result.first_broken == 3
    assert "signature" in result.reason


def test_head_signed_by_another_key_is_detected(log: AuditLog, tmp_path) -> None:
    _fill(log, 2)
    other = KeyStore(tmp_path / "attacker").signing_key("audit", "ed25519")
    AuditLog(log.engine, other).append("test.event", "attacker", {})
    result = log.verify()
    assert not result.ok and result.first_broken == 3
    assert result.head_key_id == other.kid


@pytest.mark.parametrize(
    "details",
    [
        {"kvnr": "x"},
        {"patient": {"Name": "Erika"}},
        {"note": "insured A123456780 today"},
        {"list": ["B987654321"]},
        {"score": 1.5},
        {"obj": object()},
    ],
)
def test_identifying_or_non_canonical_details_are_refused(log: AuditLog, details) -> None:
    with pytest.raises(AuditError):
        log.append("test.event", "tester", details)
    assert log.entries() == []


@pytest.mark.parametrize("event", ["", "Bad", "has space", "x" * 101])
def test_bad_event_names_are_refused(log: AuditLog, event: str) -> None:
    with pytest.raises(AuditError):
        log.append(event, "tester", {})


def test_append_joins_callers_transaction(log: AuditLog) -> None:
    from common.db import write_transaction

    with pytest.raises(RuntimeError), write_transaction(log.engine) as conn:
        log.append("test.event", "tester", {"n": 1}, conn=conn)
        raise RuntimeError("roll back")
    assert log.entries() == []
    assert log.verify().ok


def test_concurrent_appends_keep_the_chain(log: AuditLog) -> None:
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(10):
                log.append("test.event", f"worker{w}", {"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = log.verify()
    assert result.ok and result.entries == 40


def test_trust_center_database_has_its_own_log(ctx: AppContext, log: AuditLog) -> None:
    tc = AuditLog(ctx.trust_center_engine, ctx.keys.signing_key("audit", "ed25519"))
    tc.append("test.event", "tc", {"n": 1})
    tc.append("test.event", "tc", {"n": 2})
    assert tc.verify().entries == 2
    assert log.verify().entries == 0


def _cli_env(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    s = ctx.settings
    monkeypatch.setenv("GENOMSEQ_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("GENOMSEQ_DATABASE_URL", s.main_database_url)
    monkeypatch.setenv("GENOMSEQ_TRUST_CENTER_DATABASE_URL", s.trust_center_database_url)


def test_cli_verify(ctx: AppContext, log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    from config.cli import cli

    _cli_env(ctx, monkeypatch)
    _fill(log, 3)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "3 entries" in ok.output
    with log.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(event="x.y"))
    bad = runner.invoke(cli, ["audit", "verify", "--database", "main"])
    assert bad.exit_code == 1
    assert "entry 2" in bad.output
    tc = runner.invoke(cli, ["audit", "verify", "--database", "trust-center"])
    assert tc.exit_code == 0, tc.output


def test_verify_while_appending_sees_one_consistent_snapshot(log: AuditLog) -> None:
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 200:
            log.append("test.event", "writer", {"i": i})
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        results = [log.verify() for _ in range(15)]
    finally:
        stop.set()
        t.join()
    assert all(r.ok for r in results), [r.reason for r in results if not r.ok]
    assert log.verify().ok


def test_cli_refuses_remote_trust_center_log(monkeypatch: pytest.MonkeyPatch) -> None:
    from config.cli import cli

    monkeypatch.setenv("GENOMSEQ_TRUST_CENTER_URL", "https://tc.example/trust-center")
    result = CliRunner().invoke(cli, ["audit", "verify", "--database", "trust-center"])
    assert result.exit_code != 0 and "runs elsewhere" in result.output


def test_append_many_continues_the_chain_and_verifies(log: AuditLog) -> None:
    single = log.append("test.event", "tester", {"n": 0})
    batch = log.append_many([("access.decision", f"r{i}", {"n": i}) for i in range(1, 6)])
    assert [e.seq for e in batch] == [2, 3, 4, 5, 6]
    assert batch[0].prev_hash == single.hash
    assert all(b.prev_hash == a.hash for a, b in zip(batch, batch[1:], strict=False))
    assert [e.hash for e in log.entries()] == [single.hash] + [e.hash for e in batch]
    assert log.verify().ok
    after = log.append("test.event", "tester", {"n": 6})
    assert after.seq == 7 and after.prev_hash == batch[-1].hash
    assert log.verify().ok


def test_append_many_refuses_the_whole_batch_for_one_bad_entry(log: AuditLog) -> None:
    with pytest.raises(AuditError):
        log.append_many([("test.event", "tester", {"n": 1}),
                         ("test.event", "tester", {"kvnr": "A123456780"})])
    assert log.entries() == []
    assert log.append_many([]) == []
