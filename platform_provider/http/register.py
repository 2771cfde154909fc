"""The public application register (§ 64e Abs. 9 SGB V): HTML and JSON, every entry signed.

Endpoints (public, no authentication: the law makes the register public):

- ``GET /register``: server-rendered HTML (no JavaScript), searchable with a GET form
  (``q`` words, ``status``, ``offset``). Content negotiation: a client whose ``Accept`` prefers
  ``application/json`` over ``text/html`` gets the JSON document of ``/register/api``.
- ``GET /register/api``: the same listing as JSON, always (stable URL for machines).
- ``GET /register/api/<application_id>``: one entry.
- ``GET /register/jwks.json``: the platform provider's public key (RFC 7517 JWK Set).

Each JSON entry is ``{"entry": {...}, "jws": "<compact JWS>"}``; the JWS payload is the
canonical JSON of ``entry`` (see platform_provider.core.register), signed ES256 with the
key ``platform`` whose ``kid`` the JWKS publishes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, render_template, request, url_for

from common.errors import GenomseqError, InvalidInput
from common.http import register_error_renderer
from common.keys import SigningKey, jwks
from config.context import app_context
from platform_provider.core.applications import State
from platform_provider.core.register import entry, sign_entry
from platform_provider.http.api import problem
from platform_provider.service import PlatformService

PREFIX = "/register"
PAGE_SIZE = 50


def _jwks_uri() -> str:
    base = app_context().settings.public_base_url.rstrip("/")
    if base:
        return base + url_for("platform_register.register_jwks")
    return url_for("platform_register.register_jwks", _external=True)


def _wants_json() -> bool:
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and (
        request.accept_mimetypes["application/json"] > request.accept_mimetypes["text/html"]
    )


def register_blueprint(
    service: PlatformService, key: Callable[[], SigningKey], show_user_names: Callable[[], bool]
) -> Blueprint:
    """Blueprint of the public register."""
    bp = Blueprint(
        "platform_register",
        __name__,
        url_prefix=PREFIX,
        template_folder=str(Path(__file__).parent / "templates"),
    )

    def signed(app: Any) -> dict[str, Any]:
        k = key()
        e = entry(app, show_user_names=show_user_names())
        return {"entry": e, "jws": sign_entry(e, k.private_key, k.kid)}  # type: ignore[arg-type]

    def query() -> tuple[str, list[str], int]:
        q = request.args.get("q", "")
        if len(q) > 200:
            raise InvalidInput("q must be at most 200 characters")
        status = request.args.get("status", "")
        states = [status] if status else []
        if status and (status not in {s.value for s in State} or status == State.DRAFT.value):
            raise InvalidInput("unknown status")
        raw = request.args.get("offset", "0")
        if not raw.isdigit() or int(raw) > 10**9:
            raise InvalidInput("offset must be a non-negative integer")
        return q, states, int(raw)

    def listing() -> dict[str, Any]:
        q, states, offset = query()
        apps, total = service.register_entries(
            query=q, states=states or None, limit=PAGE_SIZE, offset=offset
        )
        return {
            "register": "Öffentliches Antragsregister (§ 64e Abs. 9 SGB V)",
            "publisher": app_context().settings.platform.name,
            "jwks_uri": _jwks_uri(),
            "total": total,
            "offset": offset,
            "limit": PAGE_SIZE,
            "entries": [signed(a) for a in apps],
        }

    @bp.errorhandler(GenomseqError)
    def _error(exc: GenomseqError) -> Response:
        return problem(exc.status, exc.code, exc.message)

    @bp.get("")
    def register_page() -> Response | str:
        if _wants_json():
            resp = jsonify(listing())
            resp.headers["Vary"] = "Accept"
            return resp
        q, states, offset = query()
        apps, total = service.register_entries(
            query=q, states=states or None, limit=PAGE_SIZE, offset=offset
        )
        html = render_template(
            "platform_register.html",
            entries=[entry(a, show_user_names=show_user_names()) for a in apps],
            total=total,
            q=q,
            status=states[0] if states else "",
            statuses=[s.value for s in State if s is not State.DRAFT],
            offset=offset,
            page_size=PAGE_SIZE,
        )
        resp = Response(html, mimetype="text/html")
        resp.headers["Vary"] = "Accept"
        resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return resp

    @bp.get("/api")
    def register_api() -> Response:
        return jsonify(listing())

    @bp.get("/api/<application_id>")
    def register_api_entry(application_id: str) -> Response:
        return jsonify(signed(service.register_entry(application_id)))

    @bp.get("/jwks.json")
    def register_jwks() -> Response:
        resp = jsonify(jwks([key()]))
        resp.headers["Cache-Control"] = "public, max-age=3600"
        return resp

    return bp


def _routing_problem(status: int, name: str, message: str) -> Response:
    return problem(status, "not-found" if status == 404 else "invalid", message)


def init_app(
    app: Flask,
    service: PlatformService,
    key: Callable[[], SigningKey],
    show_user_names: Callable[[], bool],
) -> None:
    """Register the public register and its error renderer."""
    app.register_blueprint(register_blueprint(service, key, show_user_names))
    register_error_renderer(app, PREFIX, _routing_problem)
