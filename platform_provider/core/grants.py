"""Grants derived from an approved, active data-access application.

A grant is one authorized user x one granted dataset x the application's DUO purpose x the
approved validity. Validity is stored as a half-open UTC interval: ``valid_from`` at 00:00 UTC
of the first day, ``valid_until`` at 00:00 UTC of the day after the last day of use (or of the
dataset's TS time limit, whichever comes first).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta

from platform_provider.core.applications import Application, State
from platform_provider.ports import Grant


def day_start(d: date) -> datetime:
    """00:00 UTC of a calendar day."""
    return datetime.combine(d, time(0, 0), tzinfo=UTC)


def grant_id(application_id: str, dataset_id: str, subject: str) -> str:
    """Stable id of the grant of one user and dataset within one application."""
    digest = hashlib.sha256(f"{application_id}\x1f{dataset_id}\x1f{subject}".encode()).hexdigest()
    return "grant-" + digest[:32]


def grants_for(app: Application) -> list[Grant]:
    """The grants an application in force yields (none unless it is active)."""
    if app.state is not State.ACTIVE or app.valid_from is None or app.valid_until is None:
        return []
    grants = []
    for decision in app.granted_datasets():
        last_day = app.valid_until
        if decision.valid_until_cap is not None:
            last_day = min(last_day, decision.valid_until_cap)
        start = day_start(app.valid_from)
        end = day_start(last_day + timedelta(days=1))
        if end <= start:
            continue
        for user in app.authorized_users:
            grants.append(
                Grant(
                    grant_id=grant_id(app.application_id, decision.dataset_id, user.subject),
                    subject=user.subject,
                    dataset_id=decision.dataset_id,
                    purpose=app.purpose.category,
                    application_id=app.application_id,
                    valid_from=start,
                    valid_until=end,
                    revoked_at=None,
                    access_level=app.access_level.value,
                )
            )
    return grants
