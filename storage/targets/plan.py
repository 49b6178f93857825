"""The cascade's inputs from the database (stores with their history in the baseline windows, reps, region
coefficients, development targets) and the plan applied to the targets table, every row audited."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.orm import Session

from core.targets.baseline import StoreHistory, Windows, windows
from core.targets.cascade import Coefficient, Plan, RepInput, StoreInput, cascade, node_id
from core.targets.periods import TargetPeriod
from storage.audit import jsonable, record, snapshot
from storage.models import AuditRow, CustomerRow, OrderRow, UserRow
from storage.targets.common import as_int, order_fen, target_id
from storage.targets.models import RegionCoefficientRow, TargetRow
from storage.targets.sqlplan import SqlPlan, apply_sql, preview_sql
from storage.targets.store_arrays import UnreadableIds


class NothingToSplit(ValueError):
    """No store to split a target over; the message is Chinese."""


def store_inputs(session: Session, w: Windows) -> list[StoreInput]:
    """Every store (customer) that is not lost, with its sales in the windows, in one grouped query."""
    fen = order_fen()

    def within(lo_hi: tuple[date, date] | None, what: Any) -> Any:
        if lo_hi is None:
            return func.sum(0)
        lo, hi = lo_hi
        return func.sum(case((and_(OrderRow.ordered_on >= lo, OrderRow.ordered_on < hi), what), else_=0))

    q = (
        select(
            CustomerRow.customer_id,
            CustomerRow.name,
            CustomerRow.region,
            CustomerRow.city,
            CustomerRow.owner_userid,
            within(w.ly, fen),
            within(w.recent, fen),
            within(w.recent_ly, fen),
            within(w.six, fen),
            within(w.recent, 1),
            func.min(OrderRow.ordered_on),
        )
        .outerjoin(
            OrderRow, and_(OrderRow.customer_id == CustomerRow.customer_id, OrderRow.ordered_on < w.cutoff)
        )
        .where(CustomerRow.status != "lost")
        .group_by(
            CustomerRow.customer_id,
            CustomerRow.name,
            CustomerRow.region,
            CustomerRow.city,
            CustomerRow.owner_userid,
        )
    )
    out = []
    for cid, name, region, city, owner, ly, rec, rec_ly, six, n, first in session.execute(q):
        if isinstance(first, str):  # SQLite's MIN over a date column
            first = date.fromisoformat(first)
        out.append(
            StoreInput(
                cid,
                name,
                region,
                city,
                owner,
                StoreHistory(as_int(ly), as_int(rec), as_int(rec_ly), as_int(six), as_int(n), first),
            )
        )
    return out


def rep_inputs(session: Session, period: str) -> list[RepInput]:
    """Active reps, with the development target their rep row of the period already holds (imported)."""
    dev = dict(
        session.execute(
            select(TargetRow.node_key, TargetRow.development_fen).where(
                TargetRow.period == period, TargetRow.level == "rep"
            )
        ).all()
    )
    reps = session.execute(
        select(UserRow.userid, UserRow.name).where(UserRow.role == "rep", UserRow.active.is_(True))
    ).all()
    known = {u for u, _ in reps}
    out = [RepInput(u, n, as_int(dev.get(u))) for u, n in reps]
    others = [u for u in dev if u not in known]  # rep rows of users no longer active reps (a few at most)
    names = (
        dict(session.execute(select(UserRow.userid, UserRow.name).where(UserRow.userid.in_(others))).all())
        if others
        else {}
    )
    out += [RepInput(u, names.get(u, u), as_int(dev[u])) for u in others]
    return out


def coefficients(session: Session, period: str) -> dict[str, Coefficient]:
    rows = session.scalars(select(RegionCoefficientRow).where(RegionCoefficientRow.period == period))
    return {r.region: Coefficient(Fraction(Decimal(r.coefficient)), r.reason, r.set_by) for r in rows}


def set_coefficient(
    session: Session, *, period: str, region: str, value: Decimal, reason: str, by: str, now: datetime
) -> None:
    """A regional manager's coefficient for a region (0.5..1.5, with a reason), audited."""
    if not (Decimal("0.5") <= value <= Decimal("1.5")):
        raise ValueError("区域系数应在0.5到1.5之间")
    if not reason.strip():
        raise ValueError("请说明理由（如 竞品进入、动销下滑）")
    row = session.get(RegionCoefficientRow, (period, region))
    before = snapshot(row)
    if row is None:
        row = RegionCoefficientRow(period=period, region=region)
        session.add(row)
    row.coefficient = value
    row.reason = reason.strip()[:256]
    row.set_by = by
    row.set_at = now
    session.flush()
    record(
        session,
        at=now,
        actor=by,
        action="update" if before else "create",
        entity="target_coefficient",
        entity_id=f"{period}|{region}",
        before=before,
        after=snapshot(row),
        reason="coefficient",
    )


def preview(session: Session, period: TargetPeriod, amount_fen: int, *, today: date) -> Plan:
    w = windows(period, as_of=today)
    if session.get_bind().dialect.name == "postgresql":  # one read, arrays (storage/targets/sqlplan.py)
        reps, coefs = rep_inputs(session, period.key), coefficients(session, period.key)
        try:
            sql_plan = preview_sql(session, period, w, amount_fen, reps, coefs)
        except UnreadableIds:
            pass  # an id with a separator character: the reference path below, slower but general
        else:
            if sql_plan is None:
                raise NothingToSplit("没有可分解的门店（客户）：请先导入客户和订单")
            return sql_plan
    stores = store_inputs(session, w)
    if not stores:
        raise NothingToSplit("没有可分解的门店（客户）：请先导入客户和订单")
    return cascade(
        period=period,
        windows=w,
        amount_fen=amount_fen,
        stores=stores,
        reps=rep_inputs(session, period.key),
        coefficients=coefficients(session, period.key),
    )


def _row(plan: Plan, n: Any, *, by: str, now: datetime, children: int | None = None) -> dict[str, Any]:
    p = plan.period.key
    parent = plan.node(n.parent) if n.parent else None
    return {
        "target_id": target_id(p, n.level, n.key),
        "period": p,
        "level": n.level,
        "node_key": n.key,
        "parent_id": target_id(p, parent.level, parent.key) if parent else None,
        "name": (n.name or n.key)[:128],
        "amount_fen": n.target_fen,
        "committed_fen": n.target_fen,
        "baseline_fen": n.baseline_fen,
        "development_fen": n.development_fen,
        "factors": {**n.factors, "children": len(n.children) if children is None else children},
        "rationale": n.rationale,
        "source": "cascade",
        "set_by": by,
        "set_at": now,
    }


def apply(session: Session, plan: Plan, *, by: str, now: datetime, reason: str = "cascade") -> int:
    """Replace the period's targets by the plan: one row per node, one audit row per node (before → after).
    Adjustments made to the period before are replaced with the rest (docs/targets.md § Adjustments)."""
    from storage.importer.run import bulk_insert

    if isinstance(plan, SqlPlan):
        plan.ensure(session)
        upper = [
            _row(plan, n, by=by, now=now, children=plan.child_counts.get(n.id))
            for n in [*plan._upper.values(), *plan._reps.values()]
        ]
        return apply_sql(session, plan, upper, by=by, now=now, reason=reason)
    p = plan.period.key
    t = TargetRow.__table__
    old = {
        r["target_id"]: {k: jsonable(v) for k, v in r.items()}
        for r in session.execute(select(t).where(t.c.period == p)).mappings()
    }
    rows = [_row(plan, n, by=by, now=now) for n in plan.nodes.values()]
    session.execute(delete(TargetRow).where(TargetRow.period == p))
    bulk_insert(session, t, rows)
    stamp = jsonable(now)
    audits = []
    for r in rows:
        before = old.pop(r["target_id"], None)
        after = {**r, "set_at": stamp}
        audits.append(
            _audit(now, by, "create" if before is None else "update", r["target_id"], before, after, reason)
        )
    for tid, row in old.items():  # nodes no longer there (a store lost since)
        audits.append(_audit(now, by, "delete", tid, row, None, reason))
    bulk_insert(session, AuditRow.__table__, audits)
    session.expire_all()
    return len(rows)


def _audit(
    now: datetime, by: str, action: str, tid: str, before: Any, after: Any, reason: str
) -> dict[str, Any]:
    return {
        "at": now,
        "actor": by,
        "action": action,
        "entity": "target",
        "entity_id": tid,
        "before": before,
        "after": after,
        "reason": reason,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    """The preview as JSON (`targets cascade --json`): every node, nested from the organisation down."""

    def node(nid: str) -> dict[str, Any]:
        n = plan.nodes[nid]
        return {
            "level": n.level,
            "key": n.key,
            "name": n.name,
            "target_fen": n.target_fen,
            "baseline_fen": n.baseline_fen,
            "factors": n.factors,
            "rationale": n.rationale,
            "children": [node(c) for c in n.children] if n.level != "rep" else list(n.children),
        }

    reps = []
    for n in plan.of_level("rep"):
        d = node(n.id)
        d["children"] = [plan.nodes[c].key for c in n.children]
        d["development_fen"] = n.development_fen
        reps.append(d)
    return {
        "period": plan.period.key,
        "amount_fen": plan.amount_fen,
        "org": node(node_id("org", "org")),
        "reps": reps,
    }
