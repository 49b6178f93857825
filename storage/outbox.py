"""Writing and claiming outbox rows. Sending them is bot/wecom/relay.py's job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.db import RawStatement
from storage.models import OutboxRow, WeComPauseRow

# Priority lanes (outbox.lane): the relay claims lane by lane, so a person's own conversation never waits
# behind alerts or digests queued for them or anyone else (docs/reliability.md §1.3 "Lanes").
LANE_REPLY = 0  # the answer to the person's own message or click (worker: recipient == the event's sender)
LANE_FOLLOWUP = 1  # a dialog follow-up: what someone's event causes for another person (the approval card)
LANE_BULK = 2  # alerts, SOP reminders, digests, briefs, calendar calls, admin alerts
LANES = (LANE_REPLY, LANE_FOLLOWUP, LANE_BULK)
INTERACTIVE = (LANE_REPLY, LANE_FOLLOWUP)  # a relay may send these in rounds of their own, beside the bulk


def is_interactive(row: OutboxRow) -> bool:
    """A reply or a dialog follow-up: takes the per-person budget first and is never merged into a digest."""
    return row.lane < LANE_BULK


def enqueue(
    session: Session,
    *,
    recipient: str,
    message: dict[str, Any],
    dedupe_key: str,
    now: datetime,
    not_before: datetime | None = None,
    lane: int = LANE_BULK,
) -> bool:
    """Add one outgoing message to the current transaction. A repeated dedupe_key is a no-op.

    `message` is a handlers.messages.Reply as dict (`reply.to_dict()`), or an API call such as a
    calendar schedule (`{"kind": "schedule_add", ...}`). `lane`: LANE_REPLY, LANE_FOLLOWUP or LANE_BULK (the
    default). Returns True when a row was added.
    """
    return (
        enqueue_id(
            session,
            recipient=recipient,
            message=message,
            dedupe_key=dedupe_key,
            now=now,
            not_before=not_before,
            lane=lane,
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
    lane: int = LANE_BULK,
) -> int | None:
    """`enqueue` returning the new row's id (None when the dedupe_key was already there)."""
    values = row_values(
        recipient=recipient, message=message, dedupe_key=dedupe_key, now=now, not_before=not_before, lane=lane
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
    lane: int = LANE_BULK,
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
        lane=lane,
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
# the columns of `row_values` (the prepared INSERT names them: a column left out would take its default)
_ROW_KEYS = list(row_values(recipient="", message={"kind": ""}, dedupe_key="", now=datetime.now(UTC)))
_INSERT_RAW = {is_pg: RawStatement(stmt, column_keys=_ROW_KEYS) for is_pg, stmt in _INSERT_MANY.items()}


def enqueue_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """`enqueue_many` on a Connection through a prepared statement (storage.db.RawStatement): the worker's
    per-event path (an event's replies, in one executemany)."""
    if rows:
        _INSERT_RAW[conn.dialect.name == "postgresql"].execute_many(conn, rows)


def _due(now: datetime, lanes: tuple[int, ...]):  # noqa: ANN202 - a SQL condition
    due = (OutboxRow.status == "pending") & (OutboxRow.next_try_at <= now)
    if tuple(lanes) != LANES:
        due = due & OutboxRow.lane.in_(lanes)
    if LANE_BULK in lanes:
        due = due | ((OutboxRow.status == "sending") & (OutboxRow.lease_until < now))
    return due


def paused_or_due(session: Session, *, now: datetime, lanes: tuple[int, ...] = LANES) -> tuple[bool, bool]:
    """The relay's look before a round, in one lock-free read: (sending is paused, a row of `lanes` is due to
    be sent — or, with LANE_BULK, a sending lease expired)."""
    paused = select(WeComPauseRow.scope).where(WeComPauseRow.scope == PAUSE_SCOPE).exists()
    due = select(OutboxRow.id).where(_due(now, lanes)).exists()
    row = session.execute(select(paused, due)).one()
    return bool(row[0]), bool(row[1])


def claim(
    session: Session,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    owner: str | None = None,
    lanes: tuple[int, ...] = LANES,
) -> list[OutboxRow]:
    """Claim due rows for this process, lane by lane: replies to what someone just said, then dialog
    follow-ups, then rows whose sending lease expired, then alerts, reminders and digests; each oldest due
    first. Returned sorted by (lane, next_try_at, id), so each recipient's rows keep their order within a lane.
    `lanes`: only these (expired leases go with LANE_BULK, whatever their lane).

    Each read walks the (status, lane, next_try_at, id) index in order and stops at `limit` (no sort of the
    backlog: an alert storm of 100,000 rows must not make every claim scan it). PostgreSQL: FOR UPDATE SKIP
    LOCKED, so several relays share the work. SQLite: the caller's transaction holds the write lock
    (storage.db.writer_session), so there is one claimer at a time.
    """
    pending = OutboxRow.status == "pending"
    due = OutboxRow.next_try_at <= now
    oldest = (OutboxRow.next_try_at, OutboxRow.id)
    queries = [
        select(OutboxRow).where(pending, OutboxRow.lane == lane, due).order_by(*oldest)
        for lane in INTERACTIVE
        if lane in lanes
    ]
    if LANE_BULK in lanes:
        queries += [
            select(OutboxRow)  # the same index, lane by lane (no sort of the rows in flight)
            .where(OutboxRow.status == "sending", OutboxRow.lease_until < now)
            .order_by(OutboxRow.lane, *oldest),
            select(OutboxRow).where(pending, OutboxRow.lane == LANE_BULK, due).order_by(*oldest),
        ]
    is_pg = session.get_bind().dialect.name == "postgresql"
    rows: dict[int, OutboxRow] = {}
    for q in queries:
        if len(rows) >= limit:
            break
        q = q.limit(limit - len(rows))
        if is_pg:
            q = q.with_for_update(skip_locked=True)
        for r in session.scalars(q):
            rows.setdefault(r.id, r)
    claimed = sorted(rows.values(), key=lambda r: (r.lane, r.next_try_at, r.id))
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
