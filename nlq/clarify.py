"""Clarify, do not refuse (docs/nlq-semantics.md § Clarify): the other readings of an ambiguous question.

The parser answers on the most likely reading; this module lists, for the same question, the other readings
the layer defines (at most three), as QuerySpecs. Each rule names the ambiguity it resolves: a person named
twice in the organisation, 某人的拜访 (by them or at their customers), 拜访了多少 (visits or stores), 转化率
(funnel or win rate), 完整率 without 拜访, 合同多少 (count or amount), 前N个月 without a year (of the year or
the last N×30 days), a supervisor's 业绩 (their own customers or their team's), 单子 (orders or sales),
订单最多 (by count or amount), 增长最快 (by change or by rate), 趋势 (by month or by week), and a figure
that could equally be a list of customers (新品兴趣, 价格异议多少, 工单超时, 逾期的).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from core.roles import MANAGERS
from nlq.spec import Period, QuerySpec, Ranking, Span
from nlq.vocab import Vocab

MAX_ALTERNATIVES = 3
_PER_REP = {
    "sales": ("orders", "sales"),
    "visit_count": ("visits", "count"),
    "order_count": ("orders", "count"),
}


def _with(spec: QuerySpec, **changes: Any) -> QuerySpec | None:
    data = spec.model_dump()
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".", 1)
            data[outer][inner] = value
        else:
            data[key] = value
    try:
        return QuerySpec.model_validate(data)
    except ValidationError:
        return None


def alternatives(
    question: str, spec: QuerySpec, *, vocab: Vocab, now: datetime, same_names: list[list[str]] | None = None
) -> list[QuerySpec]:
    """The other readings of `question` (read as `spec`), most likely first, at most three."""
    q = question
    out: list[QuerySpec | None] = []
    # a person named twice: the same question about each other namesake
    for ids in same_names or []:
        chosen = [u for u in ids if u in (*spec.customer.owners, *spec.reps, *spec.customer.under)]
        for other in ids:
            if chosen and other != chosen[0]:
                owners = [other if u == chosen[0] else u for u in spec.customer.owners]
                reps = [other if u == chosen[0] else u for u in spec.reps]
                under = [other if u == chosen[0] else u for u in spec.customer.under]
                out.append(_with(spec, **{"customer.owners": owners, "reps": reps, "customer.under": under}))
    # 张伟的拜访: visits by 张伟, or visits at 张伟's customers
    if spec.entity == "visits" and spec.reps and not spec.customer.owners:
        out.append(_with(spec, reps=[], **{"customer.owners": list(spec.reps)}))
    # a supervisor's 业绩 / 客户: their own customers, or everyone below them
    for u in spec.customer.owners:
        user = vocab.users.get(u)
        if user is not None and user.role in MANAGERS and not spec.customer.under:
            rest = [x for x in spec.customer.owners if x != u]
            out.append(_with(spec, **{"customer.owners": rest, "customer.under": [u]}))
    for u in spec.customer.under:
        if not spec.customer.owners:
            out.append(
                _with(
                    spec,
                    **{"customer.under": [x for x in spec.customer.under if x != u], "customer.owners": [u]},
                )
            )
    # 拜访了多少 without 次: visits, or stores visited
    if spec.entity == "visits" and spec.figure == "count" and re.search(r"拜访(?:了|过)?多少(?!次)", q):
        out.append(_with(spec, figure="distinct_customers"))
    # 转化率: the funnel, or the win rate; 完整率 alone: visits, or the funnel
    if spec.figure == "funnel_rate" and "转化率" in q and "漏斗" not in q:
        out.append(_with(spec, figure="win_rate", stages=[]))
    if spec.figure == "complete_rate" and "完整率" in q and "拜访" not in q:
        out.append(_with(spec, entity="opportunities", figure="funnel_rate", reps=[], tag=None))
    # 合同多少: how many contracts, or their amount
    if spec.entity == "contracts" and spec.contract_scope == "all" and spec.figure == "count" and "合同" in q:
        out.append(_with(spec, figure="amount"))
    # 单子 / 订单最多: orders by count, or by amount
    if spec.entity == "orders" and spec.figure == "count" and "单子" in q:
        out.append(_with(spec, figure="sales"))
    r = spec.ranking
    if r is not None and spec.shape == "list" and r.by == "order_count" and "订单" in q:
        out.append(
            _with(spec, ranking=Ranking(by="sales", descending=r.descending, period=r.period).model_dump())
        )
    # 增长最快: by the change, or by the rate of change
    if r is not None and r.by in ("change", "change_rate"):
        other = "change_rate" if r.by == "change" else "change"
        out.append(_with(spec, ranking=Ranking(by=other, descending=r.descending).model_dump()))  # type: ignore[arg-type]
    # 趋势 without 周/月: by month, or by week
    if spec.group_by in ("week", "month") and not re.search(r"周|月", q):
        out.append(_with(spec, group_by="week" if spec.group_by == "month" else "month", buckets=None))
    # 前N个月 without a year: the first N months of this year, or the last N×30 days
    m = re.search(r"(?<![年的])(?:前|头)(\d{1,2})个月", _digits(q))
    if m and spec.period is not None and spec.period.kind == "between":
        span = Period(kind="rolling", span=Span(amount=30 * int(m.group(1)), unit="day"))
        out.append(_with(spec, period=span.model_dump()))
    # a figure that could be a list of customers, and the other way round
    if spec.shape == "list" and spec.customer.tags and len(spec.customer.tags) == 1 and spec.ranking is None:
        t = spec.customer.tags[0]
        cond = {k: v for k, v in spec.customer.model_dump().items() if k != "tags"}
        data = {"entity": "visits", "figure": "count", "tag": t.tag, "period": t.period, "customer": cond}
        out.append(_try(data))
    if spec.entity == "customers" and spec.figure == "count" and spec.customer.tags and spec.group_by is None:
        t = spec.customer.tags[0]
        cond = {k: v for k, v in spec.customer.model_dump().items() if k != "tags"}
        out.append(
            _try({"entity": "visits", "figure": "count", "tag": t.tag, "period": t.period, "customer": cond})
        )
        out.append(_with(spec, figure="list"))
    if spec.entity == "tickets" and spec.timeout_only and spec.shape == "figure":
        cond = spec.customer.model_dump()
        cond["ticket_timeout"] = {"period": spec.period}
        out.append(_try({"entity": "customers", "figure": "list", "customer": cond}))
    if spec.shape == "list" and spec.customer.overdue is not None and spec.ranking is None:
        cond = {k: v for k, v in spec.customer.model_dump().items() if k != "overdue"}
        out.append(_try({"entity": "contracts", "figure": "outstanding", "customer": cond}))
    if spec.shape == "list" and spec.customer.ticket_timeout is not None and spec.ranking is None:
        cond = {k: v for k, v in spec.customer.model_dump().items() if k != "ticket_timeout"}
        data = {"entity": "tickets", "figure": "count", "timeout_only": True, "customer": cond}
        data["period"] = spec.customer.ticket_timeout.period
        out.append(_try(data))
    if spec.entity == "payments" and spec.shape == "figure" and "情况" in q:
        out.append(
            _try({"entity": "contracts", "figure": "outstanding", "customer": spec.customer.model_dump()})
        )
    if spec.entity == "orders" and spec.figure == "sales" and "多少钱" in q:
        out.append(_with(spec, entity="contracts", figure="outstanding", contract_scope="all", category=None))
    if spec.shape == "list" and spec.customer.lost_period is not None and spec.ranking is None:
        out.append(_with(spec, figure="count"))
    # 销售排名 / 拜访最多的 without 客户: customers ranked, or the reps ranked
    if spec.shape == "list" and r is not None and "客户" not in q and r.by in _PER_REP:
        entity, figure = _PER_REP[r.by]
        out.append(_try({"entity": entity, "figure": figure, "people": True, "ranking": {"by": "figure"}}))
        out.append(_try({"entity": entity, "figure": figure, "group_by": "rep", "ranking": {"by": "figure"}}))
    # 做得最好 / 这个月的拜访: sales, or visits, or their completeness
    if spec.shape == "groups" and re.search(r"做(?:得|的)|干(?:得|的)", q):
        for entity, figure in (("visits", "count"), ("visits", "complete_rate")):
            out.append(_with(spec, entity=entity, figure=figure, category=None))
    if spec.entity == "visits" and spec.figure == "count" and re.search(r"的拜访(?!次|数|了|过)", q):
        out.append(_with(spec, figure="complete_rate"))
    # 本周拜访情况: the overview, or the visits alone
    if spec.overview and "拜访" in q:
        cond = spec.customer.model_dump()
        out.append(_try({"entity": "visits", "figure": "count", "period": spec.period, "customer": cond}))
    seen = {spec.model_dump_json()}
    unique: list[QuerySpec] = []
    for alt in out:
        if alt is not None and alt.model_dump_json() not in seen:
            seen.add(alt.model_dump_json())
            unique.append(alt)
    return unique[:MAX_ALTERNATIVES]


def _try(data: dict[str, Any]) -> QuerySpec | None:
    try:
        return QuerySpec.model_validate(data)
    except ValidationError:
        return None


def _digits(q: str) -> str:
    return q.replace("三", "3").replace("两", "2").replace("二", "2").replace("四", "4").replace("六", "6")
