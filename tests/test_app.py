"""The deployment as a whole: health, service-info, routing errors, dev-mode guard."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from config.cli import cli, is_loopback


def test_health(client: FlaskClient) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "UP"}


def test_service_info_is_ga4gh_service_info_1_0(client: FlaskClient) -> None:
    resp = client.get("/service-info")
    assert resp.status_code == 200
    doc = resp.get_json()
    for key in ("id", "name", "type", "organization", "version"):
        assert key in doc
    assert set(doc["type"]) == {"group", "artifact", "version"}
    assert set(doc["organization"]) == {"name", "url"}


def test_unknown_path_is_problem_json(client: FlaskClient) -> None:
    resp = client.get("/no/such/thing")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == 404


def test_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    resp = client.post("/health")
    assert resp.status_code == 405
    assert "GET" in resp.headers["Allow"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.0.2.1", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_refuses_public_bind_with_authorization_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("GENOMSEQ_AUTHORIZATION", "off")
    monkeypatch.setenv("GENOMSEQ_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "refusing to bind 0.0.0.0" in result.output
