"""Firing due SOP timers: the sweep that every process may run on each tick.

`sweep_due_timers` claims due timers in batches (storage.timers.claim_due: SKIP LOCKED on PostgreSQL,
the single writer on SQLite) and fires them FIRE_CHUNK to a transaction: for each, re-check the business
condition (the rule module for the timer's kind), write the outbox rows, the next timers and the audit
row, and mark the timer done — all or nothing. When any rule in a chunk raises, the chunk is rolled back
and its timers are fired one per transaction, so only the failing one backs off. A timer fires exactly once however many processes sweep: the
claim is a lease, the firing transaction re-checks that this sweeper still holds it, and on PostgreSQL
holds the row lock until commit. A sweeper that dies after claiming leaves the lease to expire; the
next sweep claims the timer again (the dead sweeper's half-done work was rolled back). After downtime
every overdue timer fires: nothing is skipped for being late.

Recurring work (the daily brief, the stale scan) is timer rows too: firing one books the next in the
same transaction; the sweep books the first one when none is pending.

Wiring (done by the composition root):
    sop.install(services)   # services.extra["sweep_timers"] = make_sweeper(...), a no-argument sweep
    import_paths(..., on_payments_loaded=handlers.sop.payments.on_payments_loaded)   # (session) → rematch
    import handlers.registry_sop                                                 # card actions, states
    app.include_router(bot.web.ics.make_ics_router(session_factory, WECOM_SECRET))   # GET /ics/<userid>.ics
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from handlers.context import Ctx
from handlers.sop.approvals import KIND as APPROVAL_KIND
from handlers.sop.approvals import fire_approval_sla
from handlers.sop.calendar import KIND as CALENDAR_KIND
from handlers.sop.calendar import fire_calendar_sync
from handlers.sop.daily_brief import KIND as BRIEF_KIND
from handlers.sop.daily_brief import fire_daily_brief, schedule_next_brief
from handlers.sop.payments import KIND as PAYMENT_KIND
from handlers.sop.payments import fire_payment_overdue
from handlers.sop.policy import SOP_ACTOR, FireResult, load_policy
from handlers.sop.promises import fire_promise
from handlers.sop.stale import KIND as STALE_KIND
from handlers.sop.stale import SCAN_KIND, fire_stale, fire_stale_scan, schedule_next_scan
from storage import audit, outbox, timers
from storage.db import writer_session
from storage.models import TimerRow

log = logging.getLogger("assistant.sop")

Firer = Callable[[Ctx, TimerRow], FireResult]

FIRE_CHUNK = 100  # timers fired per transaction: one commit per timer capped the drain at ~600/s on SQLite

FIRERS: dict[str, Firer] = {
    "promise": fire_promise,
    "follow_up": fire_promise,
    STALE_KIND: fire_stale,
    SCAN_KIND: fire_stale_scan,
    APPROVAL_KIND: fire_approval_sla,
    PAYMENT_KIND: fire_payment_overdue,
    BRIEF_KIND: fire_daily_brief,
    CALENDAR_KIND: fire_calendar_sync,
}

# kind → books the first occurrence of a recurring timer (when none is pending)
RECURRING: dict[str, Callable[[Ctx], TimerRow]] = {
    BRIEF_KIND: lambda ctx: schedule_next_brief(ctx, after=ctx.now),
    SCAN_KIND: lambda ctx: schedule_next_scan(ctx, after=ctx.now),
}


def register_firer(kind: str, firer: Firer) -> None:
    """Add a rule for a timer kind (later SOP features plug in here)."""
    FIRERS[kind] = firer


def sweep_due_timers(session_factory: sessionmaker[Session], clock: Clock, *, owner: str, batch: int = 500,
                     lease: timedelta = timers.DEFAULT_LEASE, recurring: bool = True, max_rounds: int = 1000,
                     chunk: int = FIRE_CHUNK) -> int:
    """Fire every due timer (and every timer whose lease expired). Returns how many were fired."""
    if recurring:
        ensure_recurring(session_factory, clock)
    settings: dict[str, Any] | None = None
    fired = 0
    with _writer_connection(session_factory) as conn:  # one connection for the sweep, FIRE_CHUNK timers a commit
        for _ in range(max_rounds):
            with session_factory() as s:  # most ticks find nothing: do not take the write lock for that
                if not timers.any_due(s, now=clock.now()):
                    break
                if settings is None:
                    settings = {"_sop_policy": load_policy(s)}
            with _unit(session_factory, conn) as s:
                ids = timers.claim_due(s, now=clock.now(), owner=owner, limit=batch, lease=lease)
            if not ids:
                break
            for start in range(0, len(ids), chunk):
                fired += _fire_chunk(session_factory, conn, clock, owner=owner, ids=ids[start:start + chunk],
                                     settings=settings)
    return fired


def fire_one(session_factory: sessionmaker[Session], clock: Clock, *, owner: str, timer_id: int,
             settings: dict[str, Any] | None = None) -> bool:
    """Fire one claimed timer in one transaction. False when the claim was lost or the firing failed."""
    with _writer_connection(session_factory) as conn:
        return _fire_claimed(session_factory, conn, clock, owner=owner, timer_id=timer_id, settings=settings)


@contextmanager
def _writer_connection(session_factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A connection whose transactions take the SQLite write lock up front (BEGIN IMMEDIATE)."""
    engine = session_factory.kw["bind"]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(sqlite_begin="IMMEDIATE")
        yield conn


@contextmanager
def _unit(session_factory: sessionmaker[Session], conn: Connection) -> Iterator[Session]:
    """One transaction on `conn` with an ORM session in it: committed when the block ends, rolled back
    when it raises."""
    with conn.begin():
        session = session_factory(bind=conn, join_transaction_mode="rollback_only")
        try:
            yield session
            session.flush()
        finally:
            session.close()


def _fire_chunk(session_factory: sessionmaker[Session], conn: Connection, clock: Clock, *, owner: str,
                ids: list[int], settings: dict[str, Any] | None) -> int:
    """Fire claimed timers in one transaction; on any error, roll back and fire them one by one."""
    if len(ids) == 1:
        return int(_fire_claimed(session_factory, conn, clock, owner=owner, timer_id=ids[0], settings=settings))
    try:
        with _unit(session_factory, conn) as s:
            fired = 0
            messages: list[dict[str, Any]] = []  # the chunk's outbox rows, written in one statement
            for timer in timers.load_claimed_many(s, ids=ids, owner=owner):
                # an earlier rule in this chunk may have cancelled this one (same identity map)
                if timer.status == "running" and timer.claimed_by == owner:
                    _fire(s, clock, timer, settings, messages)
                    fired += 1
            outbox.enqueue_many(s, messages)
        return fired
    except Exception as exc:  # noqa: BLE001 - isolate the failing rule: one transaction per timer
        log.warning("a timer in a chunk of %d failed (%s); firing them one by one", len(ids), exc.__class__.__name__)
        return sum(_fire_claimed(session_factory, conn, clock, owner=owner, timer_id=i, settings=settings)
                   for i in ids)


def _fire(s: Session, clock: Clock, timer: TimerRow, settings: dict[str, Any] | None,
          messages: list[dict[str, Any]] | None = None) -> None:
    """Run the timer's rule and write what it implies (outbox rows, next timers, audit) into `s`; the
    outbox rows appended to `messages` instead when given (the caller writes them before committing)."""
    now = clock.now()
    before = audit.snapshot(timer)
    ctx = Ctx(session=s, now=now, user=None, userid=SOP_ACTOR, source=f"timer:{timer.id}",
              settings=dict(settings or {}))
    firer = FIRERS.get(timer.kind)
    status, outcome = firer(ctx, timer) if firer else ("dead", f"no rule for kind {timer.kind}")
    rows = [outbox.row_values(recipient=recipient, message=reply.to_dict(), dedupe_key=f"timer:{timer.id}:{n}",
                              now=now) for n, (recipient, reply) in enumerate(ctx.outgoing)]
    if messages is None:
        outbox.enqueue_many(s, rows)
    else:
        messages += rows
    timers.finish(timer, now=now, status=status, outcome=outcome)
    audit.record(s, at=now, actor=SOP_ACTOR, action="fire", entity="timer", entity_id=str(timer.id),
                 before=before, after=audit.snapshot(timer), reason=outcome[:256])


def _fire_claimed(session_factory: sessionmaker[Session], conn: Connection, clock: Clock, *, owner: str,
                  timer_id: int, settings: dict[str, Any] | None) -> bool:
    try:
        with _unit(session_factory, conn) as s:
            timer = timers.load_claimed(s, timer_id=timer_id, owner=owner)
            if timer is None:
                return False  # our lease expired and another sweeper took it (or it was cancelled)
            _fire(s, clock, timer, settings)
        return True
    except Exception as exc:  # noqa: BLE001 - a failing rule must not stop the sweep; retried with backoff
        log.error("timer %s failed: %s", timer_id, exc.__class__.__name__,
                  extra={"trace": traceback.format_exc(limit=5)})
        with _unit(session_factory, conn) as s:
            timers.release_failed(s, timer_id=timer_id, owner=owner, now=clock.now(),
                                  error=f"{exc.__class__.__name__}: {exc}")
        return False


def ensure_recurring(session_factory: sessionmaker[Session], clock: Clock) -> list[str]:
    """Book the first daily brief and stale scan when none is pending. Cheap when they exist (one read)."""
    with session_factory() as s:
        missing = [kind for kind in RECURRING if not timers.exists_live(s, kind)]
    if not missing:
        return []
    with writer_session(session_factory) as s:
        ctx = Ctx(session=s, now=clock.now(), user=None, userid=SOP_ACTOR, source="sweep:recurring")
        booked = []
        for kind in missing:
            if not timers.exists_live(s, kind):
                booked.append(RECURRING[kind](ctx).business_key)
        s.commit()
    return booked


def make_sweeper(session_factory: sessionmaker[Session], clock: Clock, *, owner: str) -> Callable[[], int]:
    """A no-argument sweep, the form services.extra["sweep_timers"] takes."""
    def sweep() -> int:
        return sweep_due_timers(session_factory, clock, owner=owner)
    return sweep


def install(services: Any) -> None:
    """Plug the sweep into bot.services.Services.tick (duck-typed: handlers never import bot)."""
    services.extra["sweep_timers"] = make_sweeper(services.session_factory, services.clock,
                                                  owner=f"{services.worker.owner}:sop")
