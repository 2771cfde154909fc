"""Errors of the trust center core, mapped once to RFC 9457 problem details in http/."""

from __future__ import annotations

from common.errors import (
    Conflict,
    GenomseqError,
    Gone,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unprocessable,
)


class InvalidIdentifier(InvalidInput):
    """A KVNR, IK, Arbeitsnummer, Vorgangsnummer or domain is malformed."""

    code = "invalid-identifier"


class UnknownVorgangsnummer(NotFound):
    """No case was registered with this Vorgangsnummer (or it was issued for another kind)."""

    code = "unknown-vorgangsnummer"


class VorgangsnummerUsed(Gone):
    """The Vorgangsnummer was already exchanged for a dataset pseudonym: single use."""

    code = "vorgangsnummer-used"


class VorgangsnummerExpired(Gone):
    """The Vorgangsnummer's lifetime has passed."""

    code = "vorgangsnummer-expired"


class DuplicateTransferNumber(Conflict):
    """A hospital-generated tanG/tanC or an Arbeitsnummer was registered before."""

    code = "duplicate"


class UnknownPseudonym(NotFound):
    """No dataset or person pseudonym of this value exists in this domain."""

    code = "unknown-pseudonym"


class InvalidConsent(Unprocessable):
    """A consent document does not satisfy the MII consent profile or the declaration rules."""

    code = "invalid-consent"


class ConsentMissing(PermissionDenied):
    """The consent scope an operation needs is not permitted."""

    code = "consent-required"


class DualControlViolation(PermissionDenied):
    """An approval would not come from a second, different approver."""

    code = "dual-control"


class ReidentificationNotApproved(Conflict):
    """The re-identification request is not (or no longer) in a state that allows this step."""

    code = "not-approved"


class UnknownRequest(NotFound):
    """No re-identification request or case with this id."""

    code = "unknown-request"




class WrongNodeKind(Unprocessable):
    """A clinical Vorgangsnummer offered by a genome data center, or the other way round."""

    code = "wrong-node-kind"


class TrustCenterUnavailable(GenomseqError):
    """The remote trust center did not answer (or answered something unreadable)."""

    status = 503
    code = "trust-center-unavailable"


__all__ = [
    "ConsentMissing",
    "DualControlViolation",
    "DuplicateTransferNumber",
    "GenomseqError",
    "InvalidConsent",
    "InvalidIdentifier",
    "ReidentificationNotApproved",
    "TrustCenterUnavailable",
    "UnknownPseudonym",
    "UnknownRequest",
    "UnknownVorgangsnummer",
    "VorgangsnummerExpired",
    "VorgangsnummerUsed",
    "WrongNodeKind",
]
