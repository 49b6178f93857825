"""The monthly penetration report (目标穿透月报): on the 1st of each month at 09:10 local, the period that was
running the day before (its quarter, else month, else year) as a picture and a few lines, to the roles of the
policy's `target_report_roles` (the sales director). Recurring timer `target_report:<the 1st>`.

Rendering is an adapter's job: bot/bootstrap.py hands `render_target_report` in through HandlerDeps; without
it the report goes out as text only.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from core.sop import times as sop_times
from core.targets.periods import add_months
from core.targets.split import yuan
from handlers.context import Ctx
from handlers.recurring import active_with_roles, book_org_run, send_report
from handlers.sop.policy import FireResult, policy_of
from storage.models import TimerRow
from storage.targets.report import PenetrationReport, penetration, report_period

KIND = "target_report"
ACTOR = "system:reports"
REPORT_AT = time(9, 10)


def next_report(after: datetime, ctx: Ctx) -> tuple[date, datetime]:
    policy = policy_of(ctx)
    today = sop_times.local_day(after, policy)
    first = date(today.year, today.month, 1)
    at = sop_times.at_local(first, REPORT_AT, policy)
    if at <= after:
        first = add_months(first, 1)
        at = sop_times.at_local(first, REPORT_AT, policy)
    return first, at


def schedule_next(ctx: Ctx, *, after: datetime) -> TimerRow:
    first, at = next_report(after, ctx)
    return book_org_run(ctx, kind=KIND, day=first, at=at, actor=ACTOR)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def summary_text(r: PenetrationReport) -> str:
    org = r.org
    lines = [f"**目标穿透月报 · {r.period.label}**（销售数据截至{r.as_of.isoformat()}）"]
    if org is not None:
        lines.append(
            f"集团目标{yuan(org.target_fen)}，已完成{yuan(org.sales_fen)}，达成率{_pct(org.attainment)}，"
            f"时间进度{_pct(org.elapsed)}"
        )
    if r.chain:
        lines.append("目标传递：" + " → ".join(f"{w}{yuan(f)}（{d:+.1f}%）" for w, f, d in r.chain))
    if r.regions:
        lines.append("各大区：" + "、".join(f"{x.name} {_pct(x.attainment)}" for x in r.regions))
    if r.red_reps:
        lines.append("红灯业务员：" + "、".join(n for _, n in r.red_reps))
    if r.behind_reps:
        lines.append("进度最落后：" + "、".join(f"{x.name} {_pct(x.attainment)}" for x in r.behind_reps[:3]))
    return "\n".join(lines)


def fire_target_report(ctx: Ctx, timer: TimerRow) -> FireResult:
    policy = policy_of(ctx)
    day = date.fromisoformat(timer.payload.get("day") or sop_times.local_day(ctx.now, policy).isoformat())
    as_of = day - timedelta(days=1)
    schedule_next(ctx, after=ctx.now)
    period = report_period(ctx.session, as_of)
    if period is None:
        return "done", "no targets to report"
    report = penetration(ctx.session, period, as_of=as_of)
    to = active_with_roles(ctx, policy.target_report_roles)
    rel = Path("reports") / "targets" / f"{day.isoformat()}.png"
    note = send_report(
        ctx,
        to,
        rel=rel,
        render=ctx.deps.render_target_report,
        data=report,
        text=summary_text(report),
        what="target report",
    )
    return "done", note
