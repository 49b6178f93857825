"""The monthly collaboration health report (协作健康月报): on the 1st of each month at 09:20 local, the last
month's hand-offs (storage/contracts/queries.handoff_health, organisation-wide) — per team the average time
from the hand-off to the first answer, to 认领 and to 完成, the SLA breaches — the three most frequent 受阻
reasons and the suggestion the data makes, as a picture and a few lines to the sales director(s). Recurring
timer `handoff_report:<the 1st>`.

Rendering is an adapter's job: bot/bootstrap.py hands `render_handoff_report` in through HandlerDeps; without
it (or when it fails) the report goes out as text only.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from core.contracts.handoff import TEAM_WORDS
from core.markup import escape_md
from core.org import Scope
from core.roles import Role
from core.sop import times as sop_times
from handlers.context import Ctx
from handlers.recurring import active_with_roles, book_org_run, next_monthly, send_report
from handlers.sop.policy import FireResult, policy_of
from storage.contracts.queries import HandoffHealth, handoff_health
from storage.models import TimerRow

KIND = "handoff_report"
ACTOR = "system:reports"
REPORT_AT = time(9, 20)
ORG = Scope(asker=ACTOR, name="全公司", role="", owners=None)


def schedule_next(ctx: Ctx, *, after: datetime) -> TimerRow:
    first, at = next_monthly(ctx, after, REPORT_AT)
    return book_org_run(ctx, kind=KIND, day=first, at=at, actor=ACTOR)


def _hours(h: float | None) -> str:
    return "—" if h is None else f"{h:.1f}小时"


def month_label(start: date) -> str:
    return f"{start.year}年{start.month}月"


def summary_lines(h: HandoffHealth) -> list[str]:
    """The report's lines (plain text; the caller escapes them for the format they land in)."""
    handed = sum(t.handed for t in h.teams)
    breaches = sum(t.breaches for t in h.teams)
    lines = [f"交接工单{handed}张，超时未响应{breaches}次"]
    for t in h.teams:
        lines.append(
            f"销售→{TEAM_WORDS[t.team]}：{t.handed}张，首次响应平均{_hours(t.average_response_hours)}，"
            f"认领平均{_hours(t.average_claim_hours)}，完成平均{_hours(t.average_done_hours)}，"
            f"超时{t.breaches}次，受阻{t.blocked}次"
        )
    if h.top_blocking:
        marks = "①②③"
        lines.append(
            "受阻原因TOP3：" + "".join(f"{marks[i]}{r}（{n}次）" for i, (r, n) in enumerate(h.top_blocking))
        )
    else:
        lines.append("受阻原因TOP3：本月没有受阻的工单")
    lines.append(f"建议：{h.suggestion}")
    return lines


def summary_text(h: HandoffHealth) -> str:
    head = f"**协作健康月报 · {month_label(h.start)}**"
    return "\n".join([head, *(escape_md(x) for x in summary_lines(h))])


def fire_handoff_report(ctx: Ctx, timer: TimerRow) -> FireResult:
    policy = policy_of(ctx)
    day = date.fromisoformat(timer.payload.get("day") or sop_times.local_day(ctx.now, policy).isoformat())
    schedule_next(ctx, after=ctx.now)
    month = (day - timedelta(days=1)).replace(day=1)
    health = handoff_health(ctx.session, ORG, month)
    to = active_with_roles(ctx, [Role.SALES_DIRECTOR.value])
    if not to:
        return "done", "no sales director"
    rel = Path("reports") / "handoffs" / f"{month.isoformat()[:7]}.png"
    note = send_report(
        ctx,
        to,
        rel=rel,
        render=ctx.deps.render_handoff_report,
        data=health,
        text=summary_text(health),
        what="handoff report",
    )
    return "done", note
