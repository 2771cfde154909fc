"""The passport migrations create exactly the tables the SQL adapter uses (both backends)."""

from __future__ import annotations

from sqlalchemy import inspect

from config.context import AppContext
from ga4gh.passport.storage.tables import metadata


def test_migrated_schema_matches_tables(ctx: AppContext) -> None:
    inspector = inspect(ctx.engine)
    for table in metadata.sorted_tables:
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(columns) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (table.name, column.name)
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        assert {i.name for i in table.indexes} <= indexes


def test_usernames_are_unique(ctx: AppContext) -> None:
    import pytest

    from common.errors import Conflict
    from ga4gh.passport.storage.sql import PassportStore

    store = PassportStore(ctx.engine)
    store.create_user("grace", "a long enough password")
    with pytest.raises(Conflict):
        store.create_user("grace", "another long password")


def test_async_decision_audit_keeps_every_entry_and_the_chain(ctx: AppContext) -> None:
    from common.audit import AuditLog
    from ga4gh.passport.enforcement import DecisionAuditor

    log = ctx.get(AuditLog)
    auditor = DecisionAuditor(log, "async", max_queue=5, batch_wait=0.01)
    for i in range(40):  # more than the queue holds: the overflow is written synchronously
        auditor.record("researcher-1", {"kind": "Observation", "n": i})
    auditor.flush()
    entries = [e for e in log.entries(limit=1000) if e.event == "access.decision"]
    assert sorted(e.details["n"] for e in entries) == list(range(40))
    assert log.verify().ok


def test_client_registration_refuses_bad_metadata(ctx: AppContext) -> None:
    import pytest

    from common.errors import InvalidInput, NotFound
    from ga4gh.passport.storage.sql import PassportStore

    store = PassportStore(ctx.engine)
    bad: list[dict] = [
        {"scopes": ["system/*.rz"]},
        {"scopes": ["everything"]},
        {"redirect_uris": ["http://evil.example/cb"]},
        {"redirect_uris": ["https://app.example/cb#frag"]},
        {"jwks": {"keys": []}},
        {"jwks": {"keys": [{"kty": "oct", "k": "AAAA", "kid": "s"}]}},
        {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA",
                            "kid": "private"}]}},
        {"grant_types": ["authorization_code"]},
        {"public": True, "redirect_uris": ["https://a.example/cb"],
         "grant_types": ["client_credentials"]},
    ]
    for kwargs in bad:
        with pytest.raises(InvalidInput):
            store.register_client("X", "hospital", **kwargs)
    with pytest.raises(NotFound):
        store.set_status("gs-unknown", "suspended")
    with pytest.raises(InvalidInput):
        store.set_status("gs-unknown", "deleted")  # type: ignore[arg-type]
    creds = store.register_client("Hospital", "hospital", scopes=["system/Observation.c"])
    assert creds.client_secret and store.check_client_secret(creds.client_id, creds.client_secret)
    assert not store.check_client_secret(creds.client_id, "wrong")
    client = store.get(creds.client_id)
    assert client is not None and client.token_endpoint_auth_method == "client_secret_basic"
    assert creds.client_secret not in repr(client)
