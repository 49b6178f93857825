"""Weekly health checks of targets, recorded actions, and what a red rep's diagnosis card says (docs/targets.md
§ Health lights). Attainment comes from storage/targets/attainment.py with the organisation's scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from core.clock import ORG_ZONE
from core.org import Scope
from core.targets.health import RED, Check, Thresholds, light
from core.targets.periods import TargetPeriod, add_months, parse_period
from storage.audit import record, snapshot
from storage.models import ContractRow, CustomerRow, OrderRow, VisitRow, VisitTagRow
from storage.payments import paid_subquery
from storage.targets.attainment import AttainmentRow, attainment
from storage.targets.common import as_int, order_fen
from storage.targets.models import TargetActionRow, TargetHealthRow, TargetRow

ORG_SCOPE = Scope(asker="system:targets", name="系统", role="admin", owners=None)
HEALTH_LEVELS = ("region", "city", "store", "rep")


def live_periods(session: Session, today: date) -> list[TargetPeriod]:
    """The periods with rep targets that contain `today`."""
    keys = session.scalars(select(TargetRow.period).where(TargetRow.level == "rep").distinct()).all()
    return sorted((p for p in map(parse_period, keys) if p.contains(today)), key=lambda p: p.key)


@dataclass(frozen=True)
class Light:
    period: str
    level: str
    key: str
    row: AttainmentRow
    light: str
    run_start: date | None
    newly_red: bool


def run_checks(
    session: Session, period: TargetPeriod, *, today: date, now: datetime, th: Thresholds
) -> list[Light]:
    """Check every region, city, store and rep of the period: store the check (one per node per day, written in
    one statement per level) and the light. Only reps have recorded actions; the other levels turn red on the
    pace rule alone."""
    out: list[Light] = []
    since = today - timedelta(days=7 * th.weeks + 10)  # enough earlier checks for the longest run that counts
    for level in HEALTH_LEVELS:
        rows = [r for r in attainment(session, ORG_SCOPE, period, level, today=today) if r.target_fen > 0]
        earlier = _earlier(session, period.key, level, today, since)
        actions = _latest_actions(session, period.key) if level == "rep" else {}
        done = set(  # a check already stored today (a retried timer) is kept, not duplicated
            session.scalars(
                select(TargetHealthRow.node_key).where(
                    TargetHealthRow.period == period.key,
                    TargetHealthRow.level == level,
                    TargetHealthRow.checked_on == today,
                )
            )
        )
        fresh = []
        for r in rows:
            prev = earlier.get(r.key, [])
            colour, start = light(r.pace, prev, th, today=today, action_since=actions.get(r.key))
            was_red = bool(prev) and prev[0].light == RED
            if r.key not in done:
                fresh.append(
                    {
                        "period": period.key,
                        "level": level,
                        "node_key": r.key,
                        "checked_on": today,
                        "target_fen": r.target_fen,
                        "sales_fen": r.sales_fen,
                        "pace": r.pace,
                        "light": colour,
                        "at": now,
                    }
                )
            out.append(Light(period.key, level, r.key, r, colour, start, colour == RED and not was_red))
        if fresh:
            session.execute(insert(TargetHealthRow), fresh)
    session.flush()
    return out


@dataclass(frozen=True)
class _Prev(Check):
    light: str = ""


def _earlier(session: Session, period: str, level: str, today: date, since: date) -> dict[str, list[_Prev]]:
    q = (
        select(
            TargetHealthRow.node_key, TargetHealthRow.checked_on, TargetHealthRow.pace, TargetHealthRow.light
        )
        .where(
            TargetHealthRow.period == period,
            TargetHealthRow.level == level,
            TargetHealthRow.checked_on < today,
            TargetHealthRow.checked_on >= since,
        )
        .order_by(TargetHealthRow.node_key, TargetHealthRow.checked_on.desc())
    )
    out: dict[str, list[_Prev]] = {}
    for key, on, pace, colour in session.execute(q):
        out.setdefault(key, []).append(_Prev(on, pace, colour))
    return out


def _latest_actions(session: Session, period: str) -> dict[str, date]:
    q = select(TargetActionRow.rep_userid, func.max(TargetActionRow.at)).where(
        TargetActionRow.period == period
    )
    rows = session.execute(q.group_by(TargetActionRow.rep_userid))
    return {u: _utc(at).astimezone(ORG_ZONE).date() for u, at in rows}


def _utc(at: datetime | str) -> datetime:
    """MAX() over a time column can come back as text (SQLite) or naive."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def action_since(session: Session, period: str, rep: str, since: datetime) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(TargetActionRow)
            .where(
                TargetActionRow.period == period,
                TargetActionRow.rep_userid == rep,
                TargetActionRow.at >= since,
            )
        )
        or 0
    ) > 0


def record_action(
    session: Session, *, period: str, rep: str, text: str, by: str, now: datetime, source: str
) -> TargetActionRow:
    row = TargetActionRow(period=period, rep_userid=rep, text=text.strip()[:512], by_userid=by, at=now)
    session.add(row)
    session.flush()
    record(
        session,
        at=now,
        actor=by,
        action="create",
        entity="target_action",
        entity_id=str(row.id),
        after=snapshot(row),
        reason=source,
    )
    return row


# --- the diagnosis card ---------------------------------------------------------------------------------


@dataclass
class Diagnosis:
    rep: str
    period: TargetPeriod
    row: AttainmentRow
    last_year_fen: int  # the rep's current stores, same days one year earlier
    this_year_fen: int
    shortfall: list[tuple[str, str, int, int, int]] = field(default_factory=list)  # id, name, due, sales, gap
    tags: list[tuple[str, int]] = field(default_factory=list)
    overdue: list[tuple[str, str, date, int]] = field(default_factory=list)  # contract, customer, due, fen
    overdue_total_fen: int = 0


def diagnosis(
    session: Session, *, period: TargetPeriod, rep: str, today: date, now: datetime, tag_days: int = 30
) -> Diagnosis:
    scope = Scope(asker=rep, name=rep, role="rep", owners=frozenset({rep}))
    (row,) = [r for r in attainment(session, scope, period, "rep", today=today) if r.key == rep] or [
        AttainmentRow("rep", rep, rep, 0, 0, 0, None, period.elapsed_share(today), None)
    ]
    hi = min(period.end, today + timedelta(days=1))
    ly_lo, ly_hi = add_months(period.start, -12), _year_back(hi)
    mine = CustomerRow.owner_userid == rep

    def sales_between(lo: date, up: date) -> int:
        return as_int(
            session.scalar(
                select(func.sum(order_fen()))
                .join(CustomerRow, CustomerRow.customer_id == OrderRow.customer_id)
                .where(mine, OrderRow.ordered_on >= lo, OrderRow.ordered_on < up)
            )
        )

    d = Diagnosis(rep, period, row, sales_between(ly_lo, ly_hi), sales_between(period.start, hi))
    stores = attainment(session, scope, period, "store", today=today)
    gaps = []
    for s in stores:
        due = round(s.target_fen * s.elapsed)
        if due > s.sales_fen:
            gaps.append((s.key, s.name, due, s.sales_fen, due - s.sales_fen))
    d.shortfall = sorted(gaps, key=lambda g: (-g[4], g[0]))[:3]
    since = now - timedelta(days=tag_days)
    tq = (
        select(VisitTagRow.tag, func.count())
        .join(VisitRow, VisitRow.visit_id == VisitTagRow.visit_id)
        .where(VisitRow.rep_userid == rep, VisitRow.checked_in_at >= since)
        .group_by(VisitTagRow.tag)
    )
    d.tags = sorted(((t, int(n)) for t, n in session.execute(tq)), key=lambda x: (-x[1], x[0]))[:3]
    p = paid_subquery(session)
    oq = (
        select(ContractRow.contract_no, CustomerRow.name, ContractRow.due_on, ContractRow.amount, p.c.paid)
        .join(p, p.c.contract_no == ContractRow.contract_no)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .where(mine, ContractRow.due_on < today, p.c.paid < ContractRow.amount)
    )
    overdue = [
        (no, name, due, int((Decimal(amount) - Decimal(paid)) * 100))
        for no, name, due, amount, paid in session.execute(oq)
    ]
    overdue.sort(key=lambda o: (-o[3], o[0]))
    d.overdue = overdue[:3]
    d.overdue_total_fen = sum(o[3] for o in overdue)
    return d


def _year_back(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)
