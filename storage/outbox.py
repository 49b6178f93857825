"""Writing and claiming outbox rows. Sending them is bot/sender.py's job."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import OutboxRow

REPLY_PREFIX = "in:"  # dedupe keys of answers to what someone just said: sent before alerts


def is_reply(row: OutboxRow) -> bool:
    return row.dedupe_key.startswith(REPLY_PREFIX)


def enqueue(session: Session, *, recipient: str, message: dict[str, Any], dedupe_key: str,
            now: datetime, not_before: datetime | None = None) -> bool:
    """Add one outgoing message to the current transaction. A repeated dedupe_key is a no-op.

    `message` is a handlers.types.Reply as dict (`reply.to_dict()`), or an API call such as a
    calendar schedule (`{"kind": "schedule_add", ...}`). Returns True when a row was added.
    """
    return enqueue_id(session, recipient=recipient, message=message, dedupe_key=dedupe_key, now=now,
                      not_before=not_before) is not None


def enqueue_id(session: Session, *, recipient: str, message: dict[str, Any], dedupe_key: str,
               now: datetime, not_before: datetime | None = None) -> int | None:
    """`enqueue` returning the new row's id (None when the dedupe_key was already there)."""
    values = dict(dedupe_key=dedupe_key, recipient=recipient, kind=message["kind"], message=message,
                  status="pending", attempts=0, next_try_at=not_before or now, created_at=now)
    conn = session.connection()  # Core insert on the session's transaction (cheaper than the ORM path)
    row = conn.execute(_INSERT[conn.dialect.name == "postgresql"], values).first()
    return None if row is None else int(row[0])


# Built once: values go in as parameters, so the compiled statement is cached (a `.values(...)` per call
# spent most of a timer storm building cache keys).
_INSERT = {is_pg: (pg_insert if is_pg else sqlite_insert)(OutboxRow.__table__)
           .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(OutboxRow.__table__.c.id)
           for is_pg in (False, True)}


def anything_due(session: Session, *, now: datetime) -> bool:
    """A cheap, lock-free look: is a row due to be sent (or a sending lease expired)?"""
    q = select(OutboxRow.id).where(((OutboxRow.status == "pending") & (OutboxRow.next_try_at <= now))
                                   | ((OutboxRow.status == "sending") & (OutboxRow.lease_until < now))).limit(1)
    return session.scalar(q) is not None


def claim(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
    """Claim due pending rows (and rows whose sending lease expired) for this process.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so several relays share the work. SQLite: the caller's
    transaction holds the write lock (storage.db.writer_session), so there is one claimer at a time.
    """
    q = (select(OutboxRow)
         .where(((OutboxRow.status == "pending") & (OutboxRow.next_try_at <= now))
                | ((OutboxRow.status == "sending") & (OutboxRow.lease_until < now)))
         .order_by(case((OutboxRow.dedupe_key.like(f"{REPLY_PREFIX}%"), 0), else_=1), OutboxRow.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = list(session.scalars(q))
    if rows:
        session.execute(update(OutboxRow).where(OutboxRow.id.in_([r.id for r in rows]))
                        .values(status="sending", lease_until=now + lease))
    return rows
