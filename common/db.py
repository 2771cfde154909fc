"""Database engines for the embedded default (SQLite, WAL) and production (PostgreSQL).

Every component's SQL adapter takes an ``Engine`` from here; dialect differences that are not
about one component's schema live in this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded SQLite default."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine with the settings this project relies on for either dialect."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per thread and request; SQLite connections are cheap and the
        # gunicorn workers are separate processes, so no cross-process pool is possible.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size * 2,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that a
        # transaction that starts with a read holds its snapshot (and BEGIN IMMEDIATE is possible).
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # No pre-ping: it costs a round trip on every checkout (the hottest read is one SELECT);
    # connections are recycled instead, and a dropped one fails one request, not silently.
    return create_engine(url, pool_recycle=1800, pool_size=pool_size, max_overflow=pool_size * 2)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # autocommit at the driver; SQLAlchemy's "begin" emits BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front (see write_transaction): a deferred transaction that reads
    # and then writes fails with SQLITE_BUSY, without waiting, when another writer committed.
    if conn.get_execution_options().get("immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


class ThreadConnections:
    """One DB-API connection per thread (and process) for single-statement reads on SQLite.

    The connection is in autocommit (see _sqlite_pragmas), so each statement is its own read
    transaction and sees the latest commit, as a fresh pooled connection would; skipping the
    pool checkout, BEGIN and ROLLBACK takes about half of a read by id's database time.
    The connections live as long as their thread (gunicorn's threads live as long as the
    worker); they are not for writes or multi-statement snapshots.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()

    def get(self) -> Any:
        """This thread's connection (opened, with the engine's connect-time pragmas, on first
        use in the thread and again after a fork)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            proxied = self.engine.raw_connection()
            proxied.detach()  # ours for the thread's lifetime, never back to the pool
            local.proxied, local.conn, local.pid = proxied, proxied.dbapi_connection, os.getpid()
            conn = local.conn
        return conn


def is_sqlite_file(engine: Engine) -> bool:
    """SQLite on a file (not ``:memory:``, where every connection is another database)."""
    database = engine.url.database
    return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"


class _WriterQueue:
    """Queues the writers of one SQLite database across threads and processes.

    SQLite's busy handler polls with sleeps of up to 100 ms, which under concurrent writers
    (gunicorn workers, loader processes) costs throughput and gives 100+ ms tail latencies. A
    blocking ``flock`` on a file beside the database wakes the next writer as soon as the
    previous one commits. Writers that do not come through here still work: they fall back to
    SQLite's own locking.
    """

    def __init__(self, database: str) -> None:
        self.path = database + "-writer.lock"
        self._lock = threading.RLock()
        self._depth = threading.local()
        self._fd: int | None = None
        self._pid = 0
        self._rows_since_checkpoint = 0

    def written(self, rows: int) -> bool:
        """Count rows committed by this process; True when a checkpoint is due."""
        with self._lock:
            self._rows_since_checkpoint += rows
            if self._rows_since_checkpoint < _CHECKPOINT_ROWS:
                return False
            self._rows_since_checkpoint = 0
            return True

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._lock:
            depth = getattr(self._depth, "n", 0)
            if depth == 0:
                if self._pid != os.getpid():  # after fork: our own open file description
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                    self._pid = os.getpid()
                assert self._fd is not None
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth.n = depth + 1
            try:
                yield
            finally:
                self._depth.n = depth
                if depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)


_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default, for connections outside write_transaction
_CHECKPOINT_ROWS = 20_000  # rows written per process between checkpoints (about 1000 pages)
_QUEUES: dict[str, _WriterQueue] = {}
_QUEUES_LOCK = threading.Lock()


def _queue(database: str) -> _WriterQueue:
    with _QUEUES_LOCK:
        if database not in _QUEUES:
            _QUEUES[database] = _WriterQueue(database)
        return _QUEUES[database]


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """``with write_transaction(engine) as conn:`` a transaction that will write.

    On SQLite it queues behind the other writers of the same file (see _WriterQueue) and takes
    the write lock at BEGIN; on PostgreSQL it is an ordinary transaction.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        with engine.execution_options(immediate=True).begin() as conn:
            yield conn
        return
    queue = _queue(database)
    with engine.execution_options(immediate=True).connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        # The connection that commits runs SQLite's automatic checkpoint (every 1000 WAL
        # pages) inside the commit, that is while the writer queue waits on it (tens of ms for
        # a bundle). Our writers checkpoint after releasing the queue instead; a PASSIVE
        # checkpoint runs beside other writers and readers.
        raw.execute("PRAGMA wal_autocheckpoint=0")
        try:
            changes = raw.total_changes
            with queue.hold(), conn.begin():
                yield conn
            if queue.written(raw.total_changes - changes):
                raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            raw.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")


class PreparedRead:
    """A SELECT compiled once for the engine's dialect, for the hottest single-row reads
    (FHIR read by id, the token revocation lookup).

    SQLAlchemy's statement cache still builds a cache key per execution and its Connection
    keeps per-statement bookkeeping; here the statement is compiled once and run on the
    driver: on a SQLite file on this thread's own autocommit connection (ThreadConnections:
    no pool checkout, BEGIN or ROLLBACK), on PostgreSQL on a pooled psycopg connection in
    autocommit (no BEGIN/ROLLBACK round trips). Each read sees the latest commit.
    """

    def __init__(self, engine: Engine, stmt: Any) -> None:
        self.engine = engine
        compiled = stmt.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._order: list[str] = list(compiled.positiontup or [])
        self._postgres = engine.dialect.name == "postgresql"
        self._threads = ThreadConnections(engine) if is_sqlite_file(engine) else None

    def first(self, **params: Any) -> Any:
        """The first row (a DB-API tuple) for these bind parameters, or None."""
        args: Any = tuple(params[n] for n in self._order) if self._order else params
        if self._threads is not None:
            return self._threads.get().execute(self._sql, args).fetchone()
        if self._postgres:
            return self._first_autocommit(args)
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(self._sql, args).first()

    def _first_autocommit(self, args: Any) -> Any:
        proxied = self.engine.raw_connection()
        try:
            driver: Any = proxied.driver_connection  # psycopg.Connection
            driver.autocommit = True
            try:
                with driver.cursor() as cur:
                    cur.execute(self._sql, args)
                    return cur.fetchone()
            finally:
                driver.autocommit = False
        except BaseException:
            proxied.invalidate()  # in an unknown state: never back to the pool
            raise
        finally:
            proxied.close()
