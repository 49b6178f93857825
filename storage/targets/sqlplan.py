"""The cascade on PostgreSQL, computed in SQL (docs/targets.md § On PostgreSQL: the cascade in SQL): the same result as
core/targets/cascade.py, which stays the reference (and SQLite's path), without a Python object per store.

One pipeline in temporary tables of the session's connection:
0. `tc_store_N_k`: each raw (region, city) pair of the stores with its city's number; the keys are made by
   core.targets.cascade.region_key / city_key in Python (a few hundred pairs), numbered in key order, so that
   every later grouping, join and partition is over an integer and no strip is emulated in SQL;
1. `tc_store_N` (one statement): every store that is not lost with its sales in the baseline windows (one
   sorted pass over the monthly roll-up `order_months`, storage/triggers/order_months.py), its city number, its
   baseline by history (method, fen, trend, months active) — the integer rules of core/targets/baseline.py in
   bigint, and in `numeric` where a product can pass 2^63 (the trend, the weight); the floors (half the low median of the
   positive baselines: `percentile_disc(0.5)`) per city, else the organisation's; the order-frequency and 客单价
   factors against the city's medians, in float8 exactly as Python computes them (IEEE double, `round` half to
   even), the new-store factor; the weight;
2. the organisation → regions → cities split in Python with `split_fen` itself over the cities' sums (a few
   hundred rows), into `tc_store_N_c`; every city → stores split is a subquery (`_split_sql`): `floor(A × w ÷ W)`
   and the fen left over one each to the stores ranked by `row_number() OVER (PARTITION BY city ORDER BY
   remainder DESC, customer_id)` (byte order = code-point order = Python's sort);
3. reps from the stores' sums per owner (plus development targets), read with the cities' checks in one pass.
Apply writes the stores with INSERT … SELECT from the split and the audit rows (one per node, before → after)
with INSERT … SELECT as well.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.targets.baseline import RECENT_MONTHS, Windows, round_half_up
from core.targets.cascade import (
    NEW_STORE_MILLI,
    Coefficient,
    Node,
    Plan,
    RepInput,
    city_key,
    city_node,
    node_id,
    region_key,
    region_node,
)
from core.targets.periods import TargetPeriod
from core.targets.split import share, split_fen, yuan

_seq = itertools.count(1)


def _yuan_sql(x: str) -> str:
    """core.targets.split.yuan in SQL: ¥1,234.50, -¥12.00."""
    return (
        f"(CASE WHEN ({x}) < 0 THEN '-' ELSE '' END || '¥' || "
        f"to_char(abs(({x})::numeric) / 100, 'FM999,999,999,999,999,990.00'))"
    )


def _share_sql(part: str, whole: str) -> str:
    return (
        f"(CASE WHEN ({whole}) = 0 THEN '0.0%' ELSE "
        f"to_char(round(100 * ({part})::numeric / ({whole}), 1), 'FM999999990.0') || '%' END)"
    )


def _stores_sql(t: str, w: Windows, period: TargetPeriod) -> tuple[list[str], dict[str, Any]]:
    """The statement that fills `t` with every store, its history, baseline, floor, factors and weight. Each
    store's city is the number `{t}_k` gives its raw (region, city) pair (`_city_numbers`): the keys are made
    once per pair in Python, and every later grouping, join and partition is over an integer."""
    p: dict[str, Any] = {
        "cutoff": w.cutoff,
        "r0": w.recent[0],
        "r1": w.recent[1],
        "rl0": w.recent_ly[0],
        "rl1": w.recent_ly[1],
        "s0": w.six[0],
        "s1": w.six[1],
        "ly0": w.ly[0] if w.ly else date(1, 1, 1),
        "ly1": w.ly[1] if w.ly else date(1, 1, 1),
        "months": period.months,
        "newmilli": NEW_STORE_MILLI,
    }

    # the history from the monthly roll-up (storage/triggers/order_months.py): the windows are whole months,
    # so a month's row is in a window exactly when its orders are; read in customer order from its covering
    # index (a sorted aggregate, no hash table of every customer). A store's sums are bigint (a sum of bigint
    # is numeric in PostgreSQL, slower in every later step); only the products that can pass 2^63 are numeric.
    def within(lo: str, hi: str) -> str:
        return f"FILTER (WHERE month >= :{lo} AND month < :{hi})"

    ly = f"coalesce(sum(sales_fen) {within('ly0', 'ly1')}, 0)::int8" if w.ly else "0::int8"
    months = "(extract(year FROM {0})::int * 12 + extract(month FROM {0})::int)"
    first = "greatest(coalesce(first_on, CAST(:s0 AS date)), CAST(:s0 AS date))"
    # statistics.median in float8: the mean of the two middle values, the one middle value twice when the
    # count is odd (percentile_disc at 0.5 is the ⌈k/2⌉-th value, at 0.5 + 1e-9 the ⌊k/2⌋+1-th for any k below
    # 5·10^8 stores in a city: one sort)
    middles = (
        "percentile_disc(ARRAY[0.5, 0.5 + 1e-9]::float8[]) WITHIN GROUP (ORDER BY {0}) FILTER (WHERE n > 0)"
    )
    stmts = [
        f"DROP TABLE IF EXISTS {t}",
        f"""CREATE TEMP TABLE {t} AS
        WITH o AS (
            SELECT customer_id, {ly} AS ly,
                   coalesce(sum(sales_fen) {within("r0", "r1")}, 0)::int8 AS rec,
                   coalesce(sum(sales_fen) {within("rl0", "rl1")}, 0)::int8 AS rec_ly,
                   coalesce(sum(sales_fen) {within("s0", "s1")}, 0)::int8 AS six,
                   coalesce(sum(orders) {within("r0", "r1")}, 0)::int8 AS n, min(month) AS first_on
            FROM order_months WHERE month < :cutoff GROUP BY customer_id),
        h AS (
            SELECT c.customer_id AS cid, c.name, c.owner_userid AS owner, coalesce(k.num, -1) AS city,
                   coalesce(o.ly, 0) AS ly, coalesce(o.rec, 0) AS rec, coalesce(o.rec_ly, 0) AS rec_ly,
                   coalesce(o.six, 0) AS six, coalesce(o.n, 0) AS n, o.first_on
            FROM customers c LEFT JOIN o ON o.customer_id = c.customer_id
            LEFT JOIN {t}_k k ON k.region = coalesce(c.region, '') AND k.city = coalesce(c.city, '')
            WHERE c.status <> 'lost'),
        -- the baseline by history: core.targets.baseline.baseline (trend clamped to [1/2, 2] as a ratio)
        b1 AS (
            SELECT h.*,
                   CASE WHEN {"ly > 0" if w.ly else "false"} THEN 'same_period_last_year'
                        WHEN six > 0 THEN 'run_rate' ELSE 'new_store_floor' END AS method
            FROM h OFFSET 0),
        b2 AS (
            SELECT b1.*,
                   CASE WHEN method <> 'same_period_last_year' THEN NULL WHEN rec_ly <= 0 THEN 1
                        WHEN 2 * rec <= rec_ly THEN 1 WHEN rec >= 2 * rec_ly THEN 2 ELSE rec END AS tnum,
                   CASE WHEN method <> 'same_period_last_year' THEN NULL WHEN rec_ly <= 0 THEN 1
                        WHEN 2 * rec <= rec_ly THEN 2 WHEN rec >= 2 * rec_ly THEN 1 ELSE rec_ly END AS tden,
                   CASE WHEN method = 'run_rate'
                        THEN greatest(1, {months.format("CAST(:cutoff AS date)")} - {months.format(first)}) END
                     AS active
            FROM b1 OFFSET 0),
        b AS MATERIALIZED (
            SELECT b2.*,
                   CASE method WHEN 'same_period_last_year'
                                 THEN div(2 * ly::numeric * tnum + tden, 2 * tden::numeric)::int8
                               WHEN 'run_rate' THEN (2 * six * :months + active) / (2 * active)
                               ELSE 0 END AS raw
            FROM b2),
        -- per city: the floor (half the low median of the positive baselines) and the medians of the stores
        -- that ordered in R; the organisation's floor only when a city has none (evaluated on first use)
        cs AS (
            SELECT city, (percentile_disc(0.5) WITHIN GROUP (ORDER BY raw) FILTER (WHERE raw > 0) + 1) / 2 AS floor,
                   {middles.format("n::float8")} AS mn,
                   {middles.format("rec::float8 / nullif(n, 0)::float8")} AS mt
            FROM b GROUP BY city),
        med AS (SELECT city, floor, (mn[1] + mn[2]) / 2 AS med_n, (mt[1] + mt[2]) / 2 AS med_t FROM cs),
        f AS (
            SELECT b.*, coalesce(med.floor, (SELECT (percentile_disc(0.5) WITHIN GROUP (ORDER BY raw) + 1) / 2
                                               FROM b WHERE raw > 0), 0) AS floor_fen,
                   b.n::float8 AS fn, med.med_n, med.med_t
            FROM b JOIN med ON med.city = b.city OFFSET 0),
        g AS (
            SELECT f.*,
                   CASE WHEN method <> 'new_store_floor' THEN raw ELSE floor_fen END AS base,
                   CASE WHEN n = 0 OR med_n IS NULL OR med_n <= 0 THEN 1000
                        ELSE 1000 + greatest(-100, least(100, round(100 * (fn - med_n) / med_n)))::int END AS fq,
                   CASE WHEN n = 0 OR med_t IS NULL OR med_t <= 0 THEN 1000
                        ELSE 1000 + greatest(-100, least(100,
                          round(100 * (rec::float8 / fn - med_t) / med_t)))::int END AS tk,
                   CASE WHEN first_on >= :r0 THEN :newmilli ELSE 1000 END AS nw
            FROM f OFFSET 0)
        SELECT g.*, base::numeric * (fq * tk * nw)::int8 AS weight FROM g""",
    ]
    return stmts, p


def _city_numbers(session: Session, t: str) -> list[tuple[str, str]] | None:
    """`{t}_k`: each raw (region, city) pair of the stores that are not lost with the number of its city key
    (core.targets.cascade.region_key / city_key: Python's own strip), numbered in (region key, city key) order;
    the keys by number, or None when there is no store."""
    pairs = session.execute(
        text(
            "SELECT coalesce(region, ''), coalesce(city, '') FROM customers WHERE status <> 'lost' "
            "GROUP BY 1, 2"
        )
    ).all()
    if not pairs:
        return None
    key_of = {(r, c): (region_key(r), city_key(r, c)) for r, c in pairs}
    keys = sorted(set(key_of.values()))
    num = {k: i for i, k in enumerate(keys)}
    session.execute(text(f"DROP TABLE IF EXISTS {t}_k"))
    session.execute(
        text(f"CREATE TEMP TABLE {t}_k (region text, city text, num int, PRIMARY KEY (region, city))")
    )
    session.execute(
        text(f"INSERT INTO {t}_k VALUES (:r, :c, :n)"),
        [{"r": r, "c": c, "n": num[k]} for (r, c), k in key_of.items()],
    )
    return keys


def _split_sql(t: str, cols: str = "x.*") -> str:
    """Every city's amount over its stores (`t`, the stores): split_fen in SQL, as a subquery of `cols` of the
    stores with their `target` and `city_w`. `t`_c holds each city's number (`id`), amount and its stores' weight
    sum W (the number of stores when every weight is zero: then each weighs 1). Not stored: the preview reads its
    sums, the nodes and apply read it again (the same statement over the same tables gives the same split).
    The ranks are per city number (an integer, not the key's text) by remainder, then customer id in byte order;
    the remainder is compared as a float8 first (rounding is monotonic: never against the exact order, and the
    exact remainder decides when the floats are equal) so that most comparisons are not of numerics."""
    return f"""(SELECT y.*, sgn * (part + CASE WHEN rn <= amt - parts THEN 1 ELSE 0 END) AS target
        FROM (SELECT z.*, row_number() OVER w AS rn, sum(part) OVER w AS parts
              FROM (SELECT z.*, aw - q * tw AS rem, q::int8 AS part
                    FROM (SELECT z.*, div(aw, tw) AS q
                    FROM (SELECT {cols}, c.ckey, c.tw, abs(c.amount) AS amt, sign(c.amount) AS sgn,
                                 CASE WHEN c.zero THEN 0 ELSE c.tw END AS city_w,
                                 abs(c.amount) * CASE WHEN c.zero THEN 1 ELSE x.weight END AS aw
                          FROM {t} x JOIN {t}_c c ON c.id = x.city) z OFFSET 0) z OFFSET 0) z
              WINDOW w AS (PARTITION BY city ORDER BY rem::float8 DESC, rem DESC, cid COLLATE "C"
                           ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) y) s"""


# the sorts and hashes of 500,000 stores in memory, for these statements only; no parallel workers (each would
# build the whole per-customer aggregate of the orders again: the hash side of the join is not shared)
WORK_MEM = "256MB"


@contextmanager
def _work_mem(session: Session, *, sorted_history: bool = False) -> Iterator[None]:
    """work_mem raised for the statements inside, then put back (within the transaction: set_config(…, true)).
    `sorted_history`: no hash aggregate either, so the history is the sorted aggregate of the roll-up's covering
    index (the planner prices a hash table of 500,000 customers lower; it is three times slower)."""
    names = ["work_mem", "max_parallel_workers_per_gather", "enable_hashagg"]
    old = session.execute(text("SELECT " + ", ".join(f"current_setting('{n}')" for n in names))).one()
    new = [WORK_MEM, "0", "off" if sorted_history else old[2]]

    def put(values: Any) -> None:
        session.execute(
            text("SELECT " + ", ".join(f"set_config('{n}', :v{i}, true)" for i, n in enumerate(names))),
            {f"v{i}": v for i, v in enumerate(values)},
        )

    put(new)
    try:
        yield
    finally:
        put(old)


class PlanChanged(ValueError):
    """The stores' split computed again differs from the preview's (the data changed in between)."""


class SqlPlan(Plan):
    """A Plan whose stores live in the session's temporary table: the organisation, regions, cities and reps
    are objects; the stores' nodes (and the cities' and reps' lists of store children) are read only when
    `nodes` is first read."""

    table: str
    inputs: tuple[TargetPeriod, Windows, int, list[RepInput], dict[str, Coefficient]]
    city_check: dict[str, int]
    rep_check: dict[str, int]
    child_counts: dict[str, int]  # a city's or rep's number of stores (their children before `nodes` is read)

    def ensure(self, session: Session) -> None:
        """The plan's table in this session's connection: computed again (the same statements over the same
        inputs) when the preview ran on another connection or its transaction was committed since."""
        if session.execute(text("SELECT to_regclass(:t)"), {"t": "pg_temp." + self.table}).scalar() is None:
            again = preview_sql(session, *self.inputs, table=self.table)
            if again is None or again.city_check != self.city_check or again.rep_check != self.rep_check:
                raise PlanChanged("预览之后门店或订单已变化，请重新预览后再确认分解")

    def check(self) -> list[str]:
        problems = []
        for n in self._upper.values():
            if n.level == "city":
                total = self.city_check.get(n.key, 0)
            else:
                total = sum(self._upper[c].target_fen for c in n.children)
            if total != n.target_fen:
                problems.append(f"{n.id}: {n.target_fen} ≠ Σ children {total}")
        for n in self._reps.values():
            total = self.rep_check.get(n.key, 0) + n.development_fen
            if total != n.target_fen:
                problems.append(f"{n.id}: {n.target_fen} ≠ Σ children {total}")
        return problems


def _store_words_sql(period: TargetPeriod) -> tuple[str, str]:
    """The store's rationale and factors, in SQL (the words of core.targets.cascade's store nodes)."""
    y = _yuan_sql
    basis = f"""CASE method
        WHEN 'same_period_last_year' THEN '去年同期' || {y("ly")} || ' × 近{RECENT_MONTHS}月趋势'
             || to_char(round(tnum / tden, 2), 'FM9999990.00') || '（近{RECENT_MONTHS}月' || {y("rec")}
             || '，去年同期' || {y("rec_ly")} || '）'
        WHEN 'run_rate' THEN '近' || active || '个月月均' || {y("div(2 * six + active, 2 * active)")}
             || ' × {period.months}个月'
        ELSE '无历史订单，按新店保底（同城市有历史门店基数中位数的一半） ' || {y("base")} END"""
    fw = """concat_ws('、',
        CASE WHEN fq <> 1000 THEN '下单频次系数' || to_char(fq / 1000.0, 'FM0.00') END,
        CASE WHEN tk <> 1000 THEN '客单价系数' || to_char(tk / 1000.0, 'FM0.00') END,
        CASE WHEN nw <> 1000 THEN '新店爬坡系数' || to_char(nw / 1000.0, 'FM0.00') END)"""
    tw = "city_w"
    rationale = (
        f"'基数' || {y('base')} || '：' || {basis} || '；' || "
        f"CASE WHEN {fw} <> '' THEN {fw} || '；' ELSE '' END || '占城市权重' || {_share_sql('weight', tw)}"
    )
    factors = f"""jsonb_build_object('method', method,
        'trend', CASE WHEN tden IS NOT NULL THEN (tnum::float8 / tden::float8) END,
        'months_active', active, 'freq', fq / 1000.0, 'ticket', tk / 1000.0, 'new', nw / 1000.0,
        'weight_share', CASE WHEN {tw} > 0 THEN weight::float8 / ({tw})::float8 END, 'owner', owner,
        'children', 0)"""
    return rationale, factors


def preview_sql(
    session: Session,
    period: TargetPeriod,
    w: Windows,
    amount_fen: int,
    reps: list[RepInput],
    coefficients: dict[str, Coefficient],
    *,
    table: str | None = None,
) -> SqlPlan | None:
    """The cascade in SQL; None when there is no store."""
    t = table or f"tc_store_{next(_seq)}"
    tc = f"{t}_c"
    stmts, p = _stores_sql(t, w, period)
    for _ in range(3):
        keys = _city_numbers(session, t)
        if keys is None:
            return None
        with _work_mem(session, sorted_history=True):
            for s in stmts:
                session.execute(text(s), p)
        cities = session.execute(
            text(
                f"SELECT city, sum(weight), sum(base), count(*), max(floor_fen) FROM {t} GROUP BY city "
                "ORDER BY city"
            )
        ).all()
        # a store whose (region, city) pair is not numbered was written between the two statements (each sees
        # the data committed when it starts; its city is -1): number the pairs again
        if all(c[0] >= 0 for c in cities):
            break
    else:
        raise PlanChanged("预览期间门店资料一直在变化，请稍后重新预览")
    if not cities:
        session.execute(text(f"DROP TABLE IF EXISTS {t}"))
        return None
    store_count = sum(int(c[3]) for c in cities)
    org_base = sum(int(c[2]) for c in cities)
    tree: dict[str, list[tuple[str, int, int, int, int]]] = defaultdict(list)
    for num, cw, cb, cn, cf in cities:
        rkey, ckey = keys[num]
        tree[rkey].append((ckey, int(cw), int(cb), int(cn), int(cf)))
    regions = sorted(tree)
    nodes: dict[str, Node] = {}
    org = Node(
        "org",
        "org",
        "集团",
        amount_fen,
        org_base,
        None,
        factors={"stores": store_count},
        rationale=f"总部目标{yuan(amount_fen)}；门店基数合计{yuan(org_base)}"
        + (f"，目标为基数的{share(amount_fen, org_base)}" if org_base else "")
        + f"；按大区权重（门店权重合计 × 区域系数）分解到{len(regions)}个大区",
    )
    nodes[org.id] = org
    region_w, region_coef = [], []
    for r in regions:
        c = coefficients.get(r) or Coefficient(Fraction(1), "")
        region_coef.append(c)
        region_w.append(round_half_up(sum(x[1] for x in tree[r]) * c.value))
    total_rw = sum(region_w)
    city_amounts: list[tuple[str, int, int, int]] = []
    number = {ck: i for i, (_, ck) in enumerate(keys)}
    for r, amt, rw, c in zip(regions, split_fen(amount_fen, region_w), region_w, region_coef, strict=True):
        cs = sorted(tree[r])
        rbase = sum(x[2] for x in cs)
        rn = region_node(r, amt, rbase, org.id, c, rw, total_rw)
        nodes[rn.id] = rn
        org.children.append(rn.id)
        total_cw = sum(x[1] for x in cs)
        for (ck, cw, cb, cn, cf), camt in zip(cs, split_fen(amt, [x[1] for x in cs]), strict=True):
            city = city_node(ck, camt, cb, cn, rn.id, cf, cw, total_cw)
            nodes[city.id] = city
            rn.children.append(city.id)
            city_amounts.append((ck, camt, cw, cn))
    session.execute(text(f"DROP TABLE IF EXISTS {tc}"))
    session.execute(
        text(f"CREATE TEMP TABLE {tc} (id int PRIMARY KEY, ckey text, amount int8, tw numeric, zero bool)")
    )
    session.execute(
        text(f"INSERT INTO {tc} VALUES (:i, :k, :a, :w, :z)"),
        [{"i": number[k], "k": k, "a": a, "w": cw or cn, "z": cw == 0} for k, a, cw, cn in city_amounts],
    )
    # the stores' split summed per city (the check) and per owner (the reps), in one pass
    city_check: dict[str, int] = {}
    owned: dict[str, tuple[int, int, int]] = {}
    with _work_mem(session):
        sums = session.execute(
            text(
                "SELECT grouping(city), city, owner, sum(target), sum(base), count(*) "
                f"FROM {_split_sql(t, 'x.city, x.cid, x.owner, x.base, x.weight')} "
                "GROUP BY GROUPING SETS ((city), (owner))"
            )
        ).all()
    for by_owner, city, owner, f, b, n in sums:
        if by_owner:
            owned[owner] = (int(f), int(b), int(n))
        else:
            city_check[keys[city][1]] = int(f)
    rep_in = {r.userid: r for r in reps}
    rep_nodes: dict[str, Node] = {}
    for userid in sorted(set(rep_in) | set(owned)):
        ri = rep_in.get(userid) or RepInput(userid, userid)
        sf, rb, n = owned.get(userid, (0, 0, 0))
        rep = Node(
            "rep",
            userid,
            ri.name or userid,
            sf + ri.development_fen,
            rb,
            None,
            factors={"stores": n, "stores_fen": sf, "development_fen": ri.development_fen},
            rationale=f"名下{n}家门店目标合计{yuan(sf)} + 新客开发目标{yuan(ri.development_fen)}",
            development_fen=ri.development_fen,
        )
        rep_nodes[rep.id] = rep
    rationale, factors = _store_words_sql(period)

    def build_stores() -> dict[str, Node]:
        plan.ensure(session)
        out: dict[str, Node] = {}
        with _work_mem(session):
            rows = session.execute(
                text(
                    f"SELECT cid, name, ckey, owner, target, base, {rationale}, {factors} FROM {_split_sql(t)} "
                    f'ORDER BY city, cid COLLATE "C"'
                )
            ).all()
        for cid, name, ckey, owner, target, base, rat, fac in rows:
            sn = Node("store", cid, name, int(target), int(base), node_id("city", ckey), dict(fac), rat)
            out[sn.id] = sn
            nodes[sn.parent].children.append(sn.id)  # type: ignore[index]
            rn = rep_nodes.get(node_id("rep", owner))
            if rn is not None:
                rn.children.append(sn.id)
        for rn in rep_nodes.values():  # a rep's stores by customer id, as the reference lists them
            rn.children.sort()
        return out

    store_fen = _LazyFen(session, t, store_count, lambda: plan.ensure(session))
    plan = SqlPlan(period, amount_fen, nodes, rep_nodes, store_fen, build_stores)  # type: ignore[arg-type]
    plan.table = t
    plan.inputs = (period, w, amount_fen, reps, coefficients)
    plan.city_check = city_check
    plan.rep_check = {o: v[0] for o, v in owned.items()}
    plan.child_counts = {node_id("city", keys[c[0]][1]): int(c[3]) for c in cities}
    plan.child_counts.update({node_id("rep", o): v[2] for o, v in owned.items()})
    return plan


class _LazyFen(dict[str, int]):
    """Each store's target by customer id, read from the temporary table when first used."""

    def __init__(self, session: Session, table: str, count: int, ensure: Callable[[], None]):
        super().__init__()
        self._session, self._table, self._count, self._loaded = session, table, count, False
        self._ensure = ensure

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            self._ensure()
            with _work_mem(self._session):
                rows = self._session.execute(
                    text(f"SELECT cid, target FROM {_split_sql(self._table, 'x.city, x.cid, x.weight')}")
                ).all()
            super().update({c: int(f) for c, f in rows})

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, k: str) -> int:
        self._load()
        return super().__getitem__(k)

    def values(self):  # type: ignore[override]
        self._load()
        return super().values()

    def items(self):  # type: ignore[override]
        self._load()
        return super().items()

    def get(self, k: str, default: Any = None) -> Any:
        self._load()
        return super().get(k, default)

    def __iter__(self):  # type: ignore[override]
        self._load()
        return super().__iter__()


def apply_sql(
    session: Session,
    plan: SqlPlan,
    upper_rows: list[dict[str, Any]],
    *,
    by: str,
    now: datetime,
    reason: str,
) -> int:
    """Replace the period's targets: the organisation, regions, cities and reps from `upper_rows` (COPY), the
    stores with INSERT … SELECT from the plan's table, then one audit row per node (create | update | delete,
    before → after as JSON of the row) with INSERT … SELECT."""
    from storage.importer.run import bulk_insert
    from storage.targets.models import TargetRow

    p = plan.period.key
    t = plan.table
    rationale, factors = _store_words_sql(plan.period)
    session.execute(text("DROP TABLE IF EXISTS tc_old"))
    session.execute(text("CREATE TEMP TABLE tc_old AS SELECT * FROM targets WHERE period = :p"), {"p": p})
    session.execute(text("DELETE FROM targets WHERE period = :p"), {"p": p})
    bulk_insert(session, TargetRow.__table__, upper_rows)
    params = {"p": p, "by": by, "now": now, "reason": reason}
    with _work_mem(session):
        res = session.execute(
            text(
                f"""INSERT INTO targets (target_id, period, level, node_key, parent_id, name, amount_fen,
                committed_fen, baseline_fen, development_fen, factors, rationale, source, set_by, set_at)
            SELECT :p || '|store|' || cid, :p, 'store', cid, :p || '|city|' || ckey, left(coalesce(nullif(name, ''),
                   cid), 128), target, target, base, 0, ({factors})::json, {rationale}, 'cascade', :by, :now
            FROM {_split_sql(t)}"""
            ),
            params,
        )
    stores = res.rowcount or 0  # type: ignore[attr-defined]
    session.execute(
        text(
            """INSERT INTO audit (at, actor, action, entity, entity_id, before, after, reason)
            SELECT :now, :by, CASE WHEN o.target_id IS NULL THEN 'create' ELSE 'update' END, 'target',
                   n.target_id, CASE WHEN o.target_id IS NOT NULL THEN to_json(o) END, to_json(n), :reason
            FROM targets n LEFT JOIN tc_old o ON o.target_id = n.target_id WHERE n.period = :p"""
        ),
        params,
    )
    session.execute(
        text(
            """INSERT INTO audit (at, actor, action, entity, entity_id, before, after, reason)
            SELECT :now, :by, 'delete', 'target', o.target_id, to_json(o), NULL, :reason FROM tc_old o
            WHERE NOT EXISTS (SELECT 1 FROM targets n WHERE n.target_id = o.target_id)"""
        ),
        params,
    )
    session.execute(text("DROP TABLE tc_old"))
    # the period's rows were all replaced: fresh statistics, so attainment's join of the targets with the
    # customers is planned for 500,000 rows (a hash join), not for the handful an unanalysed table suggests
    session.execute(text("ANALYZE targets"))
    session.expire_all()
    return len(upper_rows) + stores
