"""SQL adapter of the submission state machine (SQLite and PostgreSQL, schema grz_0001)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from common.db import write_transaction
from ga4gh.grz.core.errors import SubmissionNotFound
from ga4gh.grz.core.states import (
    ErrorReason,
    FileResult,
    State,
    Submission,
    Transition,
    check_transition,
)

_md = sa.MetaData()
submission_t = sa.Table(
    "grz_submission",
    _md,
    sa.Column("submission_id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16)),
    sa.Column("error_reason", sa.String(32)),
    sa.Column("error_detail", sa.Text()),
    sa.Column("submitter_id", sa.String(9)),
    sa.Column("submission_date", sa.Date()),
    sa.Column("submission_type", sa.String(16)),
    sa.Column("genomic_data_center_id", sa.String(9)),
    sa.Column("metadata_sha256", sa.String(64)),
    sa.Column("qc_passed", sa.Boolean()),
    sa.Column("qc_report", sa.Text()),
    sa.Column("tan_exchange_started", sa.Boolean()),
    sa.Column("dataset_pseudonym", sa.String(128)),
    sa.Column("created", sa.DateTime(timezone=True)),
    sa.Column("updated", sa.DateTime(timezone=True)),
)
file_t = sa.Table(
    "grz_submission_file",
    _md,
    sa.Column("submission_id", sa.String(64), primary_key=True),
    sa.Column("file_path", sa.String(1024), primary_key=True),
    sa.Column("file_type", sa.String(16)),
    sa.Column("declared_checksum", sa.String(64)),
    sa.Column("declared_size", sa.BigInteger()),
    sa.Column("observed_checksum", sa.String(64)),
    sa.Column("observed_size", sa.BigInteger()),
    sa.Column("detected_format", sa.String(16)),
    sa.Column("read_count", sa.BigInteger()),
    sa.Column("mean_coverage", sa.Float()),
    sa.Column("catalogue_id", sa.String(128)),
)
transition_t = sa.Table(
    "grz_transition",
    _md,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.String(64)),
    sa.Column("state", sa.String(16)),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("note", sa.Text()),
)
tan_t = sa.Table(
    "grz_tan",
    _md,
    sa.Column("tan_digest", sa.String(64), primary_key=True),
    sa.Column("submission_id", sa.String(64)),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SqlSubmissionStore:
    """SubmissionStore on the main database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, submission_id: str) -> Submission | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(submission_t).where(submission_t.c.submission_id == submission_id)
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            files = (
                conn.execute(
                    sa.select(file_t)
                    .where(file_t.c.submission_id == submission_id)
                    .order_by(file_t.c.file_path)
                )
                .mappings()
                .all()
            )
            history = (
                conn.execute(
                    sa.select(transition_t)
                    .where(transition_t.c.submission_id == submission_id)
                    .order_by(transition_t.c.id)
                )
                .mappings()
                .all()
            )
        return _submission(row, files, history)

    def recent(self, *, limit: int = 100) -> list[Submission]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(submission_t)
                    .order_by(submission_t.c.updated.desc(), submission_t.c.submission_id)
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [_submission(r, [], []) for r in rows]

    def register(self, submission_id: str) -> Submission:
        now = _now()
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(
                    submission_t.insert().values(
                        submission_id=submission_id,
                        state=State.uploaded.value,
                        error_detail="[]",
                        submitter_id="",
                        submission_type="",
                        genomic_data_center_id="",
                        metadata_sha256="",
                        qc_report="{}",
                        tan_exchange_started=False,
                        created=now,
                        updated=now,
                    )
                )
                conn.execute(
                    transition_t.insert().values(
                        submission_id=submission_id, state=State.uploaded.value, at=now, note=""
                    )
                )
        except IntegrityError:
            pass  # registered concurrently: the existing record wins
        found = self.get(submission_id)
        assert found is not None
        return found

    def _current_state(self, conn: sa.Connection, submission_id: str) -> State:
        state = conn.execute(
            sa.select(submission_t.c.state).where(submission_t.c.submission_id == submission_id)
        ).scalar()
        if state is None:
            raise SubmissionNotFound(f"no submission {submission_id}")
        return State(state)

    def transition(self, submission_id: str, target: State, note: str = "") -> Submission:
        now = _now()
        with write_transaction(self.engine) as conn:
            check_transition(self._current_state(conn, submission_id), target)
            conn.execute(
                submission_t.update()
                .where(submission_t.c.submission_id == submission_id)
                .values(state=target.value, updated=now)
            )
            conn.execute(
                transition_t.insert().values(
                    submission_id=submission_id, state=target.value, at=now, note=note[:2000]
                )
            )
        found = self.get(submission_id)
        assert found is not None
        return found

    def fail(self, submission_id: str, reason: ErrorReason, details: list[str]) -> Submission:
        now = _now()
        with write_transaction(self.engine) as conn:
            check_transition(self._current_state(conn, submission_id), State.error)
            conn.execute(
                submission_t.update()
                .where(submission_t.c.submission_id == submission_id)
                .values(
                    state=State.error.value,
                    error_reason=reason.value,
                    error_detail=json.dumps(details[:200]),
                    updated=now,
                )
            )
            conn.execute(
                transition_t.insert().values(
                    submission_id=submission_id, state=State.error.value, at=now, note=reason.value
                )
            )
            # A refused submission holds no tanG: the hospital may upload it again, corrected.
            # (A duplicate refusal never held the reservation, so the other holder keeps it.)
            conn.execute(tan_t.delete().where(tan_t.c.submission_id == submission_id))
        found = self.get(submission_id)
        assert found is not None
        return found

    def record_metadata(
        self,
        submission_id: str,
        *,
        submitter_id: str,
        submission_date: str,
        submission_type: str,
        genomic_data_center_id: str,
        metadata_sha256: str,
    ) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                submission_t.update()
                .where(submission_t.c.submission_id == submission_id)
                .values(
                    submitter_id=submitter_id,
                    submission_date=date.fromisoformat(submission_date),
                    submission_type=submission_type,
                    genomic_data_center_id=genomic_data_center_id,
                    metadata_sha256=metadata_sha256,
                    updated=_now(),
                )
            )

    def reserve_tan(self, submission_id: str, tan_digest: str) -> bool:
        with write_transaction(self.engine) as conn:
            holder = conn.execute(
                sa.select(tan_t.c.submission_id).where(tan_t.c.tan_digest == tan_digest)
            ).scalar()
            if holder is not None:
                return bool(holder == submission_id)
            conn.execute(tan_t.delete().where(tan_t.c.submission_id == submission_id))
            conn.execute(tan_t.insert().values(tan_digest=tan_digest, submission_id=submission_id))
        return True

    def release_tan(self, submission_id: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(tan_t.delete().where(tan_t.c.submission_id == submission_id))

    def record_files(self, submission_id: str, files: list[FileResult]) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(file_t.delete().where(file_t.c.submission_id == submission_id))
            if files:
                conn.execute(
                    file_t.insert(),
                    [{"submission_id": submission_id, **f.__dict__} for f in files],
                )

    def record_qc(self, submission_id: str, passed: bool, report: dict[str, object]) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                submission_t.update()
                .where(submission_t.c.submission_id == submission_id)
                .values(qc_passed=passed, qc_report=json.dumps(report), updated=_now())
            )

    def mark_tan_exchange_started(self, submission_id: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                submission_t.update()
                .where(submission_t.c.submission_id == submission_id)
                .values(tan_exchange_started=True, updated=_now())
            )

    def record_pseudonym(self, submission_id: str, pseudonym: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                submission_t.update()
                .where(submission_t.c.submission_id == submission_id)
                .values(dataset_pseudonym=pseudonym, updated=_now())
            )

    def pseudonym(self, submission_id: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(submission_t.c.dataset_pseudonym).where(
                    submission_t.c.submission_id == submission_id
                )
            ).scalar()
        return str(value) if value else None


def _submission(row: sa.RowMapping, files: object, history: object) -> Submission:
    return Submission(
        submission_id=row["submission_id"],
        state=State(row["state"]),
        created=_aware(row["created"]),
        updated=_aware(row["updated"]),
        submitter_id=row["submitter_id"] or "",
        submission_date=row["submission_date"],
        submission_type=row["submission_type"] or "",
        genomic_data_center_id=row["genomic_data_center_id"] or "",
        error_reason=ErrorReason(row["error_reason"]) if row["error_reason"] else None,
        error_detail=json.loads(row["error_detail"] or "[]"),
        metadata_sha256=row["metadata_sha256"] or "",
        qc_passed=row["qc_passed"],
        qc_report=json.loads(row["qc_report"] or "{}"),
        tan_exchange_started=bool(row["tan_exchange_started"]),
        has_pseudonym=bool(row["dataset_pseudonym"]),
        files=[
            FileResult(
                file_path=f["file_path"],
                file_type=f["file_type"],
                declared_checksum=f["declared_checksum"],
                declared_size=f["declared_size"],
                observed_checksum=f["observed_checksum"],
                observed_size=f["observed_size"],
                detected_format=f["detected_format"],
                read_count=f["read_count"],
                mean_coverage=f["mean_coverage"],
                catalogue_id=f["catalogue_id"],
            )
            for f in files  # type: ignore[attr-defined]
        ],
        history=[
            Transition(State(h["state"]), _aware(h["at"]), h["note"] or "")
            for h in history  # type: ignore[attr-defined]
        ],
    )
