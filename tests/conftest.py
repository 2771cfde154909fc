"""Shared fixtures: the same suite runs on SQLite and, when GENOMSEQ_TEST_DATABASE_URL is
set (CI always sets it), on PostgreSQL.

``backend`` is a session-scoped parameter; every test that uses ``app``/``client``/``ctx`` runs
once per backend. Each backend gets fresh databases (a new PostgreSQL database per test
session and worker), migrated once; every test starts from empty tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from common.db import normalise_url
from config.app import create_app
from config.cli import upgrade_all
from config.context import AppContext, app_context
from config.settings import Settings

PG_URL_ENV = "GENOMSEQ_TEST_DATABASE_URL"


def _pg_create(admin_url: str, name: str) -> str:
    engine = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return (
        make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    )


def _pg_drop(admin_url: str, name: str) -> None:
    engine = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not os.environ.get(PG_URL_ENV):
        pytest.skip(f"{PG_URL_ENV} not set: PostgreSQL run skipped")
    return str(request.param)


@pytest.fixture(scope="session")
def database_urls(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(main URL, trust center URL) of fresh, empty databases for this session."""
    if backend == "sqlite":
        d = tmp_path_factory.mktemp("sqlite")
        yield f"sqlite:///{d / 'genomseq.sqlite'}", f"sqlite:///{d / 'trust_center.sqlite'}"
        return
    admin = os.environ[PG_URL_ENV]
    suffix = uuid.uuid4().hex[:10]
    names = [f"genomseq_test_{suffix}", f"genomseq_tc_test_{suffix}"]
    urls = [_pg_create(admin, n) for n in names]
    try:
        yield urls[0], urls[1]
    finally:
        for n in names:
            _pg_drop(admin, n)


@pytest.fixture(scope="session")
def base_settings(
    database_urls: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings for a test app: fresh databases, a temporary data dir, authorization off.

    Tests of authorization build their own settings with ``base_settings.replace(...)``.
    """
    from dataclasses import replace

    main_url, tc_url = database_urls
    base = Settings()
    return replace(
        base,
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=main_url,
        authorization="off",
        trust_center=replace(base.trust_center, database_url=tc_url),
        # Tests read the audit log right after a request: decisions are appended before the
        # response (the batched default is covered by tests/ga4gh/passport/test_storage.py).
        passport=replace(base.passport, audit_decisions="sync"),
    )


@pytest.fixture(scope="session")
def session_app(base_settings: Settings) -> Iterator[Flask]:
    app = create_app(base_settings)
    app.config["TESTING"] = True
    ctx = app_context(app)
    upgrade_all(ctx)
    yield app
    ctx.engine.dispose()
    ctx.trust_center_engine.dispose()


def _tables(engine: Engine) -> list[str]:
    return [t for t in inspect(engine).get_table_names() if not t.startswith("alembic_version")]


def truncate_all(engine: Engine) -> None:
    """Empty every table the migrations created (not the migration bookkeeping)."""
    tables = _tables(engine)
    if not tables:
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            # FTS5's shadow tables belong to their virtual table: emptying them directly
            # corrupts it; DELETE on the virtual table empties them.
            shadow = {
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT name FROM pragma_table_list WHERE type = 'shadow'"
                )
            }
            for t in (t for t in tables if t not in shadow):
                conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture()
def app(session_app: Flask) -> Flask:
    """The test app with empty tables."""
    ctx = app_context(session_app)
    truncate_all(ctx.engine)
    if ctx.trust_center_engine is not ctx.engine:
        truncate_all(ctx.trust_center_engine)
    return session_app


@pytest.fixture()
def ctx(app: Flask) -> AppContext:
    return app_context(app)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def plain_fhir_app(base_settings: Settings, session_app: Flask) -> Flask:
    """An app on the same databases whose FHIR node does not pseudonymize: for tests of
    generic FHIR behaviour that needs names, birth dates or identifiers as sent."""
    from dataclasses import replace

    settings = replace(
        base_settings,
        trust_center=replace(base_settings.trust_center, pseudonymize_fhir=False),
    )
    plain = create_app(settings)
    plain.config["TESTING"] = True
    return plain


@pytest.fixture()
def plain_client(app: Flask, plain_fhir_app: Flask) -> FlaskClient:
    """Client of plain_fhir_app, starting from empty tables like ``client``."""
    return plain_fhir_app.test_client()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
