"""The inbox: accepted callbacks, committed before the 200, claimed in order per sender."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, and_, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from storage.leases import LEASE
from storage.models import InboxRow

MAX_ATTEMPTS = 5  # failed attempts (backing off 1, 2, 4, 8 s) before an event is parked as `failed`


def put(
    session: Session, *, dedupe_key: str, sender: str, kind: str, event: dict[str, Any], now: datetime
) -> bool:
    """Insert one event in the session's transaction; a duplicate dedupe_key is a no-op. True when new."""
    return store(session.connection(), dedupe_key=dedupe_key, sender=sender, kind=kind, event=event, now=now)


_INSERTS: dict[str, Any] = {}


def _insert_for(dialect: str):  # noqa: ANN202
    """One prebuilt INSERT … ON CONFLICT DO NOTHING RETURNING id per dialect (compiled once, cached)."""
    if dialect not in _INSERTS:
        table = InboxRow.__table__
        ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        _INSERTS[dialect] = ins.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    return _INSERTS[dialect]


def store(
    conn: Connection, *, dedupe_key: str, sender: str, kind: str, event: dict[str, Any], now: datetime
) -> bool:
    """The callback's hot path: a Core insert on a plain connection, no ORM session. True when new."""
    row = conn.execute(
        _insert_for(conn.dialect.name),
        {
            "dedupe_key": dedupe_key,
            "sender": sender,
            "kind": kind,
            "event": event,
            "received_at": now,
            "status": "new",
            "attempts": 0,
        },
    ).first()
    return row is not None


_COLUMNS = ("dedupe_key", "sender", "kind", "event", "received_at", "status", "attempts")
_RAW: weakref.WeakKeyDictionary[
    Dialect, tuple[str, tuple[str, ...] | None, dict[str, Callable[[Any], Any]]]
] = weakref.WeakKeyDictionary()


def _raw_insert_for(dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Callable[[Any], Any]]]:
    """The same INSERT as `store`, compiled once to the driver's SQL, with SQLAlchemy's own bind processors
    for each column (JSON serialisation, the UTC datetime type): rows read back exactly as `store` writes them."""
    if dialect not in _RAW:
        compiled = _insert_for(dialect.name).compile(dialect=dialect, column_keys=list(_COLUMNS))
        order = tuple(compiled.positiontup) if compiled.positional else None
        table = InboxRow.__table__
        procs = {
            name: proc
            for name in _COLUMNS
            if (proc := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        _RAW[dialect] = (compiled.string, order, procs)
    return _RAW[dialect]


def store_committed(
    engine: Engine, *, dedupe_key: str, sender: str, kind: str, event: dict[str, Any], now: datetime
) -> bool:
    """`store` in its own transaction, committed when this returns. True when new."""
    return store_many_committed(
        engine, [{"dedupe_key": dedupe_key, "sender": sender, "kind": kind, "event": event, "now": now}]
    )[0]


# PostgreSQL: a stored callback notifies this channel; delivered at commit, and only then
INBOX_CHANNEL = "wsa_inbox"
NOTIFY_SQL = f"SELECT pg_notify('{INBOX_CHANNEL}', '')"


def store_many_committed(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
    """`store` for each row (keys: dedupe_key, sender, kind, event, now), all in one transaction, committed
    when this returns: the callback's hot path (it groups the callbacks that arrive together). For each
    row, True when new; a dedupe_key repeated within `rows` is stored once, like one arriving later.

    The inserts run on a pooled DBAPI connection (checkout, pre-ping and invalidation stay the pool's):
    SQLAlchemy's per-statement machinery costs several times the insert itself. A database error comes out
    as SQLAlchemy's DBAPIError (parameters hidden: they hold messages), after a rollback: nothing stored.
    """
    sql, order, procs = _raw_insert_for(engine.dialect)
    batch: list[Any] = []
    for row in rows:
        values = {
            "dedupe_key": row["dedupe_key"],
            "sender": row["sender"],
            "kind": row["kind"],
            "event": row["event"],
            "received_at": row["now"],
            "status": "new",
            "attempts": 0,
        }
        for name, proc in procs.items():
            values[name] = proc(values[name])
        batch.append(tuple(values[name] for name in order) if order is not None else values)
    sqlite = engine.dialect.name == "sqlite"
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        dbc = (
            engine.raw_connection()
        )  # a pool timeout is an SQLAlchemy error already; a failed connect is not
    except dbapi_error as exc:
        raise DBAPIError.instance(
            None, None, exc, dbapi_error, hide_parameters=True, dialect=engine.dialect
        ) from exc
    cursor = None
    try:
        cursor = dbc.cursor()
        if sqlite:  # the connection is in autocommit mode (storage/db.py): the transaction is ours
            cursor.execute("BEGIN")
        new = []
        for params in batch:
            cursor.execute(sql, params)
            new.append(cursor.fetchall() != [])
        if not sqlite and any(new):  # wakes `worker` processes at the commit (bot.beat.listen_for_inbox)
            cursor.execute(NOTIFY_SQL)
        dbc.commit()
        return new
    except dbapi_error as exc:
        invalidated = engine.dialect.is_disconnect(exc, dbc.dbapi_connection, cursor)
        if not invalidated:
            try:
                dbc.rollback()
            except dbapi_error:
                invalidated = True
        if invalidated:
            dbc.invalidate(exc)
        raise DBAPIError.instance(
            sql,
            None,
            exc,
            dbapi_error,
            hide_parameters=True,
            connection_invalidated=invalidated,
            dialect=engine.dialect,
        ) from exc
    finally:
        if cursor is not None:
            try:
                cursor.close()
            except dbapi_error:
                pass
        dbc.close()  # back to the pool, which rolls back anything left open


def anything_waiting(session: Session) -> bool:
    """A cheap, lock-free look (index on status): is any event new or being processed?"""
    return (
        session.scalar(select(InboxRow.id).where(InboxRow.status.in_(("new", "processing"))).limit(1))
        is not None
    )


def _claimable(now: datetime):
    earlier = aliased(InboxRow)
    due_new = and_(InboxRow.status == "new", (InboxRow.next_try_at.is_(None)) | (InboxRow.next_try_at <= now))
    stale = and_(InboxRow.status == "processing", InboxRow.lease_until < now)
    blocked = exists().where(
        earlier.sender == InboxRow.sender, earlier.id < InboxRow.id, earlier.status.in_(("new", "processing"))
    )
    return (due_new | stale) & ~blocked


def claim(
    session: Session, *, now: datetime, owner: str, limit: int = 50, lease: timedelta = LEASE
) -> list[int]:
    """Claim the oldest unfinished event of up to `limit` senders (one each, so each sender's
    events are handled in order). Returns inbox ids; the caller commits the claim."""
    q = select(InboxRow.id).where(_claimable(now)).order_by(InboxRow.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    ids = list(session.scalars(q))
    if ids:
        session.execute(
            update(InboxRow)
            .where(InboxRow.id.in_(ids))
            .values(status="processing", lease_until=now + lease, claimed_by=owner)
        )
    return ids


def release_claims(session: Session, *, owner: str) -> int:
    """Give back every row `owner` still holds (its round broke off, say the database went away): they
    are claimable again at once instead of after the lease. Their half-done work was rolled back."""
    return session.execute(
        update(InboxRow)
        .where(InboxRow.status == "processing", InboxRow.claimed_by == owner)
        .values(status="new", lease_until=None, claimed_by=None)
    ).rowcount


def renew_leases(session: Session, *, owner: str, until: datetime) -> int:
    """The worker's heartbeat: every row `owner` still holds keeps its claim until `until`."""
    ours = select(InboxRow.id).where(InboxRow.status == "processing", InboxRow.claimed_by == owner)
    if session.get_bind().dialect.name == "postgresql":  # a row locked by the work itself is not waited for
        ours = ours.with_for_update(skip_locked=True)
    return session.execute(
        update(InboxRow).where(InboxRow.id.in_(ours.scalar_subquery())).values(lease_until=until),
        execution_options={"synchronize_session": False},
    ).rowcount


def defer(session: Session, *, inbox_id: int, until: datetime, error: str) -> None:
    """Put an event back without charging it an attempt: it failed for a reason outside it (WeCom refuses
    the app's configuration), and is tried again at `until`."""
    row = session.get(InboxRow, inbox_id)
    if row is None:
        return
    row.status, row.next_try_at, row.last_error = "new", until, error[:2000]
    row.lease_until = row.claimed_by = None


def load_claimed(session: Session, *, inbox_id: int, owner: str) -> InboxRow | None:
    """The row, locked, if this owner still holds its claim (a lease may have expired and moved on)."""
    q = select(InboxRow).where(
        InboxRow.id == inbox_id, InboxRow.status == "processing", InboxRow.claimed_by == owner
    )
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return session.scalars(q).first()


def mark_done(row: InboxRow, *, now: datetime) -> None:
    row.status = "done"
    row.processed_at = now
    row.lease_until = None


def mark_failed_attempt(session: Session, *, inbox_id: int, now: datetime, error: str) -> str:
    """Record a failed attempt: back off (1, 2, 4, 8 s …), then park as `failed` — visible, never dropped."""
    row = session.get(InboxRow, inbox_id)
    if row is None:
        return "missing"
    row.attempts += 1
    row.last_error = error[:2000]
    row.lease_until = None
    row.claimed_by = None
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
    else:
        row.status = "new"
        row.next_try_at = now + timedelta(seconds=2 ** (row.attempts - 1))
    return row.status
