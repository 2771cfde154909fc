"""htsget 1.3 section "Errors": the error types and their HTTP status codes."""

from __future__ import annotations

from common import errors


class HtsgetError(errors.GenomseqError):
    """Base: ``htsget_error`` is the spec's error type name."""

    htsget_error = "InvalidInput"


class InvalidAuthentication(HtsgetError, errors.Unauthenticated):
    htsget_error = "InvalidAuthentication"


class PermissionDenied(HtsgetError, errors.PermissionDenied):
    htsget_error = "PermissionDenied"


class NotFound(HtsgetError, errors.NotFound):
    htsget_error = "NotFound"


class PayloadTooLarge(HtsgetError, errors.PayloadTooLarge):
    htsget_error = "PayloadTooLarge"


class UnsupportedFormat(HtsgetError, errors.InvalidInput):
    htsget_error = "UnsupportedFormat"


class InvalidInput(HtsgetError, errors.InvalidInput):
    htsget_error = "InvalidInput"


class InvalidRange(HtsgetError, errors.InvalidInput):
    htsget_error = "InvalidRange"


# Errors other components raise, by class, mapped to the htsget error type.
GENERIC_TO_HTSGET: tuple[tuple[type[errors.GenomseqError], str], ...] = (
    (errors.Unauthenticated, "InvalidAuthentication"),
    (errors.PermissionDenied, "PermissionDenied"),
    (errors.NotFound, "NotFound"),
    (errors.PayloadTooLarge, "PayloadTooLarge"),
    (errors.InvalidInput, "InvalidInput"),
)


def htsget_error_type(exc: errors.GenomseqError) -> str:
    """The htsget error type for any GenomseqError."""
    if isinstance(exc, HtsgetError):
        return exc.htsget_error
    for cls, name in GENERIC_TO_HTSGET:
        if isinstance(exc, cls):
            return name
    return "InvalidInput" if 400 <= exc.status < 500 else "InternalError"
