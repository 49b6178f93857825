"""The dashboard's HTML: one self-contained page per view (CSS inline, charts as inline SVG, no script),
readable in WeCom's in-app browser on a phone and on a desktop. Every word a manager reads is Chinese;
every number carries data-* attributes with its numerator and denominator (tests read them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from bot.web.charts import BLUE, GREEN, bar, funnel_svg, trend_svg
from core.geo import distance_words
from core.periods import PERIOD_WORDS, SHANGHAI
from core.scorecard import TIER_WORDS
from storage.metrics.drill import CustomerLine, SampleCheck, VisitCheck
from storage.metrics.figures import METRIC_DEFINITIONS, METRIC_LABELS, Figure, Funnel, Rate

CSS = """
*{box-sizing:border-box}body{margin:0;font-family:-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",
sans-serif;background:#f4f6f9;color:#212529;font-size:15px;line-height:1.5}
header{background:#1f3a5f;color:#fff;padding:14px 18px}header h1{margin:0;font-size:21px}
header p{margin:2px 0 0;color:#c8d6eb;font-size:13px}
.account{float:right;font-size:13px;color:#c8d6eb}.account button{margin-left:6px;font-size:12px}main{padding:12px;max-width:1200px;margin:0 auto}
form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;background:#fff;padding:10px;border-radius:10px}
form.filters select,form.filters button{font-size:15px;padding:6px 8px;border-radius:6px;border:1px solid #cfd6de;
background:#fff}form.filters button{background:#2f6fed;color:#fff;border-color:#2f6fed}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:10px;margin:12px 0}
.kpi{background:#fff;border-radius:10px;padding:12px 14px;border-left:6px solid #2f6fed}
.kpi .v{font-size:30px;font-weight:700}.kpi .n,.kpi .d{color:#5b6570;font-size:13px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:10px}
section{background:#fff;border-radius:10px;padding:12px 14px;margin-bottom:10px;overflow-x:auto}
section h2{font-size:17px;margin:0 0 8px;color:#1f3a5f}svg.chart{width:100%;height:auto;font-size:12px}
svg .axis{fill:#969ea8;font-size:12px}svg .val{fill:#1f3a5f;font-size:12px}svg .lbl{fill:#212529;font-size:14px}
svg .num{font-size:14px;font-weight:700}table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:6px 8px;border-bottom:1px solid #eef1f4;text-align:left;white-space:nowrap}
th{color:#5b6570;font-weight:500;background:#fafbfc}td.r,th.r{text-align:right}
.bar{display:inline-block;width:70px;height:8px;background:#e3e7ed;border-radius:4px;margin-left:6px;
vertical-align:middle;overflow:hidden}.bar span{display:block;height:100%}
.tier{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px}
.t-red{background:#d64545}.t-yellow{background:#e0a800}.t-blue{background:#2f6fed}.t-none{background:#adb5bd}
.ok{color:#2e9e6b}.no{color:#d64545}.muted{color:#5b6570;font-size:13px}a{color:#2f6fed;text-decoration:none}
.err{max-width:520px;margin:80px auto;background:#fff;padding:28px;border-radius:12px;text-align:center}
"""


def page(title: str, subtitle: str, body: str, *, account: str = "") -> str:
    """`account`: the signed-in member's name, shown with the sign-out button (docs/web-sign-in.md)."""
    out = (
        f'<form class="account" method="post" action="/auth/logout"><span id="account">{escape(account)}</span> '
        f'<button type="submit" id="sign-out">退出登录</button></form>'
        if account
        else ""
    )
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title><style>{CSS}</style></head>'
        f"<body><header>{out}<h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header><main>{body}</main>"
        "</body></html>"
    )


def error_page(message: str, *, title: str = "无法打开看板") -> str:
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
        f'<style>{CSS}</style></head><body><div class="err" id="error"><h2>{escape(title)}</h2>'
        f"<p>{escape(message)}</p></div></body></html>"
    )


def _rate_cell(rate: Rate, metric: str, colour: str = GREEN) -> str:
    return (
        f'<td class="r" data-metric="{metric}" data-num="{rate.numerator}" data-den="{rate.denominator}">'
        f'{rate.percent()} <span class="muted">{rate.numerator}/{rate.denominator}</span>{bar(rate, colour)}</td>'
    )


def _tier(tier: str | None) -> str:
    return f'<span class="tier t-{tier or "none"}">{TIER_WORDS.get(tier, "未评分")}</span>'


def _day(at: datetime | None) -> str:
    return "从未" if at is None else at.astimezone(SHANGHAI).strftime("%Y-%m-%d")


@dataclass
class Filters:
    period: str
    team: str = ""
    region: str = ""
    teams: list[tuple[str, str]] = field(default_factory=list)  # (userid, label)
    regions: list[str] = field(default_factory=list)

    def href(self, path: str = "/dashboard", **extra: str) -> str:
        from urllib.parse import urlencode

        params = {"period": self.period, "team": self.team, "region": self.region, **extra}
        return escape(f"{path}?{urlencode({k: v for k, v in params.items() if v})}")


def filters_form(f: Filters, action: str = "/dashboard", hidden: dict[str, str] | None = None) -> str:
    def options(items: Iterable[tuple[str, str]], selected: str) -> str:
        return "".join(
            f'<option value="{escape(v)}"{" selected" if v == selected else ""}>{escape(label)}</option>'
            for v, label in items
        )

    extra = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in (hidden or {}).items()
        if v
    )
    return (
        f'<form class="filters" method="get" action="{action}">{extra}<label>周期 <select name="period">{options(PERIOD_WORDS.items(), f.period)}</select></label>'
        f'<label>团队 <select name="team">{options([("", "全部"), *f.teams], f.team)}</select></label>'
        f'<label>大区 <select name="region">{options([("", "全部"), *((r, r) for r in f.regions)], f.region)}'
        f'</select></label><button type="submit">筛选</button></form>'
    )


def kpi(metric: str, rate: Rate, note: str, colour: str) -> str:
    return (
        f'<div class="kpi" style="border-left-color:{colour}" data-kpi="{metric}" data-num="{rate.numerator}" '
        f'data-den="{rate.denominator}"><div class="n">{METRIC_LABELS[metric]}</div>'
        f'<div class="v" style="color:{colour}">{rate.percent()}</div>'
        f'<div class="d">{rate.numerator}/{rate.denominator} · {escape(note)}</div></div>'
    )


def group_table(title: str, kind: str, figs: dict[str, Figure], f: Filters, *, link_rep: bool = False) -> str:
    attr = {"rep": "by_rep", "team": "by_team", "region": "by_region"}[kind]
    rows: dict[Any, dict[str, Any]] = {}
    for metric in ("freshness", "completeness", "funnel"):
        for g in getattr(figs[metric], attr):
            rows.setdefault(g.key, {"name": g.name})[metric] = g.rate
    order = sorted(
        rows.items(), key=lambda kv: (-(kv[1].get("completeness") or Rate()).denominator, kv[1]["name"])
    )
    body = []
    for key, r in order:
        name = escape(r["name"])
        if link_rep and key:
            name = f'<a href="{f.href("/dashboard/customers", rep=key)}">{name}</a>'
        visits = (r.get("completeness") or Rate()).denominator
        body.append(
            f'<tr data-group="{kind}" data-key="{escape(key or "")}"><td>{name}</td>'
            f"{_rate_cell(r.get('freshness') or Rate(), 'freshness', BLUE)}"
            f'<td class="r" data-metric="visits">{visits}</td>'
            f"{_rate_cell(r.get('completeness') or Rate(), 'completeness')}"
            f"{_rate_cell(r.get('funnel') or Rate(), 'funnel', '#f08c2e')}</tr>"
        )
    return (
        f"<section><h2>{escape(title)}</h2><table><thead><tr><th>{ {'rep': '业务员', 'team': '团队', 'region': '大区'}[kind] }"
        f'</th><th class="r">客户信息鲜度</th><th class="r">拜访数</th><th class="r">过程数据可信度</th>'
        f'<th class="r">漏斗完整率</th></tr></thead><tbody>{"".join(body)}</tbody></table></section>'
    )


def main_view(
    *,
    f: Filters,
    figs: dict[str, Figure],
    trend: list[tuple[str, Rate]],
    fun: Funnel,
    tags: list[tuple[str, int]],
    tiers: dict[str, int],
    red: list[Any],
    review: list[Any],
    period_label: str,
    fresh_note: str,
    leads: LeadFigures | None = None,
) -> str:
    parts = [
        filters_form(f),
        '<div class="kpis">',
        kpi("freshness", figs["freshness"].org, fresh_note, BLUE),
        kpi("completeness", figs["completeness"].org, f"{period_label}的拜访", GREEN),
        kpi("funnel", figs["funnel"].org, f"{period_label}进入的商机", "#f08c2e"),
        (
            f'<div class="kpi" style="border-left-color:#d64545" data-kpi="tiers"><div class="n">客户评分</div>'
            f'<div class="v" style="color:#d64545"><a href="{f.href("/dashboard/customers", tier="red")}" '
            f'data-tier="red">{tiers.get("red", 0)}</a> <span class="muted">红</span></div>'
            f'<div class="d"><a href="{f.href("/dashboard/customers", tier="yellow")}" data-tier="yellow">黄 '
            f'{tiers.get("yellow", 0)}</a> · <a href="{f.href("/dashboard/customers", tier="blue")}" data-tier="blue">'
            f"蓝 {tiers.get('blue', 0)}</a></div></div>"
        ),
        "</div>",
        '<div class="grid2">',
        f"<section><h2>客户信息鲜度 · 近8周</h2>{trend_svg(trend)}</section>",
        f"<section><h2>商机转化漏斗 · {escape(period_label)}</h2>{funnel_svg(fun)}</section>",
        "</div>",
        group_table("按团队", "team", figs, f),
        group_table("按大区", "region", figs, f),
        group_table("按业务员（点击查看客户）", "rep", figs, f, link_rep=True),
    ]
    tag_rows = (
        "".join(
            f'<tr data-tag="{escape(t)}"><td>{i}. {escape(t)}</td><td class="r">{n}</td></tr>'
            for i, (t, n) in enumerate(tags, 1)
        )
        or '<tr><td class="muted">没有标签</td><td></td></tr>'
    )
    parts.append('<div class="grid2">')
    parts.append(
        f"<section><h2>需求标签 TOP5 · {escape(period_label)}</h2><table><tbody>{tag_rows}</tbody></table></section>"
    )
    red_rows = (
        "".join(
            f'<tr><td>{escape(c.name)}</td><td>{escape(c.owner_name)}</td><td class="r">{c.score:.0f}</td>'
            f'<td class="muted">{escape(c.weakest)}</td></tr>'
            for c in red
        )
        or '<tr><td class="muted">没有红色客户</td></tr>'
    )
    parts.append(
        f"<section><h2>红色客户（评分&lt;60，最低在前）</h2><table><tbody>{red_rows}</tbody></table>"
        f'<p><a href="{f.href("/dashboard/customers", tier="red")}">查看全部红色客户</a></p></section>'
    )
    parts.append("</div>")
    if review:
        rows = "".join(
            f'<tr><td>{escape(c.name)}</td><td>{escape(c.owner_name)}</td><td class="r">{c.score:.0f}</td>'
            f'<td class="muted">{escape(c.weakest)}</td></tr>'
            for c in review
        )
        parts.append(
            f"<section><h2>待复盘：近7天转为黄色的客户</h2><table><tbody>{rows}</tbody></table></section>"
        )
    parts.append(
        f"<section><h2>过程数据抽检</h2><p>从{escape(period_label)}的拜访中随机抽取100条，逐条核对定位、照片、标签："
        f'<a href="{f.href("/dashboard/visits", sample="1")}">查看抽检结果</a></p>'
        f'<p class="muted">口径：{escape(METRIC_DEFINITIONS["freshness"])}；'
        f"{escape(METRIC_DEFINITIONS['completeness'])}；{escape(METRIC_DEFINITIONS['funnel'])}。"
        f"与在对话中提问（如「本月拜访完整率」）的答案一致。</p></section>"
    )
    if leads is not None:
        parts.append(lead_section(leads))
    return "".join(parts)


@dataclass
class LeadFigures:
    """The lead board's figures for the slice's owners (storage/leads/queries.py; docs/leads.md)."""

    mix: dict[str, int]
    pools: dict[str, int]
    stages: list[tuple[str, float, int]]  # (stage words, average hours, stays)
    losses: list[tuple[str, int]]
    overdue: int
    oldest: list[tuple[str, str, datetime]]  # (company, step, due)


def lead_section(x: LeadFigures) -> str:
    """线索: the A+/A/B/C mix, the pools, the time per stage, TOP3 loss reasons, overdue SOP steps (当前)."""
    mix = " · ".join(f"{g} {x.mix.get(g, 0)}" for g in ("A+", "A", "B", "C", "未评级"))
    stages = "、".join(f"{escape(w)} {h:.1f}小时（{n}次）" for w, h, n in x.stages) or "暂无已结束的阶段"
    losses = "、".join(f"{escape(r)}（{n}）" for r, n in x.losses) or "暂无输单"
    oldest = "".join(
        f'<tr><td>{escape(c)}</td><td>{escape(step)}</td><td class="muted">{_day(due)}</td></tr>'
        for c, step, due in x.oldest
    )
    return (
        f'<section data-section="leads"><h2>线索 · 当前</h2>'
        f"<p>等级分布（在跟进）：{mix}</p>"
        f"<p>在手 {x.pools.get('in_hand', 0)} · 培育池 {x.pools.get('nurture', 0)} · 公海 {x.pools.get('public', 0)}</p>"
        f"<p>各阶段平均停留：{stages}</p><p>输单原因TOP3：{losses}</p>"
        f"<p>超时未完成的SOP步骤：{x.overdue}个</p><table><tbody>{oldest}</tbody></table></section>"
    )


def customers_view(
    *,
    f: Filters,
    total: int,
    rows: list[CustomerLine],
    heading: str,
    period_label: str,
    hidden: dict[str, str],
) -> str:
    body = "".join(
        f'<tr data-customer="{escape(c.customer_id)}"><td>{escape(c.name)}<div class="muted">{escape(c.customer_id)}</div></td>'
        f"<td>{escape(c.owner_name)}</td><td>{escape(c.region or '')}</td><td>{_day(c.last_touch)}</td>"
        f'<td class="{"ok" if c.fresh else "no"}">{"是" if c.fresh else "否"}</td><td class="r">{c.visits}</td>'
        f'<td class="r">{c.complete_visits}</td><td class="r">{c.reached_quoted}/{c.opportunities}</td>'
        f'<td class="r">{"" if c.score is None else f"{c.score:.0f}"}</td><td>{_tier(c.tier)}</td></tr>'
        for c in rows
    )
    more = (
        f"（共{total}位，显示前{len(rows)}位，最久未跟进在前）" if total > len(rows) else f"（共{total}位）"
    )
    return (
        f"{filters_form(f, '/dashboard/customers', hidden)}<section><h2>{escape(heading)}"
        f'<span class="muted" data-total="{total}">{more}</span></h2><p><a href="{f.href()}">← 返回看板</a></p>'
        f"<table><thead><tr><th>客户</th><th>负责人</th><th>大区</th><th>最近跟进</th><th>近30天有跟进</th>"
        f'<th class="r">拜访（{escape(period_label)}）</th><th class="r">完整拜访</th><th class="r">商机到报价/全部</th>'
        f'<th class="r">评分</th><th>档位</th></tr></thead><tbody>{body}</tbody></table></section>'
    )


def _location_word(v: VisitCheck) -> str:
    """有 (at the store), 离店约19.8公里 (measured away from it), or 无."""
    if v.located:
        return "有"
    return f"离店{distance_words(v.distance_m)}" if v.distance_m is not None else "无"


def _visit_rows(rows: Iterable[VisitCheck]) -> str:
    def mark(ok: bool, text: str) -> str:
        return f'<td class="{"ok" if ok else "no"}">{escape(text)}</td>'

    return "".join(
        f'<tr data-visit="{escape(v.visit_id)}" data-complete="{int(v.complete)}">'
        f"<td>{v.checked_in_at.astimezone(SHANGHAI).strftime('%m-%d %H:%M')}</td><td>{escape(v.customer_name)}</td>"
        f"<td>{escape(v.rep_userid)}</td>{mark(v.located, _location_word(v))}"
        f"{mark(v.photos >= 3, f'{v.photos}张')}{mark(bool(v.tags), '、'.join(v.tags) or '无')}"
        f"{mark(v.complete, '完整' if v.complete else '不完整')}</tr>"
        for v in rows
    )


VISIT_HEAD = (
    "<thead><tr><th>签到</th><th>客户</th><th>业务员</th><th>定位</th><th>照片≥3</th><th>标签</th>"
    "<th>结论</th></tr></thead>"
)


def sample_view(*, f: Filters, sample: SampleCheck, period_label: str) -> str:
    s = sample.sample_rate
    interval = (
        f"，95%置信区间 {sample.interval[0] * 100:.1f}%～{sample.interval[1] * 100:.1f}%"
        if sample.interval
        else ""
    )
    return (
        f"{filters_form(f, '/dashboard/visits', {'sample': '1'})}<section><h2>过程数据抽检 · {escape(period_label)}</h2>"
        f'<p><a href="{f.href()}">← 返回看板</a></p>'
        f'<p data-kpi="sample" data-num="{s.numerator}" data-den="{s.denominator}">随机抽取 {s.denominator} 条拜访'
        f"（随机种子 {sample.seed}，同样的数据抽到同样的拜访），完整 {s.numerator} 条，抽检完整率 {s.percent()}"
        f'{interval}。</p><p data-kpi="population" data-num="{sample.population.numerator}" '
        f'data-den="{sample.population.denominator}">全量：{sample.population.denominator} 条拜访中完整 '
        f"{sample.population.numerator} 条，过程数据可信度 {sample.population.percent()}。</p>"
        f"<table>{VISIT_HEAD}<tbody>{_visit_rows(sample.sample)}</tbody></table></section>"
    )


def visits_view(
    *, f: Filters, total: int, rows: list[VisitCheck], heading: str, hidden: dict[str, str]
) -> str:
    return (
        f"{filters_form(f, '/dashboard/visits', hidden)}<section><h2>{escape(heading)}"
        f'<span class="muted" data-total="{total}">（共{total}条，显示最近{len(rows)}条）</span></h2>'
        f'<p><a href="{f.href()}">← 返回看板</a></p><table>{VISIT_HEAD}<tbody>{_visit_rows(rows)}</tbody></table>'
        f"</section>"
    )
