"""SQL adapter of the FHIR repository: one implementation for SQLite and PostgreSQL.

Schema: fhir_server/storage/migrations (resource table = current version per logical id,
version table = every version with its JSON). Dialect differences (row locks, advisory locks)
are in this module only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    exists,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from common.db import PreparedRead, write_transaction
from fhir_server.core.model import HistoryPage, HistoryQuery, StoredVersion, Write
from fhir_server.core.ports import FhirUnitOfWork
from fhir_server.storage.ports import SearchIndexer

T = TypeVar("T")

metadata = MetaData()

resource_table = Table(
    "fhir_resource",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
)

version_table = Table(
    "fhir_resource_version",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("resource_id", BigInteger, nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("method", String(6), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", LargeBinary),
)

_r, _v = resource_table, version_table
_CURRENT = select(
    _r.c.id,
    _r.c.res_type,
    _r.c.res_id,
    _r.c.version_id,
    _r.c.last_updated,
    _r.c.deleted,
    _v.c.method,
    _v.c.content,
).select_from(_r.join(_v, and_(_v.c.resource_id == _r.c.id, _v.c.version_id == _r.c.version_id)))
_VERSION_COLS = (
    _v.c.id,
    _v.c.res_type,
    _v.c.res_id,
    _v.c.version_id,
    _v.c.last_updated,
    _v.c.deleted,
    _v.c.method,
    _v.c.content,
)

# SQLSTATEs worth retrying on PostgreSQL: serialization failure, deadlock.
_RETRY_SQLSTATES = {"40001", "40P01"}
MAX_ATTEMPTS = 5
_PREPARED = "search_index"  # key of SearchIndexer.prepare's result in Write.derived


def _stored(row: Any) -> StoredVersion:
    content = row.content
    if content is not None and not isinstance(content, bytes):
        content = bytes(content)  # memoryview from psycopg
    return StoredVersion(
        row.res_type,
        row.res_id,
        row.version_id,
        row.last_updated,
        bool(row.deleted),
        row.method,
        content,
    )


def advisory_key(key: str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class SqlUnitOfWork(FhirUnitOfWork):
    """One write transaction on one connection."""

    def __init__(self, conn: Connection, indexer: SearchIndexer, read_only: bool = False) -> None:
        self.conn = conn
        self.indexer = indexer
        self.read_only = read_only
        self.postgres = conn.dialect.name == "postgresql"
        self._pks: dict[tuple[str, str], int] = {}

    def current(self, res_type: str, res_id: str) -> StoredVersion | None:
        if self.postgres and not self.read_only:
            # Lock the resource row on its own first: a FOR UPDATE over the join would, after
            # waiting for a concurrent writer, re-check the join against the old snapshot and
            # drop the row (READ COMMITTED re-evaluation). The next statement sees the commit.
            self.conn.execute(
                select(_r.c.id)
                .where(_r.c.res_type == res_type, _r.c.res_id == res_id)
                .with_for_update()
            )
        row = self.conn.execute(
            _CURRENT.where(_r.c.res_type == res_type, _r.c.res_id == res_id)
        ).first()
        if row is None:
            return None
        self._pks[(res_type, res_id)] = row.id
        return _stored(row)

    def match(self, res_type: str, criteria: list[tuple[str, str]]) -> list[str]:
        pks = self.indexer.match(self.conn, res_type, criteria)
        if not pks:
            return []
        rows = self.conn.execute(
            select(_r.c.res_id).where(_r.c.id.in_(pks), _r.c.deleted.is_(False))
        ).all()
        return sorted(r.res_id for r in rows)

    def existing(self, refs: list[str]) -> set[str]:
        found: set[str] = set()
        by_type: dict[str, list[str]] = {}
        for ref in refs:
            res_type, _, res_id = ref.partition("/")
            by_type.setdefault(res_type, []).append(res_id)
        for res_type, ids in by_type.items():
            rows = self.conn.execute(
                select(_r.c.res_id).where(
                    _r.c.res_type == res_type, _r.c.res_id.in_(ids), _r.c.deleted.is_(False)
                )
            )
            found.update(f"{res_type}/{row.res_id}" for row in rows)
        return found

    def lock(self, key: str) -> None:
        # SQLite: the write transaction (BEGIN IMMEDIATE) already serialises all writers.
        if self.postgres:
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(key)})

    def write(self, writes: list[Write]) -> None:
        if self.read_only:
            raise RuntimeError("write in a read-only snapshot")
        if not writes:
            return
        conn = self.conn
        new: list[Write] = []
        changed: list[Write] = []
        for w in writes:
            (changed if (w.res_type, w.res_id) in self._pks else new).append(w)
        if new:
            rows = conn.execute(
                insert(_r).returning(_r.c.id, sort_by_parameter_order=True),
                [
                    {
                        "res_type": w.res_type,
                        "res_id": w.res_id,
                        "version_id": w.version_id,
                        "last_updated": w.last_updated,
                        "deleted": w.method == "DELETE",
                    }
                    for w in new
                ],
            ).all()
            for w, row in zip(new, rows, strict=True):
                self._pks[(w.res_type, w.res_id)] = row.id
        if changed:
            conn.execute(
                update(_r)
                .where(_r.c.id == bindparam("pk"))
                .values(
                    version_id=bindparam("vid"),
                    last_updated=bindparam("ts"),
                    deleted=bindparam("del"),
                ),
                [
                    {
                        "pk": self._pks[(w.res_type, w.res_id)],
                        "vid": w.version_id,
                        "ts": w.last_updated,
                        "del": w.method == "DELETE",
                    }
                    for w in changed
                ],
            )
        conn.execute(
            insert(_v),
            [
                {
                    "resource_id": self._pks[(w.res_type, w.res_id)],
                    "res_type": w.res_type,
                    "res_id": w.res_id,
                    "version_id": w.version_id,
                    "last_updated": w.last_updated,
                    "method": w.method,
                    "deleted": w.method == "DELETE",
                    "content": w.content,
                }
                for w in writes
            ],
        )
        # Index in batches (one executemany per index table); resources created here have no
        # index rows yet, so their old rows need no delete. Rows extracted by prepare()
        # before the transaction are reused.
        created = {(w.res_type, w.res_id) for w in new}
        fresh: list[tuple[int, str, dict[str, Any]]] = []
        replaced: list[tuple[int, str, dict[str, Any]]] = []
        fresh_pre: list[Any] = []
        replaced_pre: list[Any] = []
        for w in writes:
            pk = self._pks[(w.res_type, w.res_id)]
            if w.resource is None:
                self.indexer.unindex(conn, pk)
            elif (w.res_type, w.res_id) in created:
                fresh.append((pk, w.res_type, w.resource))
                fresh_pre.append(w.derived.get(_PREPARED))
            else:
                replaced.append((pk, w.res_type, w.resource))
                replaced_pre.append(w.derived.get(_PREPARED))
        if fresh:
            self.indexer.index_many(conn, fresh, replace=False, prepared=fresh_pre)
        if replaced:
            self.indexer.index_many(conn, replaced, prepared=replaced_pre)


class SqlFhirRepository:
    """FhirRepository over SQLAlchemy Core."""

    def __init__(self, engine: Engine, indexer: SearchIndexer) -> None:
        self.engine = engine
        self.indexer = indexer
        # The hottest path of the server: compiled once, run on the driver (PreparedRead).
        self._read = PreparedRead(engine, _CURRENT.where(
            _r.c.res_type == bindparam("res_type"), _r.c.res_id == bindparam("res_id")))

    def read(self, res_type: str, res_id: str) -> StoredVersion | None:
        found = self._read.first(res_type=res_type, res_id=res_id)
        if found is None:
            return None
        _, rtype, rid, vid, updated, deleted, method, content = found
        if content is not None and not isinstance(content, bytes):
            content = bytes(content)
        return StoredVersion(rtype, rid, vid, updated, bool(deleted), method, content)

    def vread(self, res_type: str, res_id: str, version_id: int) -> StoredVersion | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_VERSION_COLS)
                .select_from(_v.join(_r, _r.c.id == _v.c.resource_id))
                .where(
                    _r.c.res_type == res_type,
                    _r.c.res_id == res_id,
                    _v.c.version_id == version_id,
                )
            ).first()
        return _stored(row) if row is not None else None

    def history(self, query: HistoryQuery) -> HistoryPage:
        stmt = select(*_VERSION_COLS)
        if query.res_type is not None:
            stmt = stmt.where(_v.c.res_type == query.res_type)
        if query.res_id is not None:
            stmt = stmt.where(_v.c.res_id == query.res_id)
        if query.since is not None:
            stmt = stmt.where(_v.c.last_updated >= query.since)
        if query.at is not None:
            start, end = query.at
            nxt = _v.alias("nxt")
            # Current at some point in [start, end): began before end and not replaced by start.
            stmt = stmt.where(
                _v.c.last_updated < end,
                ~exists().where(
                    nxt.c.resource_id == _v.c.resource_id,
                    nxt.c.version_id == _v.c.version_id + 1,
                    nxt.c.last_updated <= start,
                ),
            )
        if query.before_pk is not None:
            stmt = stmt.where(_v.c.id < query.before_pk)
        stmt = stmt.order_by(_v.c.id.desc()).limit(query.count + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        more = len(rows) > query.count
        rows = rows[: query.count]
        return HistoryPage([_stored(r) for r in rows], rows[-1].id if more and rows else None)

    def prepare(self, writes: Sequence[Write]) -> None:
        # CPU work outside the write lock: on SQLite one writer at a time holds it.
        for w in writes:
            if w.resource is not None and _PREPARED not in w.derived:
                w.derived[_PREPARED] = self.indexer.prepare(w.res_type, w.resource)

    def snapshot(self, work: Callable[[FhirUnitOfWork], T]) -> T:
        with self.engine.connect() as conn:
            return work(SqlUnitOfWork(conn, self.indexer, read_only=True))

    def atomic(self, work: Callable[[FhirUnitOfWork], T]) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with write_transaction(self.engine) as conn:
                    return work(SqlUnitOfWork(conn, self.indexer))
            except IntegrityError:
                # A concurrent transaction created the same Type/id first: run again, the
                # retry sees it and updates instead.
                if attempt == MAX_ATTEMPTS:
                    raise
            except DBAPIError as exc:
                sqlstate = getattr(exc.orig, "sqlstate", None)
                if sqlstate not in _RETRY_SQLSTATES or attempt == MAX_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")
