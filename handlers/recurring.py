"""The organisation's recurring jobs as timers: the next local run of a daily job, and the booking of one run
(subject org/org, business key `kind:day`, so a run is booked once however often it is asked for); and the
sending of a recurring report (a picture, then its lines) to its readers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from core.sop import times as sop_times
from handlers.context import Ctx
from handlers.messages import Image, Markdown
from handlers.sop.policy import policy_of
from storage import people, timers
from storage.files import private_dir, tighten
from storage.models import TimerRow, UserRow

log = logging.getLogger("assistant.reports")


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


def active_with_roles(ctx: Ctx, roles: Iterable[str]) -> list[str]:
    """The active people of the reporting tree holding any of `roles`, sorted: a recurring report's readers."""
    tree = people.whole_tree(ctx.session)
    wanted = {u for role in roles for u in tree.with_role(role)}
    return sorted(u for u in wanted if (row := ctx.session.get(UserRow, u)) is not None and row.active)


def send_report(
    ctx: Ctx,
    to: Iterable[str],
    *,
    rel: Path,
    render: Callable[[Any, Path], Any] | None,
    data: Any,
    text: str,
    what: str,
) -> str:
    """Send a recurring report to each of `to`: its picture (rendered to `rel` under the files root, 0600) and
    its lines in markdown. A picture that cannot be drawn must not cost the readers the figures: the lines go
    out alone. Returns the timer's note."""
    to = list(to)
    image = False
    root = ctx.deps.files_root
    if render is not None and root is not None and to:
        try:
            private_dir((root / rel).parent)
            render(data, root / rel)
            tighten(root / rel)
            image = True
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("%s image failed", what)
    for userid in to:
        if image:
            ctx.send(userid, Image(path=rel.as_posix()))
        ctx.send(userid, Markdown(content=text))
    return f"sent to {len(to)}" + ("" if image else " (text only)")
