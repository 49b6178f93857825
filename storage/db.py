"""Engine and session factory. Nothing connects at import time."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.files import private_dir, private_file, tighten


def _private_sqlite_file(url: str) -> None:
    """A SQLite database file is created 0600 (its folder 0700 when we make it) before SQLite opens it, and an
    existing one with its -wal and -shm loses group and other access: SQLite gives the -wal and -shm it
    creates the database file's mode, so they are private too."""
    u = make_url(url)
    path = u.database
    if not path or path == ":memory:" or path.startswith("file:") or u.query.get("uri") in ("true", "1"):
        return
    private_dir(Path(path).parent)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(path + suffix)


BUSY_TIMEOUT_S = 30.0  # SQLite's busy handler (writers of other processes) and the in-process queue alike


class WriteQueue:
    """The in-process queue of one SQLite database file's writers: a lock taken before BEGIN IMMEDIATE and
    given back right after the COMMIT or ROLLBACK, so writers of one process hand the write lock to each
    other at once, in turn, instead of each sleeping in SQLite's busy handler on its fixed back-off schedule
    (1, 2, 5, 10 … 100 ms between retries). Writers of other processes still meet SQLite's own lock and its
    busy timeout. `waiting` counts the writers queued now (tests and benches read it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self.waiting = 0

    def acquire(self, timeout: float) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        with self._count:
            self.waiting += 1
        try:
            return self._lock.acquire(timeout=timeout)
        finally:
            with self._count:
                self.waiting -= 1

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


_QUEUES: dict[str, WriteQueue] = {}
_QUEUES_LOCK = threading.Lock()


def write_queue(path: str) -> WriteQueue:
    """The one queue of this process for the SQLite file at `path` (every engine on that file shares it)."""
    key = os.path.realpath(path)
    with _QUEUES_LOCK:
        if key not in _QUEUES:
            _QUEUES[key] = WriteQueue()
        return _QUEUES[key]


def _forget_queues() -> None:  # a forked child must not inherit a lock held by a thread it does not have
    global _QUEUES_LOCK
    _QUEUES.clear()
    _QUEUES_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_queues)


class QueuedWriterConnection(sqlite3.Connection):
    """A pysqlite connection whose write transactions wait in the file's WriteQueue (see `begin`)."""

    write_queue: WriteQueue | None = None
    _holds_queue = False

    def begin(self, mode: str = "DEFERRED") -> None:
        """BEGIN a transaction; IMMEDIATE and EXCLUSIVE (the writers) first wait their turn in the queue."""
        mode = mode.upper()
        queue = self.write_queue
        if queue is not None and mode in ("IMMEDIATE", "EXCLUSIVE") and not self._holds_queue:
            if not queue.acquire(BUSY_TIMEOUT_S):
                raise sqlite3.OperationalError("database is locked (in-process writer queue)")
            self._holds_queue = True
        try:
            self.execute(f"BEGIN {mode}")
        except BaseException:
            self._give_back()
            raise

    def _give_back(self) -> None:
        if self._holds_queue and not self.in_transaction:
            self._holds_queue = False
            assert self.write_queue is not None
            self.write_queue.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holds_queue:
                self._holds_queue = False
                assert self.write_queue is not None
                self.write_queue.release()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        u = make_url(url)
        path = u.database
        queue = (
            write_queue(path)
            if path and path != ":memory:" and not path.startswith("file:") and u.query.get("uri") is None
            else None
        )
        engine = create_engine(
            url,
            connect_args={
                "timeout": BUSY_TIMEOUT_S,
                "check_same_thread": False,
                "factory": QueuedWriterConnection,
            },
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")  # other processes' writers
            cur.close()
            # pysqlite's own transaction handling defers BEGIN; take control so that
            # a writer can BEGIN IMMEDIATE (one writer on SQLite, see storage/claims.py).
            dbapi_conn.isolation_level = None
            dbapi_conn.write_queue = queue

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.connection.dbapi_connection.begin(mode)

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # connect_timeout: a database that accepts TCP but never answers must fail fast, so the callback can
    # answer 503 inside WeCom's 5 s and WeCom retries later (tests/scaled/test_outages.py)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=20,
        # No pre-ping (a round trip per checkout, two per event): a connection the server dropped fails its
        # first statement, SQLAlchemy sees a disconnect error and invalidates the whole pool (every
        # connection older than the failure is replaced at its next checkout), and the work is retried:
        # the callback answers 503 and WeCom retries (tests/scaled/test_outages.py), the worker backs off.
        # pool_recycle replaces connections before a firewall or server idle timeout cuts them silently.
        pool_recycle=300,
        pool_timeout=2,
        connect_args={"connect_timeout": 2},
    )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def writer_session(factory: sessionmaker[Session]) -> Session:
    """A session whose transaction takes the SQLite write lock up front (BEGIN IMMEDIATE).

    On PostgreSQL this is an ordinary session; row claims there use FOR UPDATE SKIP LOCKED.
    """
    session = factory()
    if is_sqlite(session.get_bind()):
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
    return session
