"""Writing and claiming outbox rows. Sending them is bot/wecom/relay.py's job."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.db import RawStatement
from storage.models import OutboxRow, WeComPauseRow

REPLY_PREFIX = "in:"  # dedupe keys of answers to what someone just said: sent before alerts
REPLY_PREFIX_END = REPLY_PREFIX[:-1] + chr(ord(REPLY_PREFIX[-1]) + 1)  # "in;": the key range [in:, in;)


def is_reply(row: OutboxRow) -> bool:
    return row.dedupe_key.startswith(REPLY_PREFIX)


def enqueue(
    session: Session,
    *,
    recipient: str,
    message: dict[str, Any],
    dedupe_key: str,
    now: datetime,
    not_before: datetime | None = None,
) -> bool:
    """Add one outgoing message to the current transaction. A repeated dedupe_key is a no-op.

    `message` is a handlers.messages.Reply as dict (`reply.to_dict()`), or an API call such as a
    calendar schedule (`{"kind": "schedule_add", ...}`). Returns True when a row was added.
    """
    return (
        enqueue_id(
            session,
            recipient=recipient,
            message=message,
            dedupe_key=dedupe_key,
            now=now,
            not_before=not_before,
        )
        is not None
    )


def enqueue_id(
    session: Session,
    *,
    recipient: str,
    message: dict[str, Any],
    dedupe_key: str,
    now: datetime,
    not_before: datetime | None = None,
) -> int | None:
    """`enqueue` returning the new row's id (None when the dedupe_key was already there)."""
    values = row_values(
        recipient=recipient, message=message, dedupe_key=dedupe_key, now=now, not_before=not_before
    )
    conn = session.connection()  # Core insert on the session's transaction (cheaper than the ORM path)
    row = conn.execute(_INSERT[conn.dialect.name == "postgresql"], values).first()
    return None if row is None else int(row[0])


def row_values(
    *,
    recipient: str,
    message: dict[str, Any],
    dedupe_key: str,
    now: datetime,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """The outbox row of one enqueue (for enqueue_many)."""
    return dict(
        dedupe_key=dedupe_key,
        recipient=recipient,
        kind=message["kind"],
        message=message,
        status="pending",
        attempts=0,
        next_try_at=not_before or now,
        created_at=now,
    )


def enqueue_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Several enqueues (row_values) in one statement, in order; a repeated dedupe_key is a no-op. A timer
    chunk's messages: one round trip to PostgreSQL instead of one per message."""
    if rows:
        conn = session.connection()
        conn.execute(_INSERT_MANY[conn.dialect.name == "postgresql"], rows)


# Built once: values go in as parameters, so the compiled statement is cached (a `.values(...)` per call
# spent most of a timer storm building cache keys).
_INSERT_MANY = {
    is_pg: (pg_insert if is_pg else sqlite_insert)(OutboxRow.__table__).on_conflict_do_nothing(
        index_elements=["dedupe_key"]
    )
    for is_pg in (False, True)
}
_INSERT = {is_pg: stmt.returning(OutboxRow.__table__.c.id) for is_pg, stmt in _INSERT_MANY.items()}
_ROW_KEYS = ["dedupe_key", "recipient", "kind", "message", "status", "attempts", "next_try_at", "created_at"]
_INSERT_RAW = {is_pg: RawStatement(stmt, column_keys=_ROW_KEYS) for is_pg, stmt in _INSERT_MANY.items()}


def enqueue_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """`enqueue_many` on a Connection through a prepared statement (storage.db.RawStatement): the worker's
    per-event path (an event's replies, in one executemany)."""
    if rows:
        _INSERT_RAW[conn.dialect.name == "postgresql"].execute_many(conn, rows)


def anything_due(session: Session, *, now: datetime) -> bool:
    """A cheap, lock-free look: is a row due to be sent (or a sending lease expired)?"""
    q = (
        select(OutboxRow.id)
        .where(
            ((OutboxRow.status == "pending") & (OutboxRow.next_try_at <= now))
            | ((OutboxRow.status == "sending") & (OutboxRow.lease_until < now))
        )
        .limit(1)
    )
    return session.scalar(q) is not None


def claim(
    session: Session, *, now: datetime, limit: int, lease: timedelta, owner: str | None = None
) -> list[OutboxRow]:
    """Claim due rows for this process: answers to what someone just said first, then rows whose sending
    lease expired, then the rest, each oldest due first.

    Each of the three reads walks an index in order (no sort of the whole backlog: an alert storm of
    100,000 rows must not make every claim scan it). PostgreSQL: FOR UPDATE SKIP LOCKED, so several
    relays share the work. SQLite: the caller's transaction holds the write lock
    (storage.db.writer_session), so there is one claimer at a time.
    """
    pending = OutboxRow.status == "pending"
    reply_keys = (OutboxRow.dedupe_key >= REPLY_PREFIX) & (OutboxRow.dedupe_key < REPLY_PREFIX_END)
    queries = (
        # in key order: the (status, dedupe_key) index, not the status/due index SQLite would pick for
        # "oldest due first" and then filter through the whole storm; re-sorted below
        select(OutboxRow)
        .where(pending, reply_keys, OutboxRow.next_try_at <= now)
        .order_by(OutboxRow.dedupe_key),
        select(OutboxRow)
        .where(OutboxRow.status == "sending", OutboxRow.lease_until < now)
        .order_by(OutboxRow.id),
        select(OutboxRow)
        .where(pending, OutboxRow.next_try_at <= now)
        .order_by(OutboxRow.next_try_at, OutboxRow.id),
    )
    is_pg = session.get_bind().dialect.name == "postgresql"
    rows: dict[int, OutboxRow] = {}
    for q in queries:
        if len(rows) >= limit:
            break
        q = q.limit(limit)  # the last read may return rows the first took: ask for a full batch
        if is_pg:
            q = q.with_for_update(skip_locked=True)
        for r in session.scalars(q):
            if len(rows) < limit:
                rows.setdefault(r.id, r)
    claimed = list(rows.values())
    replies = sorted((r for r in claimed if is_reply(r)), key=lambda r: (r.next_try_at, r.id))
    claimed = replies + [r for r in claimed if not is_reply(r)]
    if claimed:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(list(rows)))
            .values(status="sending", lease_until=now + lease, claimed_by=owner)
        )
    return claimed


# -- the pause: WeCom refuses the app's configuration, so nobody is sent anything until a probe passes ------
PAUSE_SCOPE = "send"


def current_pause(session: Session) -> WeComPauseRow | None:
    return session.get(WeComPauseRow, PAUSE_SCOPE)


def start_pause(
    session: Session, *, errcode: int, errmsg: str, now: datetime, next_probe_at: datetime
) -> bool:
    """Record that sending is paused (in the caller's transaction). True when this call started the pause;
    an existing pause keeps its start and first errcode (several relays may meet the error at once)."""
    table = WeComPauseRow.__table__
    conn = session.connection()
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
    row = conn.execute(
        ins.on_conflict_do_nothing(index_elements=["scope"]).returning(table.c.scope),
        {
            "scope": PAUSE_SCOPE,
            "errcode": errcode,
            "errmsg": errmsg[:500],
            "since": now,
            "next_probe_at": next_probe_at,
            "probes": 0,
        },
    ).first()
    return row is not None


def extend_pause(session: Session, *, next_probe_at: datetime, errcode: int, errmsg: str) -> int:
    """A probe failed: count it and book the next one. Returns the probes made so far."""
    pause = session.get(WeComPauseRow, PAUSE_SCOPE)
    if pause is None:
        return 0
    pause.probes += 1
    pause.next_probe_at = next_probe_at
    pause.errcode, pause.errmsg = errcode, errmsg[:500]
    return pause.probes


def end_pause(session: Session) -> WeComPauseRow | None:
    """Sending works again: remove the pause. Returns it when this call removed it (else None)."""
    pause = session.get(WeComPauseRow, PAUSE_SCOPE)
    if pause is None:
        return None
    gone = session.execute(
        delete(WeComPauseRow).where(WeComPauseRow.scope == PAUSE_SCOPE, WeComPauseRow.since == pause.since)
    ).rowcount
    return pause if gone else None


def renew_leases(session: Session, *, owner: str, until: datetime) -> int:
    """The heartbeat of a relay round: every row `owner` is still sending keeps its claim until `until`."""
    ours = select(OutboxRow.id).where(OutboxRow.status == "sending", OutboxRow.claimed_by == owner)
    if session.get_bind().dialect.name == "postgresql":  # a row locked by the work itself is not waited for
        ours = ours.with_for_update(skip_locked=True)
    return session.execute(
        update(OutboxRow).where(OutboxRow.id.in_(ours.scalar_subquery())).values(lease_until=until),
        execution_options={"synchronize_session": False},
    ).rowcount
