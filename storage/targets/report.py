"""The monthly penetration report (目标穿透月报, docs/targets.md § The monthly report): how a period's target
reached every level, how much of it each level has attained, and the risk points.

- the chain: the organisation's committed target, then the sum at each level below it now (regions, cities,
  stores, reps) and each one's difference from the organisation in percent — the seed's −10% / −23% / −37%
  computed; a cascade that keeps every yuan shows 0.0% all the way down, and adjustments (and development
  targets) show as what they are;
- attainment per region, the cities, the five reps furthest behind pace;
- risk points: reps red at the latest health check, and stores furthest behind their pro-rated target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.org import Scope
from core.targets.periods import TargetPeriod, parse_period
from storage.people import names
from storage.targets.attainment import AttainmentRow, attainment
from storage.targets.common import as_int
from storage.targets.health import ORG_SCOPE
from storage.targets.models import TargetHealthRow, TargetRow

CHAIN_WORDS = (
    ("org", "集团"),
    ("region", "大区合计"),
    ("city", "城市合计"),
    ("store", "门店合计"),
    ("rep", "个人合计"),
)


@dataclass
class PenetrationReport:
    period: TargetPeriod
    as_of: date  # sales through this day
    chain: list[tuple[str, int, float]]  # (words, fen, % vs the organisation)
    org: AttainmentRow | None
    regions: list[AttainmentRow]
    cities: list[AttainmentRow]
    behind_reps: list[AttainmentRow]
    red_reps: list[tuple[str, str]] = field(default_factory=list)  # (userid, name)
    behind_stores: list[tuple[str, int]] = field(default_factory=list)  # (name, gap fen pro-rated)


def report_period(session: Session, day: date) -> TargetPeriod | None:
    """The period to report on `day` (the day before the 1st): its quarter, else month, else year, with targets."""
    from core.targets.periods import period_of

    for kind in ("quarter", "month", "year"):
        p = period_of(kind, day)
        if session.scalar(select(func.count()).select_from(TargetRow).where(TargetRow.period == p.key)):
            return p
    return None


def penetration(
    session: Session, period: TargetPeriod | str, *, as_of: date, scope: Scope = ORG_SCOPE
) -> PenetrationReport:
    """The report as `scope` may see it: the chain (organisation totals) only for an org-wide scope."""
    p = parse_period(period) if isinstance(period, str) else period
    org_row = session.get(TargetRow, f"{p.key}|org|org")
    org_fen = org_row.committed_fen if org_row else 0
    sums = dict(
        session.execute(
            select(TargetRow.level, func.sum(TargetRow.amount_fen + TargetRow.development_fen))
            .where(TargetRow.period == p.key)
            .group_by(TargetRow.level)
        ).all()
    )
    store_fen = as_int(sums.get("store"))
    rep_dev = as_int(
        session.scalar(
            select(func.sum(TargetRow.development_fen)).where(
                TargetRow.period == p.key, TargetRow.level == "rep"
            )
        )
    )
    level_fen = {
        "org": org_fen,
        "region": as_int(sums.get("region")),
        "city": as_int(sums.get("city")),
        "store": store_fen,
        "rep": store_fen + rep_dev,  # a rep's target is their stores now + their development target
    }
    chain = [
        (words, level_fen[lv], ((level_fen[lv] - org_fen) / org_fen * 100) if org_fen else 0.0)
        for lv, words in CHAIN_WORDS
        if scope.owners is None
    ]
    org_att = attainment(session, scope, p, "org", today=as_of)
    regions = attainment(session, scope, p, "region", today=as_of)
    cities = attainment(session, scope, p, "city", today=as_of)
    reps = [r for r in attainment(session, scope, p, "rep", today=as_of) if r.target_fen > 0]
    behind = sorted(reps, key=lambda r: (r.pace if r.pace is not None else 0.0, r.key))[:5]
    last = session.scalar(
        select(func.max(TargetHealthRow.checked_on)).where(
            TargetHealthRow.period == p.key,
            TargetHealthRow.level == "rep",
            TargetHealthRow.checked_on <= as_of,
        )
    )
    red: list[str] = []
    if last is not None:
        red = sorted(
            session.scalars(
                select(TargetHealthRow.node_key).where(
                    TargetHealthRow.period == p.key,
                    TargetHealthRow.level == "rep",
                    TargetHealthRow.checked_on == last,
                    TargetHealthRow.light == "red",
                )
            )
        )
    red = [u for u in red if scope.sees_owner(u)]
    who = names(session, red)
    stores = attainment(session, scope, p, "store", today=as_of)
    gaps = sorted(
        ((s.name, round(s.target_fen * s.elapsed) - s.sales_fen) for s in stores),
        key=lambda g: -g[1],
    )
    return PenetrationReport(
        period=p,
        as_of=as_of,
        chain=chain,
        org=org_att[0] if org_att else None,
        regions=regions,
        cities=sorted(cities, key=lambda r: -(r.attainment or 0.0)),
        behind_reps=behind,
        red_reps=[(u, who.get(u, u)) for u in red],
        behind_stores=[g for g in gaps if g[1] > 0][:5],
    )
