"""Error base classes. Components raise these (or subclasses) in core; each http room maps them
once to its standard's status and body."""

from __future__ import annotations


class GenomseqError(Exception):
    """Base of every expected error. ``status`` is the default HTTP status."""

    status = 500
    code = "error"

    def __init__(self, message: str, *, expression: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression or []


class InvalidInput(GenomseqError):
    status = 400
    code = "invalid"


class Unauthenticated(GenomseqError):
    status = 401
    code = "login"


class PermissionDenied(GenomseqError):
    status = 403
    code = "forbidden"


class NotFound(GenomseqError):
    status = 404
    code = "not-found"


class MethodNotAllowed(GenomseqError):
    status = 405
    code = "not-supported"


class NotAcceptable(GenomseqError):
    status = 406
    code = "not-supported"


class Conflict(GenomseqError):
    status = 409
    code = "conflict"


class Gone(GenomseqError):
    status = 410
    code = "deleted"


class PreconditionFailed(GenomseqError):
    status = 412
    code = "conflict"


class PayloadTooLarge(GenomseqError):
    status = 413
    code = "too-costly"


class UnsupportedMediaType(GenomseqError):
    status = 415
    code = "not-supported"


class Unprocessable(GenomseqError):
    status = 422
    code = "processing"
