"""「看板」「团队健康度」: the asker's health figures in a few lines, and a link to the dashboard.

The link (bot/web/dashboard.py serves it) is the page's address and its filters, nothing more: no token, so
a forwarded link opens nothing by itself. Whoever opens it signs in through WeCom (docs/web-sign-in.md) and
sees what their own scope allows. Needs the public base URL (HandlerDeps.public_base_url), for chat and timers.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from core.markup import escape_md
from core.periods import resolve_period
from handlers.context import Ctx, HandlerDeps
from handlers.messages import Inbound, Markdown, Text
from storage import scorecard as scorecard_repo
from storage.metrics import figures as metrics

NOT_CONFIGURED = "看板链接尚未配置（缺少 PUBLIC_BASE_URL），请联系管理员。"
UNKNOWN = "没有找到你的账号，请联系管理员导入组织架构。"
TITLE = "**团队健康度**"
LINE_SCOPE = "范围：{words}"
LINE_FRESH = "客户信息鲜度：{rate}（近30天有跟进的正常客户）"
LINE_COMPLETE = "过程数据可信度：{rate}（{period}拜访完整率）"
LINE_FUNNEL = "商机转化漏斗完整率：{rate}（{period}）"
LINE_TIERS = "客户评分：红色 {red} · 黄色 {yellow} · 蓝色 {blue}"
LINE_NO_SCORES = "客户评分：尚未计算（每晚自动计算）"
LINE_LINK = "[打开完整看板]({url})（经企业微信登录后查看，可按周期/团队/大区筛选）"


def dashboard_url(
    userid: str,
    now: datetime,
    deps: HandlerDeps,
    *,
    path: str = "/dashboard",
    **params: str,
) -> str | None:
    """The page's link (None when the base URL is not configured). It carries no token: `userid` and `now`
    are kept for the callers (who the link is for, when), the page learns who opens it from WeCom sign-in."""
    base = deps.public_base_url
    if not base:
        return None
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{base.rstrip('/')}{path}{'?' + query if query else ''}"


def summary_lines(session, userid: str, now: datetime) -> list[str] | None:  # noqa: ANN001
    """The figures of the chat reply, markdown lines (None for an unknown user). Each equals `ask` for the same
    words."""
    people = metrics.load_people(session)
    viewer = metrics.viewer_for(people, userid)
    if viewer is None:
        return None
    sl = metrics.slice_for(viewer, people)
    month = resolve_period("this_month", now)  # the dashboard's first screen shows the same period
    figs = metrics.health(session, people, sl, month, now=now)
    counts = scorecard_repo.tier_counts(session, owners=sl.owners)
    lines = [
        LINE_SCOPE.format(words=escape_md(viewer.heading)),
        LINE_FRESH.format(rate=figs["freshness"].org.text()),
        LINE_COMPLETE.format(rate=figs["completeness"].org.text(), period="本月"),
        LINE_FUNNEL.format(rate=figs["funnel"].org.text(), period="本月进入的商机"),
    ]
    lines.append(LINE_TIERS.format(**counts) if sum(counts.values()) else LINE_NO_SCORES)
    return lines


def on_dashboard(ctx: Ctx, event: Inbound) -> bool | None:
    lines = summary_lines(ctx.session, ctx.userid, ctx.now)
    if lines is None:
        ctx.reply(Text(content=UNKNOWN))
        return None
    url = dashboard_url(ctx.userid, ctx.now, ctx.deps)
    tail = LINE_LINK.format(url=url) if url else NOT_CONFIGURED
    ctx.reply(Markdown(content="\n".join([TITLE, *lines, tail])))
    return None
