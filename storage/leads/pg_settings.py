"""A PostgreSQL planner or memory setting for the statements of one pass, restored afterwards: `SET LOCAL`
would keep it for the rest of the caller's transaction (the lead scan's timer goes on to other statements)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session


@contextmanager
def local_settings(session: Session, **settings: str) -> Iterator[None]:
    """`with local_settings(s, work_mem="64MB", enable_mergejoin="off"):` — on PostgreSQL only (a no-op
    elsewhere); each setting is back to its value before when the block ends (an error ends the transaction)."""
    if session.get_bind().dialect.name != "postgresql" or not settings:
        yield
        return
    before = {
        name: session.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar_one()
        for name in settings
    }
    for name, value in settings.items():
        session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    yield
    for name, value in before.items():
        session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
