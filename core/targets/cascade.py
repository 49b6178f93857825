"""The cascade 集团 → 大区 → 城市 → 门店, and each rep's target = their stores + their development target.

Every split is `split_fen` (largest remainder): the children of a node sum to it exactly, in fen
(docs/targets.md § Cascade). Weights:
- a store: its baseline × order-frequency factor × 客单价 factor × new-store factor (each in thousandths, 900 …
  1100, 1000 where the data does not support it), an integer, so the split stays in integers;
- a city: the sum of its stores' weights;
- a region: the sum of its stores' weights × the region's coefficient (set by a regional manager with a reason;
  1 when none is set).
No node gets a flat copy: each carries its baseline, its factors and a rationale in words.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

from core.targets.baseline import (
    Baseline,
    StoreHistory,
    Windows,
    baseline,
    floor_of,
    round_half_up,
)
from core.targets.periods import TargetPeriod
from core.targets.split import share, split_fen, yuan

LEVELS = ("org", "region", "city", "store", "rep")
LEVEL_WORDS = {"org": "集团", "region": "大区", "city": "城市", "store": "门店", "rep": "个人"}
NO_REGION = "未分区"
NO_CITY = "未分城市"
NEW_STORE_MILLI = 1100  # first order within the recent window (3 months): ramping up, ×1.1
# each store factor moves the weight by at most ±10%, in thousandths; a weight is baseline × the three factors


class StoreInput(NamedTuple):
    customer_id: str
    name: str
    region: str | None
    city: str | None
    owner: str
    history: StoreHistory


@dataclass(frozen=True)
class Coefficient:
    value: Fraction
    reason: str
    by: str = ""


@dataclass(frozen=True)
class RepInput:
    userid: str
    name: str
    development_fen: int = 0


@dataclass(slots=True)
class Node:
    level: str
    key: str
    name: str
    target_fen: int
    baseline_fen: int
    parent: str | None  # the parent's node id
    factors: dict[str, Any] = field(default_factory=dict)
    rationale: str = ""
    children: list[str] = field(default_factory=list)
    development_fen: int = 0
    id: str = ""  # "<level>:<key>", set at creation

    def __post_init__(self) -> None:
        self.id = f"{self.level}:{self.key}"


def node_id(level: str, key: str) -> str:
    return f"{level}:{key}"


class Plan:
    """The cascade's result. The organisation, regions, cities and reps are built at once; the stores' nodes
    (a rationale and factors each) only when `nodes` or `of_level("store")` is first read, so a preview of
    500,000 stores does not write 500,000 sentences nobody reads."""

    def __init__(
        self,
        period: TargetPeriod,
        amount_fen: int,
        upper: dict[str, Node],
        reps: dict[str, Node],
        store_fen: dict[str, int],
        build_stores: Callable[[], dict[str, Node]],
    ):
        self.period = period
        self.amount_fen = amount_fen
        self._upper = upper
        self._reps = reps
        self.store_fen = store_fen  # each store's target by customer id
        self.store_count = len(store_fen)
        self._build_stores = build_stores
        self._nodes: dict[str, Node] | None = None

    @property
    def nodes(self) -> dict[str, Node]:
        """Every node by id: the organisation, regions, cities, stores, then reps."""
        if self._nodes is None:
            self._nodes = {**self._upper, **self._build_stores(), **self._reps}
        return self._nodes

    def of_level(self, level: str) -> list[Node]:
        if level == "store":
            return [n for n in self.nodes.values() if n.level == "store"]
        source = self._reps if level == "rep" else self._upper
        return [n for n in source.values() if n.level == level]

    def node(self, nid: str) -> Node:
        """A node by id without building the stores' nodes unless it is one."""
        found = self._upper.get(nid) or self._reps.get(nid)
        return found if found is not None else self.nodes[nid]

    @property
    def org(self) -> Node:
        return self._upper[node_id("org", "org")]

    def check(self) -> list[str]:
        """check_sums without building the stores' nodes."""

        def fen(nid: str) -> int:
            n = self._upper.get(nid)
            return n.target_fen if n is not None else self.store_fen[nid.removeprefix("store:")]

        problems = []
        for n in [*self._upper.values(), *self._reps.values()]:
            total = sum(fen(c) for c in n.children) + (n.development_fen if n.level == "rep" else 0)
            if total != n.target_fen:
                problems.append(f"{n.id}: {n.target_fen} ≠ Σ children {total}")
        return problems


def region_key(region: str | None) -> str:
    return (region or "").strip() or NO_REGION


def city_key(region: str | None, city: str | None) -> str:
    return f"{region_key(region)}/{(city or '').strip() or NO_CITY}"


def region_node(
    region: str, amount_fen: int, base_fen: int, parent: str, c: Coefficient, weight: Any, total_weight: Any
) -> Node:
    """A region's node with its factors and rationale (the Python path and the SQL one build the same)."""
    coef_words = (
        f"区域系数{float(c.value):.2f}（{c.reason}" + (f"，{c.by}设定" if c.by else "") + "）"
        if c.reason or c.value != 1
        else "区域系数1.00（未设定）"
    )
    return Node(
        "region",
        region,
        region,
        amount_fen,
        base_fen,
        parent,
        factors={
            "coefficient": float(c.value),
            "coefficient_reason": c.reason,
            "coefficient_by": c.by,
            "weight_share": (weight / total_weight) if total_weight else None,
        },
        rationale=f"门店基数合计{yuan(base_fen)}；{coef_words}；占集团权重{share(weight, total_weight)}"
        + ("" if total_weight else "（无任何历史，平均分配）"),
    )


def city_node(
    ckey: str,
    amount_fen: int,
    base_fen: int,
    stores: int,
    parent: str,
    floor_fen: Any,
    weight: Any,
    total_weight: Any,
) -> Node:
    """A city's node (`ckey` is region/city) with its factors and rationale, on both paths."""
    return Node(
        "city",
        ckey,
        ckey.split("/", 1)[1],
        amount_fen,
        base_fen,
        parent,
        factors={"weight_share": (weight / total_weight) if total_weight else None, "floor_fen": floor_fen},
        rationale=f"门店基数合计{yuan(base_fen)}（{stores}家门店）；占大区权重{share(weight, total_weight)}"
        + ("" if total_weight else "（无任何历史，平均分配）"),
    )


def _factor(x: float, median: float) -> int:
    """In thousandths: 1000 ± 100 by how far x is above or below the median (capped at twice and zero)."""
    if median <= 0:
        return 1000
    return 1000 + max(-100, min(100, round(100 * (x - median) / median)))


def store_factors(stores: Sequence[StoreInput], w: Windows) -> dict[str, tuple[int, int, int]]:
    """Per store, in thousandths: (order frequency, 客单价, new store), against the medians of the stores of its
    city that ordered in the recent window."""
    by_city: dict[str, list[StoreInput]] = defaultdict(list)
    for s in stores:
        by_city[city_key(s.region, s.city)].append(s)
    recent_start = w.recent[0]
    out: dict[str, tuple[int, int, int]] = {}
    for group in by_city.values():
        active = [s.history for s in group if s.history.recent_orders > 0]
        med_n = float(statistics.median([h.recent_orders for h in active])) if active else 0.0
        med_t = float(statistics.median([h.recent_fen / h.recent_orders for h in active])) if active else 0.0
        for s in group:
            h = s.history
            freq = ticket = 1000
            if h.recent_orders > 0:
                freq = _factor(h.recent_orders, med_n)
                ticket = _factor(h.recent_fen / h.recent_orders, med_t)
            new = NEW_STORE_MILLI if h.first_on is not None and h.first_on >= recent_start else 1000
            out[s.customer_id] = (freq, ticket, new)
    return out


def cascade(
    *,
    period: TargetPeriod,
    windows: Windows,
    amount_fen: int,
    stores: Iterable[StoreInput],
    reps: Iterable[RepInput] = (),
    coefficients: Mapping[str, Coefficient] | None = None,
) -> Plan:
    stores = sorted(stores, key=lambda s: s.customer_id)
    coefficients = coefficients or {}

    # baselines, then the floor for stores without history (per city, else the organisation)
    raw: dict[str, Baseline] = {s.customer_id: baseline(s.history, period, windows) for s in stores}
    city_of = {s.customer_id: city_key(s.region, s.city) for s in stores}
    by_city: dict[str, list[int]] = defaultdict(list)
    for s in stores:
        by_city[city_of[s.customer_id]].append(raw[s.customer_id].fen)
    org_floor = floor_of(b.fen for b in raw.values())
    floors = {c: floor_of(v) or org_floor for c, v in by_city.items()}
    base: dict[str, int] = {
        cid: (b.fen if b.method != "new_store_floor" else floors[city_of[cid]]) for cid, b in raw.items()
    }
    factors = store_factors(stores, windows)
    weight: dict[str, int] = {}
    for s in stores:
        fq, tk, nw = factors[s.customer_id]
        weight[s.customer_id] = base[s.customer_id] * fq * tk * nw

    # the tree: region → city → stores (sorted keys: the tie order of every split)
    tree: dict[str, dict[str, list[StoreInput]]] = defaultdict(lambda: defaultdict(list))
    for s in stores:
        tree[region_key(s.region)][city_of[s.customer_id]].append(s)
    regions = sorted(tree)

    nodes: dict[str, Node] = {}  # the organisation, regions and cities
    store_fen: dict[str, int] = {}
    deferred: list[tuple[StoreInput, int, int, int, str]] = []
    org_base = sum(base.values())
    org = Node(
        "org",
        "org",
        "集团",
        amount_fen,
        org_base,
        None,
        factors={"stores": len(stores)},
        rationale=f"总部目标{yuan(amount_fen)}；门店基数合计{yuan(org_base)}"
        + (f"，目标为基数的{share(amount_fen, org_base)}" if org_base else "")
        + f"；按大区权重（门店权重合计 × 区域系数）分解到{len(regions)}个大区",
    )
    nodes[org.id] = org

    region_w: list[int] = []
    region_coef: list[Coefficient] = []
    for r in regions:
        c = coefficients.get(r) or Coefficient(Fraction(1), "")
        region_coef.append(c)
        sw = sum(weight[s.customer_id] for cs in tree[r].values() for s in cs)
        region_w.append(round_half_up(sw * c.value))
    region_amounts = split_fen(amount_fen, region_w)
    total_rw = sum(region_w)
    for r, amt, rw, c in zip(regions, region_amounts, region_w, region_coef, strict=True):
        cities = sorted(tree[r])
        rbase = sum(base[s.customer_id] for cs in tree[r].values() for s in cs)
        rn = region_node(r, amt, rbase, org.id, c, rw, total_rw)
        nodes[rn.id] = rn
        org.children.append(rn.id)
        city_w = [sum(weight[s.customer_id] for s in tree[r][ck]) for ck in cities]
        total_cw = sum(city_w)
        for ck, camt, cw in zip(cities, split_fen(amt, city_w), city_w, strict=True):
            cstores = tree[r][ck]
            cbase = sum(base[s.customer_id] for s in cstores)
            cn = city_node(ck, camt, cbase, len(cstores), rn.id, floors[ck], cw, total_cw)
            nodes[cn.id] = cn
            rn.children.append(cn.id)
            sw_list = [weight[s.customer_id] for s in cstores]
            total_sw = sum(sw_list)
            for s, samt, sw in zip(cstores, split_fen(camt, sw_list), sw_list, strict=True):
                store_fen[s.customer_id] = samt
                cn.children.append("store:" + s.customer_id)
                deferred.append((s, samt, sw, total_sw, cn.id))

    def build_stores() -> dict[str, Node]:
        out: dict[str, Node] = {}
        for s, samt, sw, total_sw, parent in deferred:
            b = raw[s.customer_id]
            fq, tk, nw = factors[s.customer_id]
            basis = b.words(s.history, period)
            if b.method == "new_store_floor":
                basis += f" {yuan(base[s.customer_id])}"
            fw = []
            if fq != 1000:
                fw.append(f"下单频次系数{fq / 1000:.2f}")
            if tk != 1000:
                fw.append(f"客单价系数{tk / 1000:.2f}")
            if nw != 1000:
                fw.append(f"新店爬坡系数{nw / 1000:.2f}")
            sn = Node(
                "store",
                s.customer_id,
                s.name,
                samt,
                base[s.customer_id],
                parent,
                factors={
                    "method": b.method,
                    "trend": b.trend_num / b.trend_den if b.trend_den else None,
                    "months_active": b.months_active,
                    "freq": fq / 1000,
                    "ticket": tk / 1000,
                    "new": nw / 1000,
                    "weight_share": (sw / total_sw) if total_sw else None,
                    "owner": s.owner,
                },
                rationale=f"基数{yuan(base[s.customer_id])}：{basis}；"
                + ("、".join(fw) + "；" if fw else "")
                + f"占城市权重{share(sw, total_sw)}",
            )
            out[sn.id] = sn
        return out

    # reps: their stores + their development target
    rep_inputs = {r.userid: r for r in reps}
    owned: dict[str, list[str]] = defaultdict(list)
    for s in stores:
        owned[s.owner].append(s.customer_id)
    rep_nodes: dict[str, Node] = {}
    for userid in sorted(set(rep_inputs) | set(owned)):
        ri = rep_inputs.get(userid) or RepInput(userid, userid)
        cids = owned.get(userid, [])
        stores_fen = sum(store_fen[c] for c in cids)
        rbase = sum(base[c] for c in cids)
        rep = Node(
            "rep",
            userid,
            ri.name or userid,
            stores_fen + ri.development_fen,
            rbase,
            None,
            factors={"stores": len(cids), "stores_fen": stores_fen, "development_fen": ri.development_fen},
            rationale=f"名下{len(cids)}家门店目标合计{yuan(stores_fen)} + 新客开发目标{yuan(ri.development_fen)}",
            children=["store:" + c for c in cids],
            development_fen=ri.development_fen,
        )
        rep_nodes[rep.id] = rep
    return Plan(period, amount_fen, nodes, rep_nodes, store_fen, build_stores)


def check_sums(nodes: Mapping[str, Node]) -> list[str]:
    """Every node with children equals the sum of its children (reps: plus their development target). The
    problems in words; empty when every level sums exactly."""
    problems = []
    for n in nodes.values():
        if n.level == "store":
            continue
        total = sum(nodes[c].target_fen for c in n.children) + (n.development_fen if n.level == "rep" else 0)
        if total != n.target_fen:
            problems.append(f"{n.id}: {n.target_fen} ≠ Σ children {total}")
    return problems
