"""SQL adapter of the trust center's own database (SQLite and PostgreSQL, one code path).

Every function takes the caller's Connection so one trust-center operation and its audit entry
commit together. Tables mirror migrations/versions/0001_trust_center.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)

metadata = MetaData()
_PK = BigInteger().with_variant(Integer(), "sqlite")

case_t = Table(
    "tc_case", metadata,
    Column("id", String(32), primary_key=True),
    Column("ik", String(9), nullable=False),
    Column("arbeitsnummer_index", String(64), nullable=False, unique=True),
    Column("arbeitsnummer_enc", LargeBinary(), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("created_us", BigInteger(), nullable=False),
)
vorgangsnummer_t = Table(
    "tc_vorgangsnummer", metadata,
    Column("digest", String(64), primary_key=True),
    Column("case_id", String(32), ForeignKey("tc_case.id"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("issued_us", BigInteger(), nullable=False),
    Column("expires_us", BigInteger(), nullable=False),
    Column("used_us", BigInteger(), nullable=True),
    Column("used_by", String(80), nullable=True),
)
domain_key_t = Table(
    "tc_domain_key", metadata,
    Column("domain", String(80), primary_key=True),
    Column("version", Integer(), nullable=False),
    Column("rotated_us", BigInteger(), nullable=False),
)
pseudonym_t = Table(
    "tc_pseudonym", metadata,
    Column("id", _PK, primary_key=True, autoincrement=True),
    Column("domain", String(80), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("pseudonym", String(48), nullable=False),
    Column("subject_type", String(16), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("case_id", String(32), ForeignKey("tc_case.id"), nullable=True),
    Column("person_id", String(64), nullable=True),
    Column("created_us", BigInteger(), nullable=False),
)
participation_t = Table(
    "tc_participation", metadata,
    Column("id", _PK, primary_key=True, autoincrement=True),
    Column("case_id", String(32), ForeignKey("tc_case.id"), nullable=False),
    Column("scope", String(24), nullable=False),
    Column("status", String(12), nullable=False),
    Column("declared_on", Date(), nullable=False),
    Column("recorded_us", BigInteger(), nullable=False),
)
broad_consent_t = Table(
    "tc_broad_consent", metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("tc_case.id"), nullable=False),
    Column("resource", Text(), nullable=False),
    Column("recorded_us", BigInteger(), nullable=False),
)
correction_t = Table(
    "tc_correction", metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("tc_case.id"), nullable=False),
    Column("ik", String(9), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("requested_by", String(80), nullable=False),
    Column("created_us", BigInteger(), nullable=False),
    Column("delivered_us", BigInteger(), nullable=True),
)
reid_request_t = Table(
    "tc_reid_request", metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("tc_case.id"), nullable=False),
    Column("domain", String(80), nullable=False),
    Column("purpose", String(24), nullable=False),
    Column("hospital_ik", String(9), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("justification", String(1000), nullable=False),
    Column("status", String(12), nullable=False),
    Column("created_us", BigInteger(), nullable=False),
    Column("answered_us", BigInteger(), nullable=True),
)
consent_head_t = Table(
    "tc_consent_head", metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("seq", BigInteger(), nullable=False),
)
consent_change_t = Table(
    "tc_consent_change", metadata,
    Column("seq", BigInteger(), primary_key=True, autoincrement=False),
    Column("case_id", String(32), ForeignKey("tc_case.id"), nullable=False),
    Column("recorded_us", BigInteger(), nullable=False),
)
reid_approval_t = Table(
    "tc_reid_approval", metadata,
    Column("request_id", String(32), ForeignKey("tc_reid_request.id"), primary_key=True),
    Column("approver", String(200), primary_key=True),
    Column("approved_us", BigInteger(), nullable=False),
)


@dataclass(frozen=True)
class CaseRow:
    """A case as stored (Arbeitsnummer still encrypted)."""

    id: str
    ik: str
    arbeitsnummer_enc: bytes
    person_id: str
    mode: str
    created_us: int


@dataclass(frozen=True)
class PseudonymRow:
    """An issued pseudonym as stored."""

    domain: str
    version: int
    pseudonym: str
    subject_type: str
    subject: str
    case_id: str | None
    person_id: str | None


def _insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on either dialect."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).on_conflict_do_nothing(), rows)
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    conn.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)


# --- cases and Vorgangsnummern -------------------------------------------------------------------


def case_by_index(conn: Connection, index: str) -> str | None:
    """Id of the case registered with this Arbeitsnummer blind index."""
    return conn.execute(
        select(case_t.c.id).where(case_t.c.arbeitsnummer_index == index)
    ).scalar_one_or_none()


def insert_case(conn: Connection, **values: Any) -> None:
    """Store a new case."""
    conn.execute(case_t.insert().values(**values))


def get_case(conn: Connection, case_id: str) -> CaseRow | None:
    """One case by id."""
    row = conn.execute(select(case_t).where(case_t.c.id == case_id)).one_or_none()
    if row is None:
        return None
    return CaseRow(row.id, row.ik, bytes(row.arbeitsnummer_enc), row.person_id, row.mode,
                   row.created_us)


def cases_of_person(conn: Connection, person_id: str) -> list[str]:
    """Ids of every case of one person."""
    return list(conn.execute(
        select(case_t.c.id).where(case_t.c.person_id == person_id).order_by(case_t.c.id)
    ).scalars())


def transfer_numbers_exist(conn: Connection, digests: Sequence[str]) -> bool:
    """True if any of these Vorgangsnummer digests was registered before (used or not)."""
    return conn.execute(
        select(func.count()).select_from(vorgangsnummer_t)
        .where(vorgangsnummer_t.c.digest.in_(list(digests)))
    ).scalar_one() > 0


def insert_vorgangsnummer(conn: Connection, **values: Any) -> None:
    """Store the digest of a Vorgangsnummer or tanG/tanC."""
    conn.execute(vorgangsnummer_t.insert().values(**values))


def lock_vorgangsnummer(conn: Connection, digest: str) -> Any:
    """The Vorgangsnummer row, locked for the rest of the transaction (PostgreSQL)."""
    return conn.execute(
        select(vorgangsnummer_t).where(vorgangsnummer_t.c.digest == digest).with_for_update()
    ).one_or_none()


def mark_used(conn: Connection, digest: str, used_us: int, used_by: str) -> bool:
    """Mark a Vorgangsnummer used; False if another transaction used it first."""
    result = conn.execute(
        update(vorgangsnummer_t)
        .where(vorgangsnummer_t.c.digest == digest, vorgangsnummer_t.c.used_us.is_(None))
        .values(used_us=used_us, used_by=used_by)
    )
    return result.rowcount == 1


# --- domain keys and pseudonyms ------------------------------------------------------------------


def domain_version(conn: Connection, domain: str) -> int:
    """Current key version of a domain (1 until the first rotation)."""
    version = conn.execute(
        select(domain_key_t.c.version).where(domain_key_t.c.domain == domain)
    ).scalar_one_or_none()
    return int(version) if version is not None else 1


def set_domain_version(conn: Connection, domain: str, version: int, now_us: int) -> None:
    """Record a rotation (insert or update the domain's row)."""
    existing = conn.execute(
        select(domain_key_t.c.version).where(domain_key_t.c.domain == domain).with_for_update()
    ).scalar_one_or_none()
    if existing is None:
        conn.execute(domain_key_t.insert().values(domain=domain, version=version,
                                                  rotated_us=now_us))
    else:
        conn.execute(update(domain_key_t).where(domain_key_t.c.domain == domain)
                     .values(version=version, rotated_us=now_us))


def lock_domain(conn: Connection, domain: str) -> int:
    """Current version of a domain with its row locked (rotation vs. issue on PostgreSQL)."""
    row = conn.execute(
        select(domain_key_t.c.version).where(domain_key_t.c.domain == domain).with_for_update()
    ).scalar_one_or_none()
    return int(row) if row is not None else 1


def insert_pseudonyms(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Record issued pseudonyms; one already recorded is left as it is."""
    _insert_ignore(conn, pseudonym_t, rows)


def find_pseudonym(conn: Connection, domain: str, pseudonym: str) -> PseudonymRow | None:
    """An issued pseudonym of a domain, any key version."""
    row = conn.execute(
        select(pseudonym_t).where(pseudonym_t.c.domain == domain,
                                  pseudonym_t.c.pseudonym == pseudonym)
    ).one_or_none()
    return _pseudonym_row(row) if row is not None else None


def find_pseudonyms(
    conn: Connection, domain: str, values: Sequence[str]
) -> dict[str, PseudonymRow]:
    """Issued pseudonyms of a domain among ``values`` (any key version)."""
    found: dict[str, PseudonymRow] = {}
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), 500):
        rows = conn.execute(
            select(pseudonym_t).where(pseudonym_t.c.domain == domain,
                                      pseudonym_t.c.pseudonym.in_(unique[start:start + 500]))
        ).all()
        for row in rows:
            found[row.pseudonym] = _pseudonym_row(row)
    return found


def cases_of_persons(conn: Connection, person_ids: Sequence[str]) -> dict[str, list[str]]:
    """Case ids of each person."""
    out: dict[str, list[str]] = {}
    unique = list(dict.fromkeys(person_ids))
    for start in range(0, len(unique), 500):
        rows = conn.execute(
            select(case_t.c.person_id, case_t.c.id)
            .where(case_t.c.person_id.in_(unique[start:start + 500])).order_by(case_t.c.id)
        ).all()
        for person, case_id in rows:
            out.setdefault(person, []).append(case_id)
    return out


def persons_of_cases(conn: Connection, case_ids: Sequence[str]) -> dict[str, str]:
    """Case id -> the keyed person id of its patient."""
    out: dict[str, str] = {}
    unique = list(dict.fromkeys(case_ids))
    for start in range(0, len(unique), 500):
        rows = conn.execute(select(case_t.c.id, case_t.c.person_id)
                            .where(case_t.c.id.in_(unique[start:start + 500]))).all()
        out.update((r[0], r[1]) for r in rows)
    return out


def pseudonyms_of_subjects(
    conn: Connection, domain: str, case_ids: Sequence[str], person_ids: Sequence[str]
) -> list[PseudonymRow]:
    """Issued pseudonyms of a domain (any key version) whose subject is one of the cases (a
    dataset of the case) or one of the persons."""
    out: list[PseudonymRow] = []
    cases, persons = list(dict.fromkeys(case_ids)), list(dict.fromkeys(person_ids))
    for start in range(0, max(len(cases), len(persons)), 500):
        cond = pseudonym_t.c.case_id.in_(cases[start:start + 500]) | \
            pseudonym_t.c.person_id.in_(persons[start:start + 500])
        rows = conn.execute(select(pseudonym_t).where(pseudonym_t.c.domain == domain, cond)
                            .order_by(pseudonym_t.c.id)).all()
        out += [_pseudonym_row(r) for r in rows]
    return out


def pseudonym_of_subject(
    conn: Connection, domain: str, version: int, subject: str
) -> str | None:
    """The recorded pseudonym of a subject under one key version."""
    return conn.execute(
        select(pseudonym_t.c.pseudonym).where(
            pseudonym_t.c.domain == domain, pseudonym_t.c.version == version,
            pseudonym_t.c.subject == subject)
    ).scalar_one_or_none()


def subjects_of_domain(conn: Connection, domain: str, version: int) -> list[PseudonymRow]:
    """Every subject with a pseudonym under one key version of a domain."""
    rows = conn.execute(
        select(pseudonym_t).where(pseudonym_t.c.domain == domain,
                                  pseudonym_t.c.version == version)
        .order_by(pseudonym_t.c.id)
    ).all()
    return [_pseudonym_row(r) for r in rows]


def _pseudonym_row(row: Any) -> PseudonymRow:
    return PseudonymRow(row.domain, int(row.version), row.pseudonym, row.subject_type,
                        row.subject, row.case_id, row.person_id)


# --- consent -------------------------------------------------------------------------------------


def insert_participation(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Store statements of a participation declaration."""
    if rows:
        conn.execute(participation_t.insert(), rows)


def participation_of(
    conn: Connection, case_ids: Sequence[str]
) -> list[tuple[str, str, str, date, int]]:
    """(case id, scope, status, date, recorded_us) of the given cases."""
    rows = conn.execute(
        select(participation_t.c.case_id, participation_t.c.scope, participation_t.c.status,
               participation_t.c.declared_on, participation_t.c.recorded_us)
        .where(participation_t.c.case_id.in_(list(case_ids)))
        .order_by(participation_t.c.id)
    ).all()
    return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


def log_consent_change(conn: Connection, case_ids: Sequence[str], now_us: int) -> int:
    """Give each case a new consent-change sequence number; returns the newest.

    The UPDATE of the head row holds its lock until the caller commits, so numbers commit in
    order (a reader that saw N has seen every number below N)."""
    unique = list(dict.fromkeys(case_ids))
    moved = conn.execute(update(consent_head_t).where(consent_head_t.c.id == 1)
                         .values(seq=consent_head_t.c.seq + len(unique)))
    if moved.rowcount == 0:  # the migration seeds the row; an emptied table starts again
        conn.execute(consent_head_t.insert().values(id=1, seq=len(unique)))
    head = int(conn.execute(select(consent_head_t.c.seq)
                            .where(consent_head_t.c.id == 1)).scalar_one())
    if unique:
        first = head - len(unique) + 1
        conn.execute(consent_change_t.insert(), [
            {"seq": first + n, "case_id": c, "recorded_us": now_us}
            for n, c in enumerate(unique)])
    return head


def consent_head(conn: Connection) -> int:
    """The newest consent-change sequence number (0 before the first change)."""
    return int(conn.execute(select(consent_head_t.c.seq)
                            .where(consent_head_t.c.id == 1)).scalar_one_or_none() or 0)


def consent_changes_since(conn: Connection, since: int, limit: int) -> list[tuple[int, str]]:
    """(seq, case id) of changes numbered above ``since``, oldest first, at most ``limit``."""
    rows = conn.execute(
        select(consent_change_t.c.seq, consent_change_t.c.case_id)
        .where(consent_change_t.c.seq > since).order_by(consent_change_t.c.seq).limit(limit)
    ).all()
    return [(int(r[0]), r[1]) for r in rows]


def pseudonyms_of_cases(conn: Connection, domain: str, case_ids: Sequence[str]) -> set[str]:
    """Every pseudonym of a domain (any key version) whose subject is one of the cases or the
    person of one of them."""
    out: set[str] = set()
    unique = list(dict.fromkeys(case_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        persons = select(case_t.c.person_id).where(case_t.c.id.in_(chunk))
        rows = conn.execute(
            select(pseudonym_t.c.pseudonym).where(
                pseudonym_t.c.domain == domain,
                pseudonym_t.c.case_id.in_(chunk) | pseudonym_t.c.person_id.in_(persons))
        ).all()
        out.update(r[0] for r in rows)
    return out


def insert_broad_consent(conn: Connection, consent_id: str, case_id: str,
                         resource: dict[str, Any], recorded_us: int) -> None:
    """Store a validated broad consent."""
    conn.execute(broad_consent_t.insert().values(
        id=consent_id, case_id=case_id, resource=json.dumps(resource, sort_keys=True),
        recorded_us=recorded_us))


def broad_consents_of(
    conn: Connection, case_ids: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(case id, FHIR Consent) of the given cases."""
    rows = conn.execute(
        select(broad_consent_t.c.case_id, broad_consent_t.c.resource)
        .where(broad_consent_t.c.case_id.in_(list(case_ids)))
        .order_by(broad_consent_t.c.recorded_us, broad_consent_t.c.id)
    ).all()
    return [(r[0], json.loads(r[1])) for r in rows]


# --- corrections and re-identification -----------------------------------------------------------


def insert_correction(conn: Connection, **values: Any) -> None:
    """Queue a correction request for the hospital."""
    conn.execute(correction_t.insert().values(**values))


def pending_corrections(conn: Connection, ik: str) -> list[Any]:
    """Undelivered corrections of one hospital, oldest first, locked for delivery."""
    return list(conn.execute(
        select(correction_t).where(correction_t.c.ik == ik, correction_t.c.delivered_us.is_(None))
        .order_by(correction_t.c.created_us, correction_t.c.id).with_for_update()
    ).all())


def mark_corrections_delivered(conn: Connection, ids: Sequence[str], now_us: int) -> None:
    """Record that the hospital fetched these corrections."""
    if ids:
        conn.execute(update(correction_t).where(correction_t.c.id.in_(list(ids)))
                     .values(delivered_us=now_us))


def insert_reid_request(conn: Connection, **values: Any) -> None:
    """Store a new re-identification request."""
    conn.execute(reid_request_t.insert().values(**values))


def lock_reid_request(conn: Connection, request_id: str) -> Any:
    """A re-identification request row, locked."""
    return conn.execute(
        select(reid_request_t).where(reid_request_t.c.id == request_id).with_for_update()
    ).one_or_none()


def reid_request(conn: Connection, request_id: str) -> Any:
    """A re-identification request row."""
    return conn.execute(
        select(reid_request_t).where(reid_request_t.c.id == request_id)
    ).one_or_none()


def approvers_of(conn: Connection, request_id: str) -> list[str]:
    """Who approved a request, in order."""
    return list(conn.execute(
        select(reid_approval_t.c.approver).where(reid_approval_t.c.request_id == request_id)
        .order_by(reid_approval_t.c.approved_us, reid_approval_t.c.approver)
    ).scalars())


def insert_approval(conn: Connection, request_id: str, approver: str, now_us: int) -> None:
    """Record one approval."""
    conn.execute(reid_approval_t.insert().values(request_id=request_id, approver=approver,
                                                 approved_us=now_us))


def set_reid_status(conn: Connection, request_id: str, status: str,
                    answered_us: int | None = None) -> None:
    """Move a request to its next state."""
    values: dict[str, Any] = {"status": status}
    if answered_us is not None:
        values["answered_us"] = answered_us
    conn.execute(update(reid_request_t).where(reid_request_t.c.id == request_id).values(**values))


def reid_requests(conn: Connection, status: str | None = None) -> list[Any]:
    """Re-identification requests, newest first (operators' list)."""
    query = select(reid_request_t).order_by(reid_request_t.c.created_us.desc())
    if status:
        query = query.where(reid_request_t.c.status == status)
    return list(conn.execute(query).all())
