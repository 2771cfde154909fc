"""common.db.ThreadConnections: per-thread autocommit SQLite connections for reads by id."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from common import db
from common.db import ThreadConnections, is_sqlite_file, make_engine, write_transaction


def test_one_connection_per_thread_that_sees_every_commit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    threads = ThreadConnections(engine)
    mine = threads.get()
    assert threads.get() is mine
    assert mine.execute("SELECT max(v) FROM t").fetchone() == (1,)
    # No snapshot is held between statements: a later commit is visible at once.
    with write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert mine.execute("SELECT max(v) FROM t").fetchone() == (2,)
    assert mine.execute("PRAGMA foreign_keys").fetchone() == (1,)  # the engine's pragmas
    other: list[object] = []
    worker = threading.Thread(target=lambda: other.append(threads.get()))
    worker.start()
    worker.join()
    assert other and other[0] is not mine
    engine.dispose()


def test_a_forked_process_opens_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    threads = ThreadConnections(engine)
    parent = threads.get()
    pid = db.os.getpid()
    monkeypatch.setattr(db.os, "getpid", lambda: pid + 1)
    assert threads.get() is not parent
    engine.dispose()


def test_only_sqlite_files_qualify(tmp_path: Path) -> None:
    assert is_sqlite_file(make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}"))
    assert not is_sqlite_file(create_engine("sqlite://"))
    assert not is_sqlite_file(create_engine("sqlite:///:memory:"))


def test_writers_checkpoint_after_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Automatic checkpoints are off only while write_transaction holds the connection; the
    # rows it commits count towards a PASSIVE checkpoint run after the writer queue is free.
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}", pool_size=1)
    monkeypatch.setattr(db, "_CHECKPOINT_ROWS", 50)
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    queue = db._queue(str(tmp_path / "x.sqlite"))
    with write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (:v)"), [{"v": i} for i in range(30)])
    assert queue._rows_since_checkpoint == 30
    with write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (:v)"), [{"v": i} for i in range(30)])
    assert queue._rows_since_checkpoint == 0  # 60 >= 50: checkpointed, counter reset
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("rolled back")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 60
    engine.dispose()
