"""Registry of approved participants of the Modellvorhaben Genomsequenzierung (§ 64e SGB V).

Identifiers: clinical data nodes ``KDKXXXnnn`` and genome data centers ``GRZXXXnnn`` as BfArM
assigns them (the patterns grz-pydantic-models 4.x validates as ClinicalDataNodeId and
GenomicDataCenterId); hospitals (Leistungserbringer) by their 9-digit Institutionskennzeichen
(IK, § 293 SGB V) including its check digit; data services by a lower-case slug.

The IK check digit follows the "Gemeinsames Rundschreiben Institutionskennzeichen" (Anlage 1):
digits 3 to 8 are weighted 2,1,2,1,2,1, the digit sums of the products are added, and the last
digit of that sum is the ninth digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from common.errors import Conflict, InvalidInput


class ParticipantKind(StrEnum):
    """The roles a participant can be approved for."""

    CLINICAL_DATA_NODE = "clinical-data-node"
    GENOME_DATA_CENTER = "genome-data-center"
    DATA_SERVICE = "data-service"
    HOSPITAL = "hospital"


class ParticipantStatus(StrEnum):
    """Approval status; revoked is final."""

    APPROVED = "approved"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


_PATTERNS = {
    ParticipantKind.CLINICAL_DATA_NODE: re.compile(r"^KDK[A-Z0-9]{3}[0-9]{3}$"),
    ParticipantKind.GENOME_DATA_CENTER: re.compile(r"^GRZ[A-Z0-9]{3}[0-9]{3}$"),
    ParticipantKind.DATA_SERVICE: re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$"),
    ParticipantKind.HOSPITAL: re.compile(r"^[0-9]{9}$"),
}
_FORMAT_HINT = {
    ParticipantKind.CLINICAL_DATA_NODE: "KDK + 3 characters [A-Z0-9] + 3 digits",
    ParticipantKind.GENOME_DATA_CENTER: "GRZ + 3 characters [A-Z0-9] + 3 digits",
    ParticipantKind.DATA_SERVICE: "3-63 characters [a-z0-9-]",
    ParticipantKind.HOSPITAL: "a 9-digit Institutionskennzeichen",
}
_ALLOWED: dict[ParticipantStatus, frozenset[ParticipantStatus]] = {
    ParticipantStatus.APPROVED: frozenset({ParticipantStatus.SUSPENDED, ParticipantStatus.REVOKED}),
    ParticipantStatus.SUSPENDED: frozenset({ParticipantStatus.APPROVED, ParticipantStatus.REVOKED}),
    ParticipantStatus.REVOKED: frozenset(),
}


class IllegalStatusChange(Conflict):
    """The participant cannot move to the requested status from its current one."""

    code = "illegal-status-change"


def ik_check_digit(first_eight: str) -> int:
    """The check digit of an Institutionskennzeichen from its first eight digits."""
    total = 0
    for digit, weight in zip(first_eight[2:8], (2, 1, 2, 1, 2, 1), strict=True):
        product = int(digit) * weight
        total += product // 10 + product % 10
    return total % 10


def parse_kind(value: str) -> ParticipantKind:
    """The participant kind for its name; InvalidInput for anything else."""
    try:
        return ParticipantKind(value)
    except ValueError:
        kinds = ", ".join(k.value for k in ParticipantKind)
        raise InvalidInput(f"participant kind must be one of {kinds}") from None


def validate_participant_id(kind: ParticipantKind, participant_id: str) -> str:
    """The identifier if it has the format of its kind (and a valid IK check digit)."""
    if not _PATTERNS[kind].match(participant_id):
        raise InvalidInput(f"a {kind.value} id is {_FORMAT_HINT[kind]}")
    if kind is ParticipantKind.HOSPITAL and ik_check_digit(participant_id) != int(
        participant_id[8]
    ):
        raise InvalidInput("the Institutionskennzeichen has a wrong check digit")
    return participant_id


@dataclass(frozen=True)
class Participant:
    """An approved participant and the OAuth 2.0 client it authenticates as."""

    participant_id: str
    kind: ParticipantKind
    name: str
    status: ParticipantStatus
    client_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StatusChange:
    """One entry of a participant's history (``from_status`` None: registration)."""

    participant_id: str
    at: datetime
    from_status: ParticipantStatus | None
    to_status: ParticipantStatus
    actor: str
    reason: str


def register(
    participant_id: str, kind: str, name: str, *, actor: str, at: datetime, reason: str = ""
) -> tuple[Participant, StatusChange]:
    """A newly approved participant and its first history entry."""
    k = parse_kind(kind)
    validate_participant_id(k, participant_id)
    name = name.strip()
    if not name or len(name) > 300:
        raise InvalidInput("participant name must be 1-300 characters")
    p = Participant(participant_id, k, name, ParticipantStatus.APPROVED, None, at, at)
    return p, StatusChange(participant_id, at, None, p.status, actor, reason or "approved")


def change_status(
    p: Participant, status: str, *, actor: str, at: datetime, reason: str
) -> tuple[Participant, StatusChange]:
    """Suspend, reinstate or revoke a participant; a reason is required."""
    try:
        target = ParticipantStatus(status)
    except ValueError:
        raise InvalidInput("status must be approved, suspended or revoked") from None
    if target not in _ALLOWED[p.status]:
        raise IllegalStatusChange(f"participant is {p.status.value}; cannot become {target.value}")
    if not reason.strip():
        raise InvalidInput("a reason is required for a status change")
    changed = replace(p, status=target, updated_at=at)
    return changed, StatusChange(p.participant_id, at, p.status, target, actor, reason.strip())
