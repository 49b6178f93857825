"""What the rest of the assistant calls when something the SOP cares about happens.

All hooks run inside the caller's unit of work (its Ctx and session): the timers, outbox rows and audit
rows they write commit with the caller's change or not at all. Every hook is idempotent.

- after_visit_completed(ctx, visit_id): the visit's promises and follow-up (PromiseRows already
  written by the visit flow) get their reminder timers and calendar entries; the visit is a touch (the
  customer's stale ladder ends, the 72 h clock restarts); a visit tagged 价格异议 starts the approval.
- on_tag_removed(ctx, visit_id, tag): 价格异议 taken off withdraws a pending approval.
- on_touch(ctx, customer_id): any other touch (an interaction, a visit that is not completed).
- on_promise_changed / on_promise_done / on_promise_cancelled(ctx, promise_id): after the caller changed
  the PromiseRow: timers are re-planned or cancelled; the calendar entry is updated or deleted.
"""
from __future__ import annotations

from sqlalchemy import select

from handlers.context import Ctx
from handlers.sop import approvals, promises, stale
from handlers.sop.calendar import ensure_entry
from storage.models import PromiseRow, VisitRow, VisitTagRow


def after_visit_completed(ctx: Ctx, visit_id: str) -> None:
    s = ctx.session
    visit = s.get(VisitRow, visit_id)
    if visit is None:
        return
    for promise in s.scalars(select(PromiseRow).where(PromiseRow.visit_id == visit_id).order_by(PromiseRow.id)):
        if promise.status != "open":
            continue
        promises.ensure_promise_timers(ctx, promise)
        ensure_entry(ctx, promise)
    stale.restart_clock(ctx, visit.customer_id)
    tagged = s.scalar(select(VisitTagRow.visit_id).where(VisitTagRow.visit_id == visit_id,
                                                         VisitTagRow.tag == approvals.PRICE_TAG))
    if tagged is not None:
        approvals.start_price_approval(ctx, visit)


def on_tag_removed(ctx: Ctx, visit_id: str, tag: str) -> None:
    """A tag came off a visit (undo, or the rep's correction): 价格异议 withdraws a pending approval."""
    if tag == approvals.PRICE_TAG:
        approvals.withdraw_price_approval(ctx, visit_id)


def on_touch(ctx: Ctx, customer_id: str) -> None:
    stale.restart_clock(ctx, customer_id)


def on_promise_changed(ctx: Ctx, promise_id: int) -> None:
    promise = ctx.session.get(PromiseRow, promise_id)
    if promise is None:
        return
    if promise.status == "open":
        promises.promise_changed(ctx, promise)
    else:
        promises.promise_closed(ctx, promise)


def on_promise_done(ctx: Ctx, promise_id: int) -> None:
    promise = ctx.session.get(PromiseRow, promise_id)
    if promise is not None:
        promises.promise_closed(ctx, promise)


def on_promise_cancelled(ctx: Ctx, promise_id: int) -> None:
    promise = ctx.session.get(PromiseRow, promise_id)
    if promise is not None:
        promises.promise_closed(ctx, promise)
