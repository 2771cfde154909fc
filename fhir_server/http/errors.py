"""The one table that maps errors to FHIR responses: every error is an OperationOutcome with
the status of its type (FHIR R4 4.0.1 http.html section 3.1.0.4, operationoutcome.html)."""

from __future__ import annotations

from flask import Response

from common.errors import GenomseqError
from fhir_server.core.errors import FhirError, Issue
from fhir_server.core.outcome import operation_outcome
from fhir_server.http.negotiation import json_response

# OperationOutcome issue-type codes for statuses raised outside the core (routing, limits).
_CODE_BY_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    500: "exception",
}


def error_response(exc: GenomseqError) -> Response:
    """OperationOutcome response for a typed error."""
    if isinstance(exc, FhirError):
        issues = exc.issues
    else:
        issues = [Issue("error", _CODE_BY_STATUS.get(exc.status, "exception"), exc.message,
                        tuple(exc.expression))]
    resp = json_response(operation_outcome(issues), exc.status)
    if exc.status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="fhir"'
    return resp


def render_status(status: int, name: str, message: str) -> Response:
    """Renderer for routing/limit errors under the FHIR base (common.http dispatch)."""
    if status == 404:
        message = f"no FHIR interaction at this URL ({message})"
    if status == 413:
        message = "the request body is larger than this server accepts"
    severity = "fatal" if status >= 500 else "error"
    issue = Issue(severity, _CODE_BY_STATUS.get(status, "exception"), message)
    return json_response(operation_outcome([issue]), status)
