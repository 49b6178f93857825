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

The firer of each kind and the recurring kinds are listed in handlers/routes.py (TIMER_KINDS, RECURRING);
bot/bootstrap.py puts the sweep in the tick.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from handlers.context import Ctx, HandlerDeps, Publish
from handlers.sop.policy import POLICY_CACHE, SOP_ACTOR, FireResult, load_policy
from storage import audit, outbox, people, timers
from storage.db import writer_session
from storage.handover import book as handover_book
from storage.models import TimerRow

log = logging.getLogger("assistant.sop")

Firer = Callable[[Ctx, TimerRow], FireResult]

DEACTIVATED = "deactivated"  # Firing.cache: the userids deactivated, read once per sweep
FIRE_CHUNK = 100  # timers fired per transaction: one commit per timer capped the drain at ~600/s on SQLite


@dataclass
class Firing:
    """What the sweep hands every firer: the table of kinds, the handlers' dependencies, the subscribers of
    domain events, and a per-sweep cache (the SOP policy, read once)."""

    kinds: Mapping[str, Firer]
    recurring: Mapping[str, Callable[[Ctx], TimerRow]] = field(default_factory=dict)
    deps: HandlerDeps = field(default_factory=HandlerDeps)
    publish: Publish | None = None
    cache: dict[str, Any] = field(default_factory=dict)


def sweep_due_timers(
    session_factory: sessionmaker[Session],
    clock: Clock,
    *,
    owner: str,
    batch: int = 500,
    lease: timedelta = timers.DEFAULT_LEASE,
    recurring: bool = True,
    max_rounds: int = 1000,
    chunk: int = FIRE_CHUNK,
    firing: Firing,
) -> int:
    """Fire every due timer (and every timer whose lease expired). Returns how many were fired."""
    if recurring:
        ensure_recurring(session_factory, clock, firing.recurring)
    env = firing
    policy_read = False
    fired = 0
    try:
        with _writer_connection(
            session_factory
        ) as conn:  # one connection for the sweep, FIRE_CHUNK timers a commit
            for _ in range(max_rounds):
                with session_factory() as s:  # most ticks find nothing: do not take the write lock for that
                    if not timers.any_due(s, now=clock.now()):
                        break
                    if not policy_read:
                        env.cache[POLICY_CACHE] = load_policy(s)
                        env.cache[DEACTIVATED] = people.all_deactivated(s)
                        policy_read = True
                with _unit(session_factory, conn) as s:
                    ids = timers.claim_due(s, now=clock.now(), owner=owner, limit=batch, lease=lease)
                if not ids:
                    break
                for start in range(0, len(ids), chunk):
                    fired += _fire_chunk(
                        session_factory, conn, clock, owner=owner, ids=ids[start : start + chunk], env=env
                    )
    finally:
        env.cache.pop(DEACTIVATED, None)  # only this sweep may trust it
    return fired


def fire_one(
    session_factory: sessionmaker[Session], clock: Clock, *, owner: str, timer_id: int, firing: Firing
) -> bool:
    """Fire one claimed timer in one transaction. False when the claim was lost or the firing failed."""
    with _writer_connection(session_factory) as conn:
        return _fire_claimed(session_factory, conn, clock, owner=owner, timer_id=timer_id, env=firing)


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


def _fire_chunk(
    session_factory: sessionmaker[Session],
    conn: Connection,
    clock: Clock,
    *,
    owner: str,
    ids: list[int],
    env: Firing,
) -> int:
    """Fire claimed timers in one transaction; on any error, roll back and fire them one by one."""
    if len(ids) == 1:
        return int(_fire_claimed(session_factory, conn, clock, owner=owner, timer_id=ids[0], env=env))
    try:
        with _unit(session_factory, conn) as s:
            fired = 0
            messages: list[dict[str, Any]] = []  # the chunk's outbox rows, written in one statement
            for timer in timers.load_claimed_many(s, ids=ids, owner=owner):
                # an earlier rule in this chunk may have cancelled this one (same identity map)
                if timer.status == "running" and timer.claimed_by == owner:
                    _fire(s, clock, timer, env, messages)
                    fired += 1
            outbox.enqueue_many(s, messages)
        return fired
    except Exception as exc:  # noqa: BLE001 - isolate the failing rule: one transaction per timer
        log.warning(
            "a timer in a chunk of %d failed (%s); firing them one by one", len(ids), exc.__class__.__name__
        )
        return sum(_fire_claimed(session_factory, conn, clock, owner=owner, timer_id=i, env=env) for i in ids)


def _fire(
    s: Session, clock: Clock, timer: TimerRow, env: Firing, messages: list[dict[str, Any]] | None = None
) -> None:
    """Run the timer's rule and write what it implies (outbox rows, next timers, audit) into `s`; the
    outbox rows appended to `messages` instead when given (the caller writes them before committing)."""
    now = clock.now()
    before = audit.snapshot(timer)
    ctx = Ctx(
        session=s,
        now=now,
        user=None,
        userid=SOP_ACTOR,
        source=f"timer:{timer.id}",
        deps=env.deps,
        publish=env.publish,
        cache=env.cache,
    )
    firer = env.kinds.get(timer.kind)
    status, outcome = firer(ctx, timer) if firer else ("dead", f"no rule for kind {timer.kind}")
    outgoing = ctx.outgoing
    recipients = {recipient for recipient, _ in outgoing}
    known = env.cache.get(DEACTIVATED)  # read once per sweep; a single fire_one reads it for itself
    gone = (recipients & known) if known is not None else people.deactivated(s, recipients)
    if gone:  # the firers pass deactivated people over; this is the fence for any that did not
        # a departed person whose hand-over waits for a successor: what was theirs goes to the deciding manager,
        # unless this timer already tells that manager (docs/handover.md § Until the choice)
        deciders = handover_book.pending_deciders(s, gone)
        outgoing = [
            (deciders[recipient], reply) if recipient in gone else (recipient, reply)
            for recipient, reply in outgoing
            if recipient not in gone or (recipient in deciders and deciders[recipient] not in recipients)
        ]
        outcome = f"{outcome}; not sent to deactivated {','.join(sorted(gone))}"
        if deciders:
            outcome += f" (to the hand-over's manager: {','.join(sorted(set(deciders.values())))})"
    rows = [
        outbox.row_values(
            recipient=recipient, message=reply.to_dict(), dedupe_key=f"timer:{timer.id}:{n}", now=now
        )
        for n, (recipient, reply) in enumerate(outgoing)
    ]
    if messages is None:
        outbox.enqueue_many(s, rows)
    else:
        messages += rows
    timers.finish(timer, now=now, status=status, outcome=outcome)
    audit.record(
        s,
        at=now,
        actor=SOP_ACTOR,
        action="fire",
        entity="timer",
        entity_id=str(timer.id),
        before=before,
        after=audit.snapshot(timer),
        reason=outcome[:256],
    )


def _fire_claimed(
    session_factory: sessionmaker[Session],
    conn: Connection,
    clock: Clock,
    *,
    owner: str,
    timer_id: int,
    env: Firing,
) -> bool:
    try:
        with _unit(session_factory, conn) as s:
            timer = timers.load_claimed(s, timer_id=timer_id, owner=owner)
            if timer is None:
                return False  # our lease expired and another sweeper took it (or it was cancelled)
            _fire(s, clock, timer, env)
        return True
    except Exception as exc:  # noqa: BLE001 - a failing rule must not stop the sweep; retried with backoff
        log.error(
            "timer %s failed: %s",
            timer_id,
            exc.__class__.__name__,
            extra={"trace": traceback.format_exc(limit=5)},
        )
        with _unit(session_factory, conn) as s:
            timers.release_failed(
                s, timer_id=timer_id, owner=owner, now=clock.now(), error=f"{exc.__class__.__name__}: {exc}"
            )
        return False


def ensure_recurring(
    session_factory: sessionmaker[Session], clock: Clock, recurring: Mapping[str, Callable[[Ctx], TimerRow]]
) -> list[str]:
    """Book the first occurrence of every recurring kind (handlers/routes.py RECURRING: the daily brief, the
    stale scan, the nightly scorecard, the Monday brief) when none is live. Cheap when they exist (one read)."""
    table = recurring
    with session_factory() as s:
        missing = [kind for kind in table if not timers.exists_live(s, kind)]
    if not missing:
        return []
    with writer_session(session_factory) as s:
        ctx = Ctx(session=s, now=clock.now(), user=None, userid=SOP_ACTOR, source="sweep:recurring")
        booked = []
        for kind in missing:
            if not timers.exists_live(s, kind):
                booked.append(table[kind](ctx).business_key)
        s.commit()
    return booked
