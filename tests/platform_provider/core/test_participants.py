"""Participant ids (KDK, GRZ, IK with check digit) and status history rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.errors import InvalidInput
from platform_provider.core.participants import (
    IllegalStatusChange,
    ParticipantKind,
    ParticipantStatus,
    change_status,
    ik_check_digit,
    register,
    validate_participant_id,
)

T = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "pid"),
    [
        (ParticipantKind.CLINICAL_DATA_NODE, "KDKK00001"),
        (ParticipantKind.CLINICAL_DATA_NODE, "KDKHD1001"),
        (ParticipantKind.GENOME_DATA_CENTER, "GRZK00007"),
        (ParticipantKind.HOSPITAL, "260530103"),  # the IK of BfArM's Meldebestätigung example
        (ParticipantKind.HOSPITAL, "108018007"),
        (ParticipantKind.DATA_SERVICE, "beacon-network"),
    ],
)
def test_valid_ids(kind: ParticipantKind, pid: str) -> None:
    assert validate_participant_id(kind, pid) == pid


@pytest.mark.parametrize(
    ("kind", "pid", "fragment"),
    [
        (ParticipantKind.CLINICAL_DATA_NODE, "KDK00001", "KDK"),  # one digit short
        (ParticipantKind.CLINICAL_DATA_NODE, "kdkK00001", "KDK"),
        (ParticipantKind.CLINICAL_DATA_NODE, "GRZK00001", "KDK"),
        (ParticipantKind.GENOME_DATA_CENTER, "GRZK0001", "GRZ"),
        (ParticipantKind.GENOME_DATA_CENTER, "GRZk00001", "GRZ"),
        (ParticipantKind.HOSPITAL, "26053010", "9-digit"),
        (ParticipantKind.HOSPITAL, "260530104", "check digit"),
        (ParticipantKind.DATA_SERVICE, "Beacon", "a-z0-9"),
    ],
)
def test_invalid_ids(kind: ParticipantKind, pid: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        validate_participant_id(kind, pid)


def test_ik_check_digit() -> None:
    assert ik_check_digit("26053010") == 3
    assert ik_check_digit("10801800") == 7


def test_status_changes() -> None:
    p, first = register("KDKK00001", "clinical-data-node", "KDK Heidelberg", actor="a", at=T)
    assert p.status is ParticipantStatus.APPROVED and first.from_status is None
    s, change = change_status(p, "suspended", actor="a", at=T, reason="audit finding")
    assert (change.from_status, change.to_status) == (
        ParticipantStatus.APPROVED,
        ParticipantStatus.SUSPENDED,
    )
    back, _ = change_status(s, "approved", actor="a", at=T, reason="fixed")
    assert back.status is ParticipantStatus.APPROVED
    gone, _ = change_status(back, "revoked", actor="a", at=T, reason="contract ended")
    for target in ("approved", "suspended", "revoked"):
        with pytest.raises(IllegalStatusChange):
            change_status(gone, target, actor="a", at=T, reason="x")
    with pytest.raises(IllegalStatusChange):
        change_status(p, "approved", actor="a", at=T, reason="x")
    with pytest.raises(InvalidInput, match="reason"):
        change_status(p, "suspended", actor="a", at=T, reason=" ")
    with pytest.raises(InvalidInput, match="status"):
        change_status(p, "paused", actor="a", at=T, reason="x")
    with pytest.raises(InvalidInput, match="kind"):
        register("KDKK00001", "lab", "x", actor="a", at=T)
    with pytest.raises(InvalidInput, match="name"):
        register("KDKK00001", "clinical-data-node", " ", actor="a", at=T)
