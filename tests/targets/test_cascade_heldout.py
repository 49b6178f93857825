"""Held-out check of the targets cascade (docs/targets.md: Baseline, Weights, Cascade) with gold numbers
computed by hand from the spec. 2026Q2 planned on 2026-04-01: cutoff 2026-04-01; R = 2026-01..03,
S = 2025-10..2026-03, LY = 2025Q2 (ended by the cutoff), R a year earlier = 2025-01..03.

Note on the cutoff: planned on 2026-03-25 the spec reads two ways — "the first day of the period" (04-01,
March's orders so far are history) or "a month still running is never history" (03-01). The plan date
2026-04-01 is the first day of both the period and the current month, so both readings give 04-01."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.targets.periods import parse_period
from storage.targets.plan import preview
from tests.support.db import import_texts

NOW = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
TODAY = date(2026, 4, 1)  # see the note on the cutoff below

USERS = """userid,name,role,manager_userid,region,city
director,赵总,sales_director,,,
rep01,张伟,rep,director,华东,上海
rep02,刘洋,rep,director,华东,杭州
rep03,黄丽,rep,director,华南,广州
"""
CUSTOMERS = """customer_id,name,region,city,owner_userid,status
S01,甲一,华东,上海,rep01,active
S02,甲二,华东,上海,rep01,active
S03,甲三,华东,上海,rep01,active
S04,乙一,华东,杭州,rep02,active
S05,乙二,华东,杭州,rep02,active
S06,乙三,华东,杭州,rep02,active
S07,丙一,华南,广州,rep03,active
S08,丙二,华南,广州,rep03,active
"""
M = lambda y, m, d=10: date(y, m, d)  # noqa: E731
ORD: list[tuple[str, date, int]] = []
for cid in ("S01", "S02"):  # identical: one ¥1,000 order a month 2025-01 … 2026-03
    for y, m in [(2025, k) for k in range(1, 13)] + [(2026, k) for k in (1, 2, 3)]:
        ORD.append((cid, M(y, m), 1000))
# S03: ¥2,000 a month 2025-01..06; two ¥1,500 orders a month 2026-01..03
for m in range(1, 7):
    ORD.append(("S03", M(2025, m), 2000))
for m in (1, 2, 3):
    ORD += [("S03", M(2026, m, 5), 1500), ("S03", M(2026, m, 20), 1500)]
# S04: ¥1,200 a month 2025-11 … 2026-03 (run rate)
for y, m in [(2025, 11), (2025, 12), (2026, 1), (2026, 2), (2026, 3)]:
    ORD.append(("S04", M(y, m), 1200))
# S05: new store, first order 2026-02-10: ¥800 on 02-10, 03-10, 03-20
ORD += [("S05", M(2026, 2, 10), 800), ("S05", M(2026, 3, 10), 800), ("S05", M(2026, 3, 20), 800)]
# S06: no order at all
# S07: ¥1,000 a month 2025-04 … 2026-03 (nothing in 2025-01..03)
for y, m in [(2025, k) for k in range(4, 13)] + [(2026, k) for k in (1, 2, 3)]:
    ORD.append(("S07", M(y, m), 1000))
# S08: 2025-03 ¥1,000; 2025-05 ¥4,000; ¥1,000 a month 2026-01..03
ORD += [("S08", M(2025, 3), 1000), ("S08", M(2025, 5), 4000)]
ORD += [("S08", M(2026, m), 1000) for m in (1, 2, 3)]

TARGETS = "period,level,userid,amount_fen,development_fen\n2026Q2,rep,rep03,500,500\n"  # 开发目标 ¥500

# ---- gold (fen) ----
BASELINE = {
    "S01": 300000,  # LY ¥3,000 × trend (R ¥3,000 ÷ R-1y ¥3,000 = 1)
    "S02": 300000,  # same as S01
    "S03": 900000,  # LY ¥6,000 × (R ¥9,000 ÷ ¥6,000 = 1.5) = ¥9,000
    "S04": 360000,  # run rate: S ¥6,000 ÷ 5 months active (Nov..Mar) × 3 = ¥3,600
    "S05": 360000,  # run rate: S ¥2,400 ÷ 2 months active (Feb, Mar) × 3 = ¥3,600
    "S06": 180000,  # floor: half the median of 杭州's baselines (360000, 360000) = 180000
    "S07": 300000,  # LY ¥3,000, R-1y no sales → trend 1
    "S08": 800000,  # LY ¥4,000 × trend (R ¥3,000 ÷ R-1y ¥1,000 = 3, clamped 2) = ¥8,000
}
# factors (freq, ticket, new). 上海 medians in R: count 3 (3,3,6), ticket ¥1,000 (1000,1000,1500):
#   S03 freq 1+0.1×clamp(1)=1.1, ticket 1+0.1×0.5=1.05. 杭州 (S04, S05 ordered in R): count median 3,
#   ticket median (1200+800)/2=1000 → S04 1.02, S05 0.98; S05 new 1.1 (first order in R); S06 none → 1.
#   广州: equal counts and tickets → 1.
FACTORS = {
    "S01": (1, 1, 1),
    "S02": (1, 1, 1),
    "S03": (1.1, 1.05, 1),
    "S04": (1, 1.02, 1),
    "S05": (1, 0.98, 1.1),
    "S06": (1, 1, 1),
    "S07": (1, 1, 1),
    "S08": (1, 1, 1),
}
# weights (fen): S01 300000, S02 300000, S03 900000×1.1×1.05=1039500, S04 360000×1.02=367200,
#   S05 360000×0.98×1.1=388080, S06 180000, S07 300000, S08 800000.
# 上海 1639500, 杭州 935280 → 华东 2574780; 华南 = 广州 1100000; W = 3674780.
# org 1000003 → 华东 ⌊1000003×2574780/W⌋=700664 (rem 1670420), 华南 299338 (rem 2004360); 1 left → 华南.
# 华东 700664 → 上海 446150 (rem 531000), 杭州 254513 (rem 2043780) + 1 → 254514.
# 上海 446150 → S01 81637 (rem 1138500), S02 81637 (rem 1138500), S03 282874 (rem 1002000); 2 left → S01, S02.
# 杭州 254514 → S04 99924 (rem 622080), S05 105606 (rem 613440), S06 48982 (rem 635040); 2 left → S06, S04.
# 广州 299339 → S07 81637 (rem 1000000), S08 217701 (rem 100000); 1 left → S07.
REGION = {"华东": 700664, "华南": 299339}
CITY = {"华东/上海": 446150, "华东/杭州": 254514, "华南/广州": 299339}
STORE = {
    "S01": 81638,
    "S02": 81638,
    "S03": 282874,
    "S04": 99925,
    "S05": 105606,
    "S06": 48983,
    "S07": 81638,
    "S08": 217701,
}
REP = {
    "rep01": 81638 + 81638 + 282874,  # 446150
    "rep02": 99925 + 105606 + 48983,  # 254514
    "rep03": 81638 + 217701 + 50000,
}  # 349339 (+ 开发目标 ¥500)


def _files() -> dict[str, str]:
    orders = "order_id,customer_id,ordered_on,amount\n" + "".join(
        f"O{i:04d},{c},{d.isoformat()},{a}\n" for i, (c, d, a) in enumerate(ORD)
    )
    return {"users.csv": USERS, "customers.csv": CUSTOMERS, "orders.csv": orders, "targets.csv": TARGETS}


def _plan(session_factory, tmp_path):
    import_texts(session_factory, tmp_path / "in", NOW, _files())
    with session_factory() as s:
        return preview(s, parse_period("2026Q2"), 1000003, today=TODAY)


def _by(plan, level):
    return {n.key: n for n in plan.nodes.values() if n.level == level}


def test_levels_and_rationale(session_factory, tmp_path):
    plan = _plan(session_factory, tmp_path)
    plan.check()
    assert _by(plan, "org")["org"].target_fen == 1000003
    assert {k: n.target_fen for k, n in _by(plan, "region").items()} == REGION
    assert {k: n.target_fen for k, n in _by(plan, "city").items()} == CITY
    assert {k: n.target_fen for k, n in _by(plan, "store").items()} == STORE
    assert {k: n.target_fen for k, n in _by(plan, "rep").items()} == REP
    for n in plan.nodes.values():
        assert n.rationale, n.key


def test_baselines(session_factory, tmp_path):
    plan = _plan(session_factory, tmp_path)
    assert {k: n.baseline_fen for k, n in _by(plan, "store").items()} == BASELINE


def test_factors(session_factory, tmp_path):
    plan = _plan(session_factory, tmp_path)
    got = {
        k: tuple(round(float(n.factors[f]), 4) for f in ("freq", "ticket", "new"))
        for k, n in _by(plan, "store").items()
    }
    assert got == {k: tuple(float(x) for x in v) for k, v in FACTORS.items()}


def test_tied_remainders_go_to_the_first_key(session_factory, tmp_path):
    """S01 and S02 have identical histories (same weight 300000): equal remainders, one fen left → S01."""
    import_texts(session_factory, tmp_path / "in", NOW, _files())
    with session_factory() as s:
        plan = preview(s, parse_period("2026Q2"), 1000011, today=TODAY)
    # org 1000011 → 华东 700670 (rem 219980), 华南 299340 (rem 3454800) + 1 = 299341.
    # 华东 700670 → 上海 446154 (rem 68880), 杭州 254515 (rem 2505900) + 1 = 254516.
    # 上海 446154 (W 1639500) → S01 81638 (rem 699000), S02 81638 (rem 699000), S03 282877 (rem 241500);
    #   1 fen left, S01 = S02 on remainder → the key that sorts first, S01.
    stores = _by(plan, "store")
    assert {k: stores[k].target_fen for k in ("S01", "S02", "S03")} == {
        "S01": 81639,
        "S02": 81638,
        "S03": 282877,
    }
    assert _by(plan, "city")["华东/上海"].target_fen == 446154
    assert sum(n.target_fen for n in stores.values()) == 1000011
