"""Targets' pure rules (core/targets): periods, the largest-remainder split, baselines by hand, and the cascade
summing exactly at every level on generated trees (stores with no history, reps with no stores)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.targets.baseline import StoreHistory, baseline, floor_of, windows
from core.targets.cascade import (
    Coefficient,
    RepInput,
    StoreInput,
    cascade,
    check_sums,
    node_id,
)
from core.targets.periods import BadPeriod, parse_period
from core.targets.split import split_fen, yuan


def test_periods():
    q = parse_period("2026Q2")
    assert (q.key, q.start, q.end, q.months, q.label) == (
        "2026Q2",
        date(2026, 4, 1),
        date(2026, 7, 1),
        3,
        "2026年第2季度",
    )
    m = parse_period("2026-5")
    assert (m.key, m.start, m.end, m.months) == ("2026-05", date(2026, 5, 1), date(2026, 6, 1), 1)
    y = parse_period("2026")
    assert (y.start, y.end, y.months) == (date(2026, 1, 1), date(2027, 1, 1), 12)
    assert q.elapsed_share(date(2026, 3, 31)) == 0.0
    assert q.elapsed_share(date(2026, 4, 1)) == 1 / 91
    assert q.elapsed_share(date(2026, 6, 30)) == 1.0
    for bad in ("2026Q5", "2026-13", "26Q1", "下季度"):
        with pytest.raises(BadPeriod):
            parse_period(bad)


def test_split_by_largest_remainder():
    assert split_fen(100, [1, 1, 1]) == [34, 33, 33]  # the tie goes to the first child
    assert split_fen(10, [1, 2, 7]) == [1, 2, 7]
    assert split_fen(101, [3, 3, 4]) == [30, 30, 41]  # 30.3, 30.3, 40.4: the fen to the largest remainder
    assert split_fen(7, [0, 0]) == [4, 3]  # all weights zero: equal
    assert split_fen(5, [0, 9]) == [0, 5]
    assert split_fen(-100, [1, 1, 1]) == [-34, -33, -33]
    assert yuan(12000000000) == "¥120,000,000.00"
    assert yuan(-5) == "-¥0.05"


@given(st.integers(0, 10**13), st.lists(st.integers(0, 10**12), min_size=1, max_size=40))
def test_split_always_sums(amount, weights):
    parts = split_fen(amount, weights)
    assert sum(parts) == amount
    assert all(p >= 0 for p in parts)
    total = sum(weights) or len(weights)
    ws = weights if sum(weights) else [1] * len(weights)
    for p, w in zip(parts, ws, strict=True):  # never more than one fen off the exact share
        assert abs(p - Fraction(amount * w, total)) < 1


# --- baselines by hand -----------------------------------------------------------------------------

Q2 = parse_period("2026Q2")


def test_windows_of_a_quarter_planned_ahead_and_late():
    w = windows(Q2, as_of=date(2026, 3, 20))
    assert w.cutoff == date(2026, 3, 1)  # March is still running: history ends with February
    assert w.recent == (date(2025, 12, 1), date(2026, 3, 1))
    assert w.recent_ly == (date(2024, 12, 1), date(2025, 3, 1))
    assert w.six == (date(2025, 9, 1), date(2026, 3, 1))
    assert w.ly == (date(2025, 4, 1), date(2025, 7, 1))
    assert windows(Q2, as_of=date(2026, 5, 9)).cutoff == date(2026, 4, 1)
    assert windows(parse_period("2026"), as_of=date(2026, 1, 1)).ly == (date(2025, 1, 1), date(2026, 1, 1))
    assert windows(parse_period("2026"), as_of=date(2025, 10, 1)).ly is None  # 2025 not over yet


def test_baseline_same_period_last_year_times_trend():
    w = windows(Q2, as_of=date(2026, 4, 1))
    # LY Q2 2025: ¥30,000.00; recent (Jan–Mar 2026) ¥12,000.00 vs Jan–Mar 2025 ¥10,000.00 → trend 1.2
    h = StoreHistory(ly_fen=3_000_000, recent_fen=1_200_000, recent_ly_fen=1_000_000, six_fen=2_000_000)
    b = baseline(h, Q2, w)
    assert (b.method, b.trend, b.fen) == ("same_period_last_year", Fraction(6, 5), 3_600_000)
    # the trend is clamped to [0.5, 2]
    assert baseline(StoreHistory(ly_fen=1000, recent_fen=9000, recent_ly_fen=1000), Q2, w).fen == 2000
    assert baseline(StoreHistory(ly_fen=1001, recent_fen=0, recent_ly_fen=1000), Q2, w).fen == 501  # half up
    # no sales in the recent window a year ago: trend 1
    assert baseline(StoreHistory(ly_fen=777, recent_fen=50), Q2, w).fen == 777


def test_baseline_run_rate_and_the_floor():
    w = windows(Q2, as_of=date(2026, 4, 1))  # S = Oct 2025 – Mar 2026
    # six months of history: ¥6,000.01 over 6 months × 3 = 3,000.005 → 300001 fen (half up)
    h = StoreHistory(six_fen=600_001, first_on=date(2025, 2, 3))
    b = baseline(h, Q2, w)
    assert (b.method, b.months_active, b.fen) == ("run_rate", 6, 300_001)
    # a store whose first order was in January: 3 months active → ¥900 / 3 × 3
    h = StoreHistory(six_fen=90_000, recent_fen=90_000, recent_orders=3, first_on=date(2026, 1, 15))
    b = baseline(h, Q2, w)
    assert (b.months_active, b.fen) == (3, 90_000)
    assert baseline(StoreHistory(), Q2, w).method == "new_store_floor"
    assert floor_of([0, 300, 100, 200, 400]) == 100  # low median 200, half of it
    assert floor_of([0, 0]) == 0


# --- the cascade -----------------------------------------------------------------------------------


def _store(cid, region, city, owner, **h):
    return StoreInput(cid, f"门店{cid}", region, city, owner, StoreHistory(**h))


def test_cascade_on_fixture_data():
    w = windows(Q2, as_of=date(2026, 4, 1))
    stores = [
        _store(
            "S1",
            "华东",
            "上海",
            "r1",
            six_fen=600_000,
            recent_fen=300_000,
            recent_orders=3,
            first_on=date(2025, 1, 5),
        ),
        _store(
            "S2",
            "华东",
            "上海",
            "r1",
            six_fen=1_200_000,
            recent_fen=600_000,
            recent_orders=3,
            first_on=date(2025, 1, 5),
        ),
        _store("S3", "华东", "杭州", "r2"),  # no history: the floor of its city (none) → the organisation's
        _store(
            "S4",
            "华南",
            "广州",
            "r2",
            six_fen=600_000,
            recent_fen=300_000,
            recent_orders=3,
            first_on=date(2025, 1, 5),
        ),
    ]
    plan = cascade(
        period=Q2,
        windows=w,
        amount_fen=12_000_000_000,
        stores=stores,
        reps=[RepInput("r1", "张三", 50_000), RepInput("r3", "无店的李四", 10_000)],
        coefficients={"华南": Coefficient(Fraction(11, 10), "竞品退出", "mgr")},
    )
    assert check_sums(plan.nodes) == []
    n = plan.nodes
    # baselines: run rate over 6 months × 3; S3 gets half the organisation's low median (300,000 of 300k/600k/300k)
    assert [n[node_id("store", c)].baseline_fen for c in ("S1", "S2", "S3", "S4")] == [
        300_000,
        600_000,
        150_000,
        300_000,
    ]
    # S2's 客单价 is a third above the city median (¥2,000 vs ¥1,500): 1000 + round(100 × 1/3) = 1033 thousandths
    assert n[node_id("store", "S2")].factors["ticket"] == 1.033
    assert n[node_id("store", "S1")].factors["ticket"] == 0.967
    # weights (baseline × three factors in thousandths): S1 300000×967, S2 600000×1033, S3 150000×1000,
    # S4 300000×1000 × 1.1 (华南's coefficient)
    k = 1000 * 1000
    w_east, w_south = (300_000 * 967 + 600_000 * 1033 + 150_000 * 1000) * k, 330_000 * 1000 * k
    assert n[node_id("region", "华东")].target_fen == split_fen(12_000_000_000, [w_east, w_south])[0]
    assert n[node_id("region", "华南")].factors["coefficient"] == 1.1
    assert "竞品退出" in n[node_id("region", "华南")].rationale
    assert (
        n[node_id("rep", "r1")].target_fen
        == n[node_id("store", "S1")].target_fen + n[node_id("store", "S2")].target_fen + 50_000
    )
    assert n[node_id("rep", "r3")].target_fen == 10_000 and n[node_id("rep", "r3")].children == []
    for node in n.values():
        assert node.rationale, node.id
    assert "新店保底" in n[node_id("store", "S3")].rationale


_history = st.one_of(
    st.just({}),  # no history at all
    st.fixed_dictionaries(
        {
            "ly_fen": st.integers(0, 10**9),
            "recent_fen": st.integers(0, 10**8),
            "recent_ly_fen": st.integers(0, 10**8),
            "six_fen": st.integers(0, 10**9),
            "recent_orders": st.integers(0, 60),
            "first_on": st.one_of(st.none(), st.dates(date(2023, 1, 1), date(2026, 3, 31))),
        }
    ),
)
_stores = st.lists(
    st.tuples(
        st.sampled_from(["华东", "华南", None, ""]),
        st.sampled_from(["上海", "杭州", "广州", None]),
        st.sampled_from(["r1", "r2", "r3"]),
        _history,
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 10**13),
    _stores,
    st.lists(st.tuples(st.sampled_from(["r1", "r2", "r9", "r10"]), st.integers(0, 10**7)), max_size=4),
    st.dictionaries(
        st.sampled_from(["华东", "华南", "未分区"]), st.fractions(Fraction(1, 2), Fraction(3, 2)), max_size=3
    ),
    st.dates(date(2025, 1, 1), date(2026, 12, 31)),
)
def test_cascade_sums_exactly_at_every_level(amount, raw, reps, coefs, as_of):
    stores = [_store(f"C{i:03d}", r, c, o, **h) for i, (r, c, o, h) in enumerate(raw)]
    rep_inputs = {u: RepInput(u, u, dev) for u, dev in reps}  # r9, r10: reps with no stores
    plan = cascade(
        period=Q2,
        windows=windows(Q2, as_of=as_of),
        amount_fen=amount,
        stores=stores,
        reps=rep_inputs.values(),
        coefficients={k: Coefficient(v, "测试") for k, v in coefs.items()},
    )
    assert plan.check() == []  # before the stores' nodes are built
    assert check_sums(plan.nodes) == []
    assert plan.org.target_fen == amount
    assert sum(n.target_fen for n in plan.of_level("store")) == amount
    reps_total = sum(n.target_fen for n in plan.of_level("rep"))
    assert reps_total == amount + sum(r.development_fen for r in rep_inputs.values())
    assert all(n.target_fen >= 0 for n in plan.nodes.values())
    assert {n.key for n in plan.of_level("rep")} >= set(rep_inputs)


# --- adjustments -----------------------------------------------------------------------------------


def test_adjust_command_words_and_the_bound():
    from core.targets.adjust import adjusted, parse_command, percent_words, within_bound

    c = parse_command("调整目标 C001 +5% 2026Q2 竞品促销，临时加单 https://example.com/a.jpg")
    assert (c.store, c.pct, c.period, c.reason, c.link) == (
        "C001",
        Fraction(5),
        "2026Q2",
        "竞品促销，临时加单",
        "https://example.com/a.jpg",
    )
    c = parse_command("目标调整 味源超市 －3.5％ 竞品开业")
    assert (c.store, c.pct, c.reason, c.link, c.period) == (
        "味源超市",
        Fraction(-7, 2),
        "竞品开业",
        None,
        None,
    )
    assert parse_command("调整目标 C001 5%").reason == ""
    assert parse_command("调整目标 C001 多一点") is None
    limit = Fraction(5)
    assert within_bound(Fraction(5), limit) and within_bound(Fraction(-5), limit)
    assert not within_bound(Fraction("5.01"), limit) and not within_bound(Fraction("-5.01"), limit)
    assert adjusted(10_001, Fraction(5)) == 10_501  # 10501.05 → half up
    assert adjusted(10_010, Fraction(-5)) == 9_510  # 9509.5 → 9510
    assert percent_words(Fraction(5)) == "+5%" and percent_words(Fraction("-5.01")) == "-5.01%"


# --- health lights ---------------------------------------------------------------------------------


def test_lights():
    from core.targets.health import Check, Thresholds, light

    th = Thresholds(green=0.9, red=0.6, weeks=2)
    d = date.fromisoformat
    assert light(0.95, [], th, today=d("2026-04-13"), action_since=None) == ("green", None)
    assert light(None, [], th, today=d("2026-04-13"), action_since=None) == ("green", None)
    assert light(0.7, [], th, today=d("2026-04-13"), action_since=None) == ("yellow", None)
    assert light(0.5, [], th, today=d("2026-04-13"), action_since=None) == ("yellow", d("2026-04-13"))
    week1 = [Check(d("2026-04-06"), 0.5)]
    assert light(0.5, week1, th, today=d("2026-04-13"), action_since=None) == ("red", d("2026-04-06"))
    # an action since the run began keeps it yellow; one before the run does not
    assert light(0.5, week1, th, today=d("2026-04-13"), action_since=d("2026-04-06"))[0] == "yellow"
    assert light(0.5, week1, th, today=d("2026-04-13"), action_since=d("2026-04-05"))[0] == "red"
    # a check above the red pace, or a gap of more than 10 days, breaks the run
    assert (
        light(0.5, [Check(d("2026-04-06"), 0.61)], th, today=d("2026-04-13"), action_since=None)[0]
        == "yellow"
    )
    assert (
        light(0.5, [Check(d("2026-04-01"), 0.1)], th, today=d("2026-04-13"), action_since=None)[0] == "yellow"
    )
    three = Thresholds(weeks=3)
    assert light(0.5, week1, three, today=d("2026-04-13"), action_since=None)[0] == "yellow"
