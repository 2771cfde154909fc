"""Authorization on: the staff API needs an admin token from the broker; the register is public.

The admin client is created with ``genomseq platform add-client`` and its credentials are used
at the broker's token endpoint, as an operator would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config.app import create_app
from config.cli import cli, upgrade_all
from config.context import app_context
from config.settings import Settings
from tests.conftest import truncate_all

ISSUER = "https://platform.test"


@pytest.fixture(scope="session")
def secure_platform_app(base_settings: Settings) -> Iterator[Flask]:
    app = create_app(base_settings.replace(authorization="on", public_base_url=ISSUER))
    app.config["TESTING"] = True
    ctx = app_context(app)
    upgrade_all(ctx)
    yield app
    ctx.engine.dispose()


@pytest.fixture()
def secure(secure_platform_app: Flask) -> Flask:
    truncate_all(app_context(secure_platform_app).engine)
    return secure_platform_app


def add_client(app: Flask, *args: str) -> dict[str, str]:
    result = app.test_cli_runner().invoke(cli, args=["platform", "add-client", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def token(http: FlaskClient, creds: dict[str, str], scope: str) -> str:
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    resp = http.post(
        "/passport/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers={"Authorization": "Basic " + basic},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["access_token"]  # type: ignore[no-any-return]


def test_add_client_credentials_work_at_token_endpoint(secure: Flask) -> None:
    http = secure.test_client()
    creds = add_client(secure, "Staff console", "--role", "admin", "--scope", "admin")
    assert set(creds) == {"client_id", "client_secret"} and creds["client_secret"]
    discovery = http.get("/.well-known/openid-configuration").get_json()
    assert discovery["token_endpoint"].endswith("/passport/token")
    admin = token(http, creds, "admin")
    resp = http.get("/platform/participants", headers={"Authorization": "Bearer " + admin})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    created = http.post(
        "/platform/participants",
        headers={"Authorization": "Bearer " + admin},
        json={"participant_id": "GRZK00001", "kind": "genome-data-center", "name": "GRZ"},
    )
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"


def test_staff_api_refuses_without_admin_scope(secure: Flask) -> None:
    http = secure.test_client()
    resp = http.get("/platform/participants")
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "login"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = http.get("/platform/participants", headers={"Authorization": "Bearer garbage"})
    assert resp.status_code == 401
    reader = add_client(secure, "Reader", "--role", "data-service", "--scope", "system/*.rs")
    resp = http.get(
        "/platform/participants",
        headers={"Authorization": "Bearer " + token(http, reader, "system/*.rs")},
    )
    assert resp.status_code == 403
    assert resp.get_json()["code"] == "forbidden"


def test_register_is_public(secure: Flask) -> None:
    http = secure.test_client()
    assert http.get("/register").status_code == 200
    assert http.get("/register/api").status_code == 200
    assert http.get("/register/jwks.json").status_code == 200


def test_add_client_refusals(secure: Flask) -> None:
    result = secure.test_cli_runner().invoke(
        cli, args=["platform", "add-client", "X", "--role", "admin", "--scope", "no/such.scope"]
    )
    assert result.exit_code != 0 and "invalid" in result.output
