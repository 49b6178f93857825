"""Health lights of targets through the SOP timer engine (docs/targets.md § Health lights).

- `target_health` (recurring, `target_health:<date>`): each week on the policy's `target_check_weekday` at
  `target_check_at`, every region, city and rep of every live period is checked (storage/targets/health.py);
  a rep who turns red gets the diagnosis card, and a `target_escalate` timer is booked
  `target_escalate_after` later;
- `target_escalate` (`target_escalate:<period>:<rep>:<date>`): still no action recorded since the red check →
  the rep's supervisor (else their manager) gets the card; an action recorded → cancelled.
- 「目标行动 …」: a rep records what they will do; it keeps the light from turning red and stops the escalation.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from core.markup import escape_md
from core.sop import times as sop_times
from core.targets.health import LIGHT_WORDS, Thresholds
from core.targets.periods import parse_period
from core.targets.split import yuan
from handlers.context import Ctx
from handlers.messages import Inbound, Markdown, Text, text_of
from handlers.recurring import book_org_run
from handlers.sop.policy import FireResult, policy_of
from storage import people, timers
from storage.models import TimerRow
from storage.targets.health import Diagnosis, action_since, diagnosis, live_periods, record_action, run_checks

KIND = "target_health"
KIND_ESCALATE = "target_escalate"
ACTOR = "system:targets"
ACTION_PATTERN = r"^\s*(目标行动|改进行动)"

NO_ACTION_TEXT = "请这样写：目标行动 你的改进计划（例如：目标行动 本周重点拜访C01、C02，推新品试吃）。"
NO_PERIOD = "你当前没有进行中的目标周期，无需记录行动。"
ACTION_DONE = "已记录改进行动（{periods}）：{text}。本周期的红灯提醒不会再因此升级给主管。"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def next_check(after: datetime, ctx: Ctx) -> tuple[date, datetime]:
    policy = policy_of(ctx)
    today = sop_times.local_day(after, policy)
    day = today + timedelta(days=(policy.target_check_weekday - today.weekday()) % 7)
    at = sop_times.at_local(day, policy.target_check_at, policy)
    if at <= after:
        day += timedelta(days=7)
        at = sop_times.at_local(day, policy.target_check_at, policy)
    return day, at


def schedule_next(ctx: Ctx, *, after: datetime) -> TimerRow:
    day, at = next_check(after, ctx)
    return book_org_run(ctx, kind=KIND, day=day, at=at, actor=ACTOR)


def thresholds(ctx: Ctx) -> Thresholds:
    p = policy_of(ctx)
    return Thresholds(green=p.target_green_pace, red=p.target_red_pace, weeks=p.target_red_weeks)


def fire_target_health(ctx: Ctx, timer: TimerRow) -> FireResult:
    policy = policy_of(ctx)
    today = sop_times.local_day(ctx.now, policy)
    th = thresholds(ctx)
    checked = red = 0
    for period in live_periods(ctx.session, today):
        for lit in run_checks(ctx.session, period, today=today, now=ctx.now, th=th):
            checked += 1
            if lit.level != "rep" or not lit.newly_red:
                continue
            red += 1
            d = diagnosis(ctx.session, period=period, rep=lit.key, today=today, now=ctx.now)
            weeks = ((today - lit.run_start).days // 7 + 1) if lit.run_start else th.weeks
            ctx.send(lit.key, Markdown(content=card_text(d, th, weeks=weeks, hours=_hours(ctx), to_rep=True)))
            timers.schedule(
                ctx.session,
                kind=KIND_ESCALATE,
                business_key=f"{KIND_ESCALATE}:{period.key}:{lit.key}:{today.isoformat()}",
                subject_type="user",
                subject_id=lit.key,
                due_at=ctx.now + policy.target_escalate_after,
                payload={"period": period.key, "rep": lit.key, "since": ctx.now.isoformat(), "weeks": weeks},
                now=ctx.now,
                actor=ACTOR,
                reason=ctx.source,
            )
    schedule_next(ctx, after=ctx.now)
    return "done", f"{checked} nodes checked, {red} reps turned red"


def fire_target_escalate(ctx: Ctx, timer: TimerRow) -> FireResult:
    period = parse_period(timer.payload["period"])
    rep = timer.payload["rep"]
    since = datetime.fromisoformat(timer.payload["since"])
    if action_since(ctx.session, period.key, rep, since):
        return "cancelled", "an action was recorded"
    tree = people.whole_tree(ctx.session)
    to = tree.find_up(rep, "supervisor") or tree.manager_of(rep)
    if to is None:
        return "cancelled", "nobody above the rep"
    today = sop_times.local_day(ctx.now, policy_of(ctx))
    d = diagnosis(ctx.session, period=period, rep=rep, today=today, now=ctx.now)
    text = card_text(
        d, thresholds(ctx), weeks=int(timer.payload.get("weeks", 2)), hours=_hours(ctx), to_rep=False
    )
    ctx.send(
        to,
        Markdown(
            content=text.replace(
                "**目标诊断", f"**目标红灯升级 · {escape_md(people.name_of(ctx.session, rep))}", 1
            )
        ),
    )
    return "done", f"escalated to {to}"


def _hours(ctx: Ctx) -> int:
    return int(policy_of(ctx).target_escalate_after.total_seconds() // 3600)


def on_action(ctx: Ctx, event: Inbound) -> None:
    said = (text_of(event) or "").strip()
    body = said.split(None, 1)[1].strip() if len(said.split(None, 1)) > 1 else ""
    if not body:
        ctx.reply(Text(content=NO_ACTION_TEXT))
        return
    today = sop_times.local_day(ctx.now, policy_of(ctx))
    periods = live_periods(ctx.session, today)
    if not periods:
        ctx.reply(Text(content=NO_PERIOD))
        return
    for p in periods:
        record_action(
            ctx.session,
            period=p.key,
            rep=ctx.userid,
            text=body,
            by=ctx.userid,
            now=ctx.now,
            source=ctx.source,
        )
    ctx.reply(Text(content=ACTION_DONE.format(periods="、".join(p.key for p in periods), text=body)))


def card_text(d: Diagnosis, th: Thresholds, *, weeks: int, hours: int, to_rep: bool) -> str:
    """The diagnosis card (markdown, short enough for WeCom's 2,048 bytes)."""
    r = d.row
    change = ""
    if d.last_year_fen:
        change = f"（同比{(d.this_year_fen - d.last_year_fen) / d.last_year_fen:+.1%}）"
    lines = [
        f"**目标诊断 · {d.period.label}**",
        f"{'你的' if to_rep else ''}目标{yuan(r.target_fen)}，已完成{yuan(r.sales_fen)}，达成率{_pct(r.attainment)}，"
        f"时间进度{_pct(r.elapsed)}；已连续{weeks}周低于进度的{th.red:.0%}：{LIGHT_WORDS['red']}",
        f"去年同期（同样天数）：{yuan(d.last_year_fen)}；今年：{yuan(d.this_year_fen)}{change}",
    ]
    if d.shortfall:
        lines.append(
            "缺口最大的门店："
            + "；".join(
                f"{escape_md(name)} 应完成{yuan(due)} 实际{yuan(sales)} 差{yuan(gap)}"
                for _, name, due, sales, gap in d.shortfall
            )
        )
    else:
        lines.append("缺口最大的门店：无（按时间进度没有落后的门店）")
    lines.append(
        "近30天拜访标签TOP3：" + ("、".join(f"{escape_md(t)} {n}次" for t, n in d.tags) if d.tags else "无")
    )
    if d.overdue:
        lines.append(
            f"逾期回款：共{yuan(d.overdue_total_fen)}："
            + "；".join(
                f"{escape_md(no)} {escape_md(name)} {due.isoformat()}到期 欠{yuan(f)}"
                for no, name, due, f in d.overdue
            )
        )
    else:
        lines.append("逾期回款：无")
    if to_rep:
        lines.append(f"请回复「目标行动 你的改进计划」记录行动；{hours}小时内未记录将提醒你的主管。")
    else:
        lines.append(f"发出红灯{hours}小时后仍未记录改进行动，请跟进。")
    return "\n".join(lines)
