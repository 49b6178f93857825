"""Health figures on a hand-made organisation, against values computed by hand (see conftest.seed_small_org)."""

from __future__ import annotations

from datetime import datetime

from core.periods import SHANGHAI, resolve_period, week_period
from storage.metrics import drill as D
from storage.metrics import figures as M
from tests.metrics.conftest import SMALL_NOW

NOW = SMALL_NOW


def _figs(factory, viewer_id: str, period: str = "this_week", **narrow):  # noqa: ANN001
    with factory() as s:
        people = M.load_people(s)
        viewer = M.viewer_for(people, viewer_id)
        sl = M.slice_for(viewer, people, **narrow)
        return M.health(s, people, sl, resolve_period(period, NOW), now=NOW)


def _groups(groups) -> dict:  # noqa: ANN001
    return {g.key: (g.rate.numerator, g.rate.denominator) for g in groups}


def test_freshness_per_rep_team_region(small_org):
    fr = _figs(small_org, "rm1")["freshness"]
    assert (fr.org.numerator, fr.org.denominator) == (2, 4)  # c1, c3 of c1, c3, c4, c5 (c2 is lost)
    assert fr.org.value == 0.5
    assert _groups(fr.by_rep) == {"rep1": (1, 1), "rep2": (1, 2), "rep3": (0, 1), "rep4": (0, 0)}
    assert _groups(fr.by_team) == {"sup1": (2, 3), "rm1": (0, 1)}  # rep3 sits directly under rm1
    assert _groups(fr.by_region) == {"华东": (1, 2), "华南": (1, 1), None: (0, 1)}
    names = {g.key: g.name for g in fr.by_team}
    assert names == {"sup1": "王主管团队", "rm1": "吴经理团队"}


def test_completeness_by_visit_rep_and_period(small_org):
    week = _figs(small_org, "rm1", "this_week")["completeness"]
    assert (week.org.numerator, week.org.denominator) == (1, 2)  # v1 complete, v2 has no location
    assert _groups(week.by_rep) == {"rep1": (1, 2), "rep2": (0, 0), "rep3": (0, 0), "rep4": (0, 0)}
    last = _figs(small_org, "rm1", "last_week")["completeness"]
    assert (last.org.numerator, last.org.denominator) == (1, 2)  # v3 has 2 photos; v4 complete
    assert _groups(last.by_rep)["rep1"] == (1, 1)  # v4 was rep1's visit to rep2's customer
    assert _groups(last.by_rep)["rep2"] == (0, 1)
    assert _groups(last.by_region) == {"华东": (0, 0), "华南": (1, 2)}
    month = _figs(small_org, "rm1", "this_month")["completeness"]
    assert (month.org.numerator, month.org.denominator) == (2, 4)
    everything = _figs(small_org, "rm1", "all")["completeness"]
    assert (everything.org.numerator, everything.org.denominator) == (
        3,
        5,
    )  # v5 is on a lost customer: counts


def test_funnel(small_org):
    month = _figs(small_org, "rm1", "this_month")["funnel"]
    assert (month.org.numerator, month.org.denominator) == (1, 3)  # o1 quoted; o2 lost, o4 need_confirmed
    everything = _figs(small_org, "rm1", "all")["funnel"]
    assert (everything.org.numerator, everything.org.denominator) == (2, 4)
    assert _groups(everything.by_rep) == {"rep1": (1, 2), "rep2": (1, 2), "rep3": (0, 0), "rep4": (0, 0)}
    with small_org() as s:
        people = M.load_people(s)
        sl = M.slice_for(M.viewer_for(people, "rm1"), people)
        f = M.funnel(s, sl, resolve_period("all", NOW))
    assert f == M.Funnel(total=4, quoted=2, negotiating=1, won=1)


def test_empty_scope_and_no_visits(small_org):
    figs = _figs(small_org, "rep4")  # owns nothing
    for metric in ("freshness", "completeness", "funnel"):
        assert (figs[metric].org.numerator, figs[metric].org.denominator) == (0, 0)
        assert figs[metric].org.value is None
        assert figs[metric].org.text() == "无数据（0/0）"
    assert _groups(figs["freshness"].by_rep) == {"rep4": (0, 0)}
    quiet = _figs(small_org, "rm1", "today")  # no visit today after 09:00? v1, v2 were at 08:00 and 08:30
    assert (quiet["completeness"].org.numerator, quiet["completeness"].org.denominator) == (1, 2)
    none = _figs(small_org, "rm1", "last_quarter")["completeness"]
    assert (none.org.numerator, none.org.denominator) == (0, 0)


def test_customers_without_nps_count_like_any_other(small_org):
    fr = _figs(small_org, "rm1")["freshness"]
    assert _groups(fr.by_region)["华南"] == (1, 1)  # c3 has no NPS and is counted


def test_scopes_and_narrowing(small_org):
    sup = _figs(small_org, "sup1")["freshness"]
    assert (sup.org.numerator, sup.org.denominator) == (2, 3)  # c1, c3, c5
    team = _figs(small_org, "rm1", team="sup1")["freshness"]
    assert (team.org.numerator, team.org.denominator) == (2, 3)  # the same as asking as sup1
    outside = _figs(small_org, "sup1", team="rm1")["freshness"]  # a team above the viewer: nothing
    assert (outside.org.numerator, outside.org.denominator) == (0, 0)
    east = _figs(small_org, "rm1", region="华东")["freshness"]
    assert (east.org.numerator, east.org.denominator) == (1, 2)


def test_freshness_as_of_an_earlier_week(small_org):
    with small_org() as s:
        people = M.load_people(s)
        sl = M.slice_for(M.viewer_for(people, "rm1"), people)
        rows = M.freshness_rows(s, sl, as_of=datetime(2026, 11, 9, tzinfo=SHANGHAI), now=NOW)
        org = sum((r for _, _, r in rows), M.Rate())
        # at 11-09 00:00: c2 (lost on 11-10) was still active and visited 10-20; c5's call was 10-23
        assert (org.numerator, org.denominator) == (2, 5)
        trend = M.freshness_trend(s, sl, now=NOW, include_now=False)
        assert len(trend) == 8 and trend[-1][0] == "11/16周"
        for _, when, rate in trend + M.freshness_trend(s, sl, now=NOW, include_now=True)[-1:]:
            one_by_one = sum((r for _, _, r in M.freshness_rows(s, sl, as_of=when, now=NOW)), M.Rate())
            assert rate == one_by_one, when
        assert trend[-1][1] < datetime(2026, 11, 23, tzinfo=SHANGHAI)
        week = week_period(datetime(2026, 11, 16).date())
        assert week.label.startswith("11月16日当周")


def test_tags_and_drill_down(small_org):
    with small_org() as s:
        people = M.load_people(s)
        sl = M.slice_for(M.viewer_for(people, "rm1"), people)
        assert M.tag_counts(s, sl, resolve_period("last_week", NOW)) == [("价格异议", 2), ("新品兴趣", 1)]
        total, rows = D.drill_customers(s, sl, resolve_period("this_month", NOW), now=NOW)
        assert total == 4
        assert [r.customer_id for r in rows] == ["c4", "c5", "c3", "c1"]  # never touched first
        c1 = rows[-1]
        assert (c1.visits, c1.complete_visits, c1.opportunities, c1.reached_quoted, c1.fresh) == (
            2,
            1,
            2,
            1,
            True,
        )
        assert rows[0].last_touch is None and not rows[0].fresh
        total, rows = D.drill_customers(s, sl, resolve_period("this_month", NOW), now=NOW, rep="rep2")
        assert [r.customer_id for r in rows] == ["c5", "c3"]
        total, visits = D.drill_visits(s, sl, resolve_period("this_month", NOW))
        assert total == 4 and [v.visit_id for v in visits] == ["v2", "v1", "v4", "v3"]
        assert [v.complete for v in visits] == [False, True, True, False]


def test_credibility_sample_is_reproducible(small_org):
    with small_org() as s:
        people = M.load_people(s)
        sl = M.slice_for(M.viewer_for(people, "rm1"), people)
        month = resolve_period("this_month", NOW)
        full = D.credibility_sample(s, sl, month)
        assert (full.population.numerator, full.population.denominator) == (2, 4)
        assert len(full.sample) == 4 and (full.sample_rate.numerator, full.sample_rate.denominator) == (2, 4)
        a = D.credibility_sample(s, sl, month, size=2, seed=11)
        b = D.credibility_sample(s, sl, month, size=2, seed=11)
        assert [c.visit_id for c in a.sample] == [c.visit_id for c in b.sample] and len(a.sample) == 2
        assert {c.visit_id for c in a.sample} <= {"v1", "v2", "v3", "v4"}
        empty = D.credibility_sample(s, sl, resolve_period("last_quarter", NOW))
        assert empty.sample == () and empty.interval is None


def test_wilson_interval():
    lo, hi = D.wilson(68, 100)
    assert 0.58 < lo < 0.59 and 0.76 < hi < 0.77
