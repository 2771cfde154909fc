"""App-level HTTP plumbing shared by every component's blueprint.

Routing errors (404 for an unknown path, 405 for a wrong method, 413 from the body limit) are
raised before any blueprint handler runs, so they cannot be caught by a blueprint's own error
handler. Each component registers a renderer for its URL prefix here; one app-level handler
picks the renderer with the longest matching prefix, so a FHIR client gets an
OperationOutcome and an htsget client gets htsget's error JSON for the same kind of failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from common.errors import GenomseqError

# (status, error class name or werkzeug name, message) -> response
ErrorRenderer = Callable[[int, str, str], Response]


@dataclass(frozen=True)
class _Route:
    prefix: str
    render: ErrorRenderer


def problem_json(status: int, code: str, message: str) -> Response:
    """RFC 9457 problem details: the default for paths no component claims."""
    resp = jsonify({"type": "about:blank", "title": code, "status": status, "detail": message})
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


def register_error_renderer(app: Flask, prefix: str, render: ErrorRenderer) -> None:
    """Make ``render`` answer routing and uncaught errors under ``prefix``."""
    routes: list[_Route] = app.extensions.setdefault("genomseq_error_routes", [])
    routes.append(_Route(prefix.rstrip("/"), render))
    routes.sort(key=lambda r: len(r.prefix), reverse=True)


def _renderer_for(app: Flask, path: str) -> ErrorRenderer:
    for route in app.extensions.get("genomseq_error_routes", []):
        if path == route.prefix or path.startswith(route.prefix + "/"):
            return route.render
    return problem_json


def init_app(app: Flask) -> None:
    """Install the app-level handlers that dispatch errors by path prefix."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        render = _renderer_for(app, request.path)
        resp = render(exc.code or 500, exc.name, exc.description or exc.name)
        valid_methods = getattr(exc, "valid_methods", None)
        if exc.code == 405 and valid_methods:
            resp.headers["Allow"] = ", ".join(valid_methods)
        return resp

    @app.errorhandler(GenomseqError)
    def _domain_error(exc: GenomseqError) -> Response:
        # Components map their own errors in their blueprints; this catches the rest.
        return _renderer_for(app, request.path)(exc.status, exc.code, exc.message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error", extra={"path": request.path})
        return _renderer_for(app, request.path)(500, "exception", "internal server error")
