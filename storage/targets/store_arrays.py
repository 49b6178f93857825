"""The cascade's per-store arithmetic for 500,000 stores at once, over numpy arrays (the PostgreSQL path,
storage/targets/sqlplan.py; docs/targets.md § On PostgreSQL). The rules are those of core/targets/baseline.py
and core/targets/cascade.py, which stay the reference (and SQLite's path); this module computes the same
numbers, tested equal node by node (tests/targets/test_cascade_sql.py):

- integers stay exact: int64 where the data's own bounds prove that a product fits, Python integers (object
  arrays) where it might not (the trend's product, the weights, every split's A × w);
- floats are IEEE doubles computed in the reference's order (the medians, the factors' `round` half to even),
  so every factor equals Python's.

The stores come from one statement (`read_stores`, one snapshot): one row of four aggregates over the same
rows in the same order — every store's history as fixed-width binary records, and its customer ids, owners and
raw (region, city) as three strings — aligned by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from core.targets.baseline import FLOOR_SHARE, Windows
from core.targets.cascade import NEW_STORE_MILLI
from core.targets.periods import TargetPeriod

METHODS = ("same_period_last_year", "run_rate", "new_store_floor")
SAME, RUN, NEW = 0, 1, 2
_SAFE = 2**62  # a product proven below this fits int64 with room for a sum of two
_SEP_ROW, _SEP_FIELD = "\x1e", "\x1f"
_PG_EPOCH = np.datetime64("2000-01-01", "D")
_NO_ORDER = -(2**31)  # no order before the cutoff (a first month is a day count from 2000-01-01)
_RECORD = np.dtype([*[(c, ">i8") for c in ("ly", "rec", "rec_ly", "six", "n")], ("first", ">i4")])


class UnreadableIds(ValueError):
    """A customer id, owner, region or city holds a separator character (U+001E, U+001F): the stores cannot
    be read as arrays; the caller computes the plan on the Python path instead."""


@dataclass
class Stores:
    """Every store that is not lost, in customer-id order (code-point order: Python's `sorted`)."""

    cid: np.ndarray  # str
    owner: np.ndarray  # int64 index into `owners`
    owners: list[str]
    pair: np.ndarray  # int64 index into `pairs`
    pairs: list[tuple[str, str]]  # the raw (region, city), '' for NULL
    ly: np.ndarray  # int64 fen, each window's sales
    rec: np.ndarray
    rec_ly: np.ndarray
    six: np.ndarray
    n: np.ndarray  # orders in R
    # the month index (year × 12 + month − 1) of the first order before the cutoff, −1 when none
    first: np.ndarray


def _months(d: date) -> int:
    return d.year * 12 + d.month - 1


def history_sql(w: Windows) -> tuple[str, dict[str, Any]]:
    """One row: every store's history as fixed-width binary records (bigint sums in the windows, the first
    month as days since 2000-01-01) and its customer id, owner and raw (region, city) as three strings — four
    aggregates over the same rows with the same ORDER BY (the customer id, a unique key), so
    the i-th record and the i-th id are the same store. The history is the monthly roll-up `order_months`
    (read in customer order from its covering index: a sorted aggregate)."""

    def within(lo: str, hi: str) -> str:
        return f"FILTER (WHERE month >= %({lo})s AND month < %({hi})s)"

    ly = f"sum(sales_fen) {within('ly0', 'ly1')}::int8" if w.ly else "0::int8"
    p = {
        "cutoff": w.cutoff,
        "r0": w.recent[0],
        "r1": w.recent[1],
        "rl0": w.recent_ly[0],
        "rl1": w.recent_ly[1],
        "s0": w.six[0],
        "s1": w.six[1],
        "ly0": w.ly[0] if w.ly else date(1, 1, 1),
        "ly1": w.ly[1] if w.ly else date(1, 1, 1),
    }
    # the column's own order: the planner reads it from the customers' primary key, no sort; the code-point
    # order the ties need is made in Python (`_parse`)
    order = "ORDER BY c.customer_id"
    record = " || ".join(
        [f"int8send(coalesce(o.{c}, 0))" for c in ("ly", "rec", "rec_ly", "six", "n")]
        + [f"int4send(coalesce(o.first_on - DATE '2000-01-01', {_NO_ORDER}))"]
    )
    sql = f"""SELECT string_agg({record}, ''::bytea {order}),
               string_agg(c.customer_id, E'\\x1e' {order}),
               string_agg(coalesce(c.owner_userid, ''), E'\\x1e' {order}),
               string_agg(coalesce(c.region, '') || E'\\x1f' || coalesce(c.city, ''), E'\\x1e' {order})
        FROM customers c LEFT JOIN (
            SELECT customer_id, {ly} AS ly,
                   sum(sales_fen) {within("r0", "r1")}::int8 AS rec,
                   sum(sales_fen) {within("rl0", "rl1")}::int8 AS rec_ly,
                   sum(sales_fen) {within("s0", "s1")}::int8 AS six,
                   sum(orders) {within("r0", "r1")}::int8 AS n, min(month) AS first_on
            FROM order_months WHERE month < %(cutoff)s GROUP BY customer_id) o ON o.customer_id = c.customer_id
        WHERE c.status <> 'lost'"""
    return sql, p


def read_stores(session: Session, w: Windows) -> Stores | None:
    """The stores and their history in one statement (one snapshot); None when there is none."""
    sql, params = history_sql(w)
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    records, ids, owners, pairs = cursor.execute(sql, params, binary=True).fetchone()
    if ids is None:
        return None
    return _parse(records, ids, owners, pairs)


def _numbered(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each value's index into the distinct values (in first-seen order)."""
    distinct = list(dict.fromkeys(values))
    index = {v: i for i, v in enumerate(distinct)}
    return np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values)), distinct


def _parse(records: bytes, ids: str, owners: str, pairs: str) -> Stores:
    rows = np.frombuffer(records, dtype=_RECORD)
    cid, owner, pair = ids.split(_SEP_ROW), owners.split(_SEP_ROW), pairs.split(_SEP_ROW)
    if not (len(cid) == len(owner) == len(pair) == len(rows)):
        raise UnreadableIds("a customer id or owner holds U+001E")
    owner_idx, owner_list = _numbered(owner)
    pair_idx, pair_list = _numbered(pair)
    split = [p.split(_SEP_FIELD) for p in pair_list]
    if any(len(p) != 2 for p in split):
        raise UnreadableIds("a region or city holds U+001F")
    # everything in customer-id order by code point (Python's `sorted`: numpy compares str the same way)
    cids = np.array(cid)
    if len(cids) > 1 and not (cids[1:] > cids[:-1]).all():  # the database's collation orders otherwise
        by_id = np.argsort(cids, kind="stable")
        cids, rows, owner_idx, pair_idx = cids[by_id], rows[by_id], owner_idx[by_id], pair_idx[by_id]
    first = rows["first"].astype(np.int64)
    none = first == _NO_ORDER
    days = np.where(none, 0, first).astype("timedelta64[D]")
    months = (_PG_EPOCH + days).astype("datetime64[M]").astype(np.int64) + 1970 * 12
    return Stores(
        cid=cids,
        owner=owner_idx,
        owners=owner_list,
        pair=pair_idx,
        pairs=[(r, c) for r, c in split],
        ly=rows["ly"].astype(np.int64),
        rec=rows["rec"].astype(np.int64),
        rec_ly=rows["rec_ly"].astype(np.int64),
        six=rows["six"].astype(np.int64),
        n=rows["n"].astype(np.int64),
        first=np.where(none, -1, months),
    )


def _fits(*maxima: int) -> bool:
    p = 1
    for m in maxima:
        p *= max(int(m), 1)
    return p < _SAFE


def _absmax(a: np.ndarray) -> int:
    return int(np.abs(a).max()) if len(a) else 0


@dataclass
class Weights:
    method: np.ndarray  # int8: SAME | RUN | NEW
    raw: np.ndarray  # int64, the baseline by history (0 for a new store)
    tnum: np.ndarray  # int64 trend ratio (SAME only)
    tden: np.ndarray
    active: np.ndarray  # int64 months active (RUN only)
    floor: np.ndarray  # int64 per city: the city's floor, else the organisation's
    base: np.ndarray  # int64
    fq: np.ndarray  # int64 thousandths
    tk: np.ndarray
    nw: np.ndarray
    weight: np.ndarray  # int64 or object (Python ints)


def _group_starts(city_sorted: np.ndarray, cities: int) -> tuple[np.ndarray, np.ndarray]:
    """For values sorted by city: each city's first index and count."""
    starts = np.searchsorted(city_sorted, np.arange(cities), side="left")
    ends = np.searchsorted(city_sorted, np.arange(cities), side="right")
    return starts, ends - starts


def _middles(values: np.ndarray, city: np.ndarray, cities: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each city's values sorted, the indices of its low and high middle value (equal when the count is odd),
    and which cities have any value."""
    o = np.lexsort((values, city))
    starts, counts = _group_starts(city[o], cities)
    has = counts > 0
    return values[o], np.stack([starts + (counts - 1) // 2, starts + counts // 2]), has


def _median_low_per_city(values: np.ndarray, city: np.ndarray, cities: int) -> tuple[np.ndarray, np.ndarray]:
    """statistics.median_low of each city's values (int64) and whether the city has any."""
    v, (lo, _), has = _middles(values, city, cities)
    med = np.zeros(cities, dtype=np.int64)
    med[has] = v[lo[has]]
    return med, has


def _median_per_city(values: np.ndarray, city: np.ndarray, cities: int) -> np.ndarray:
    """statistics.median of each city's values as float64: the middle value, or the mean of the two middle ones
    ((a + b) / 2, as Python computes it for floats and for integers below 2^53); NaN where a city has none."""
    v, (lo, hi), has = _middles(values, city, cities)
    out = np.full(cities, np.nan)
    out[has] = (v[lo[has]] + v[hi[has]]) / 2
    return out


def _floor_of(median_low: Any) -> Any:
    """core.targets.baseline.floor_of's last step: the low median × FLOOR_SHARE, rounded half up."""
    return (2 * median_low * FLOOR_SHARE.numerator + FLOOR_SHARE.denominator) // (2 * FLOOR_SHARE.denominator)


def _factor(x: np.ndarray, median: np.ndarray) -> np.ndarray:
    """core.targets.cascade._factor: 1000 ± 100 by how far x is from the median, where the median is > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        moved = np.rint(100 * (x - median) / median)
    ok = median > 0
    return np.where(ok, 1000 + np.clip(np.where(ok, moved, 0), -100, 100), 1000).astype(np.int64)


def weights(s: Stores, city: np.ndarray, cities: int, period: TargetPeriod, w: Windows) -> Weights:
    """Each store's baseline, floor, factors and weight (core.targets.baseline.baseline, floor_of,
    core.targets.cascade.store_factors and the weight = base × frequency × 客单价 × new-store factors)."""
    size = len(s.cid)
    # the method, first that applies
    same = (s.ly > 0) if w.ly is not None else np.zeros(size, dtype=bool)
    run = ~same & (s.six > 0)
    method = np.where(same, SAME, np.where(run, RUN, NEW)).astype(np.int8)
    # the trend as a ratio clamped to [1/2, 2]: 1 when R a year earlier had no sales
    num, den = s.rec, s.rec_ly
    tnum = np.select([den <= 0, 2 * num <= den, num >= 2 * den], [1, 1, 2], default=num).astype(np.int64)
    tden = np.select([den <= 0, 2 * num <= den, num >= 2 * den], [1, 2, 1], default=den).astype(np.int64)
    raw = np.zeros(size, dtype=np.int64)
    if same.any():
        ly, tn, td = s.ly[same], tnum[same], tden[same]
        if _fits(2, _absmax(ly), _absmax(tn)):
            raw[same] = (2 * ly * tn + td) // (2 * td)
        else:  # Python integers for the products that might pass 2^63
            raw[same] = [
                (2 * int(a) * int(b) + int(c)) // (2 * int(c)) for a, b, c in zip(ly, tn, td, strict=True)
            ]
    cutoff = _months(w.cutoff)
    s0 = _months(w.six[0])
    start = np.maximum(np.where(s.first >= 0, s.first, s0), s0)
    active = np.maximum(1, cutoff - start)
    if run.any():
        six, act = s.six[run], active[run]
        if _fits(2, _absmax(six), period.months):
            raw[run] = (2 * six * period.months + act) // (2 * act)
        else:
            raw[run] = [
                (2 * int(a) * period.months + int(b)) // (2 * int(b)) for a, b in zip(six, act, strict=True)
            ]
    # the floors: half the low median of the positive baselines, per city, else the organisation's
    pos = raw > 0
    med, has = _median_low_per_city(raw[pos], city[pos], cities)
    org_vals = np.sort(raw[pos])
    org_floor = _floor_of(int(org_vals[(len(org_vals) - 1) // 2])) if len(org_vals) else 0
    floor = np.where(has, _floor_of(med), org_floor).astype(np.int64)
    base = np.where(method == NEW, floor[city], raw)
    # the order-frequency and 客单价 factors against the medians of the city's stores that ordered in R
    act_r = s.n > 0
    fn = s.n.astype(np.float64)
    ticket = np.divide(s.rec.astype(np.float64), fn, out=np.zeros(size), where=act_r)
    med_n = _median_per_city(fn[act_r], city[act_r], cities)[city]
    med_t = _median_per_city(ticket[act_r], city[act_r], cities)[city]
    fq = np.where(act_r, _factor(fn, np.nan_to_num(med_n)), 1000).astype(np.int64)
    tk = np.where(act_r, _factor(ticket, np.nan_to_num(med_t)), 1000).astype(np.int64)
    nw = np.where((s.first >= 0) & (s.first >= _months(w.recent[0])), NEW_STORE_MILLI, 1000).astype(np.int64)
    m = fq * tk * nw
    if _fits(_absmax(base), _absmax(m)):
        weight: np.ndarray = base * m
    else:
        weight = base.astype(object) * m.astype(object)
    return Weights(method, raw, tnum, tden, active, floor, base, fq, tk, nw, weight)


def group_sums(values: np.ndarray, group: np.ndarray, groups: int) -> list[int]:
    """Each group's sum, exact (Python integers). int64 values are summed in two halves of 32 bits (each
    half's sum fits for up to 2^31 values), Python integers one by one."""
    if values.dtype != object:
        v = values.astype(np.int64)
        hi, lo = v >> 32, v & 0xFFFFFFFF
        his, los = _int_bincount(group, hi, groups).tolist(), _int_bincount(group, lo, groups).tolist()
        return [(h << 32) + low for h, low in zip(his, los, strict=True)]
    out_o = np.zeros(groups, dtype=object)
    np.add.at(out_o, group, values)
    return [int(x) for x in out_o]


def _int_bincount(group: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """Exact int64 sums per group (np.add.at: bincount would sum in float64)."""
    out = np.zeros(groups, dtype=np.int64)
    np.add.at(out, group, values)
    return out


_divmod = np.frompyfunc(divmod, 2, 2)  # Python's divmod over object arrays: both halves in one pass


def split_stores(weight: np.ndarray, city: np.ndarray, amounts: list[int], zero: list[bool]) -> np.ndarray:
    """Every city's amount over its stores: core.targets.split.split_fen per city, all cities at once. The
    stores are in customer-id order (within a city the tie order: the first key gets the extra fen); a city
    whose weights are all zero splits evenly (each weighs 1); a negative amount is split as its absolute value,
    negated. The targets as int64."""
    size, cities = len(weight), len(amounts)
    zero_a = np.asarray(zero, dtype=bool)[city]
    w = np.where(zero_a, 1, weight)
    total_w = group_sums(w, city, cities)
    big_w = np.array(total_w, dtype=object)[city]
    amount = np.array([abs(x) for x in amounts], dtype=object)
    prod = amount[city] * w.astype(object)
    q, r = _divmod(prod, big_w)
    part = q.astype(np.int64)  # at most the city's amount
    left = np.array([int(x) for x in amount], dtype=np.int64) - np.array(group_sums(part, city, cities))
    # the ranks within a city: remainder descending, then customer-id order; the remainder compared as a float
    # first (a correctly rounded division, so monotonic) and exactly within a run of equal floats
    # (float(r) / float(W): each step rounds monotonically, so equal exact remainders give equal floats and a
    # larger one never a smaller float)
    if size and max(total_w) < 2**1000:
        frac = r.astype(np.float64) / big_w.astype(np.float64)
    else:  # beyond a float's range: the exact quotients, correctly rounded
        frac = (r / big_w).astype(np.float64) if size else np.zeros(0)
    order = np.lexsort((-frac, city))  # a stable sort: equal keys keep the customer-id order
    fs, cs = frac[order], city[order]
    tied = np.flatnonzero((fs[1:] == fs[:-1]) & (cs[1:] == cs[:-1]))
    if len(tied):
        begins = tied[np.concatenate([[True], tied[1:] != tied[:-1] + 1])]  # each run's first pair
        ends = tied[np.concatenate([tied[1:] != tied[:-1] + 1, [True]])] + 2  # one past each run's last row
        # only a run whose exact remainders differ needs another order (equal ones keep the position order)
        rs = r[order]
        differs = np.zeros(size, dtype=np.int64)
        differs[tied[rs[tied] != rs[tied + 1]]] = 1
        counted = np.concatenate([[0], np.cumsum(differs)])
        fix = counted[ends - 1] - counted[begins] > 0
        for b0, b1 in zip(begins[fix].tolist(), ends[fix].tolist(), strict=True):
            run = order[b0:b1].tolist()
            run.sort(key=lambda k: (-r[k], k))
            order[b0:b1] = run
    starts, _ = _group_starts(cs, cities)
    rank = np.empty(size, dtype=np.int64)
    rank[order] = np.arange(size) - starts[cs]
    extra = (rank < left[city]).astype(np.int64)
    sign = np.where(np.array([x < 0 for x in amounts], dtype=bool), -1, 1)[city]
    return sign * (part + extra)
