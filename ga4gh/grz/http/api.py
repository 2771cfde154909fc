"""``/grz``: submission status for the hospital side.

``GET /grz/submissions/{submissionId}`` returns the state machine's view of one submission
(state, refusal reason and details, per-file checks, history). Errors are RFC 9457 problem
details with a machine-readable ``code``. Scope ``grz.status`` (or ``grz``) reads every
submission; a hospital's ``grz.status:<submitterId>`` reads its own (the id starts with it).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, g, jsonify, request

from common.errors import GenomseqError, InvalidInput
from config.context import app_context
from ga4gh.grz.core.errors import SubmissionNotFound
from ga4gh.grz.core.states import Submission
from ga4gh.grz.storage.inbox import is_submission_id
from ga4gh.grz.storage.sql import SqlSubmissionStore

PREFIX = "/grz"


def problem(status: int, code: str, message: str) -> Response:
    """RFC 9457 problem details with the GRZ error code."""
    resp = jsonify(
        {"type": "about:blank", "title": code, "status": status, "detail": message, "code": code}
    )
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="grz"'
    return resp


def submission_json(sub: Submission) -> dict[str, object]:
    """The public view of a submission (no tanG, no pseudonym)."""
    return {
        "submissionId": sub.submission_id,
        "state": sub.state.value,
        "errorReason": sub.error_reason.value if sub.error_reason else None,
        "errorDetails": sub.error_detail,
        "submissionType": sub.submission_type or None,
        "submissionDate": sub.submission_date.isoformat() if sub.submission_date else None,
        "qualityCheckPassed": sub.qc_passed,
        "files": [
            {
                "filePath": f.file_path,
                "fileType": f.file_type,
                "checksumVerified": f.observed_checksum == f.declared_checksum,
                "sizeVerified": f.observed_size == f.declared_size,
                "detectedFormat": f.detected_format or None,
                "readCount": f.read_count,
            }
            for f in sub.files
        ],
        "history": [
            {"state": t.state.value, "at": t.at.isoformat(), "note": t.note} for t in sub.history
        ],
        "created": sub.created.isoformat(),
        "updated": sub.updated.isoformat(),
    }


def grz_blueprint() -> Blueprint:
    """The /grz blueprint."""
    bp = Blueprint("grz", __name__, url_prefix=PREFIX)

    @bp.before_request
    def _authenticate() -> None:
        g.grz_principal = app_context().authenticator.authenticate(
            request.headers.get("Authorization")
        )

    @bp.errorhandler(GenomseqError)
    def _error(exc: GenomseqError) -> Response:
        return problem(exc.status, exc.code, exc.message)

    @bp.get("/submissions/<submission_id>")
    def get_submission(submission_id: str) -> Response:
        if not is_submission_id(submission_id):
            raise InvalidInput("a submission id is {submitterId}_{submissionDate}_{8 hex digits}")
        # Checked before the lookup, so a hospital cannot probe other hospitals' ids.
        g.grz_principal.require_scope("grz", "grz.status", f"grz.status:{submission_id[:9]}")
        found = SqlSubmissionStore(app_context().engine).get(submission_id)
        if found is None:
            raise SubmissionNotFound(f"no submission {submission_id}")
        resp = jsonify(submission_json(found))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    return bp


def register(app: Flask) -> None:
    """Register the blueprint and the problem-details renderer for /grz."""
    from common.http import register_error_renderer

    app.register_blueprint(grz_blueprint())
    register_error_renderer(app, PREFIX, problem)
