"""The one table that maps errors to refget / seqcol HTTP responses.

Refget 2.0.0 ("Errors") and Sequence Collections 1.0.0 prescribe status codes but no body; this
server always answers with the same small JSON object so clients can rely on one shape:
``{"status_code": 416, "error": "RangeNotSatisfiable", "message": "..."}``, where ``error`` is
the status's name from the refget "Errors" table (``NotFound``, ``BadRequest``, ...).
"""

from __future__ import annotations

import json

from flask import Response

from common.errors import GenomseqError
from ga4gh.refget.core.errors import RangeNotSatisfiable

ERROR_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    416: "RangeNotSatisfiable",
    500: "InternalServerError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}

REFGET_ERROR_TYPE = "application/vnd.ga4gh.refget.v2.0.0+json; charset=us-ascii"
SEQCOL_ERROR_TYPE = "application/json"


def error_response(status: int, message: str, content_type: str) -> Response:
    """The JSON error body for a status."""
    body = {
        "status_code": status,
        "error": ERROR_NAMES.get(status, "Error"),
        "message": message,
    }
    resp = Response(json.dumps(body), status=status, content_type=content_type)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="genomseq"'
    return resp


def render_refget(status: int, _code: str, message: str) -> Response:
    """Renderer for routing and uncaught errors under /ga4gh/refget."""
    return error_response(status, message, REFGET_ERROR_TYPE)


def render_seqcol(status: int, _code: str, message: str) -> Response:
    """Renderer for routing and uncaught errors under /ga4gh/seqcol."""
    return error_response(status, message, SEQCOL_ERROR_TYPE)


def domain_error(exc: GenomseqError, content_type: str, *, range_request: bool) -> Response:
    """Map a core error to its response (416 carries Content-Range for Range requests)."""
    resp = error_response(exc.status, exc.message, content_type)
    if isinstance(exc, RangeNotSatisfiable) and range_request and exc.length is not None:
        resp.headers["Content-Range"] = f"bytes */{exc.length}"
    return resp
