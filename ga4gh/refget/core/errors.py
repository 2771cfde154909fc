"""Errors of refget 2.0.0 ("Errors" table) beyond those in common.errors.

Core raises these (and common.errors.InvalidInput/NotFound/NotAcceptable/Conflict); the HTTP
room maps every one of them once to its status and JSON body.
"""

from __future__ import annotations

from common.errors import GenomseqError


class RangeNotSatisfiable(GenomseqError):
    """416: the sub-sequence lies (partly) outside the sequence or exceeds the limit."""

    status = 416
    code = "RangeNotSatisfiable"

    def __init__(self, message: str, *, length: int | None = None) -> None:
        super().__init__(message)
        # Sequence length for ``Content-Range: bytes */<length>`` (RFC 7233 section 4.4).
        self.length = length


class NotImplementedByServer(GenomseqError):
    """501: a request the specification allows but this server does not support."""

    status = 501
    code = "NotImplemented"


class SequenceUnavailable(GenomseqError):
    """503: a registered sequence's FASTA cannot be read (moved, deleted, unreadable)."""

    status = 503
    code = "ServiceUnavailable"
