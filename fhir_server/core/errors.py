"""FHIR R4 4.0.1 errors (http.html section 3.1.0.4 "Error handling" and operationoutcome.html).

Each error carries the OperationOutcome issue code (valueset issue-type) and, for validation
errors, FHIRPath expressions pointing at the offending elements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common import errors as base


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue."""

    severity: str  # fatal | error | warning | information
    code: str  # IssueType code, e.g. invalid, structure, not-found
    diagnostics: str
    expression: tuple[str, ...] = field(default_factory=tuple)


class FhirError(base.GenomseqError):
    """Base of FHIR errors; ``issues`` become the OperationOutcome."""

    def __init__(
        self, message: str, *, code: str | None = None, issues: list[Issue] | None = None
    ) -> None:
        super().__init__(message)
        self.issues = issues or [Issue("error", code or self.code, message)]


class InvalidRequest(FhirError, base.InvalidInput):
    """400: the request could not be parsed or failed basic FHIR validation rules."""

    status = 400
    code = "invalid"


class InvalidResource(InvalidRequest):
    """400 with one issue per validation error, each with its expression."""

    code = "structure"


class NotAuthenticated(FhirError, base.Unauthenticated):
    status = 401
    code = "login"


class Forbidden(FhirError, base.PermissionDenied):
    status = 403
    code = "forbidden"


class ResourceNotFound(FhirError, base.NotFound):
    status = 404
    code = "not-found"


class UnsupportedInteraction(FhirError, base.MethodNotAllowed):
    status = 405
    code = "not-supported"


class NotAcceptable(FhirError, base.NotAcceptable):
    status = 406
    code = "not-supported"


class VersionConflict(FhirError, base.Conflict):
    status = 409
    code = "conflict"


class ResourceGone(FhirError, base.Gone):
    status = 410
    code = "deleted"


class PreconditionFailed(FhirError, base.PreconditionFailed):
    status = 412
    code = "conflict"


class TooLarge(FhirError, base.PayloadTooLarge):
    status = 413
    code = "too-costly"


class UnsupportedMediaType(FhirError, base.UnsupportedMediaType):
    status = 415
    code = "not-supported"


class Unprocessable(FhirError, base.Unprocessable):
    """422: the content violates a rule (e.g. a patch yields an invalid resource)."""

    status = 422
    code = "processing"
