"""Keeping a rep's WeCom calendar in step with their promises and follow-ups, through the outbox.

The calendar follows the promise's current state: open → the entry exists and shows the current
text and time; done → the entry stays, marked 【已完成】; cancelled → the entry is deleted.
`oa/schedule/update|del` need the `schedule_id` WeCom returned to the add (the relay stores it on the
promise). When a change comes before the add was sent, a `calendar_sync` timer retries shortly.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import select

from core.sop.calendar import event_start, schedule_body
from core.sop.policy import SopPolicy
from handlers.context import Ctx
from handlers.sop import texts as T
from handlers.sop.policy import SOP_ACTOR, FireResult, policy_of
from storage import outbox, timers
from storage.models import CustomerRow, OutboxRow, PromiseRow, TimerRow

KIND = "calendar_sync"
RETRY_AFTER = timedelta(minutes=2)
MAX_RETRIES = 30  # an hour of waiting for the add to be sent


def add_key(promise_id: int) -> str:
    return f"cal:add:{promise_id}"


def _body(ctx: Ctx, promise: PromiseRow, policy: SopPolicy, schedule_id: str | None = None) -> dict:
    customer = ctx.session.get(CustomerRow, promise.customer_id)
    name = customer.name if customer else promise.customer_id
    if promise.kind == "follow_up":
        summary = T.CAL_FOLLOW_UP.format(customer=name)
    else:
        summary = T.CAL_PROMISE.format(customer=name, item=promise.text)
    if promise.status == "done":
        summary = T.CAL_DONE_PREFIX + summary
    description = T.CAL_DESCRIPTION.format(
        customer=name, item=promise.text, kind=T.CAL_KIND.get(promise.kind, promise.kind), id=promise.id
    )
    return schedule_body(
        summary=summary,
        description=description,
        start=event_start(promise.due_at, policy),
        attendee=promise.rep_userid,
        policy=policy,
        schedule_id=schedule_id,
    )


def entry_body(ctx: Ctx, promise: PromiseRow) -> dict:
    """The oa/schedule/add body of a promise's entry as it stands (a hand-over re-makes it for the successor)."""
    return _body(ctx, promise, policy_of(ctx))


def ensure_entry(ctx: Ctx, promise: PromiseRow) -> bool:
    """The first calendar entry for an open promise; nothing when one was already requested."""
    if promise.status != "open":
        return False
    exists = ctx.session.scalar(select(OutboxRow.id).where(OutboxRow.dedupe_key == add_key(promise.id)))
    if exists is not None:
        return False
    return sync_calendar(ctx, promise) == "add"


def sync_calendar(ctx: Ctx, promise: PromiseRow, *, attempt: int = 0) -> str:
    """Write the outbox row that brings the calendar to the promise's state. Returns what it did."""
    policy = policy_of(ctx)
    s = ctx.session
    add_row = s.scalars(select(OutboxRow).where(OutboxRow.dedupe_key == add_key(promise.id))).first()
    if add_row is None:
        if promise.status != "open":
            return "no entry"
        outbox.enqueue(
            s,
            recipient=promise.rep_userid,
            now=ctx.now,
            dedupe_key=add_key(promise.id),
            message={
                "kind": "schedule_add",
                "promise_id": promise.id,
                "schedule": _body(ctx, promise, policy),
            },
        )
        return "add"
    if promise.schedule_id:
        if promise.status == "cancelled":
            outbox.enqueue(
                s,
                recipient=promise.rep_userid,
                now=ctx.now,
                dedupe_key=f"cal:del:{promise.id}",
                message={
                    "kind": "schedule_del",
                    "promise_id": promise.id,
                    "schedule_id": promise.schedule_id,
                },
            )
            return "del"
        body = _body(ctx, promise, policy, schedule_id=promise.schedule_id)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
        outbox.enqueue(
            s,
            recipient=promise.rep_userid,
            now=ctx.now,
            dedupe_key=f"cal:upd:{promise.id}:{digest}:{ctx.source}",
            message={"kind": "schedule_update", "promise_id": promise.id, "schedule": body},
        )
        return "update"
    if add_row.status in ("pending", "sending") and attempt < MAX_RETRIES:
        if attempt == 0:  # one retry timer per promise is enough: it syncs whatever the state is then
            timers.cancel(
                s,
                now=ctx.now,
                reason="superseded by a newer change",
                subject_type="promise",
                subject_id=str(promise.id),
                kinds=[KIND],
                actor=SOP_ACTOR,
            )
        key = timers.free_key(s, f"calendar:{promise.id}")
        timers.schedule(
            s,
            kind=KIND,
            business_key=key,
            subject_type="promise",
            subject_id=str(promise.id),
            due_at=ctx.now + RETRY_AFTER,
            payload={"promise_id": promise.id, "attempt": attempt + 1},
            now=ctx.now,
            actor=SOP_ACTOR,
            reason="calendar entry not created yet",
        )
        return "deferred"
    return f"no schedule_id (add {add_row.status})"


def fire_calendar_sync(ctx: Ctx, timer: TimerRow) -> FireResult:
    promise = ctx.session.get(PromiseRow, int(timer.payload.get("promise_id", timer.subject_id)))
    if promise is None:
        return "cancelled", "promise gone"
    return "done", sync_calendar(ctx, promise, attempt=int(timer.payload.get("attempt", 0)))
