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
