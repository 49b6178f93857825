"""Engine and session factory. Nothing connects at import time."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from storage.files import PRIVATE_FILE, private_dir, tighten


def _private_sqlite_file(url: str) -> None:
    """A SQLite database file is created 0600 (its folder 0700 when we make it) before SQLite opens it, and an
    existing one with its -wal and -shm loses group and other access: SQLite gives the -wal and -shm it
    creates the database file's mode, so they are private too."""
    u = make_url(url)
    path = u.database
    if not path or path == ":memory:" or path.startswith("file:") or u.query.get("uri") in ("true", "1"):
        return
    private_dir(Path(path).parent)
    # Never open an existing database file here: closing any descriptor of it drops every POSIX lock this
    # process holds on it, SQLite's included (fcntl locks belong to the process and the inode). Another
    # process closing the database next then believes it is the last one, checkpoints and deletes the -wal
    # and -shm under our live connections: "disk I/O error" and "database disk image is malformed" (the
    # demo's ticks failed so whenever `ask`, `import` or sqlite3 touched its database; the callback's own
    # engine is made while the worker's connections are open). So: create it only when it is missing.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass
    for suffix in ("", "-wal", "-shm", "-journal"):
        tighten(path + suffix)


BUSY_TIMEOUT_S = 30.0  # SQLite's busy handler (writers of other processes) and the in-process queue alike


class WriteQueue:
    """The in-process queue of one SQLite database file's writers: a lock taken before BEGIN IMMEDIATE and
    given back right after the COMMIT or ROLLBACK, so writers of one process hand the write lock to each
    other at once, in turn, instead of each sleeping in SQLite's busy handler on its fixed back-off schedule
    (1, 2, 5, 10 … 100 ms between retries). Writers of other processes still meet SQLite's own lock and its
    busy timeout. `waiting` counts the writers queued now (tests and benches read it).

    An `urgent` writer (the callback's inbox write, which WeCom's 5 s and the acknowledgment wait on) goes
    before every other writer waiting: the worker's and the relay's transactions wait while one is queued."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._held = False
        self._urgent = 0  # urgent writers waiting
        self.waiting = 0

    def acquire(self, timeout: float, *, urgent: bool = False) -> bool:
        def free() -> bool:
            return not self._held and (urgent or not self._urgent)

        with self._cond:
            if not free():
                self.waiting += 1
                self._urgent += urgent
                try:
                    if not self._cond.wait_for(free, timeout):
                        return False
                finally:
                    self.waiting -= 1
                    self._urgent -= urgent
            self._held = True
            return True

    def release(self) -> None:
        with self._cond:
            if not self._held:
                raise RuntimeError("release of a write queue that is not held")
            self._held = False
            self._cond.notify_all()

    def locked(self) -> bool:
        return self._held


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
    urgent = False  # its writers go first in the queue (the callback's engine: bot/wecom/callback.py)
    _holds_queue = False

    def begin(self, mode: str = "DEFERRED") -> None:
        """BEGIN a transaction; IMMEDIATE and EXCLUSIVE (the writers) first wait their turn in the queue."""
        mode = mode.upper()
        queue = self.write_queue
        if queue is not None and mode in ("IMMEDIATE", "EXCLUSIVE") and not self._holds_queue:
            if not queue.acquire(BUSY_TIMEOUT_S, urgent=self.urgent):
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
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=20,
        # No pre-ping on every checkout (a round trip each, two per event on the hot path). A connection
        # the server dropped while in use fails its statement, SQLAlchemy sees a disconnect error and
        # invalidates the whole pool (every connection older than the failure is replaced at its next
        # checkout; the prepared per-event paths do the same), and the work is retried: the callback
        # answers 503 and WeCom retries (tests/scaled/test_outages.py), the worker backs off. Only a
        # connection that sat in the pool longer than IDLE_PING_S is pinged when checked out (below): a busy
        # worker never waits for it, and a reader after a quiet spell (a restart) gets a fresh connection.
        # pool_recycle replaces connections before a firewall or server idle timeout cuts them silently.
        pool_recycle=300,
        pool_use_lifo=True,  # the most recently used connection first: the others idle (and get pinged)
        pool_timeout=2,
        connect_args={"connect_timeout": 2},
    )

    @event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_conn, record):  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):  # noqa: ANN001
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since > IDLE_PING_S:
            try:
                engine.dialect.do_ping(dbapi_conn)
            except Exception as exc:  # the pool connects afresh (SQLAlchemy retries a DisconnectionError)
                raise DisconnectionError(f"idle connection found dead: {exc}") from exc

    return engine


IDLE_PING_S = 5.0  # a pooled PostgreSQL connection idle longer than this is pinged at checkout


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


# --- the worker's per-event path: prepared statements on a held connection ----------------------------------


_REQUIRED = object()  # a RawStatement parameter the caller must give


class RawStatement:
    """A Core statement compiled once per dialect to the driver's SQL, with SQLAlchemy's own bind and
    result processors (JSON, the UTC datetime type, booleans), run on the DBAPI cursor of a Connection, in
    its transaction. SQLAlchemy's execution machinery costs ten to twenty times the statement itself on
    SQLite; this is for the few fixed statements of every event. No expanding (IN-list) parameters. A
    database error comes out as SQLAlchemy's DBAPIError (parameters hidden), and a disconnect invalidates the
    connection and the pool, as SQLAlchemy's own execution does."""

    def __init__(self, statement: Any, *, column_keys: list[str] | None = None):
        self.statement = statement
        self.column_keys = column_keys  # an INSERT's columns (the others take their defaults)
        self._compiled: dict[str, tuple[str, bool, list[tuple[str, str | None, Any, Any]], list]] = {}

    def _for(self, dialect: Any) -> tuple[str, bool, list[tuple[str, str | None, Any, Any]], list]:
        """(SQL, positional, one (bind name, key in the caller's params or None, constant, processor) per
        parameter in the SQL's order, result processors). A bind with an anonymous key is a constant of
        the statement (`values(status="done")`); an INSERT's Python-side scalar default fills a column
        the caller leaves out."""
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
            defaults = {}
            for col in getattr(compiled, "insert_prefetch", ()) or ():
                if col.default is None or not col.default.is_scalar:
                    raise ValueError(f"RawStatement: column {col.key} needs a value")
                defaults[col.key] = col.default.arg
            names = compiled.positiontup if compiled.positional else list(compiled.binds)
            plan = []
            for name in names:
                bind = compiled.binds[name]
                proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if bind.key.startswith("%("):  # anonymous: a constant of the statement
                    plan.append((name, None, bind.value, proc))
                else:
                    plan.append((name, bind.key, defaults.get(bind.key, _REQUIRED), proc))
            results = [
                col.type.dialect_impl(dialect).result_processor(dialect, None)
                for col in (
                    *(getattr(self.statement, "selected_columns", None) or ()),
                    *(getattr(self.statement, "_returning", None) or ()),
                )
            ]
            found = (compiled.string, bool(compiled.positional), plan, results)
            self._compiled[dialect.name] = found
        return found

    @staticmethod
    def _values(plan: list[tuple[str, str | None, Any, Any]], given: dict[str, Any]) -> list[Any]:
        out = []
        for _name, key, const, proc in plan:
            if key is None:
                value = const
            else:
                value = given.get(key, const)
                if value is _REQUIRED:
                    raise KeyError(f"RawStatement: no value for {key}")
            out.append(proc(value) if proc is not None else value)
        return out

    def execute(self, conn: Any, params: dict[str, Any] | None = None) -> tuple[int, list[tuple[Any, ...]]]:
        """Run in `conn`'s transaction; returns (rowcount, rows), the rows' values processed."""
        return self._run(conn, [params or {}], many=False)

    def execute_many(self, conn: Any, params: list[dict[str, Any]]) -> int:
        """One executemany of the statement (no rows back); returns the rowcount."""
        if len(params) == 1:
            return self._run(conn, params, many=False)[0]
        return self._run(conn, params, many=True)[0] if params else 0

    def _run(
        self, conn: Any, params: list[dict[str, Any]], *, many: bool
    ) -> tuple[int, list[tuple[Any, ...]]]:
        from sqlalchemy.exc import DBAPIError

        dialect = conn.dialect
        sql, positional, plan, results = self._for(dialect)
        batch: list[Any] = []
        for given in params:
            values = self._values(plan, given)
            batch.append(
                tuple(values) if positional else {p[0]: v for p, v in zip(plan, values, strict=True)}
            )
        fairy = conn.connection
        dbapi_error = dialect.loaded_dbapi.Error
        cursor = fairy.dbapi_connection.cursor()
        if conn._has_events or conn.engine._has_events:  # counters, recorders (tests/bench/floor.py)
            for fn in conn.dispatch.before_cursor_execute:
                fn(conn, cursor, sql, batch if many else batch[0], None, many)
        try:
            if many:
                cursor.executemany(sql, batch)
                return cursor.rowcount, []
            cursor.execute(sql, batch[0])
            rows = cursor.fetchall() if cursor.description is not None else []
            count = cursor.rowcount
        except dbapi_error as exc:
            invalidated = dialect.is_disconnect(exc, fairy.dbapi_connection, cursor)
            if invalidated:
                conn.invalidate(exc)
                conn.engine.pool._invalidate(fairy, exc)  # as Connection._handle_dbapi_exception does
            raise DBAPIError.instance(
                sql,
                None,
                exc,
                dbapi_error,
                hide_parameters=True,
                connection_invalidated=invalidated,
                dialect=dialect,
            ) from exc
        finally:
            cursor.close()
        if rows and any(results):
            rows = [
                tuple(proc(v) if proc is not None else v for proc, v in zip(results, row, strict=False))
                for row in rows
            ]
        return count, rows


class LazySession:
    """An ORM Session on a Connection's current transaction, made on first use: an event whose handler never
    touches the session (most text replies) does not pay for one. Attribute access goes to the Session."""

    def __init__(self, conn: Any, attach: list[Any]):
        self._conn = conn
        self._attach = attach
        self._real: Session | None = None

    @property
    def made(self) -> bool:
        return self._real is not None

    def real(self) -> Session:
        if self._real is None:
            s = Session(bind=self._conn, expire_on_commit=False, join_transaction_mode="rollback_only")
            for obj in self._attach:
                s.add(obj)
            self._real = s
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)

    def get_bind(self, *args: Any, **kw: Any) -> Any:
        """The engine, as for a session made by the session factory: a caller that opens a session of its
        own on it (a question's read-only transaction) gets a connection of its own, not this one."""
        return self._conn.engine

    def finish(self) -> None:
        """Flush what the event changed (a detached row it loaded and changed gets a session now)."""
        from sqlalchemy import inspect

        if self._real is None and any(inspect(obj).modified for obj in self._attach):
            self.real()
        if self._real is not None:
            self._real.flush()

    def close(self) -> None:
        if self._real is not None:
            self._real.close()
            self._real = None


def loaded(cls: type, values: dict[str, Any]) -> Any:
    """An ORM object of `cls` with `values` as if freshly loaded by a query, not yet in a session (it joins
    the event's LazySession when that is made). Later changes to it are tracked and flushed."""
    from sqlalchemy.orm import class_mapper, make_transient_to_detached
    from sqlalchemy.orm.attributes import set_committed_value

    obj = class_mapper(cls).class_manager.new_instance()
    for key, value in values.items():
        set_committed_value(obj, key, value)
    make_transient_to_detached(obj)
    return obj


class EventWriter:
    """Per-event write transactions on one connection held across a batch (the worker's hot path): no pool
    checkout, reset and ORM session set-up per event. SQLite: each transaction is BEGIN IMMEDIATE and waits
    in the file's WriteQueue. Close it when the batch is done (or broke off)."""

    def __init__(self, factory: sessionmaker[Session]):
        self.engine: Engine = factory.kw["bind"]
        self._conn: Any = None

    def connection(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            if self._conn is not None:
                self._conn.close()
            conn = self.engine.connect()
            if is_sqlite(self.engine):
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
