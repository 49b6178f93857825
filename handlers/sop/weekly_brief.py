"""The weekly brief (周报): every Monday morning each manager (supervisor, regional manager, sales director)
gets a picture of their scope's last week and a short text with the figures and a dashboard link.

Two timer kinds, both durable rows fired by the SOP sweep (handlers/sop/sweep.py):
- `weekly_brief` (`weekly_brief:<monday>`), Monday 08:40 local: books one `weekly_brief_to` timer per
  manager and the next Monday's `weekly_brief`, in one transaction;
- `weekly_brief_to` (`weekly_brief:<monday>:<userid>`): computes that manager's figures
  (storage.metrics.figures.weekly_brief), renders the PNG, and writes an Image and a Markdown outbox row. One
  transaction per manager: a failure retries that manager alone.

Rendering is an adapter's job (Pillow lives in bot/): bot/bootstrap.py hands the renderer and the files root
in through HandlerDeps (`render_brief`, `files_root`). Without a renderer the brief goes out as text only.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path

from core.markup import escape_md
from core.roles import MANAGERS
from core.sop import times as sop_times
from handlers.context import Ctx
from handlers.links.dashboard import dashboard_url
from handlers.messages import Image, Inbound, Markdown, Text
from handlers.sop.policy import FireResult, policy_of
from storage import people, timers
from storage.files import private_dir, tighten
from storage.metrics import figures as metrics
from storage.models import TimerRow

log = logging.getLogger("assistant.reports")

KIND = "weekly_brief"
KIND_TO = "weekly_brief_to"
ACTOR = "system:reports"
BRIEF_AT = time(8, 40)  # Monday, local
KEEP_IMAGE_WEEKS = 8  # PNG folders older than this are deleted at the next Monday fan-out
ROLES = ("supervisor", "regional_manager", "sales_director")

TITLE = "**上周经营简报 · {week}**"
L_SCOPE = "范围：{words}"
L_FRESH = "客户信息鲜度：{rate}{trend}"
L_TREND = "，8周前 {old}"
L_COMPLETE = "过程数据可信度（上周拜访完整率）：{rate}"
L_VISITS = "上周拜访 {n} 次，{reps} 位业务员有拜访"
L_TAGS = "需求标签TOP3：{tags}"
L_NO_TAGS = "需求标签TOP3：上周无标签"
L_FUNNEL = "商机转化漏斗完整率（最近90天）：{rate}"
L_RED = "红色客户 {n} 位：{names}"
L_NO_RED = "红色客户：无"
L_REVIEW = "待复盘（近7天转为黄色）：{names}"
L_LINK = "[打开完整看板]({url})"
L_IMAGE_FAILED = "（图片生成失败，已记录，请在看板查看图表）"
NAMES_SHOWN = 6


def next_brief(after: datetime, ctx: Ctx) -> tuple[date, datetime]:
    """The first Monday 08:40 local strictly after `after`: (that Monday, its time)."""
    policy = policy_of(ctx)
    today = sop_times.local_day(after, policy)
    monday = today - timedelta(days=today.weekday())
    at = sop_times.at_local(monday, BRIEF_AT, policy)
    if at <= after:
        monday += timedelta(days=7)
        at = sop_times.at_local(monday, BRIEF_AT, policy)
    return monday, at


def schedule_next(ctx: Ctx, *, after: datetime) -> TimerRow:
    monday, at = next_brief(after, ctx)
    return timers.schedule(
        ctx.session,
        kind=KIND,
        business_key=f"{KIND}:{monday.isoformat()}",
        subject_type="org",
        subject_id="org",
        due_at=at,
        payload={"week": monday.isoformat()},
        now=ctx.now,
        actor=ACTOR,
        reason="recurring",
    )


def recipients(ctx: Ctx) -> list[str]:
    tree = people.whole_tree(ctx.session)
    return sorted({u for role in ROLES for u in tree.with_role(role, active_only=True)})


def fire_weekly_brief(ctx: Ctx, timer: TimerRow) -> FireResult:
    week = timer.payload.get("week") or sop_times.local_day(ctx.now, policy_of(ctx)).isoformat()
    prune_old_images(week, root=ctx.deps.files_root)
    to = recipients(ctx)
    for n, userid in enumerate(to):
        timers.schedule(
            ctx.session,
            kind=KIND_TO,
            business_key=f"{KIND}:{week}:{userid}",
            subject_type="user",
            subject_id=userid,
            due_at=ctx.now + timedelta(seconds=n % 60),
            now=ctx.now,
            payload={"week": week, "userid": userid},
            actor=ACTOR,
            reason=ctx.source,
        )
    schedule_next(ctx, after=ctx.now)
    return "done", f"weekly brief for {len(to)} managers"


def prune_old_images(week: str, *, root: Path | None, keep_weeks: int = KEEP_IMAGE_WEEKS) -> int:
    """Delete the PNG folders of briefs more than `keep_weeks` before `week` (an ISO Monday). They were
    sent long ago (the relay gives up after 30 minutes); the figures stay in the database. Returns folders
    removed. Runs with each Monday's fan-out, so the folder never grows past `keep_weeks` + 1 weeks."""
    base = Path(root) / "briefs" / "weekly" if root is not None else None
    if base is None or not base.is_dir():
        return 0
    cutoff = date.fromisoformat(week) - timedelta(weeks=keep_weeks)
    removed = 0
    for folder in base.iterdir():
        try:
            old = date.fromisoformat(folder.name) < cutoff
        except ValueError:
            continue  # not ours
        if old and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed %d weekly brief image folders older than %s", removed, cutoff)
    return removed


def _safe(userid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", userid)[:64] or "_"


def fire_weekly_brief_to(ctx: Ctx, timer: TimerRow) -> FireResult:
    userid, week = timer.payload["userid"], timer.payload["week"]
    if not people.is_active(ctx.session, userid):  # deactivated since the fan-out
        return "cancelled", f"{userid} deactivated"
    everyone = metrics.load_people(ctx.session)
    viewer = metrics.viewer_for(everyone, userid)
    if viewer is None:
        return "cancelled", f"unknown user {userid}"
    brief = metrics.weekly_brief(ctx.session, everyone, viewer, now=ctx.now)
    render, root = ctx.deps.render_brief, ctx.deps.files_root
    image_failed = False
    if render is not None and root is not None:
        rel = Path("briefs") / "weekly" / week / f"{_safe(userid)}.png"
        try:
            private_dir((root / rel).parent)  # data at rest: folders 0700, the picture 0600
            render(brief, root / rel)
            tighten(root / rel)
            ctx.send(userid, Image(path=rel.as_posix()))
        except Exception:  # noqa: BLE001 - a picture that fails must not cost the manager the figures
            log.exception("weekly brief image for %s failed", userid)
            image_failed = True
    url = dashboard_url(userid, ctx.now, ctx.deps, period="last_week")
    ctx.send(userid, Markdown(content=summary_text(brief, url, image_failed=image_failed)))
    return "done", "sent" + (" (text only)" if render is None or image_failed else "")


def summary_text(brief: metrics.WeeklyBrief, url: str | None, *, image_failed: bool = False) -> str:
    """The brief as a few Chinese lines (markdown, well under WeCom's 2,048 bytes)."""
    week = brief.week.label.split("（", 1)[-1].rstrip("）")
    trend = brief.freshness_trend
    old = trend[0][2] if trend else None
    lines = [
        TITLE.format(week=week),
        L_SCOPE.format(words=escape_md(brief.viewer.heading)),
        L_FRESH.format(
            rate=brief.freshness_now.text(),
            trend=L_TREND.format(old=old.percent()) if old and old.denominator else "",
        ),
        L_COMPLETE.format(rate=brief.completeness.text()),
        L_VISITS.format(n=brief.completeness.denominator, reps=sum(1 for r in brief.reps if r.visits)),
        L_TAGS.format(tags="、".join(f"{escape_md(t)} {n}次" for t, n in brief.tags_top))
        if brief.tags_top
        else L_NO_TAGS,
        L_FUNNEL.format(rate=metrics.Rate(brief.funnel.quoted, brief.funnel.total).text()),
    ]
    if brief.red_total:
        names = "、".join(escape_md(c.name) for c in brief.red[:NAMES_SHOWN]) + (
            "等" if brief.red_total > NAMES_SHOWN else ""
        )
        lines.append(L_RED.format(n=brief.red_total, names=names))
    else:
        lines.append(L_NO_RED)
    if brief.review:
        lines.append(
            L_REVIEW.format(
                names="、".join(escape_md(c.name) for c in brief.review[:NAMES_SHOWN])
                + ("等" if len(brief.review) > NAMES_SHOWN else "")
            )
        )
    if image_failed:
        lines.append(L_IMAGE_FAILED)
    if url:
        lines.append(L_LINK.format(url=url))
    text = "\n".join(lines)
    while len(text.encode()) > 2000 and len(lines) > 3:  # never cut the link: drop a middle line
        lines.pop(-2)
        text = "\n".join(lines)
    return text


BRIEF_COMING = "正在生成你的周报（上周的数据），马上发给你。"
BRIEF_FOR_MANAGERS = (
    "周报是发给主管和经理的。想看自己的数字，可以直接问，例如「我这个月拜访完整率多少」「我的待办」。"
)


def on_brief_request(ctx: Ctx, event: Inbound) -> bool | None:
    """「周报」: the asker's weekly brief now — the same brief as Monday's, as a timer due at once (the tick that
    handles this message fires it), so the picture is rendered where every brief is. At most one a minute."""
    if ctx.user is None or ctx.user.role not in MANAGERS:
        ctx.reply(Text(content=BRIEF_FOR_MANAGERS))
        return None
    day = sop_times.local_day(ctx.now, policy_of(ctx)).isoformat()
    timers.schedule(
        ctx.session,
        kind=KIND_TO,
        business_key=f"{KIND}:asked:{ctx.userid}:{int(ctx.now.timestamp()) // 60}",
        subject_type="user",
        subject_id=ctx.userid,
        due_at=ctx.now,
        now=ctx.now,
        payload={"week": day, "userid": ctx.userid},
        actor=ctx.userid,
        reason=ctx.source,
    )
    ctx.reply(Text(content=BRIEF_COMING))
    return None
