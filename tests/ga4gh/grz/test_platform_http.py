"""The HTTP Prüfbericht adapter against the platform provider's endpoint on a live server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from common.auth import Principal
from common.errors import InvalidInput, PermissionDenied, Unauthenticated
from config.app import create_app
from config.context import AppContext, app_context
from config.settings import Settings
from ga4gh.grz.storage.platform_http import HttpPruefberichtReceiver, PlatformUnavailable
from platform_provider.pruefberichte import PruefberichtRegister
from platform_provider.service import PlatformService
from tests.ga4gh.grz.builders import GRZ_ID


class _Tokens:
    def authenticate(self, authorization: str | None) -> Principal:
        if authorization == "Bearer grz-token":
            return Principal("grz", client_id=GRZ_ID, scopes=frozenset({"platform/pruefbericht"}))
        if authorization == "Bearer nobody":
            return Principal(
                "x", client_id="GRZX00999", scopes=frozenset({"platform/pruefbericht"})
            )
        raise Unauthenticated("invalid bearer token")


@pytest.fixture()
def platform_url(app: Flask, base_settings: Settings) -> Iterator[str]:
    served = create_app(base_settings.replace(authorization="on"))
    app_context(served).authenticator = _Tokens()
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def _report(tan: str, **changes: object) -> dict[str, object]:
    return {
        "SubmittedCase": {
            "submissionDate": "2024-07-01",
            "submissionType": "initial",
            "tan": tan,
            "submitterId": "260530103",
            "dataNodeId": GRZ_ID,
            "diseaseType": "rare",
            "dataCategory": "genomic",
            "libraryType": "wgs",
            "coverageType": "PKV",
            "dataQualityCheckPassed": True,
            **changes,
        }
    }


def test_http_adapter_delivers_and_maps_refusals(platform_url: str, ctx: AppContext) -> None:
    ctx.get(PlatformService).register_participant(
        GRZ_ID, "genome-data-center", "GRZ", actor="admin", create_client=False
    )
    HttpPruefberichtReceiver(platform_url, "grz-token").submit(
        _report("1" * 64), participant=GRZ_ID
    )
    mb = ctx.get(PruefberichtRegister).meldebestaetigung("1" * 64)
    assert mb is not None and mb.hash_string.split("&")[5:10] == ["R", "9", "2", "G", "1"]
    with pytest.raises(PermissionDenied):
        HttpPruefberichtReceiver(platform_url, "nobody").submit(
            _report("2" * 64), participant=GRZ_ID
        )
    with pytest.raises(Unauthenticated):
        HttpPruefberichtReceiver(platform_url, "wrong").submit(
            _report("3" * 64), participant=GRZ_ID
        )
    with pytest.raises(InvalidInput) as exc:
        HttpPruefberichtReceiver(platform_url, "grz-token").submit(
            _report("4" * 64, libraryType="nanopore"), participant=GRZ_ID
        )
    assert "libraryType" in exc.value.message


def test_unreachable_platform_is_unavailable() -> None:
    with pytest.raises(PlatformUnavailable):
        HttpPruefberichtReceiver("http://127.0.0.1:9", "t", timeout=2).submit({}, participant="x")
