"""Drill-down behind the health figures (storage/metrics/figures.py): the customers and visits a figure counts,
and 过程数据可信度 checked by hand on a reproducible random sample of visits."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from core.periods import ReportPeriod
from core.visits import OUTSIDE, at_store
from storage.metrics.figures import (
    FRESH_DAYS,
    REACHED,
    Rate,
    Slice,
    _at,
    _complete_expr,
    _customer_preds,
    _in_dates,
    _in_period,
    completeness_rows,
)
from storage.models import (
    CustomerRow,
    InteractionRow,
    OpportunityRow,
    UserRow,
    UTCDateTime,
    VisitRow,
    VisitTagRow,
)

DEFAULT_SAMPLE_SEED = 20240601
SAMPLE_SIZE = 100


@dataclass(frozen=True)
class CustomerLine:
    customer_id: str
    name: str
    owner_userid: str
    owner_name: str
    region: str | None
    city: str | None
    status: str
    last_touch: datetime | None
    fresh: bool
    visits: int
    complete_visits: int
    opportunities: int
    reached_quoted: int
    score: float | None = None
    tier: str | None = None


def drill_customers(
    session: Session,
    sl: Slice,
    period: ReportPeriod,
    *,
    now: datetime,
    rep: str | None = None,
    tier: str | None = None,
    status: str | None = "active",
    limit: int = 200,
) -> tuple[int, list[CustomerLine]]:
    """(total, rows): the slice's customers behind the figures, the least recently touched first."""
    from storage.models_scorecard import CustomerScoreRow

    C, S = CustomerRow, CustomerScoreRow
    v, i = aliased(VisitRow), aliased(InteractionRow)
    lv = select(func.max(v.checked_in_at)).where(v.customer_id == C.customer_id, v.checked_in_at <= _at(now))
    li = select(func.max(i.at)).where(i.customer_id == C.customer_id, i.at <= _at(now))
    lv, li = lv.scalar_subquery(), li.scalar_subquery()
    v2 = aliased(VisitRow)
    visits = (
        select(func.count())
        .where(v2.customer_id == C.customer_id, *_in_period(v2.checked_in_at, period))
        .scalar_subquery()
    )
    v3 = aliased(VisitRow)
    complete = (
        select(func.count())
        .where(v3.customer_id == C.customer_id, _complete_expr(v3), *_in_period(v3.checked_in_at, period))
        .scalar_subquery()
    )
    p = aliased(OpportunityRow)
    opps = (
        select(func.count())
        .where(p.customer_id == C.customer_id, *_in_dates(p.entered_on, period))
        .scalar_subquery()
    )
    p2 = aliased(OpportunityRow)
    quoted = (
        select(func.count())
        .where(
            p2.customer_id == C.customer_id,
            p2.stage.in_(REACHED["quoted"]),
            *_in_dates(p2.entered_on, period),
        )
        .scalar_subquery()
    )
    preds = _customer_preds(sl)
    if rep:
        preds.append(C.owner_userid == rep)
    if status:
        preds.append(C.status == status)
    if tier:
        preds.append(S.tier == tier)
    total = (
        session.scalar(
            select(func.count()).select_from(C).outerjoin(S, S.customer_id == C.customer_id).where(*preds)
        )
        or 0
    )
    last = type_coerce(case((lv.is_(None), li), (li.is_(None), lv), (lv >= li, lv), else_=li), UTCDateTime())
    q = (
        select(
            C.customer_id,
            C.name,
            C.owner_userid,
            UserRow.name,
            C.region,
            C.city,
            C.status,
            last,
            visits,
            complete,
            opps,
            quoted,
            S.score,
            S.tier,
        )
        .select_from(C)
        .outerjoin(UserRow, UserRow.userid == C.owner_userid)
        .outerjoin(S, S.customer_id == C.customer_id)
        .where(*preds)
        .order_by(last.is_not(None), last, C.customer_id)
        .limit(limit)
    )
    rows = []
    for r in session.execute(q):
        t = _utc(r[7])
        rows.append(
            CustomerLine(
                r[0],
                r[1],
                r[2],
                r[3] or r[2],
                r[4],
                r[5],
                r[6],
                t,
                t is not None and t >= now - timedelta(days=FRESH_DAYS),
                int(r[8] or 0),
                int(r[9] or 0),
                int(r[10] or 0),
                int(r[11] or 0),
                None if r[12] is None else float(r[12]),
                r[13],
            )
        )
    return int(total), rows


def _utc(t: Any) -> datetime | None:
    if t is None:
        return None
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass(frozen=True)
class VisitCheck:
    visit_id: str
    customer_id: str
    customer_name: str
    rep_userid: str
    checked_in_at: datetime
    located: bool  # a location AT the store (core.visits.AT_STORE)
    photos: int
    tags: tuple[str, ...]
    distance_m: float | None = None  # how far from the store a location outside the tolerance was

    @property
    def complete(self) -> bool:
        return self.located and self.photos >= 3 and bool(self.tags)


def visit_checks(session: Session, visit_ids: Collection[str]) -> list[VisitCheck]:
    if not visit_ids:
        return []
    C, V = CustomerRow, VisitRow
    ids = sorted(visit_ids)
    tags: dict[str, list[str]] = defaultdict(list)
    rows = []
    for k in range(0, len(ids), 500):
        chunk = ids[k : k + 500]
        for vid, tag in session.execute(
            select(VisitTagRow.visit_id, VisitTagRow.tag)
            .where(VisitTagRow.visit_id.in_(chunk))
            .order_by(VisitTagRow.tag)
        ):
            tags[vid].append(tag)
        rows += session.execute(
            select(
                V.visit_id,
                V.customer_id,
                C.name,
                V.rep_userid,
                V.checked_in_at,
                V.location_grade,
                V.distance_m,
                V.photo_count,
            )
            .join(C, C.customer_id == V.customer_id)
            .where(V.visit_id.in_(chunk))
        ).all()
    return sorted(
        (
            VisitCheck(
                vid,
                cid,
                name,
                rep,
                at,
                at_store(grade),
                int(photos or 0),
                tuple(tags.get(vid, ())),
                distance if grade == OUTSIDE else None,
            )
            for vid, cid, name, rep, at, grade, distance, photos in rows
        ),
        key=lambda c: c.visit_id,
    )


@dataclass(frozen=True)
class SampleCheck:
    seed: int
    population: Rate  # complete / all visits in the slice and period
    sample: tuple[VisitCheck, ...]
    interval: tuple[float, float] | None  # 95% Wilson interval of the sample's rate

    @property
    def sample_rate(self) -> Rate:
        return Rate(sum(1 for c in self.sample if c.complete), len(self.sample))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    if n == 0:
        return None
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def credibility_sample(
    session: Session,
    sl: Slice,
    period: ReportPeriod,
    *,
    size: int = SAMPLE_SIZE,
    seed: int = DEFAULT_SAMPLE_SEED,
    population: Rate | None = None,
) -> SampleCheck:
    """过程数据可信度 checked by hand: a reproducible random sample of `size` visits of the slice and period
    (positions drawn with random.Random(seed) among the visits ordered by visit_id, so the same data and
    seed give the same sample on SQLite and PostgreSQL), each checked for location, photos and tags,
    next to the whole population's rate (pass it if already computed for the same slice and period)."""
    C, V = CustomerRow, VisitRow
    preds = _customer_preds(sl)
    base = select(V.visit_id).select_from(V)
    if preds:  # else every visit counts: its customer always exists (a foreign key), so no join is needed
        base = base.join(C, C.customer_id == V.customer_id)
    base = base.where(*preds, *_in_period(V.checked_in_at, period))
    if population is None:
        population = Rate()
        for _, _, r in completeness_rows(session, sl, period):
            population = population + r
    n = population.denominator
    picks = sorted(random.Random(seed).sample(range(n), min(size, n))) if n else []
    ids: list[str] = []
    if picks:
        numbered = base.add_columns(func.row_number().over(order_by=V.visit_id).label("rn")).subquery(
            "numbered"
        )
        wanted = [p + 1 for p in picks]
        for k in range(0, len(wanted), 500):
            ids += session.scalars(select(numbered.c.visit_id).where(numbered.c.rn.in_(wanted[k : k + 500])))
    checks = tuple(visit_checks(session, ids))
    k = sum(1 for c in checks if c.complete)
    return SampleCheck(seed, population, checks, wilson(k, len(checks)))


def drill_visits(
    session: Session, sl: Slice, period: ReportPeriod, *, rep: str | None = None, limit: int = 200
) -> tuple[int, list[VisitCheck]]:
    """(total, rows): the visits behind 过程数据可信度, latest first (optionally one rep's)."""
    C, V = CustomerRow, VisitRow
    preds = [*_customer_preds(sl), *_in_period(V.checked_in_at, period)]
    if rep:
        preds.append(V.rep_userid == rep)
    base = select(V.visit_id).select_from(V).join(C, C.customer_id == V.customer_id).where(*preds)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    ids = list(session.scalars(base.order_by(V.checked_in_at.desc(), V.visit_id).limit(limit)))
    rows = visit_checks(session, ids)
    rows.sort(key=lambda c: (c.checked_in_at, c.visit_id), reverse=True)
    return int(total), rows
