"""SQL adapter of the platform provider (SQLAlchemy Core; SQLite and PostgreSQL alike).

Timestamps are integers (microseconds since the epoch, UTC). A unit of work is one database
transaction (:meth:`SqlPlatformStore.transaction`); the GrantDirectory reads committed rows on
every call, so a revocation is visible to the very next request in every process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from common.db import write_transaction
from common.errors import Conflict, NotFound
from platform_provider.core.applications import Application, TransitionEvent
from platform_provider.core.codec import application_from_dict, application_to_dict
from platform_provider.core.datasets import Dataset, terms_from_json, terms_to_json
from platform_provider.core.participants import (
    Participant,
    ParticipantKind,
    ParticipantStatus,
    StatusChange,
)
from platform_provider.ports import Grant

_md = sa.MetaData()
participant_t = sa.Table(
    "pp_participant",
    _md,
    sa.Column("participant_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32)),
    sa.Column("name", sa.String(300)),
    sa.Column("status", sa.String(16)),
    sa.Column("client_id", sa.String(255)),
    sa.Column("created_at", sa.BigInteger()),
    sa.Column("updated_at", sa.BigInteger()),
)
history_t = sa.Table(
    "pp_participant_history",
    _md,
    sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
    sa.Column("participant_id", sa.String(64)),
    sa.Column("at", sa.BigInteger()),
    sa.Column("from_status", sa.String(16)),
    sa.Column("to_status", sa.String(16)),
    sa.Column("actor", sa.String(255)),
    sa.Column("reason", sa.Text()),
)
dataset_t = sa.Table(
    "pp_dataset",
    _md,
    sa.Column("dataset_id", sa.String(128), primary_key=True),
    sa.Column("title", sa.String(300)),
    sa.Column("description", sa.Text()),
    sa.Column("custodian_id", sa.String(64)),
    sa.Column("data_categories", sa.Text()),
    sa.Column("data_use", sa.Text()),
    sa.Column("created_at", sa.BigInteger()),
)
application_t = sa.Table(
    "pp_application",
    _md,
    sa.Column("application_id", sa.String(40), primary_key=True),
    sa.Column("state", sa.String(16)),
    sa.Column("institution", sa.String(300)),
    sa.Column("project_title", sa.String(300)),
    sa.Column("applicant_subject", sa.String(255)),
    sa.Column("search_text", sa.Text()),
    sa.Column("created_at", sa.BigInteger()),
    sa.Column("updated_at", sa.BigInteger()),
    sa.Column("submitted_at", sa.BigInteger()),
    sa.Column("version", sa.Integer()),
    sa.Column("body", sa.Text()),
)
event_t = sa.Table(
    "pp_application_event",
    _md,
    sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
    sa.Column("application_id", sa.String(40)),
    sa.Column("at", sa.BigInteger()),
    sa.Column("action", sa.String(32)),
    sa.Column("from_state", sa.String(16)),
    sa.Column("to_state", sa.String(16)),
    sa.Column("actor", sa.String(255)),
    sa.Column("details", sa.Text()),
)
grant_t = sa.Table(
    "pp_grant",
    _md,
    sa.Column("grant_id", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(255)),
    sa.Column("dataset_id", sa.String(128)),
    sa.Column("purpose", sa.String(32)),
    sa.Column("application_id", sa.String(40)),
    sa.Column("access_level", sa.String(16)),
    sa.Column("valid_from", sa.BigInteger()),
    sa.Column("valid_until", sa.BigInteger()),
    sa.Column("revoked_at", sa.BigInteger()),
    sa.Column("revocation_reason", sa.Text()),
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: all platform timestamps are timezone-aware UTC")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int | None) -> datetime | None:
    """Aware UTC datetime of epoch microseconds (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


def _search_text(app: Application) -> str:
    parts = [
        app.application_id,
        app.institution,
        app.project_title,
        app.project_summary,
        app.purpose.category,
        *app.purpose.diseases,
        *app.datasets,
        app.state.value,
    ]
    return " ".join(parts).lower()


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Tx:
    """Operations inside one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # participants -------------------------------------------------------------------------
    def insert_participant(self, p: Participant) -> None:
        """Insert a participant; Conflict if the id is taken."""
        exists = self.conn.execute(
            sa.select(participant_t.c.participant_id).where(
                participant_t.c.participant_id == p.participant_id
            )
        ).first()
        if exists:
            raise Conflict(f"participant {p.participant_id} is already registered")
        self.conn.execute(participant_t.insert().values(**_participant_row(p)))

    def participant_exists(self, participant_id: str) -> bool:
        """True if the id is registered."""
        q = sa.select(participant_t.c.participant_id).where(
            participant_t.c.participant_id == participant_id
        )
        return self.conn.execute(q).first() is not None

    def update_participant(self, p: Participant) -> None:
        """Write status, client and timestamps of a participant."""
        self.conn.execute(
            participant_t.update()
            .where(participant_t.c.participant_id == p.participant_id)
            .values(**_participant_row(p))
        )

    def get_participant(self, participant_id: str, *, for_update: bool = False) -> Participant:
        """The participant or NotFound."""
        q = sa.select(participant_t).where(participant_t.c.participant_id == participant_id)
        if for_update:
            q = q.with_for_update()
        row = self.conn.execute(q).mappings().first()
        if row is None:
            raise NotFound(f"no participant {participant_id}")
        return _participant(row)

    def list_participants(self, kind: str | None = None) -> list[Participant]:
        """All participants, optionally of one kind, by id."""
        q = sa.select(participant_t).order_by(participant_t.c.participant_id)
        if kind:
            q = q.where(participant_t.c.kind == kind)
        return [_participant(r) for r in self.conn.execute(q).mappings()]

    def add_status_change(self, change: StatusChange) -> None:
        """Append to a participant's history."""
        self.conn.execute(
            history_t.insert().values(
                participant_id=change.participant_id,
                at=to_micros(change.at),
                from_status=change.from_status.value if change.from_status else None,
                to_status=change.to_status.value,
                actor=change.actor,
                reason=change.reason,
            )
        )

    def history(self, participant_id: str) -> list[StatusChange]:
        """A participant's history, oldest first."""
        rows = self.conn.execute(
            sa.select(history_t)
            .where(history_t.c.participant_id == participant_id)
            .order_by(history_t.c.id)
        ).mappings()
        return [
            StatusChange(
                r["participant_id"],
                from_micros(r["at"]),  # type: ignore[arg-type]
                ParticipantStatus(r["from_status"]) if r["from_status"] else None,
                ParticipantStatus(r["to_status"]),
                r["actor"],
                r["reason"],
            )
            for r in rows
        ]

    # datasets -----------------------------------------------------------------------------
    def insert_dataset(self, d: Dataset) -> None:
        """Insert a dataset; Conflict if the id is taken."""
        exists = self.conn.execute(
            sa.select(dataset_t.c.dataset_id).where(dataset_t.c.dataset_id == d.dataset_id)
        ).first()
        if exists:
            raise Conflict(f"dataset {d.dataset_id} is already registered")
        self.conn.execute(
            dataset_t.insert().values(
                dataset_id=d.dataset_id,
                title=d.title,
                description=d.description,
                custodian_id=d.custodian_id,
                data_categories=json.dumps(list(d.data_categories)),
                data_use=json.dumps(terms_to_json(d.terms)),
                created_at=to_micros(d.created_at),
            )
        )

    def datasets(self, ids: list[str] | None = None) -> list[Dataset]:
        """Datasets (all, or those with the given ids), by id."""
        q = sa.select(dataset_t).order_by(dataset_t.c.dataset_id)
        if ids is not None:
            q = q.where(dataset_t.c.dataset_id.in_(ids))
        return [
            Dataset(
                r["dataset_id"],
                r["title"],
                r["description"],
                r["custodian_id"],
                tuple(json.loads(r["data_categories"])),
                terms_from_json(json.loads(r["data_use"])),
                from_micros(r["created_at"]),  # type: ignore[arg-type]
            )
            for r in self.conn.execute(q).mappings()
        ]

    # applications -------------------------------------------------------------------------
    def insert_application(self, app: Application) -> Application:
        """Insert a new application (version 1)."""
        app = _with_version(app, 1)
        self.conn.execute(application_t.insert().values(**_application_row(app)))
        return app

    def save_application(self, app: Application) -> Application:
        """Write a changed application; Conflict if someone else changed it meanwhile."""
        new = _with_version(app, app.version + 1)
        result = self.conn.execute(
            application_t.update()
            .where(application_t.c.application_id == app.application_id)
            .where(application_t.c.version == app.version)
            .values(**_application_row(new))
        )
        if result.rowcount != 1:
            raise Conflict("the application was changed concurrently; retry")
        return new

    def get_application(self, application_id: str, *, for_update: bool = False) -> Application:
        """The application or NotFound."""
        q = sa.select(application_t.c.body).where(application_t.c.application_id == application_id)
        if for_update:
            q = q.with_for_update()
        body = self.conn.execute(q).scalar()
        if body is None:
            raise NotFound(f"no application {application_id}")
        return application_from_dict(json.loads(body))

    def application_exists(self, application_id: str) -> bool:
        """True if the id is taken."""
        return (
            self.conn.execute(
                sa.select(application_t.c.application_id).where(
                    application_t.c.application_id == application_id
                )
            ).first()
            is not None
        )

    def list_applications(
        self,
        *,
        states: list[str] | None = None,
        query: str = "",
        limit: int = 100,
        offset: int = 0,
        public_only: bool = False,
    ) -> tuple[list[Application], int]:
        """Applications matching the filters (newest submission first) and the total count."""
        where: list[sa.ColumnElement[bool]] = []
        if states:
            where.append(application_t.c.state.in_(states))
        if public_only:
            where.append(application_t.c.state != "draft")
        for word in query.lower().split():
            where.append(application_t.c.search_text.like(f"%{_like_escape(word)}%", escape="\\"))
        total = self.conn.execute(
            sa.select(sa.func.count()).select_from(application_t).where(*where)
        ).scalar_one()
        rows = self.conn.execute(
            sa.select(application_t.c.body)
            .where(*where)
            .order_by(
                application_t.c.submitted_at.desc().nulls_last(),
                application_t.c.created_at.desc(),
                application_t.c.application_id,
            )
            .limit(limit)
            .offset(offset)
        ).scalars()
        return [application_from_dict(json.loads(b)) for b in rows], int(total)

    def due_for_expiry(self, at: datetime) -> list[str]:
        """Ids of active applications; the caller checks their end date."""
        return list(
            self.conn.execute(
                sa.select(application_t.c.application_id).where(application_t.c.state == "active")
            ).scalars()
        )

    def add_event(self, event: TransitionEvent) -> None:
        """Append to an application's history."""
        self.conn.execute(
            event_t.insert().values(
                application_id=event.application_id,
                at=to_micros(event.at),
                action=event.action,
                from_state=event.from_state.value if event.from_state else None,
                to_state=event.to_state.value,
                actor=event.actor,
                details=json.dumps(dict(event.details), default=str),
            )
        )

    def events(self, application_id: str) -> list[dict[str, Any]]:
        """An application's history, oldest first."""
        rows = self.conn.execute(
            sa.select(event_t)
            .where(event_t.c.application_id == application_id)
            .order_by(event_t.c.id)
        ).mappings()
        return [
            {
                "at": from_micros(r["at"]).isoformat(),  # type: ignore[union-attr]
                "action": r["action"],
                "from_state": r["from_state"],
                "to_state": r["to_state"],
                "actor": r["actor"],
                "details": json.loads(r["details"]),
            }
            for r in rows
        ]

    # grants -------------------------------------------------------------------------------
    def upsert_grants(self, grants: list[Grant]) -> None:
        """Insert new grants, or update the validity of existing ones (extension)."""
        for g in grants:
            updated = self.conn.execute(
                grant_t.update()
                .where(grant_t.c.grant_id == g.grant_id)
                .values(valid_from=to_micros(g.valid_from), valid_until=to_micros(g.valid_until))
            ).rowcount
            if not updated:
                self.conn.execute(grant_t.insert().values(**_grant_row(g)))

    def revoke_grants(
        self,
        *,
        at: datetime,
        reason: str,
        application_id: str | None = None,
        grant_id: str | None = None,
    ) -> int:
        """Revoke the not yet revoked grants of an application or one grant; returns the count."""
        q = grant_t.update().where(grant_t.c.revoked_at.is_(None))
        if application_id is not None:
            q = q.where(grant_t.c.application_id == application_id)
        if grant_id is not None:
            q = q.where(grant_t.c.grant_id == grant_id)
        return int(
            self.conn.execute(q.values(revoked_at=to_micros(at), revocation_reason=reason)).rowcount
        )

    def get_grant(self, grant_id: str) -> Grant:
        """One grant or NotFound."""
        row = (
            self.conn.execute(sa.select(grant_t).where(grant_t.c.grant_id == grant_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no grant {grant_id}")
        return _grant(row)

    def grants(
        self,
        *,
        subject: str | None = None,
        application_id: str | None = None,
        dataset_id: str | None = None,
        active_at: datetime | None = None,
        limit: int = 1000,
    ) -> list[Grant]:
        """Grants matching the filters (active ones only when ``active_at`` is given)."""
        q = sa.select(grant_t)
        if subject is not None:
            q = q.where(grant_t.c.subject == subject)
        if application_id is not None:
            q = q.where(grant_t.c.application_id == application_id)
        if dataset_id is not None:
            q = q.where(grant_t.c.dataset_id == dataset_id)
        if active_at is not None:
            t = to_micros(active_at)
            q = q.where(
                grant_t.c.valid_from <= t,
                grant_t.c.valid_until > t,
                sa.or_(grant_t.c.revoked_at.is_(None), grant_t.c.revoked_at > t),
            )
        q = q.order_by(grant_t.c.application_id, grant_t.c.dataset_id, grant_t.c.subject)
        return [_grant(r) for r in self.conn.execute(q.limit(limit)).mappings()]


def _participant_row(p: Participant) -> dict[str, Any]:
    return {
        "participant_id": p.participant_id,
        "kind": p.kind.value,
        "name": p.name,
        "status": p.status.value,
        "client_id": p.client_id,
        "created_at": to_micros(p.created_at),
        "updated_at": to_micros(p.updated_at),
    }


def _participant(r: Any) -> Participant:
    return Participant(
        r["participant_id"],
        ParticipantKind(r["kind"]),
        r["name"],
        ParticipantStatus(r["status"]),
        r["client_id"],
        from_micros(r["created_at"]),  # type: ignore[arg-type]
        from_micros(r["updated_at"]),  # type: ignore[arg-type]
    )


def _with_version(app: Application, version: int) -> Application:
    from dataclasses import replace

    return replace(app, version=version)


def _application_row(app: Application) -> dict[str, Any]:
    return {
        "application_id": app.application_id,
        "state": app.state.value,
        "institution": app.institution,
        "project_title": app.project_title,
        "applicant_subject": app.applicant_subject,
        "search_text": _search_text(app),
        "created_at": to_micros(app.created_at),
        "updated_at": to_micros(app.updated_at),
        "submitted_at": to_micros(app.submitted_at) if app.submitted_at else None,
        "version": app.version,
        "body": json.dumps(application_to_dict(app)),
    }


def _grant_row(g: Grant) -> dict[str, Any]:
    return {
        "grant_id": g.grant_id,
        "subject": g.subject,
        "dataset_id": g.dataset_id,
        "purpose": g.purpose,
        "application_id": g.application_id,
        "access_level": g.access_level,
        "valid_from": to_micros(g.valid_from),
        "valid_until": to_micros(g.valid_until),
        "revoked_at": to_micros(g.revoked_at) if g.revoked_at else None,
    }


def _grant(r: Any) -> Grant:
    return Grant(
        grant_id=r["grant_id"],
        subject=r["subject"],
        dataset_id=r["dataset_id"],
        purpose=r["purpose"],
        application_id=r["application_id"],
        valid_from=from_micros(r["valid_from"]),  # type: ignore[arg-type]
        valid_until=from_micros(r["valid_until"]),  # type: ignore[arg-type]
        revoked_at=from_micros(r["revoked_at"]),
        access_level=r["access_level"],
    )


class SqlPlatformStore:
    """Unit-of-work factory over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction (committed on success, rolled back on any exception)."""
        with write_transaction(self.engine) as conn:
            yield Tx(conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction (one consistent snapshot)."""
        with self.engine.connect() as conn, conn.begin():
            yield Tx(conn)


class SqlParticipantDirectory:
    """ParticipantDirectory over the participant table (no cache)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def is_approved(self, participant_id: str, kind: str | None = None) -> bool:
        """True if the participant is registered, approved and (if given) of this kind."""
        q = sa.select(participant_t.c.status, participant_t.c.kind).where(
            participant_t.c.participant_id == participant_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return (
            row is not None
            and row.status == ParticipantStatus.APPROVED.value
            and (kind is None or row.kind == kind)
        )


class SqlGrantDirectory:
    """GrantDirectory over the grant table: one indexed query per call, no cache."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def active_grants(self, subject: str, at: datetime) -> list[Grant]:
        """Grants of ``subject`` in force at ``at``."""
        with self.engine.connect() as conn:
            return Tx(conn).grants(subject=subject, active_at=at)
