"""The cascade on PostgreSQL for 500,000 stores (docs/targets.md § On PostgreSQL): the same result as
core/targets/cascade.py, which stays the reference (and SQLite's path), without a Python object per store.

1. one statement reads every store that is not lost with its history in the baseline windows (the monthly
   roll-up `order_months`, storage/triggers/order_months.py) and, in the same snapshot, every store's customer
   id, owner and raw (region, city) (storage/targets/store_arrays.read_stores: one row of four aggregates);
2. the cities: each raw pair's keys by core.targets.cascade.region_key / city_key themselves, numbered in
   (region key, city key) order;
3. every store's baseline, floor, factors and weight, over numpy arrays (store_arrays.weights: exact
   integers, IEEE doubles in the reference's order);
4. the organisation → regions → cities split with `split_fen` itself over the cities' sums (a few hundred),
   every city → stores split over the arrays (store_arrays.split_stores), the reps from the stores' sums per
   owner (plus development targets);
5. the stores' table (`tc_store_N`, a temporary table of the session's connection) is written only when a
   caller reads the stores' nodes or applies: their rationale and factors are built in SQL from it, and apply
   writes the stores with INSERT … SELECT and one audit row per node (before → after) with INSERT … SELECT.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.targets.baseline import RECENT_MONTHS, Windows, round_half_up
from core.targets.cascade import (
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
from storage.targets.store_arrays import (
    METHODS,
    RUN,
    SAME,
    Stores,
    Weights,
    group_sums,
    read_stores,
    split_stores,
    weights,
)

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


@dataclass
class _Arrays:
    """What the preview computed for every store, kept for the stores' table and `store_fen`."""

    st: Stores
    city: np.ndarray  # each store's city number
    calc: Weights
    target: np.ndarray  # each store's target, int64 fen
    ckeys: list[str]  # the city keys by number
    amounts: list[int]  # each city's amount
    city_w: list[int]  # each city's W (its stores' weight sum, or their number when every weight is zero)
    zero: list[bool]  # every weight of the city is zero


def _transaction(session: Session) -> tuple[int, Any]:
    """This session's transaction: its connection's backend and the transaction's start time."""
    pid, started = session.execute(text("SELECT pg_backend_pid(), now()")).one()
    return int(pid), started


class SqlPlan(Plan):
    """A Plan whose stores are arrays: the organisation, regions, cities and reps are objects; the stores'
    nodes (and the cities' and reps' lists of store children) are read only when `nodes` is first read, from the
    stores' table written then."""

    table: str
    inputs: tuple[TargetPeriod, Windows, int, list[RepInput], dict[str, Coefficient]]
    city_check: dict[str, int]
    rep_check: dict[str, int]
    child_counts: dict[str, int]  # a city's or rep's number of stores (their children before `nodes` is read)
    arrays: _Arrays
    backend: tuple[int, Any]  # the connection and transaction the preview ran in (pid, its start time)

    def ensure(self, session: Session) -> None:
        """The stores' table in this session's connection. In another transaction than the preview's (another
        request, another connection) the plan is computed again first (the same reads over the same inputs): if
        the data no longer gives the same split, PlanChanged."""
        if (
            session.execute(text("SELECT to_regclass(:t)"), {"t": "pg_temp." + self.table}).scalar()
            is not None
        ):
            return
        if _transaction(session) != self.backend:
            again = preview_sql(session, *self.inputs, table=self.table)
            if again is None or again.city_check != self.city_check or again.rep_check != self.rep_check:
                raise PlanChanged("预览之后门店或订单已变化，请重新预览后再确认分解")
            self.arrays, self.backend = again.arrays, again.backend
        _write_tables(session, self.table, self.arrays)

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


_COLUMNS = (
    "cid text, owner text, city int, ly numeric, rec numeric, rec_ly numeric, six numeric, n int8, method text, "
    "tnum numeric, tden numeric, active int, base numeric, fq int, tk int, nw int, weight numeric, target int8"
)


def _write_tables(session: Session, t: str, a: _Arrays) -> None:
    """The stores' table `t` (COPY from the arrays) and the cities' `t`_c (number, key, amount, W, all zero)."""
    st, c = a.st, a.calc
    session.execute(text(f"DROP TABLE IF EXISTS {t}"))
    session.execute(text(f"DROP TABLE IF EXISTS {t}_c"))
    # dropped at the end of the transaction: another transaction computes the plan again (SqlPlan.ensure)
    session.execute(text(f"CREATE TEMP TABLE {t} ({_COLUMNS}) ON COMMIT DROP"))
    session.execute(
        text(
            f"CREATE TEMP TABLE {t}_c (id int PRIMARY KEY, ckey text, amount int8, tw numeric, zero bool) "
            "ON COMMIT DROP"
        )
    )
    same, run = c.method == SAME, c.method == RUN

    def esc(values: Any) -> list[str]:  # COPY's text format: backslash, tab, newline and CR escaped
        return [
            v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            for v in values
        ]

    def nums(values: np.ndarray, keep: np.ndarray | None = None) -> list[str]:
        out = values.astype(str).tolist() if values.dtype != object else [str(v) for v in values]
        if keep is not None:
            out = [v if k else "\\N" for v, k in zip(out, keep.tolist(), strict=True)]
        return out

    owners = esc(st.owners)
    cols = [
        esc(st.cid.tolist()),
        [owners[i] for i in st.owner.tolist()],
        nums(a.city),
        nums(st.ly),
        nums(st.rec),
        nums(st.rec_ly),
        nums(st.six),
        nums(st.n),
        [METHODS[m] for m in c.method.tolist()],
        nums(c.tnum, same),
        nums(c.tden, same),
        nums(c.active, run),
        nums(c.base),
        nums(c.fq),
        nums(c.tk),
        nums(c.nw),
        nums(c.weight),
        nums(a.target),
    ]
    body = "\n".join(map("\t".join, zip(*cols, strict=True)))
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {t} FROM STDIN") as copy:
        copy.write(body + "\n" if body else "")
    session.execute(
        text(f"INSERT INTO {t}_c VALUES (:i, :k, :a, :w, :z)"),
        [
            {"i": i, "k": k, "a": amt, "w": w, "z": z}
            for i, (k, amt, w, z) in enumerate(zip(a.ckeys, a.amounts, a.city_w, a.zero, strict=True))
        ],
    )


def _view(t: str) -> str:
    """The stores with their city's key and weight sum (0 when the city splits evenly) and their name."""
    return f"""(SELECT x.*, c.ckey, CASE WHEN c.zero THEN 0 ELSE c.tw END AS city_w, cu.name
        FROM {t} x JOIN {t}_c c ON c.id = x.city LEFT JOIN customers cu ON cu.customer_id = x.cid) s"""


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
    """The cascade over arrays; None when there is no store. Raises store_arrays.UnreadableIds when an id
    holds a separator character (the caller takes the Python path)."""
    t = table or f"tc_store_{next(_seq)}"
    with _work_mem(session, sorted_history=True):
        st = read_stores(session, w)
    if st is None:
        return None
    # the cities: each raw pair's keys (Python's own strip), numbered in (region key, city key) order
    pair_keys = [(region_key(r), city_key(r, c)) for r, c in st.pairs]
    keys = sorted(set(pair_keys))
    number = {k: i for i, k in enumerate(keys)}
    city = np.array([number[k] for k in pair_keys], dtype=np.int64)[st.pair]
    n_cities = len(keys)
    calc = weights(st, city, n_cities, period, w)
    cw = group_sums(calc.weight, city, n_cities)
    cb = group_sums(calc.base, city, n_cities)
    cn = np.bincount(city, minlength=n_cities).tolist()
    cf = calc.floor.tolist()
    store_count = len(st.cid)
    org_base = sum(cb)
    tree: dict[str, list[tuple[int, str, int, int, int, int]]] = defaultdict(list)
    for i, (rkey, ckey) in enumerate(keys):
        tree[rkey].append((i, ckey, cw[i], cb[i], cn[i], cf[i]))
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
        region_w.append(round_half_up(sum(x[2] for x in tree[r]) * c.value))
    total_rw = sum(region_w)
    amounts = [0] * n_cities
    for r, amt, rw, c in zip(regions, split_fen(amount_fen, region_w), region_w, region_coef, strict=True):
        cs = tree[r]
        rn = region_node(r, amt, sum(x[3] for x in cs), org.id, c, rw, total_rw)
        nodes[rn.id] = rn
        org.children.append(rn.id)
        total_cw = sum(x[2] for x in cs)
        for (i, ck, w_c, b_c, n_c, f_c), camt in zip(cs, split_fen(amt, [x[2] for x in cs]), strict=True):
            cnode = city_node(ck, camt, b_c, n_c, rn.id, f_c, w_c, total_cw)
            nodes[cnode.id] = cnode
            rn.children.append(cnode.id)
            amounts[i] = camt
    zero = [x == 0 for x in cw]
    target = split_stores(calc.weight, city, amounts, zero)
    city_sum = group_sums(target, city, n_cities)
    city_check = {keys[i][1]: city_sum[i] for i in range(n_cities)}
    n_owners = len(st.owners)
    owner_f = group_sums(target, st.owner, n_owners)
    owner_b = group_sums(calc.base, st.owner, n_owners)
    owner_n = np.bincount(st.owner, minlength=n_owners).tolist()
    owned = {o: (owner_f[i], owner_b[i], owner_n[i]) for i, o in enumerate(st.owners)}
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
        rows = session.execute(
            text(
                f"SELECT cid, name, ckey, owner, target, base, {rationale}, {factors} FROM {_view(t)} "
                'ORDER BY city, cid COLLATE "C"'
            )
        ).all()
        for cid, name, ckey, owner, target_fen, base, rat, fac in rows:
            sn = Node("store", cid, name, int(target_fen), int(base), node_id("city", ckey), dict(fac), rat)
            out[sn.id] = sn
            nodes[sn.parent].children.append(sn.id)  # type: ignore[index]
            rn = rep_nodes.get(node_id("rep", owner))
            if rn is not None:
                rn.children.append(sn.id)
        for rn in rep_nodes.values():  # a rep's stores by customer id, as the reference lists them
            rn.children.sort()
        return out

    plan = SqlPlan(
        period, amount_fen, nodes, rep_nodes, _StoreFen(lambda: plan.arrays, store_count), build_stores
    )  # type: ignore[arg-type]
    plan.table = t
    plan.inputs = (period, w, amount_fen, reps, coefficients)
    plan.city_check = city_check
    plan.rep_check = {o: v[0] for o, v in owned.items()}
    plan.child_counts = {node_id("city", keys[i][1]): int(cn[i]) for i in range(n_cities)}
    plan.child_counts.update({node_id("rep", o): v[2] for o, v in owned.items()})
    plan.arrays = _Arrays(
        st,
        city,
        calc,
        target,
        [k[1] for k in keys],
        amounts,
        [w_ or n_ for w_, n_ in zip(cw, cn, strict=True)],
        zero,
    )
    plan.backend = _transaction(session)
    return plan


class _StoreFen(dict[str, int]):
    """Each store's target by customer id, made from the arrays when first used (the preview itself needs only
    their sums)."""

    def __init__(self, arrays: Any, count: int):
        super().__init__()
        self._arrays, self._count, self._loaded = arrays, count, False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            a = self._arrays()
            super().update(zip(a.st.cid.tolist(), a.target.tolist(), strict=True))

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
            FROM {_view(t)}"""
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
