"""Ports the platform provider offers to other components.

``GrantDirectory`` is what the passport broker (ControlledAccessGrants visas) and every
enforcement point ask: which grants does this subject hold right now? The implementation reads
the database on every call (no caching beyond one request), so a revocation takes effect on
the next request everywhere (§ 64e Abs. 9 SGB V: data are provided only to authorized users).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Grant:
    """Permission of one user to use one dataset for one purpose within a validity window.

    ``purpose`` is the GA4GH DUO code the data-access application was approved for
    (e.g. ``DUO:0000006`` HMB). ``valid_until`` is exclusive; ``revoked_at`` is None unless the
    grant was revoked (from then on it is not active, whatever its validity).
    """

    grant_id: str
    subject: str
    dataset_id: str
    purpose: str
    application_id: str
    valid_from: datetime
    valid_until: datetime
    revoked_at: datetime | None = None
    # "individual" (record-level data) or "aggregated" (counts and statistics only).
    access_level: str = "individual"

    def is_active(self, at: datetime) -> bool:
        """True if the grant is in force at ``at`` (timezone-aware UTC)."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        return self.valid_from <= at < self.valid_until


class GrantDirectory(Protocol):
    """Read access to the grants the platform provider issued."""

    def active_grants(self, subject: str, at: datetime) -> list[Grant]:
        """Grants of ``subject`` in force at ``at`` (not revoked, within validity)."""
        ...


class ParticipantDirectory(Protocol):
    """Who is an approved participant right now (KDK, GRZ, data service, hospital IK).

    For components that accept reports from participants (e.g. Prüfberichte from a GRZ/KDK):
    read on every call, so a suspension takes effect on the next report.
    """

    def is_approved(self, participant_id: str, kind: str | None = None) -> bool:
        """True if the participant is registered, approved and (if given) of this kind."""
        ...
