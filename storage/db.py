"""Engine and session factory. Nothing connects at import time."""

from __future__ import annotations

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


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # pysqlite's own transaction handling defers BEGIN; take control so that
            # a writer can BEGIN IMMEDIATE (one writer on SQLite, see storage/claims.py).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # connect_timeout: a database that accepts TCP but never answers must fail fast, so the callback can
    # answer 503 inside WeCom's 5 s and WeCom retries later (tests/scaled/test_outages.py)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=20,
        pool_pre_ping=True,
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
