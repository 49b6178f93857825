"""The v2 compiler and answers, without the parser: each case of tests/nlq/v2/cases.yaml is read BY HAND into a
QuerySpec (gold_spec below translates the case's gold vocabulary, field by field, into QuerySpec v2), answered by
nlq.answer.answer_spec exactly as ask() answers a parsed question (scope, read-only, cap, statement timeout), and
scored by the independent oracle (tests/nlq/v2/oracle_v2.score) on SQLite and PostgreSQL.

What a parser would have to decide (the time words) is taken from the oracle's own calendar for the explicit
windows (quarters, halves, ranges, 年初至今 …: Period kind between), so a failure here is the compiler's or the
answer's, never the parser's. Named periods (本月, 上周 …) stay named, so resolve() is exercised too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nlq.answer import answer_spec, render_chat
from nlq.spec import (
    CustomerFilter,
    EventCondition,
    Having,
    NpsCondition,
    OrderCondition,
    Period,
    QuerySpec,
    Ranking,
    Span,
    StuckCondition,
    TagCondition,
    TotalCondition,
    TouchCondition,
)
from nlq.vocab import load_vocab
from tests.nlq.v2.oracle_v2 import DEFAULT_NOW, Clock, case_now, score

CASES = yaml.safe_load((Path(__file__).parent.parent / "v2" / "cases.yaml").read_text(encoding="utf-8"))[
    "cases"
]

NAMED = {
    "today": "today",
    "yesterday": "yesterday",
    "day_before": "day_before_yesterday",
    "this_week": "this_week",
    "last_week": "last_week",
    "this_month": "this_month",
    "last_month": "last_month",
    "this_quarter": "this_quarter",
    "last_quarter": "last_quarter",
    "this_year": "this_year",
    "last_year": "last_year",
}
SPAN_UNITS = {"h": "hour", "d": "day", "w": "week", "m": "month"}

# gold measure → (entity, figure, extra QuerySpec fields)
MEASURES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "visits": ("visits", "count", {}),
    "complete_visits": ("visits", "complete_count", {}),
    "complete_rate": ("visits", "complete_rate", {}),
    "visited_customers": ("visits", "distinct_customers", {}),
    "abnormal_checkins": ("visits", "abnormal_count", {}),
    "sales": ("orders", "sales", {}),
    "order_count": ("orders", "count", {}),
    "avg_order_value": ("orders", "avg_order_value", {}),
    "opportunities": ("opportunities", "count", {}),
    "funnel": ("opportunities", "funnel_rate", {}),
    "win_rate": ("opportunities", "win_rate", {}),
    "tickets": ("tickets", "count", {}),
    "contracts": ("contracts", "count", {"contract_scope": "all"}),
    "contract_amount": ("contracts", "amount", {"contract_scope": "all"}),
    "outstanding": ("contracts", "outstanding", {"contract_scope": "all"}),
    "overdue_amount": ("contracts", "outstanding", {}),
    "overdue_contracts": ("contracts", "count", {}),
    "received": ("payments", "received", {}),
    "customer_count": ("customers", "count", {}),
    "new_customers": ("customers", "new_count", {}),
    "lost_customers": ("customers", "lost_count", {}),
    "freshness": ("customers", "freshness", {}),
    "overdue_customers": ("customers", "count", {}),
}
TOTALS = {
    "visits": "visit_count",
    "sales": "sales",
    "order_count": "order_count",
    "tickets": "ticket_count",
    "outstanding": "outstanding",
    "overdue_amount": "overdue_amount",
    "contract_amount": "contract_amount",
    "received": "received",
}
LIST_RANKS = {
    "nps": "nps",
    "overdue_days": "overdue_days",
    "last_touch": "last_touch",
    "sales": "sales",
    "order_count": "order_count",
    "visits": "visit_count",
    "tickets": "ticket_count",
    "outstanding": "outstanding",
    "overdue_amount": "overdue_amount",
    "received": "received",
    "contract_amount": "contract_amount",
}


class Unsupported(Exception):
    """A gold the hand translation does not cover (refusals, chat routes, readings QuerySpec has no field for)."""


def period(tok: Any, clock: Clock) -> Period | None:
    if tok in (None, "all"):
        return None
    if tok in NAMED:
        return Period(kind=NAMED[tok])
    if tok.startswith("last:"):
        amount, unit = tok[5:-1], tok[-1]
        return Period(kind="rolling", span=Span(amount=int(amount), unit=SPAN_UNITS[unit]))
    if tok.startswith("year:"):
        return Period(kind="year", year=int(tok[5:]))
    span = clock.resolve(tok)  # an explicit window: what the parser makes concrete
    assert span is not None
    return Period(
        kind="between",
        start=span.lo,
        end=span.hi,
        end_inclusive=span.hi_closed,
        unit=span.unit,
        label=tok[:40],
    )


def _list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, list | tuple) else [v]


def customer_filter(where: dict[str, Any], clock: Clock) -> CustomerFilter:
    f: dict[str, Any] = {}
    if "team" in where:
        raise Unsupported("a team as a customer condition")
    for key, name in (
        ("region", "regions"),
        ("city", "cities"),
        ("channel", "channels"),
        ("owner", "owners"),
    ):
        if key in where:
            f[name] = _list(where[key])
    if "under" in where:
        f["under"] = _list(where["under"])
    if "status" in where:
        f["status"] = where["status"]
    if where.get("nps"):
        f["nps"] = [NpsCondition(op=op, value=v) for op, v in where["nps"]]
    if "lost_in" in where:
        f["lost_period"] = period(where["lost_in"], clock)
        f["status"] = f.get("status") or "lost"
    if "new_in" in where:
        f["created_period"] = period(where["new_in"], clock)
    if "tag" in where:
        f["tags"] = [
            TagCondition(tag=t["tag"], period=period(t.get("period"), clock))
            if isinstance(t, dict)
            else TagCondition(tag=t)
            for t in _list(where["tag"])
        ]
    touches = []
    if "untouched" in where:
        u = where["untouched"]
        touches.append(
            TouchCondition(
                present=False,
                kind=u.get("kind", "any"),
                period=period(f"last:{u['span']}", clock),
                age_inclusive=u.get("lo_open", False),
            )
        )
    if "touched_in" in where:
        t = where["touched_in"]
        p = period(t["period"], clock)
        if p is None:
            raise Unsupported("a touch without a period")
        touches.append(TouchCondition(present=t.get("present", True), kind=t.get("kind", "any"), period=p))
    if touches:
        f["touches"] = touches
    if "ordered" in where:
        o = where["ordered"]
        f["orders"] = [
            OrderCondition(
                present=o.get("present", True),
                category=o.get("category"),
                period=period(o.get("period"), clock),
            )
        ]
    if "overdue" in where:
        o = where["overdue"] if isinstance(where["overdue"], dict) else {}
        f["overdue"] = EventCondition(period=period(o.get("period"), clock), days_gt=o.get("days_gt"))
    if "timeout" in where:
        t = where["timeout"]
        f["ticket_timeout"] = EventCondition(period=None if t is True else period(t, clock))
    if where.get("unhandled"):
        f["unhandled_ticket"] = True
    if "stuck" in where:
        f["stuck"] = StuckCondition(stage=where["stuck"]["stage"], days=where["stuck"]["days_gt"])
    if where.get("thresholds"):
        totals = []
        for th in where["thresholds"]:
            m = TOTALS.get(th["measure"])
            if m is None:
                raise Unsupported(f"a threshold on {th['measure']}")
            if th.get("timeout_only"):
                m = "timeout_tickets"
            totals.append(
                TotalCondition(
                    measure=m,
                    op=th["op"],
                    value=th["value"],
                    period=period(th.get("period"), clock),
                    tag=th.get("vtag"),
                )
            )
        f["totals"] = totals
    return CustomerFilter(**f)


def figure_fields(g: dict[str, Any], clock: Clock) -> dict[str, Any]:
    """entity, figure and the row filters of a gold measure."""
    m = g.get("measure")
    if m not in MEASURES:
        raise Unsupported(f"measure {m}")
    entity, figure, extra = MEASURES[m]
    out: dict[str, Any] = {"entity": entity, "figure": figure, **extra}
    if g.get("rep"):
        out["reps"] = _list(g["rep"])
    if g.get("vtag"):
        out["tag"] = g["vtag"]
    if g.get("category"):
        out["category"] = g["category"]
    if g.get("stage"):
        out["stages"] = _list(g["stage"])
    if g.get("stuck_days_gt") is not None:
        out["stuck_days"] = g["stuck_days_gt"]
    if g.get("timeout_only"):
        out["timeout_only"] = True
    if g.get("unhandled"):
        out["unhandled_only"] = True
    if g.get("days_gt") is not None:
        out["overdue_days_gt"] = g["days_gt"]
    if g.get("overdue_only"):
        out["contract_scope"] = "overdue"
    where = dict(g.get("where", {}))
    if m == "overdue_customers":
        where["overdue"] = {k: g[k] for k in ("days_gt",) if k in g} or True
        out.pop("overdue_days_gt", None)
    out["customer"] = customer_filter(where, clock)
    p = period(g.get("period"), clock)
    if entity == "customers" and figure not in ("new_count", "lost_count"):
        if p is not None:
            raise Unsupported("a period on customers")
    else:
        out["period"] = p
    return out


def gold_spec(gold: dict[str, Any], clock: Clock) -> QuerySpec:
    fn = gold["fn"]
    if fn == "any_of":
        return gold_spec(gold["readings"][gold.get("primary") or 0], clock)
    if fn == "chat":
        if gold["route"] != "question":
            raise Unsupported("a chat route")
        return gold_spec(gold["answer"], clock)
    desc = gold.get("rank", {}).get("desc", True)
    limit = gold.get("limit")
    if fn == "figure":
        return QuerySpec(**figure_fields(gold, clock))
    if fn == "list":
        fields: dict[str, Any] = {
            "entity": "customers",
            "figure": "list",
            "customer": customer_filter(gold.get("where", {}), clock),
            "limit": limit,
        }
        r = gold.get("rank")
        if r:
            by = LIST_RANKS[r.get("by", "sales")]
            if by == "last_touch":  # 最久没跟进: the longest untouched first
                desc = r.get("desc", False)
            if by == "visit_count" and r.get("vtag"):
                fields["ranking"] = Ranking(
                    by="tag_visits", descending=desc, tag=r["vtag"], period=period(r.get("period"), clock)
                )
            else:
                fields["ranking"] = Ranking(by=by, descending=desc, period=period(r.get("period"), clock))
        return QuerySpec(**fields)
    if fn == "groups":
        if gold["group"] not in ("region", "city", "channel", "rep", "tag", "category", "stage", "team"):
            raise Unsupported(f"group {gold['group']}")
        ranking = Ranking(by="figure", descending=desc) if "rank" in gold else None
        return QuerySpec(**figure_fields(gold, clock), group_by=gold["group"], ranking=ranking, limit=limit)
    if fn == "trend":
        fields = figure_fields({**gold, "period": None}, clock)
        fields.pop("period", None)
        ranking = Ranking(by="figure", descending=desc) if "rank" in gold else None
        return QuerySpec(**fields, group_by=gold["unit"], buckets=gold.get("n"), ranking=ranking, limit=limit)
    if fn == "comparison":
        compare = "year_ago" if gold.get("ref") == "yoy" else "previous"
        ranking = None
        if "rank" in gold:
            ranking = Ranking(by=gold["rank"].get("by", "change"), descending=desc)
        return QuerySpec(
            **figure_fields(gold, clock),
            compare=compare,
            group_by=gold.get("group"),
            ranking=ranking,
            limit=limit,
        )
    if fn == "overview":
        return QuerySpec(
            entity="visits",
            figure="count",
            overview=True,
            period=period(gold.get("period"), clock),
            customer=customer_filter(gold.get("where", {}), clock),
        )
    if fn == "people":
        if gold.get("condition") == "no_visit":
            g = {**gold, "measure": "visits"}
            having = Having(op="<", value=1)
        else:
            g = gold
            th = gold.get("threshold")
            having = Having(op=th["op"], value=th["value"]) if th else None
        ranking = Ranking(by="figure", descending=desc) if "rank" in gold else None
        return QuerySpec(**figure_fields(g, clock), people=True, having=having, ranking=ranking, limit=limit)
    raise Unsupported(fn)


def _translated() -> list[tuple[dict[str, Any], QuerySpec]]:
    out = []
    for case in CASES:
        clock = Clock(case_now(case, DEFAULT_NOW))
        try:
            out.append((case, gold_spec(case["gold"], clock)))
        except Unsupported:
            continue
    return out


TRANSLATED = _translated()


def test_the_hand_built_specs_cover_every_v2_shape():
    specs = [s for _, s in TRANSLATED]
    assert len(specs) >= 300
    kinds = {s.kind for s in specs}
    assert kinds == {"list", "figure", "groups", "comparison", "overview", "people"}
    figures = {(s.entity, s.figure) for s in specs}
    for pair in (
        ("visits", "distinct_customers"),
        ("visits", "abnormal_count"),
        ("customers", "new_count"),
        ("customers", "lost_count"),
        ("contracts", "amount"),
        ("payments", "received"),
        ("opportunities", "win_rate"),
        ("orders", "avg_order_value"),
    ):
        assert pair in figures, pair
    assert {"team", "week", "month"} <= {s.group_by for s in specs}
    assert any(s.customer.totals for s in specs) and any(s.customer.under for s in specs)
    assert any(s.customer.stuck for s in specs) and any(s.customer.unhandled_ticket for s in specs)
    assert any(s.ranking and s.ranking.by in ("change", "change_rate") for s in specs)
    assert {"previous", "year_ago"} <= {s.compare for s in specs}


@pytest.fixture(scope="module")
def answered(eval_factory):
    """Every translated case answered once per backend: (case, spec, answer)."""
    out = []
    with eval_factory() as s:
        vocab = load_vocab(s)
        for case, spec in TRANSLATED:
            alternatives = [{"understood": "另一种理解"}] if case["gold"]["fn"] == "any_of" else None
            # the parser's describe() words the reading (and says 全部时间); it is not under test here
            understood = case["q"] + ("（全部时间）" if case.get("expect_all_time") else "")
            answer = answer_spec(
                s,
                spec,
                asker=case["as"],
                now=case_now(case, DEFAULT_NOW),
                question=case["q"],
                vocab=vocab,
                understood=understood,
                alternatives=alternatives,
            )
            out.append((case, spec, answer))
    return out


def test_every_hand_built_spec_scores_right(answered, dataset):
    wrong = []
    for case, _spec, answer in answered:
        good, why = score(answer, case, dataset)
        if not good:
            wrong.append(f"{case['id']} {case['q']}: {why}")
    assert not wrong, f"{len(wrong)} of {len(answered)} wrong:\n" + "\n".join(wrong)


def test_answer_shapes_of_the_new_kinds(answered):
    for case, spec, a in answered:
        assert isinstance(a["alternatives"], list)
        if a["kind"] == "comparison":
            assert {"previous", "change", "change_rate"} <= set(a)
            assert "本期" in a["understood"] and "对比" in a["understood"]
            for r in a["rows"]:
                assert {"key", "value", "previous", "change", "change_rate"} <= set(r)
        else:
            assert not {"previous", "change", "change_rate"} & set(a), case["id"]
        if a["kind"] == "overview" and not a.get("reason"):
            assert [r["figure"] for r in a["rows"]] == ["拜访数", "拜访完整率", "客户信息鲜度", "销售额"]
            assert {"numerator", "denominator"} <= set(a["rows"][1]) and {"numerator", "denominator"} <= set(
                a["rows"][2]
            )
        if a["kind"] == "people":
            for r in a["rows"]:
                assert {"userid", "name"} <= set(r)
                h = spec.having
                if spec.entity == "visits" and h is not None and h.op == "<" and h.value == 1:
                    assert "value" not in r  # 没签到: a condition, not a figure
        text = render_chat(a)  # every answer renders in chat
        assert a["scope"] in text or a["kind"] == "refusal"


def test_chat_words_of_a_comparison_an_overview_and_people(answered):
    by_kind = {a["kind"]: a for _, _, a in answered if not a.get("reason") and (a["rows"] or a.get("value"))}
    cmp = next(a for _, _, a in answered if a["kind"] == "comparison" and not a["rows"] and a["value"])
    text = render_chat(cmp)
    assert all(w in text for w in ("本期", "上期", "变化", "变化率"))
    text = render_chat(by_kind["overview"])
    assert all(w in text for w in ("拜访数", "拜访完整率", "客户信息鲜度", "销售额"))
    people = by_kind["people"]
    assert people["rows"][0]["name"] in render_chat(people)
