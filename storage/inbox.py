"""The inbox: accepted callbacks, committed before the 200, claimed in order per sender."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Integer, and_, bindparam, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from storage.db import RawStatement
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

    The inserts run on a pooled DBAPI connection (checkout and invalidation stay the pool's):
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
        if sqlite:  # the connection is in autocommit mode (storage/db.py): the transaction is ours; a
            # writer's, so it waits its turn in the process's writer queue rather than in SQLite's busy handler
            dbc.dbapi_connection.begin("IMMEDIATE")
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
        if invalidated:  # the server went away: every pooled connection older than this is stale too
            engine.pool._invalidate(
                dbc, exc
            )  # as SQLAlchemy's own execution does (no pre-ping: storage/db.py)
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


_WAITING = (  # built once: one compiled statement
    select(InboxRow.__table__.c.id).where(InboxRow.__table__.c.status.in_(("new", "processing"))).limit(1)
)


def anything_waiting(session: Session) -> bool:
    """A cheap, lock-free look (index on status): is any event new or being processed?"""
    return session.connection().execute(_WAITING).first() is not None


def _ready(now: datetime):  # noqa: ANN202
    """The row itself may be claimed: new and due, or processing with an expired lease."""
    t = InboxRow.__table__.c
    due_new = and_(t.status == "new", (t.next_try_at.is_(None)) | (t.next_try_at <= now))
    stale = and_(t.status == "processing", t.lease_until < now)
    return due_new | stale


# PostgreSQL, for the claim's transaction only: without statistics (an inbox never analysed) the planner
# guesses a handful of matching rows and picks a bitmap scan of EVERY new row, then sorts them for the
# LIMIT — its cost grows with the backlog. With sorts, bitmap and sequential scans priced out, the plans
# left for "status = x AND id > y ORDER BY id LIMIT n" are ordered index scans, and of those the (status,
# id) index reads only matching rows, so it costs less than the primary key filtered by status under any
# estimate: the claim walks that index and stops at its LIMIT whatever the statistics say (tested by
# EXPLAIN in tests/storage/test_inbox_claim.py). One round trip per claim (several statements, no
# parameters, one simple query).
PLAN_BY_INDEX = (
    "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
)

CLAIM_CHUNK = 2  # × limit: rows of the unfinished prefix the first statement of a claim reads (then 2×, 4×…)
CLAIM_CHUNK_MAX = 8  # × limit: the most one statement reads
CLAIM_SCAN = 20  # × limit: rows of the unfinished prefix one claim reads at most (its work is bounded)


@dataclass(frozen=True)
class Claimed:
    """A claimed event, as the claim's own UPDATE … RETURNING read it (the worker reads the row once)."""

    id: int
    sender: str
    event: dict[str, Any]


def _build_prefix_chunk():  # noqa: ANN202
    """The oldest `n` new and the oldest `n` processing rows past id `after`, in ONE statement (one snapshot:
    a row moving between the two statuses is seen exactly once), `ready` as `_ready(now)`. Each half is a
    range of the (status, id) index read in order and stopped at its LIMIT. Built once (bound parameters):
    SQLAlchemy's compiled cache and the driver's prepared statement serve every claim."""
    t = InboxRow.__table__.c
    ready = _ready(bindparam("now", type_=InboxRow.__table__.c.received_at.type)).label("ready")
    halves = [
        select(t.id, t.sender, t.status, ready)
        .where(t.status == status, t.id > bindparam("after"))
        .order_by(t.id)
        .limit(bindparam("n", type_=Integer))
        .subquery()
        for status in ("new", "processing")
    ]
    return union_all(*(select(h.c.id, h.c.sender, h.c.status, h.c.ready) for h in halves))


def _build_take(postgresql: bool):  # noqa: ANN202
    t = InboxRow.__table__.c
    now = bindparam("now", type_=t.received_at.type)
    target = t.id.in_(bindparam("ids", expanding=True)) & _ready(now)
    if postgresql:  # rows another worker has just claimed are skipped, not waited for
        target = t.id.in_(select(t.id).where(target).with_for_update(skip_locked=True))
    return (
        update(InboxRow.__table__)
        .where(target)
        .values(status="processing", lease_until=bindparam("until"), claimed_by=bindparam("owner"))
        .returning(t.id, t.sender, t.event)
    )


_PREFIX_CHUNK = _build_prefix_chunk()
_TAKE = {False: _build_take(False), True: _build_take(True)}


def claim_events(
    session: Session, *, now: datetime, owner: str, limit: int = 50, lease: timedelta = LEASE
) -> list[Claimed]:
    """Claim the oldest unfinished event of up to `limit` senders (one each, so each sender's events are
    handled in order), oldest first; the caller commits the claim.

    The plan cannot degrade with the backlog or without statistics: the unfinished rows (new or
    processing) are walked oldest first through the (status, id) index, a chunk at a time, and the
    per-sender rule is applied to that prefix in Python — a row is blocked exactly when an earlier row of
    its sender is in the prefix, since every unfinished row older than it is. The claim is then one UPDATE
    by primary key that re-checks each row (PostgreSQL: rows another worker holds are skipped, FOR UPDATE
    SKIP LOCKED) and returns the events. A claim reads at most CLAIM_SCAN × limit new rows (the
    processing rows it passes are the claims in flight, bounded by the workers' batches): when a few
    senders own a longer run of the oldest events, it claims what that prefix holds (their first events,
    and every other sender in it) and the rest follow as those runs drain.
    """
    conn = session.connection()
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:
        conn.exec_driver_sql(PLAN_BY_INDEX)
    chunk = CLAIM_CHUNK * limit
    seen: set[str] = set()
    picked: list[int] = []
    after, scanned = 0, 0
    while len(picked) < limit and scanned < CLAIM_SCAN * limit:
        rows = conn.execute(_PREFIX_CHUNK, {"now": now, "after": after, "n": chunk}).all()
        # the two halves are a true prefix of the unfinished rows only up to where a full half stopped
        n_new = n_processing = 0
        last_new = last_processing = 0
        for r in rows:
            if r.status == "new":
                n_new += 1
                last_new = max(last_new, r.id)
            else:
                n_processing += 1
                last_processing = max(last_processing, r.id)
        scanned += n_new
        size = chunk
        chunk = min(chunk * 2, CLAIM_CHUNK_MAX * limit)
        full = [last for n, last in ((n_new, last_new), (n_processing, last_processing)) if n == size]
        cutoff = min(full) if full else None
        rows.sort(key=lambda r: r.id)
        for r in rows:
            if cutoff is not None and r.id > cutoff:
                break
            if r.sender in seen:
                continue
            seen.add(r.sender)
            if r.ready:
                picked.append(r.id)
                if len(picked) >= limit:
                    break
        if cutoff is None:
            break
        after = cutoff
    if not picked:
        return []
    claimed = conn.execute(
        _TAKE[postgresql], {"ids": picked, "now": now, "until": now + lease, "owner": owner}
    ).all()
    return sorted((Claimed(r.id, r.sender, r.event) for r in claimed), key=lambda c: c.id)


def claim(
    session: Session, *, now: datetime, owner: str, limit: int = 50, lease: timedelta = LEASE
) -> list[int]:
    """`claim_events`, the ids alone."""
    return [c.id for c in claim_events(session, now=now, owner=owner, limit=limit, lease=lease)]


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


def load_event(session: Session, *, inbox_id: int) -> Claimed | None:
    """One row's event as a claim returns it (for a caller that holds an id only)."""
    t = InboxRow.__table__.c
    row = session.connection().execute(select(t.id, t.sender, t.event).where(t.id == inbox_id)).first()
    return None if row is None else Claimed(row.id, row.sender, row.event)


_FINISH = RawStatement(
    update(InboxRow.__table__)
    .where(
        InboxRow.__table__.c.id == bindparam("inbox_id"),
        InboxRow.__table__.c.status == "processing",
        InboxRow.__table__.c.claimed_by == bindparam("owner"),
    )
    .values(status="done", processed_at=bindparam("now"), lease_until=None)
)


def finish_claimed(conn: Connection, *, inbox_id: int, owner: str, now: datetime) -> bool:
    """The first statement of an event's transaction: mark it done if this owner still holds its claim (a
    lease may have expired and moved on: False, and the caller rolls back). It also takes the row's lock
    (PostgreSQL) for the rest of the transaction, as `load_claimed` did; the handler's work commits with
    it or, when the handler fails, rolls it back with everything else. A prepared statement on the
    driver's cursor (storage.db.RawStatement): it runs once per event."""
    count, _ = _FINISH.execute(conn, {"inbox_id": inbox_id, "owner": owner, "now": now})
    return count == 1


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
