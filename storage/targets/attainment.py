"""Attainment (达成率) of targets per node, scoped inside the query (docs/targets.md § Attainment).

For a period P, a level (org | region | city | store | rep) and a viewer's `Scope`:
- the stores counted are the customers whose owner the scope sees (every customer for an org-wide scope);
- target = the sum of those stores' current targets for P (after adjustments); a rep's adds their development
  target; the node a store counts under follows the customer's current region, city and owner;
- sales = the orders of those customers dated from P's first day through `today` (and before P's end), a store
  without a target included (a new customer's orders count for its rep, region and city);
- attainment = sales ÷ target; elapsed = the share of P's days through `today`; pace = attainment ÷ elapsed
  (the figure the health lights read); gap = target − sales (差多少, never below 0).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.org import Scope
from core.targets.cascade import city_key, region_key
from core.targets.periods import TargetPeriod, parse_period
from storage.models import CustomerRow, OrderRow, UserRow
from storage.targets.common import as_int, order_fen
from storage.targets.models import TargetRow

LEVELS = ("org", "region", "city", "store", "rep")


@dataclass(frozen=True)
class AttainmentRow:
    level: str
    key: str
    name: str
    target_fen: int
    sales_fen: int
    gap_fen: int  # target − sales, at least 0 (差多少)
    attainment: float | None  # sales ÷ target; None without a target
    elapsed: float  # share of the period's days through today
    pace: float | None  # attainment ÷ elapsed; None before the period starts or without a target


def _owners_filter(scope: Scope) -> list[Any]:
    if scope.owners is None:
        return []
    return [CustomerRow.owner_userid.in_(sorted(scope.owners))]


def attainment(
    session: Session, scope: Scope, period: str | TargetPeriod, level: str, *, today: date
) -> list[AttainmentRow]:
    """One row per node of `level` the scope sees that has a target or sales in the period, by key."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    p = parse_period(period) if isinstance(period, str) else period
    where = _owners_filter(scope)
    # group by what the level's key is made of (the empty and NULL region/city merge in _group_key)
    key_cols: tuple[Any, ...] = {
        "org": (),
        "region": (CustomerRow.region,),
        "city": (CustomerRow.region, CustomerRow.city),
        "rep": (CustomerRow.owner_userid,),
        "store": (CustomerRow.customer_id, CustomerRow.name),
    }[level]

    def key_of(row: Any) -> str:
        if level == "org":
            return "org"
        if level == "region":
            return region_key(row[0])
        if level == "city":
            return city_key(row[0], row[1])
        return row[0]

    names: dict[str, str] = {}
    targets: dict[str, int] = defaultdict(int)
    tq = (
        select(*key_cols, func.sum(TargetRow.amount_fen))
        .join(CustomerRow, CustomerRow.customer_id == TargetRow.node_key)
        .where(TargetRow.period == p.key, TargetRow.level == "store", *where)
    )
    if key_cols:
        tq = tq.group_by(*key_cols)
    for row in session.execute(tq):
        if row[-1] is None:  # the organisation's sum over no store
            continue
        k = key_of(row)
        targets[k] += as_int(row[-1])
        if level == "store":
            names[k] = row[1]

    sales: dict[str, int] = defaultdict(int)
    hi = min(p.end, today + timedelta(days=1))
    if hi > p.start:
        sq = (
            select(*key_cols, func.sum(order_fen()))
            .join(CustomerRow, CustomerRow.customer_id == OrderRow.customer_id)
            .where(OrderRow.ordered_on >= p.start, OrderRow.ordered_on < hi, *where)
        )
        if key_cols:
            sq = sq.group_by(*key_cols)
        for row in session.execute(sq):
            if row[-1] is None:
                continue
            k = key_of(row)
            sales[k] += as_int(row[-1])
            if level == "store":
                names[k] = row[1]

    if level == "rep":  # development targets, and reps with a target but no store
        rq = select(TargetRow.node_key, TargetRow.development_fen).where(
            TargetRow.period == p.key, TargetRow.level == "rep"
        )
        if scope.owners is not None:
            rq = rq.where(TargetRow.node_key.in_(sorted(scope.owners)))
        for userid, dev in session.execute(rq):
            targets[userid] += as_int(dev)
        keys = set(targets) | set(sales)
        uq = select(UserRow.userid, UserRow.name)
        if len(keys) <= 500:  # a team: their names; many reps: every user's name (no IN of 10,000 values)
            uq = uq.where(UserRow.userid.in_(sorted(keys)))
        names.update({u: n for u, n in session.execute(uq) if u in keys})
    elapsed = p.elapsed_share(today)
    out = []
    for k in sorted(set(targets) | set(sales)):
        t, s = targets.get(k, 0), sales.get(k, 0)
        att = s / t if t > 0 else None
        name = names.get(k) or ("集团" if level == "org" else k.split("/", 1)[-1] if level == "city" else k)
        out.append(
            AttainmentRow(
                level=level,
                key=k,
                name=name,
                target_fen=t,
                sales_fen=s,
                gap_fen=max(0, t - s),
                attainment=att,
                elapsed=elapsed,
                pace=(att / elapsed) if att is not None and elapsed > 0 else None,
            )
        )
    return out
