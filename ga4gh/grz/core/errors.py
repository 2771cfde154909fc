"""Errors of the GRZ intake, each carrying the refusal reason the state machine records."""

from __future__ import annotations

from common.errors import Conflict, GenomseqError, InvalidInput, NotFound, Unprocessable


class SubmissionNotFound(NotFound):
    """No submission with this id is known to this genome data center."""

    code = "submission-not-found"


class IntakeRefused(GenomseqError):
    """A submission is refused; ``reason`` is one of :class:`ga4gh.grz.core.states.ErrorReason`."""

    status = 422
    code = "refused"

    def __init__(self, reason: str, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message, expression=None)
        self.reason = reason
        self.details = details or []


class MetadataInvalid(Unprocessable):
    """metadata.json does not satisfy BfArM's submission metadata model."""

    code = "metadata-invalid"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("metadata.json is invalid: " + "; ".join(reasons[:5]))
        self.reasons = reasons


class DuplicateTan(Conflict):
    """The tanG of this submission was already used by another submission."""

    code = "duplicate-tan"


class DecryptionFailed(InvalidInput):
    """A file cannot be decrypted with the GRZ's Crypt4GH key or is corrupt."""

    code = "decryption-error"


class TanRefused(Unprocessable):
    """The trust center does not accept the tanG (unknown, expired or of the wrong kind)."""

    code = "tan-refused"


class FileUnusable(Unprocessable):
    """A file decrypts and matches its checksum but cannot be indexed or read as its format."""

    code = "file-unusable"
