"""Tamper-evident audit log: a hash chain of entries whose head is signed with Ed25519.

Each entry stores the SHA-256 hash of its predecessor, so changing or removing any entry breaks
every later link; the head (sequence number and hash of the newest entry) is signed with the
deployment's ``audit`` Ed25519 key, so rewriting the whole tail is detected as well. Any
component appends through :class:`AuditLog`; the main database and the trust center's own
database each hold one log (tables from ``common.audit_migrations``).

Hashing is over canonical JSON: UTF-8, keys sorted, no insignificant whitespace. Details may hold
strings, integers, booleans, null, lists and objects only; floats are refused because their
text form is not canonical across implementations (RFC 8785 section 3.2.2.3 would need its own
number serialiser). Details are for pseudonyms and ids, never direct identifiers: keys that name
an identifier and values shaped like a KVNR are refused.

Limits: a log whose every entry and head row are deleted together verifies as empty; anchor the
signed head elsewhere (e.g. print it in an operations report) if that matters.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    update,
)

from common.db import write_transaction
from common.keys import SigningKey

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
           autoincrement=False),
    Column("at_us", BigInteger(), nullable=False),
    Column("event", String(100), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("details", Text(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("seq", BigInteger(), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("signature", Text(), nullable=True),
    Column("key_id", String(100), nullable=True),
)

GENESIS_HASH = "0" * 64
HEAD_ROW_ID = 1
# Domain separation: an audit head signature can never be mistaken for another signed message.
_HEAD_CONTEXT = b"genomseq-audit-head-v1\n"
_EVENT_RE = re.compile(r"^[a-z][a-z0-9_.\-]{0,99}$")
_KVNR_SHAPED = re.compile(r"\b[A-Z][0-9]{9}\b")
_IDENTIFIER_KEYS = frozenset(
    {
        "kvnr", "name", "family", "given", "birthdate", "birth_date", "address", "street",
        "telecom", "phone", "email", "insurance_number", "versichertennummer",
    }
)


class AuditError(ValueError):
    """An entry was refused (bad event name, identifying details, unsupported value)."""


@dataclass(frozen=True)
class AuditEntry:
    """One appended entry as stored."""

    seq: int
    at: datetime
    event: str
    actor: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :meth:`AuditLog.verify`; ``first_broken`` is the sequence number at fault."""

    ok: bool
    entries: int
    first_broken: int | None = None
    reason: str = ""
    head_key_id: str | None = None


def canonical_json(value: Any) -> bytes:
    """Canonical UTF-8 JSON (sorted keys, no whitespace) of strings, ints, bools, null, lists
    and objects."""
    _check_canonical(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check_canonical(value: Any, path: str = "details") -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        raise AuditError(f"{path}: floats are not allowed in audit entries")
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_canonical(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise AuditError(f"{path}: keys must be strings")
            _check_canonical(v, f"{path}.{k}")
        return
    raise AuditError(f"{path}: unsupported type {type(value).__name__}")


def _check_no_identifiers(value: Any, path: str = "details") -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if str(k).lower() in _IDENTIFIER_KEYS:
                raise AuditError(f"{path}.{k}: direct identifiers never go into the audit log")
            _check_no_identifiers(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_no_identifiers(item, f"{path}[{i}]")
    elif isinstance(value, str) and _KVNR_SHAPED.search(value):
        raise AuditError(f"{path}: looks like a KVNR; pass a pseudonym or id instead")


def _checked(event: str, actor: str, details: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entry's details, once event name, actor and details are fit for the log."""
    if not _EVENT_RE.match(event):
        raise AuditError("event must be a lower-case dotted name of at most 100 characters")
    if not actor or len(actor) > 200:
        raise AuditError("actor must be 1 to 200 characters")
    data = dict(details or {})
    _check_canonical(data)
    _check_no_identifiers(data)
    return data


def entry_hash(
    seq: int, at_us: int, event: str, actor: str, details: Mapping[str, Any], prev_hash: str
) -> str:
    """SHA-256 (hex) of the canonical JSON of one entry including its predecessor's hash."""
    body = {
        "actor": actor,
        "at": at_us,
        "details": dict(details),
        "event": event,
        "prev": prev_hash,
        "seq": seq,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def head_message(seq: int, head_hash: str) -> bytes:
    """The bytes the head signature covers."""
    return _HEAD_CONTEXT + canonical_json({"hash": head_hash, "seq": seq})


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _now_us() -> int:
    return time.time_ns() // 1000


class AuditLog:
    """Appends to and verifies the hash-chained audit log in one database."""

    def __init__(
        self,
        engine: Engine,
        signing_key: SigningKey,
        *,
        clock_us: Callable[[], int] = _now_us,
    ) -> None:
        if not isinstance(signing_key.private_key, ed25519.Ed25519PrivateKey):
            raise TypeError("the audit head is signed with an Ed25519 key")
        self.engine = engine
        self._key = signing_key
        self._private: ed25519.Ed25519PrivateKey = signing_key.private_key
        self._clock_us = clock_us

    @property
    def key_id(self) -> str:
        """Key id (RFC 7638 thumbprint) of the key that signs the head."""
        return self._key.kid

    def append(
        self,
        event: str,
        actor: str,
        details: Mapping[str, Any] | None = None,
        *,
        conn: Connection | None = None,
    ) -> AuditEntry:
        """Append one entry and re-sign the head.

        With ``conn`` the entry joins the caller's transaction (which must have been opened
        with ``common.db.write_transaction`` so SQLite holds the write lock); otherwise it
        commits on its own.
        """
        data = _checked(event, actor, details)
        if conn is not None:
            return self._append(conn, event, actor, data)
        with write_transaction(self.engine) as own:
            return self._append(own, event, actor, data)

    def _append(
        self, conn: Connection, event: str, actor: str, details: dict[str, Any]
    ) -> AuditEntry:
        # FOR UPDATE serialises appenders on PostgreSQL; SQLite already holds the write lock
        # (BEGIN IMMEDIATE) and SQLAlchemy renders nothing for it there.
        lock_head = (
            select(audit_head.c.seq, audit_head.c.hash)
            .where(audit_head.c.id == HEAD_ROW_ID)
            .with_for_update()
        )
        head = conn.execute(lock_head).one_or_none()
        if head is None:
            # The migration creates the row; an emptied table (tests, a fresh restore) gets
            # it back here. If entries survived, inserting entry 1 fails on its primary key.
            conn.execute(_insert_genesis_head(conn))
            head = conn.execute(lock_head).one()
        seq = int(head.seq) + 1
        at_us = self._clock_us()
        digest = entry_hash(seq, at_us, event, actor, details, head.hash)
        conn.execute(
            audit_log.insert().values(
                seq=seq,
                at_us=at_us,
                event=event,
                actor=actor,
                details=canonical_json(details).decode(),
                prev_hash=head.hash,
                hash=digest,
            )
        )
        signature = self._private.sign(head_message(seq, digest))
        conn.execute(
            update(audit_head)
            .where(audit_head.c.id == HEAD_ROW_ID)
            .values(seq=seq, hash=digest, signature=_b64u(signature), key_id=self._key.kid)
        )
        return AuditEntry(seq, _from_us(at_us), event, actor, details, head.hash, digest)

    def append_many(
        self, items: Sequence[tuple[str, str, Mapping[str, Any]]], *, conn: Connection | None = None
    ) -> list[AuditEntry]:
        """Append (event, actor, details) entries in order, with one head update and one
        signature for the whole batch (the chain is the same as appending them one by one).

        For batched writers such as the access-decision auditor; each entry is checked as in
        :meth:`append` before anything is written.
        """
        checked = [(event, actor, _checked(event, actor, details))
                   for event, actor, details in items]
        if not checked:
            return []
        if conn is not None:
            return self._append_many(conn, checked)
        with write_transaction(self.engine) as own:
            return self._append_many(own, checked)

    def _append_many(
        self, conn: Connection, items: list[tuple[str, str, dict[str, Any]]]
    ) -> list[AuditEntry]:
        first = self._append(conn, *items[0])  # locks the head (and creates it if missing)
        out = [first]
        prev, seq = first.hash, first.seq
        rows: list[dict[str, Any]] = []
        for event, actor, details in items[1:]:
            seq += 1
            at_us = self._clock_us()
            digest = entry_hash(seq, at_us, event, actor, details, prev)
            rows.append({"seq": seq, "at_us": at_us, "event": event, "actor": actor,
                         "details": canonical_json(details).decode(), "prev_hash": prev,
                         "hash": digest})
            out.append(AuditEntry(seq, _from_us(at_us), event, actor, details, prev, digest))
            prev = digest
        if rows:
            conn.execute(audit_log.insert(), rows)
            signature = self._private.sign(head_message(seq, prev))
            conn.execute(
                update(audit_head)
                .where(audit_head.c.id == HEAD_ROW_ID)
                .values(seq=seq, hash=prev, signature=_b64u(signature), key_id=self._key.kid)
            )
        return out

    def entries(self, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Entries with a sequence number above ``after``, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq)
                .limit(limit)
            ).all()
        return [_entry(r) for r in rows]

    def _iter_rows(self, conn: Connection) -> Iterator[Any]:
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(
            select(audit_log).order_by(audit_log.c.seq)
        )
        yield from result

    def verify(self) -> VerifyResult:
        """Check every link and the head signature; name the first entry that is at fault."""
        public = self._private.public_key()
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for head and entries: an append committed in between must not
                # look like an entry the head does not cover. (SQLite's BEGIN already is one.)
                conn.execution_options(isolation_level="REPEATABLE READ")
            head = conn.execute(
                select(audit_head).where(audit_head.c.id == HEAD_ROW_ID)
            ).one_or_none()
            expected_seq = 1
            prev = GENESIS_HASH
            count = 0
            for row in self._iter_rows(conn):
                seq = int(row.seq)
                if seq != expected_seq:
                    return VerifyResult(
                        False, count, expected_seq,
                        f"entry {expected_seq} is missing (next stored entry is {seq})",
                    )
                if row.prev_hash != prev:
                    return VerifyResult(
                        False, count, seq, f"entry {seq} does not link to entry {seq - 1}"
                    )
                try:
                    details = json.loads(row.details)
                    recomputed = entry_hash(
                        seq, int(row.at_us), row.event, row.actor, details, row.prev_hash
                    )
                except (ValueError, AuditError):
                    return VerifyResult(False, count, seq, f"entry {seq} is not readable")
                if recomputed != row.hash:
                    return VerifyResult(
                        False, count, seq, f"entry {seq} was changed after it was written"
                    )
                prev = row.hash
                expected_seq += 1
                count += 1
        last_seq = expected_seq - 1
        if head is None:
            if count == 0:
                return VerifyResult(True, 0, None, "empty log")
            return VerifyResult(False, count, last_seq, "the signed head is missing")
        head_kid = head.key_id
        if int(head.seq) != last_seq or head.hash != prev:
            if int(head.seq) > last_seq:
                return VerifyResult(
                    False, count, last_seq + 1,
                    f"entry {last_seq + 1} is missing (the signed head names entry {head.seq})",
                    head_kid,
                )
            return VerifyResult(
                False, count, int(head.seq) + 1,
                f"entry {int(head.seq) + 1} is not covered by the signed head", head_kid,
            )
        if last_seq == 0:
            return VerifyResult(True, 0, None, "empty log", head_kid)
        if head.signature is None or head_kid != self._key.kid:
            return VerifyResult(
                False, count, last_seq,
                "the head is not signed by this deployment's audit key", head_kid,
            )
        try:
            public.verify(_unb64u(head.signature), head_message(last_seq, prev))
        except (InvalidSignature, ValueError):
            return VerifyResult(
                False, count, last_seq, f"the head signature over entry {last_seq} is invalid",
                head_kid,
            )
        return VerifyResult(True, count, None, "", head_kid)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _insert_genesis_head(conn: Connection) -> Any:
    values = {"id": HEAD_ROW_ID, "seq": 0, "hash": GENESIS_HASH}
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(audit_head).values(values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(audit_head).values(values).on_conflict_do_nothing()


def _from_us(at_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=at_us)


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        seq=int(row.seq),
        at=_from_us(int(row.at_us)),
        event=row.event,
        actor=row.actor,
        details=json.loads(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
