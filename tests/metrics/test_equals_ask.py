"""A figure in a brief, the chat reply or the dashboard equals `ask` for the same words and asker
(docs/nlq-semantics.md), on the nlq evaluation dataset, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from core.periods import resolve_period
from handlers.links.dashboard import summary_lines
from nlq.answer import ask
from storage.metrics import figures as M
from tests.nlq.dataset import NOW

VIEWERS = ("dir", "rm_e", "sup_e2", "rep_e1", "rep_s5")  # director, manager, nested supervisor, rep, empty
FIGURES = [
    ("客户信息鲜度", "freshness", "this_week"),
    ("本周拜访完整率", "completeness", "this_week"),
    ("上周拜访完整率", "completeness", "last_week"),
    ("本月拜访完整率", "completeness", "this_month"),
    ("最近7天拜访完整率", "completeness", "last_7_days"),
    ("拜访完整率", "completeness", "all"),
    ("过程数据可信度", "completeness", "all"),
    ("商机转化漏斗完整率", "funnel", "all"),
    ("本月商机转化漏斗完整率", "funnel", "this_month"),
    ("最近90天商机转化漏斗完整率", "funnel", "last_90_days"),
]


def _ask(s, who: str, q: str) -> dict:  # noqa: ANN001
    a = ask(s, asker=who, question=q, now=NOW)
    assert a["kind"] in ("figure", "groups"), (q, a)
    return a


def _pairs(rows: list[dict]) -> set:
    return {(r["key"], r["numerator"], r["denominator"]) for r in rows}


@pytest.mark.parametrize("who", VIEWERS)
def test_org_figures_equal_ask(eval_factory, who):
    with eval_factory() as s:
        people = M.load_people(s)
        sl = M.slice_for(M.viewer_for(people, who), people)
        for question, metric, period in FIGURES:
            a = _ask(s, who, question)
            fig = M.health(s, people, sl, resolve_period(period, NOW), now=NOW)[metric]
            assert (fig.org.numerator, fig.org.denominator) == (a["numerator"], a["denominator"]), question
            assert fig.org.value == a["value"], question


@pytest.mark.parametrize("who", ("dir", "rm_e", "rep_e1"))
def test_group_figures_equal_ask(eval_factory, who):
    with eval_factory() as s:
        people = M.load_people(s)
        sl = M.slice_for(M.viewer_for(people, who), people)
        week = M.health(s, people, sl, resolve_period("this_week", NOW), now=NOW)
        month = M.health(s, people, sl, resolve_period("this_month", NOW), now=NOW)
        by = lambda groups: {(g.key, g.rate.numerator, g.rate.denominator) for g in groups}  # noqa: E731
        assert by(week["completeness"].by_rep) == _pairs(_ask(s, who, "本周各业务员拜访完整率")["rows"])
        assert by(week["freshness"].by_region) == _pairs(_ask(s, who, "各大区客户信息鲜度")["rows"])
        assert by(month["completeness"].by_region) == _pairs(_ask(s, who, "本月各大区拜访完整率")["rows"])
        tags = [(r["key"], r["value"]) for r in _ask(s, who, "上周各需求标签拜访数")["rows"] if r["value"]]
        assert M.tag_counts(s, sl, resolve_period("last_week", NOW)) == tags


def test_team_and_region_filters_equal_ask(eval_factory):
    with eval_factory() as s:
        people = M.load_people(s)
        rm = M.viewer_for(people, "rm_e")
        team = M.health(
            s, people, M.slice_for(rm, people, team="sup_e2"), resolve_period("this_month", NOW), now=NOW
        )
        a = _ask(s, "sup_e2", "本月拜访完整率")
        assert (team["completeness"].org.numerator, team["completeness"].org.denominator) == (
            a["numerator"],
            a["denominator"],
        )
        d = M.viewer_for(people, "dir")
        south = M.health(
            s, people, M.slice_for(d, people, region="华南"), resolve_period("this_week", NOW), now=NOW
        )
        a = _ask(s, "dir", "华南客户信息鲜度")
        assert (south["freshness"].org.numerator, south["freshness"].org.denominator) == (
            a["numerator"],
            a["denominator"],
        )


@pytest.mark.parametrize("who", ("dir", "sup_e2"))
def test_weekly_brief_and_chat_equal_ask(eval_factory, who):
    with eval_factory() as s:
        people = M.load_people(s)
        brief = M.weekly_brief(s, people, M.viewer_for(people, who), now=NOW)
        checks = [
            (brief.freshness_now, "客户信息鲜度"),
            (brief.completeness, "上周拜访完整率"),
            (M.Rate(brief.funnel.quoted, brief.funnel.total), "最近90天商机转化漏斗完整率"),
        ]
        for rate, question in checks:
            a = _ask(s, who, question)
            assert (rate.numerator, rate.denominator) == (a["numerator"], a["denominator"]), question
        tags = [(r["key"], r["value"]) for r in _ask(s, who, "上周各需求标签拜访数")["rows"] if r["value"]]
        assert brief.tags_top == tags[:3]
        reps = {(r.userid, r.complete, r.visits) for r in brief.reps}
        assert reps == _pairs(_ask(s, who, "上周各业务员拜访完整率")["rows"])
        lines = "\n".join(summary_lines(s, who, NOW))
        for question in ("客户信息鲜度", "本月拜访完整率", "本月商机转化漏斗完整率"):
            a = _ask(s, who, question)
            assert re.search(rf"（{a['numerator']}/{a['denominator']}）（(近30天|本月)", lines), question


def test_trend_in_one_pass_equals_point_by_point(eval_factory):
    with eval_factory() as s:
        people = M.load_people(s)
        for who in ("dir", "sup_e2"):
            sl = M.slice_for(M.viewer_for(people, who), people)
            for _, when, rate in M.freshness_trend(s, sl, now=NOW, include_now=True):
                assert rate == sum((r for _, _, r in M.freshness_rows(s, sl, as_of=when, now=NOW)), M.Rate())
