"""The organisation's recurring jobs as timers: the next local run of a daily job, and the booking of one run
(subject org/org, business key `kind:day`, so a run is booked once however often it is asked for)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from core.sop import times as sop_times
from handlers.context import Ctx
from handlers.sop.policy import policy_of
from storage import timers
from storage.models import TimerRow


def next_daily(ctx: Ctx, after: datetime, run_at: time) -> tuple[date, datetime]:
    """The first local day whose `run_at` (the organisation's time zone) is later than `after`, and that time."""
    policy = policy_of(ctx)
    day = sop_times.local_day(after, policy)
    at = sop_times.at_local(day, run_at, policy)
    if at <= after:
        day += timedelta(days=1)
        at = sop_times.at_local(day, run_at, policy)
    return day, at


def book_org_run(ctx: Ctx, *, kind: str, day: date, at: datetime, actor: str) -> TimerRow:
    return timers.schedule(
        ctx.session,
        kind=kind,
        business_key=f"{kind}:{day.isoformat()}",
        subject_type="org",
        subject_id="org",
        due_at=at,
        payload={"day": day.isoformat()},
        now=ctx.now,
        actor=actor,
        reason="recurring",
    )


def next_monthly(ctx: Ctx, after: datetime, run_at: time) -> tuple[date, datetime]:
    """The first 1st of a month whose `run_at` (the organisation's time zone) is later than `after`, and that
    time."""
    policy = policy_of(ctx)
    today = sop_times.local_day(after, policy)
    first = date(today.year, today.month, 1)
    at = sop_times.at_local(first, run_at, policy)
    if at <= after:
        first = (first + timedelta(days=32)).replace(day=1)
        at = sop_times.at_local(first, run_at, policy)
    return first, at
