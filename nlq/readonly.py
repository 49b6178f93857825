"""Asking never writes: a read-only transaction with a statement timeout, always rolled back.

PostgreSQL: SET TRANSACTION READ ONLY and SET LOCAL statement_timeout. SQLite: PRAGMA query_only and a
progress handler that interrupts a statement past the deadline. Both are undone before the connection
goes back to the pool.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

DEFAULT_TIMEOUT_S = 5.0


class QueryTimeout(Exception):
    pass


@contextmanager
def read_only(session: Session, timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Run the body in a fresh read-only transaction of `session`, rolled back at the end.

    The session must hold no pending changes (they would be lost): that is a caller's bug, so it raises.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("ask() needs a session without pending changes")
    session.rollback()
    conn = session.connection()
    dialect = conn.dialect.name
    raw = None
    try:
        if dialect == "postgresql":
            session.execute(text("SET TRANSACTION READ ONLY"))
            session.execute(text(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}"))
        elif dialect == "sqlite":
            raw = conn.connection.driver_connection
            deadline = time.monotonic() + timeout_s
            raw.execute("PRAGMA query_only = ON")
            raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 2000)
        try:
            yield
        except OperationalError as exc:
            if is_timeout(exc):
                raise QueryTimeout(str(exc.orig)) from exc
            raise
    finally:
        if raw is not None:
            raw.set_progress_handler(None, 0)
            raw.execute("PRAGMA query_only = OFF")
        session.rollback()


def is_timeout(exc: OperationalError) -> bool:
    msg = str(exc.orig).lower()
    return "interrupted" in msg or "statement timeout" in msg or "canceling statement" in msg
