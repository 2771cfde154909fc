"""create_app: the composition root that builds every adapter and registers every blueprint."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify

from common import http as common_http
from common.auth import (
    Authenticator,
    DenyAllAuthenticator,
    DevelopmentAuthenticator,
    StaticTokenAuthenticator,
)
from common.db import make_engine
from common.keys import KeyStore
from config.context import AppContext
from config.logging import configure_logging
from config.settings import Settings, load_settings

log = logging.getLogger("genomseq")


def build_context(settings: Settings) -> AppContext:
    """Engines and the authenticator for these settings (no app needed: the CLI uses it too)."""
    engine = make_engine(settings.main_database_url)
    tc_url = settings.trust_center_database_url
    tc_engine = engine if tc_url == settings.main_database_url else make_engine(tc_url)
    return AppContext(
        settings=settings,
        engine=engine,
        trust_center_engine=tc_engine,
        authenticator=_authenticator(settings),
        keys=KeyStore(settings.data_dir / "keys"),
    )


def _authenticator(settings: Settings) -> Authenticator:
    if settings.authorization == "off":
        return DevelopmentAuthenticator()
    if settings.api_tokens_file:
        return StaticTokenAuthenticator.from_file(settings.api_tokens_file)
    return DenyAllAuthenticator()


def create_app(settings: Settings | None = None) -> Flask:
    """Build the WSGI app: every component wired to its adapters."""
    from config.wiring import components

    settings = settings or load_settings()
    configure_logging(settings.log_level)
    if settings.authorization == "off":
        log.warning(
            "AUTHORIZATION IS OFF: every request is allowed. Local development only; "
            "the server refuses non-loopback addresses in this mode."
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = Flask("genomseq")
    app.config["MAX_CONTENT_LENGTH"] = settings.fhir.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    ctx = build_context(settings)
    app.extensions["genomseq"] = ctx
    common_http.init_app(app)

    @app.get("/health")
    def health() -> Response:
        """Liveness: the process answers. (Readiness would check the database.)"""
        return jsonify({"status": "UP"})

    for component in components():
        component.wire(app, ctx)
    return app
