"""Durable SOP timers: schedule, cancel, reschedule, claim. Firing them is handlers/sop/sweep.py's job.

- `schedule` is idempotent by business key: scheduling the same key twice leaves one row.
- `cancel` sets `cancelled` (rows are never deleted) and audits it.
- `reschedule` = cancel + a new row under a new key (`<key>#2`, `#3`, ...), so history stays readable.
- `claim_due` takes due rows for one sweeper: `FOR UPDATE SKIP LOCKED` on PostgreSQL, the single
  writer (storage.db.writer_session) on SQLite. A claim is a lease: a row whose lease expired (the
  sweeper died, or a failed attempt is backing off) is claimed again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage import audit
from storage.models import TimerRow

LIVE = ("pending", "running")
MAX_ATTEMPTS = 5
DEFAULT_LEASE = timedelta(minutes=5)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert timer rows (column dicts); rows whose business key exists are skipped. Returns rows added."""
    if not rows:
        return 0
    keys = [r["business_key"] for r in rows]
    existing: set[str] = set()
    for start in range(0, len(keys), 500):
        existing.update(
            session.scalars(
                select(TimerRow.business_key).where(TimerRow.business_key.in_(keys[start : start + 500]))
            )
        )
    fresh = [r for r in rows if r["business_key"] not in existing]
    if not fresh:
        return 0
    ins = (pg_insert if _is_pg(session) else sqlite_insert)(TimerRow)
    session.execute(ins.on_conflict_do_nothing(index_elements=["business_key"]), fresh)
    return len(fresh)


def schedule(
    session: Session,
    *,
    kind: str,
    business_key: str,
    subject_type: str,
    subject_id: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    now: datetime,
    actor: str = "system:sop",
    reason: str | None = None,
) -> TimerRow:
    """The timer for `business_key`: a new pending row, or the existing one (whatever its state)."""
    values = dict(
        kind=kind,
        business_key=business_key,
        subject_type=subject_type,
        subject_id=str(subject_id),
        due_at=due_at,
        status="pending",
        attempts=0,
        payload=dict(payload or {}),
        created_at=now,
    )
    ins = (pg_insert if _is_pg(session) else sqlite_insert)(TimerRow).values(**values)
    added = (
        session.execute(
            ins.on_conflict_do_nothing(index_elements=["business_key"]).returning(TimerRow.id)
        ).first()
        is not None
    )
    row = session.scalars(select(TimerRow).where(TimerRow.business_key == business_key)).one()
    if added:
        audit.record(
            session,
            at=now,
            actor=actor,
            action="create",
            entity="timer",
            entity_id=str(row.id),
            after=audit.snapshot(row),
            reason=reason,
        )
    return row


def free_key(session: Session, base: str) -> str:
    """`base` if no timer uses it yet, else the first free `base#n` (n ≥ 2)."""
    taken = set(
        session.scalars(
            select(TimerRow.business_key).where(
                (TimerRow.business_key == base)
                | TimerRow.business_key.like(base.replace("%", r"\%").replace("_", r"\_") + "#%", escape="\\")
            )
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}#{n}" in taken:
        n += 1
    return f"{base}#{n}"


def cancel(
    session: Session,
    *,
    now: datetime,
    reason: str,
    business_key: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    kinds: Iterable[str] | None = None,
    actor: str = "system:sop",
) -> list[TimerRow]:
    """Cancel live timers chosen by business key or by subject (optionally only some kinds). Audited.

    A row a sweeper is firing right now is locked (PostgreSQL) or behind the write lock (SQLite), so the
    cancel either happens before the firing (which then skips it) or finds it already done.
    """
    if business_key is None and subject_id is None:
        raise ValueError("cancel needs a business_key or a subject")
    q = select(TimerRow).where(TimerRow.status.in_(LIVE))
    if business_key is not None:
        q = q.where(TimerRow.business_key == business_key)
    if subject_id is not None:
        q = q.where(TimerRow.subject_id == str(subject_id))
        if subject_type is not None:
            q = q.where(TimerRow.subject_type == subject_type)
    if kinds is not None:
        q = q.where(TimerRow.kind.in_(list(kinds)))
    if _is_pg(session):
        q = q.with_for_update()
    rows = list(session.scalars(q.order_by(TimerRow.id)))
    for row in rows:
        before = audit.snapshot(row)
        row.status, row.outcome, row.lease_until, row.claimed_by = "cancelled", reason[:256], None, None
        audit.record(
            session,
            at=now,
            actor=actor,
            action="update",
            entity="timer",
            entity_id=str(row.id),
            before=before,
            after=audit.snapshot(row),
            reason=reason[:256],
        )
    return rows


def reschedule(
    session: Session,
    *,
    business_key: str,
    due_at: datetime,
    now: datetime,
    reason: str,
    payload: dict[str, Any] | None = None,
    actor: str = "system:sop",
) -> TimerRow:
    """Move a timer: cancel the live row for `business_key` and add a new row under a fresh key."""
    old = session.scalars(select(TimerRow).where(TimerRow.business_key == business_key)).one()
    cancel(session, now=now, reason=reason, business_key=business_key, actor=actor)
    return schedule(
        session,
        kind=old.kind,
        business_key=free_key(session, business_key.split("#", 1)[0]),
        subject_type=old.subject_type,
        subject_id=old.subject_id,
        due_at=due_at,
        payload=payload if payload is not None else dict(old.payload or {}),
        now=now,
        actor=actor,
        reason=reason,
    )


def claim_due(
    session: Session, *, now: datetime, owner: str, limit: int = 500, lease: timedelta = DEFAULT_LEASE
) -> list[int]:
    """Claim up to `limit` due timers (oldest due first) plus expired leases. The caller commits."""
    ids: list[int] = []
    for cond in (
        (TimerRow.status == "running") & (TimerRow.lease_until < now),
        (TimerRow.status == "pending") & (TimerRow.due_at <= now),
    ):
        if len(ids) >= limit:
            break
        q = select(TimerRow.id).where(cond).order_by(TimerRow.due_at, TimerRow.id).limit(limit - len(ids))
        if _is_pg(session):
            q = q.with_for_update(skip_locked=True)
        ids.extend(session.scalars(q))
    if ids:
        session.execute(
            update(TimerRow)
            .where(TimerRow.id.in_(ids))
            .values(
                status="running", lease_until=now + lease, claimed_by=owner, attempts=TimerRow.attempts + 1
            )
        )
    return ids


def any_due(session: Session, *, now: datetime) -> bool:
    """A cheap read (no lock) before claiming: is any timer due, or any lease expired?"""
    due = (
        select(TimerRow.id)
        .where(
            ((TimerRow.status == "pending") & (TimerRow.due_at <= now))
            | ((TimerRow.status == "running") & (TimerRow.lease_until < now))
        )
        .limit(1)
    )
    return session.scalar(due) is not None


_CLAIMED = select(TimerRow).where(
    TimerRow.id == bindparam("timer_id"),
    TimerRow.status == "running",
    TimerRow.claimed_by == bindparam("owner"),
)
_CLAIMED_LOCKED = _CLAIMED.with_for_update()


def load_claimed(session: Session, *, timer_id: int, owner: str) -> TimerRow | None:
    """The timer, locked, if `owner` still holds its claim (it may have expired and moved on)."""
    q = _CLAIMED_LOCKED if _is_pg(session) else _CLAIMED
    return session.scalars(q, {"timer_id": timer_id, "owner": owner}).first()


def load_claimed_many(session: Session, *, ids: list[int], owner: str) -> list[TimerRow]:
    """The timers among `ids` that `owner` still holds, locked on PostgreSQL (in id order), oldest due first."""
    q = select(TimerRow).where(
        TimerRow.id.in_(ids), TimerRow.status == "running", TimerRow.claimed_by == owner
    )
    if _is_pg(session):
        q = q.order_by(TimerRow.id).with_for_update()
    rows = list(session.scalars(q))
    return sorted(rows, key=lambda r: (r.due_at, r.id))


def finish(row: TimerRow, *, now: datetime, status: str, outcome: str) -> None:
    """Close a fired timer: `done`, or `cancelled` when the re-checked condition no longer held."""
    row.status, row.fired_at, row.outcome, row.lease_until = status, now, outcome[:256], None


def release_failed(session: Session, *, timer_id: int, owner: str, now: datetime, error: str) -> str:
    """A firing raised: back off (2, 4, 8 ... s) by leaving the lease to expire, then park as `dead`."""
    row = session.get(TimerRow, timer_id)
    if row is None or row.status != "running" or row.claimed_by != owner:
        return "gone"
    before = audit.snapshot(row)
    row.outcome = f"error: {error}"[:256]
    row.claimed_by = None
    if row.attempts >= MAX_ATTEMPTS:
        row.status, row.lease_until = "dead", None
    else:
        row.lease_until = now + timedelta(seconds=2**row.attempts)
    audit.record(
        session,
        at=now,
        actor="system:sop",
        action="update",
        entity="timer",
        entity_id=str(row.id),
        before=before,
        after=audit.snapshot(row),
        reason="firing failed",
    )
    return row.status


def live_for_subject(
    session: Session, *, subject_type: str, subject_id: str, kinds: Iterable[str] | None = None
) -> list[TimerRow]:
    q = select(TimerRow).where(
        TimerRow.subject_type == subject_type,
        TimerRow.subject_id == str(subject_id),
        TimerRow.status.in_(LIVE),
    )
    if kinds is not None:
        q = q.where(TimerRow.kind.in_(list(kinds)))
    return list(session.scalars(q.order_by(TimerRow.due_at, TimerRow.id)))


def exists_live(session: Session, kind: str) -> bool:
    return (
        session.scalar(select(TimerRow.id).where(TimerRow.kind == kind, TimerRow.status.in_(LIVE)).limit(1))
        is not None
    )
