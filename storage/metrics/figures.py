"""Health metrics (健康度指标) for reps, teams, regions and the organisation, over any period.

Every figure is a rate with its numerator and denominator, computed in set-based SQL grouped by
(person, region) and rolled up in Python (counts add exactly). The definitions are the semantic
layer's (docs/nlq-semantics.md), so a figure here equals `ask` for the same words and asker:

- 客户信息鲜度 freshness: active customers touched (a visit or an interaction) in the 30 days up to the
  moment it is read ÷ active customers. It is a state, read at the end of the period (now for a period
  still running). Read at an earlier moment t, "active" means active at t: status active, or lost with
  `lost_on` after t's date, and created on or before t's date (or no creation date).
- 过程数据可信度 / 拜访完整率 completeness: complete visits (a location at the store, ≥ 3 photos, ≥ 1 tag)
  ÷ visits, by `checked_in_at` in the period (all time when the period is `all`). "At the store" is the
  visit's location grade (core/visits.py AT_STORE): a check-in measured beyond the tolerance never counts.
- 商机转化漏斗完整率 funnel: opportunities that reached 方案报价 (stage quoted, negotiating or won) ÷ all
  opportunities, by `entered_on` in the period.

Scope (whose figures): always the customers' owners visible to the viewer (the spec's tree rule), for
visit figures too — a visit counts when its customer is in scope. Group keys: 业务员 is the customer's
owner for customer and opportunity figures and the visit's rep for visit figures; 大区 the customer's
region; 团队 (team) the person's first-line team lead: the nearest supervisor at or above them, else the
nearest regional manager. Reps in scope and regions in scope appear even with nothing (0/0).

The customers and visits behind a figure, and the sampled check of 过程数据可信度, are in
storage/metrics/drill.py; `bench_metrics` (main.py bench) times all org-level figures at scale.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, false, func, literal, or_, select, type_coerce, union_all
from sqlalchemy.orm import Session, aliased

from core.org import OrgTree, Person, Scope, UnknownAsker, scope_of
from core.periods import SHANGHAI, ReportPeriod, resolve_period, week_monday, week_period
from core.visits import AT_STORE, MIN_PHOTOS
from storage.models import (
    CustomerRow,
    InteractionRow,
    OpportunityRow,
    UserRow,
    UTCDateTime,
    VisitRow,
    VisitTagRow,
)

FRESH_DAYS = 30
REACHED = {"quoted": ("quoted", "negotiating", "won"), "negotiating": ("negotiating", "won"), "won": ("won",)}
METRIC_LABELS = {
    "freshness": "客户信息鲜度",
    "completeness": "过程数据可信度",
    "funnel": "商机转化漏斗完整率",
}
METRIC_DEFINITIONS = {
    "freshness": "近30天有跟进（拜访或互动）的正常客户 ÷ 正常客户",
    "completeness": "完整拜访（在门店定位、≥3张照片、≥1个标签）÷ 拜访",
    "funnel": "到达方案报价及以后的商机 ÷ 全部商机",
}
NO_REGION = "（未填大区）"
NO_TEAM = "（无团队）"


# --- figures ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    numerator: int = 0
    denominator: int = 0

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.numerator + other.numerator, self.denominator + other.denominator)

    def percent(self) -> str:
        v = self.value
        return "—" if v is None else f"{v * 100:.1f}%"

    def text(self) -> str:
        """68.3%（84/123）, or 无数据（0/0）."""
        if self.value is None:
            return "无数据（0/0）"
        return f"{self.percent()}（{self.numerator}/{self.denominator}）"


@dataclass(frozen=True)
class GroupRate:
    key: str | None
    name: str
    rate: Rate


@dataclass(frozen=True)
class Figure:
    metric: str
    org: Rate
    by_rep: tuple[GroupRate, ...] = ()
    by_team: tuple[GroupRate, ...] = ()
    by_region: tuple[GroupRate, ...] = ()

    @property
    def label(self) -> str:
        return METRIC_LABELS[self.metric]

    @property
    def definition(self) -> str:
        return METRIC_DEFINITIONS[self.metric]


@dataclass(frozen=True)
class Funnel:
    total: int = 0
    quoted: int = 0
    negotiating: int = 0
    won: int = 0

    def steps(self) -> list[tuple[str, int]]:
        return [
            ("需求确认", self.total),
            ("方案报价", self.quoted),
            ("商务谈判", self.negotiating),
            ("赢单", self.won),
        ]


# --- who sees what ---------------------------------------------------------------------------------------


@dataclass
class People:
    """The users table as a tree, with names and roles."""

    tree: OrgTree
    names: dict[str, str]
    roles: dict[str, str]

    def name(self, userid: str | None) -> str:
        return self.names.get(userid or "", userid or "")

    def team_of(self, userid: str | None) -> str | None:
        """The first-line team lead: the nearest supervisor at or above, else the nearest regional manager."""
        if not userid or userid not in self.roles:
            return None
        chain = [userid, *self.tree.manager_chain(userid)]
        for role in ("supervisor", "regional_manager"):
            for u in chain:
                if self.roles.get(u) == role:
                    return u
        return None

    def team_name(self, lead: str | None) -> str:
        return f"{self.name(lead)}团队" if lead else NO_TEAM


def load_people(session: Session) -> People:
    rows = session.execute(select(UserRow.userid, UserRow.name, UserRow.role, UserRow.manager_userid)).all()
    return People(
        tree=OrgTree(Person(u, r, m, n) for u, n, r, m in rows),
        names={u: n for u, n, _, _ in rows},
        roles={u: r for u, _, r, _ in rows},
    )


Viewer = Scope  # a report's viewer: the same scope questions use (core/org.py)


def viewer_for(people: People, userid: str) -> Viewer | None:
    """The viewer's scope (core.org.scope_of); None for an unknown userid."""
    try:
        return scope_of(people.tree, userid)
    except UnknownAsker:
        return None


@dataclass(frozen=True)
class Slice:
    """What a figure covers: the owners (None: all) and optionally one region, within a viewer's scope."""

    owners: frozenset[str] | None
    region: str | None = None
    label: str = ""


def slice_for(viewer: Viewer, people: People, *, team: str | None = None, region: str | None = None) -> Slice:
    """The viewer's scope narrowed to a team (everyone under a manager the viewer can see) and/or a region.
    A team outside the viewer's scope gives an empty slice, never another scope's rows."""
    owners = viewer.owners
    label = viewer.heading
    if team:
        visible = owners is None or team in owners
        team_owners = frozenset(people.tree.scope(team)) if visible else frozenset()
        owners = team_owners if owners is None else (owners & team_owners)
        label = f"{people.name(team)}及下属" if visible else "（不在可见范围内）"
    if region:
        label = f"{label}·{region}"
    return Slice(owners, region or None, label)


def _customer_preds(sl: Slice) -> list[Any]:
    C = CustomerRow
    out: list[Any] = []
    if sl.owners is not None:
        out.append(C.owner_userid.in_(sorted(sl.owners)) if sl.owners else false())
    if sl.region is not None:
        out.append(C.region.is_(None) if sl.region == NO_REGION else C.region == sl.region)
    return out


def _at(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def _in_period(col: Any, period: ReportPeriod) -> list[Any]:
    out = []
    if period.start is not None:
        out.append(col >= _at(period.start))
    if period.end is not None:
        out.append(col <= _at(period.end) if period.end_inclusive else col < _at(period.end))
    return out


def _in_dates(col: Any, period: ReportPeriod) -> list[Any]:
    lo, hi = period.date_bounds(SHANGHAI)
    return ([col >= lo] if lo is not None else []) + ([col <= hi] if hi is not None else [])


# --- the grouped queries -------------------------------------------------------------------------------


def _complete_expr(v: Any) -> Any:
    t = aliased(VisitTagRow)
    # a location at the store: its grade (core.visits.AT_STORE), never just any coordinates
    return and_(
        v.location_grade.in_(AT_STORE), v.photo_count >= MIN_PHOTOS, exists().where(t.visit_id == v.visit_id)
    )


def _touched_between(lo: datetime, hi: datetime) -> Any:
    """The customers with a touch (a visit or an interaction) in [lo, hi], each once: a subquery to LEFT JOIN
    (one pass over the touches in the window, through the (time, customer_id) indexes, instead of two
    probes per customer)."""
    v, i = aliased(VisitRow), aliased(InteractionRow)
    touches = union_all(
        select(v.customer_id.label("customer_id")).where(
            v.checked_in_at >= _at(lo), v.checked_in_at <= _at(hi)
        ),
        select(i.customer_id.label("customer_id")).where(i.at >= _at(lo), i.at <= _at(hi)),
    ).subquery()
    # GROUP BY rather than UNION: PostgreSQL then de-duplicates with a hash, not a sort spilled to disk
    return select(touches.c.customer_id).group_by(touches.c.customer_id).subquery("fresh")


def freshness_rows(
    session: Session, sl: Slice, *, as_of: datetime, now: datetime
) -> list[tuple[str, str | None, Rate]]:
    """(owner, region, fresh/active) as of a moment."""
    C = CustomerRow
    fresh = _touched_between(as_of - timedelta(days=FRESH_DAYS), as_of)
    q = (
        select(C.owner_userid, C.region, func.count(fresh.c.customer_id), func.count())
        .select_from(C.__table__.outerjoin(fresh, fresh.c.customer_id == C.customer_id))
        .where(_active_at(as_of, now), *_customer_preds(sl))
        .group_by(C.owner_userid, C.region)
    )
    return [(o, r, Rate(int(n), int(d))) for o, r, n, d in session.execute(q)]


def _active_at(as_of: datetime, now: datetime) -> Any:
    """Active at a moment: now, status active; earlier, active then (lost only after that day, created by then)."""
    C = CustomerRow
    if as_of >= now:
        return C.status == "active"
    d = as_of.astimezone(SHANGHAI).date()
    return and_(
        or_(C.status == "active", and_(C.status == "lost", C.lost_on > d)),
        or_(C.created_on.is_(None), C.created_on <= d),
    )


def freshness_series(session: Session, sl: Slice, points: list[datetime], *, now: datetime) -> list[Rate]:
    """客户信息鲜度 of the slice at several moments in one pass over the touches (the same figure as
    freshness_rows at each moment, summed)."""
    if not points:
        return []
    C = CustomerRow
    window = FRESH_DAYS
    lo, hi = min(points) - timedelta(days=window), max(points)
    touches = union_all(
        select(VisitRow.customer_id.label("cid"), VisitRow.checked_in_at.label("at")).where(
            VisitRow.checked_in_at >= _at(lo), VisitRow.checked_in_at <= _at(hi)
        ),
        select(InteractionRow.customer_id.label("cid"), InteractionRow.at.label("at")).where(
            InteractionRow.at >= _at(lo), InteractionRow.at <= _at(hi)
        ),
    ).subquery("touches")
    at_col = type_coerce(touches.c.at, UTCDateTime())
    flags = [
        func.max(case((and_(at_col >= _at(p - timedelta(days=window)), at_col <= _at(p)), 1), else_=0)).label(
            f"f{k}"
        )
        for k, p in enumerate(points)
    ]
    agg = select(touches.c.cid, *flags).group_by(touches.c.cid).subquery("fresh_at")
    cols = []
    for k, p in enumerate(points):
        active = _active_at(p, now)
        cols += [
            func.coalesce(func.sum(case((and_(active, agg.c[f"f{k}"] == 1), 1), else_=0)), 0),
            func.coalesce(func.sum(case((active, 1), else_=0)), 0),
        ]
    row = session.execute(
        select(*cols).select_from(C).outerjoin(agg, agg.c.cid == C.customer_id).where(*_customer_preds(sl))
    ).one()
    return [Rate(int(row[2 * k]), int(row[2 * k + 1])) for k in range(len(points))]


def completeness_rows(
    session: Session, sl: Slice, period: ReportPeriod
) -> list[tuple[str, str | None, Rate]]:
    """(visit rep, customer region, complete/visits) for visits in the period.

    Two grouped counts, the complete visits and all visits: with the tag test in WHERE the database can
    run it as one semi-join (merge or hash over visit_tags) rather than a probe per visit."""
    C, V = CustomerRow, VisitRow

    def counts(*more: Any) -> dict[tuple[str, str | None], int]:
        q = (
            select(V.rep_userid, C.region, func.count())
            .select_from(V)
            .join(C, C.customer_id == V.customer_id)
            .where(*_customer_preds(sl), *_in_period(V.checked_in_at, period), *more)
            .group_by(V.rep_userid, C.region)
        )
        return {(o, r): int(n) for o, r, n in session.execute(q)}

    complete = counts(_complete_expr(V))
    return [(o, r, Rate(complete.get((o, r), 0), d)) for (o, r), d in counts().items()]


def funnel_rows(session: Session, sl: Slice, period: ReportPeriod) -> list[tuple[str, str | None, Funnel]]:
    C, P = CustomerRow, OpportunityRow
    sums = [
        func.coalesce(func.sum(case((P.stage.in_(REACHED[s]), 1), else_=0)), 0)
        for s in ("quoted", "negotiating", "won")
    ]
    q = (
        select(C.owner_userid, C.region, func.count(), *sums)
        .select_from(P)
        .join(C, C.customer_id == P.customer_id)
        .where(*_customer_preds(sl), *_in_dates(P.entered_on, period))
        .group_by(C.owner_userid, C.region)
    )
    return [(o, r, Funnel(int(t), int(a), int(b), int(w))) for o, r, t, a, b, w in session.execute(q)]


# --- roll-ups --------------------------------------------------------------------------------------------


def _rep_domain(session: Session, sl: Slice) -> list[str]:
    q = select(UserRow.userid).where(UserRow.role == "rep")
    if sl.owners is not None:
        q = q.where(UserRow.userid.in_(sorted(sl.owners)) if sl.owners else false())
    return list(session.scalars(q))


def region_domain(session: Session, sl: Slice) -> list[str]:
    C = CustomerRow
    q = select(C.region).where(C.region.is_not(None), *_customer_preds(sl)).distinct()
    return list(session.scalars(q))


def _sorted(groups: dict[str | None, Rate], name) -> tuple[GroupRate, ...]:  # noqa: ANN001
    rows = [GroupRate(k, name(k), r) for k, r in groups.items()]
    rows.sort(key=lambda g: (g.rate.value is None, -(g.rate.value or 0), g.key is None, g.key or ""))
    return tuple(rows)


def roll_up(
    metric: str,
    rows: Iterable[tuple[str, str | None, Rate]],
    people: People,
    *,
    reps: Collection[str] = (),
    regions: Collection[str] = (),
) -> Figure:
    by_rep: dict[str | None, Rate] = {r: Rate() for r in reps}
    by_region: dict[str | None, Rate] = {r: Rate() for r in regions}
    by_team: dict[str | None, Rate] = {people.team_of(r): Rate() for r in reps}
    org = Rate()
    for person, region, rate in rows:
        org = org + rate
        by_rep[person] = by_rep.get(person, Rate()) + rate
        by_region[region] = by_region.get(region, Rate()) + rate
        team = people.team_of(person)
        by_team[team] = by_team.get(team, Rate()) + rate
    return Figure(
        metric,
        org,
        _sorted(by_rep, people.name),
        _sorted(by_team, people.team_name),
        _sorted(by_region, lambda r: r or NO_REGION),
    )


def health(
    session: Session, people: People, sl: Slice, period: ReportPeriod, *, now: datetime
) -> dict[str, Figure]:
    """The three health figures for a slice and a period, each per rep, team and region."""
    reps, regions = _rep_domain(session, sl), region_domain(session, sl)
    fr = freshness_rows(session, sl, as_of=period.as_of(now), now=now)
    cr = completeness_rows(session, sl, period)
    fu = funnel_rows(session, sl, period)
    return {
        "freshness": roll_up("freshness", fr, people, reps=reps, regions=regions),
        "completeness": roll_up("completeness", cr, people, reps=reps, regions=regions),
        "funnel": roll_up(
            "funnel", [(o, r, Rate(f.quoted, f.total)) for o, r, f in fu], people, reps=reps, regions=regions
        ),
    }


def funnel(session: Session, sl: Slice, period: ReportPeriod) -> Funnel:
    out = Funnel()
    for _, _, f in funnel_rows(session, sl, period):
        out = Funnel(
            out.total + f.total, out.quoted + f.quoted, out.negotiating + f.negotiating, out.won + f.won
        )
    return out


def tag_counts(
    session: Session, sl: Slice, period: ReportPeriod, *, limit: int | None = None
) -> list[tuple[str, int]]:
    """Visits per tag in the period (the spec's 各需求标签拜访数), most first, ties by tag."""
    C, V, T = CustomerRow, VisitRow, VisitTagRow
    n = func.count()
    q = (
        select(T.tag, n)
        .select_from(V)
        .join(C, C.customer_id == V.customer_id)
        .join(T, T.visit_id == V.visit_id)
        .where(*_customer_preds(sl), *_in_period(V.checked_in_at, period))
        .group_by(T.tag)
        .order_by(n.desc(), T.tag)
    )
    if limit:
        q = q.limit(limit)
    return [(t, int(c)) for t, c in session.execute(q)]


def freshness_trend(
    session: Session, sl: Slice, *, now: datetime, weeks: int = 8, include_now: bool = False
) -> list[tuple[str, datetime, Rate]]:
    """客户信息鲜度 at the end of each of the last `weeks` full weeks (Monday 00:00 local), oldest first;
    with include_now the last point is now instead of the end of the week just finished."""
    this_monday = week_monday(now.astimezone(SHANGHAI).date())
    points = []
    for k in range(weeks, 0, -1):
        monday = this_monday - timedelta(days=7 * k)
        period = week_period(monday)
        assert period.end is not None
        points.append((f"{monday.month}/{monday.day}周", period.as_of(now)))
    if include_now:
        points = points[1:] + [("当前", now)]
    rates = freshness_series(session, sl, [at for _, at in points], now=now)
    return [(label, at, rate) for (label, at), rate in zip(points, rates, strict=True)]


# --- the weekly brief's figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class RepLine:
    userid: str
    name: str
    visits: int
    complete: int

    @property
    def rate(self) -> Rate:
        return Rate(self.complete, self.visits)


@dataclass
class WeeklyBrief:
    """Everything the Monday brief shows one manager; each figure equals `ask` for the same words."""

    viewer: Viewer
    week: ReportPeriod  # 上周
    funnel_period: ReportPeriod  # 最近90天
    freshness_now: Rate  # 客户信息鲜度 (now)
    freshness_trend: list[tuple[str, datetime, Rate]]
    completeness: Rate  # 上周拜访完整率
    reps: list[RepLine]
    tags_top: list[tuple[str, int]]  # 上周各需求标签拜访数, top 3
    funnel: Funnel
    red: list[Any] = field(default_factory=list)  # storage.scorecard.ScoredCustomer
    red_total: int = 0
    review: list[Any] = field(default_factory=list)  # newly yellow this week: the supervisor's review list
    generated_at: datetime | None = None


def weekly_brief(
    session: Session,
    people: People,
    viewer: Viewer,
    *,
    now: datetime,
    red_limit: int = 8,
    review_limit: int = 10,
) -> WeeklyBrief:
    from storage import scorecard as scorecard_repo

    sl = slice_for(viewer, people)
    week = resolve_period("last_week", now)
    funnel_period = resolve_period("last_90_days", now)
    figures = health(session, people, sl, week, now=now)
    fresh_now = Rate()
    for _, _, r in freshness_rows(session, sl, as_of=now, now=now):
        fresh_now = fresh_now + r
    reps = [
        RepLine(g.key or "", g.name, g.rate.denominator, g.rate.numerator)
        for g in figures["completeness"].by_rep
    ]
    reps.sort(key=lambda r: (-r.visits, r.userid))
    counts = scorecard_repo.tier_counts(session, owners=sl.owners)
    red = scorecard_repo.scored_customers(session, owners=sl.owners, tier="red", limit=red_limit)
    review = scorecard_repo.scored_customers(
        session, owners=sl.owners, tier="yellow", since=now - timedelta(days=7), limit=review_limit
    )
    return WeeklyBrief(
        viewer=viewer,
        week=week,
        funnel_period=funnel_period,
        freshness_now=fresh_now,
        freshness_trend=freshness_trend(session, sl, now=now),
        completeness=figures["completeness"].org,
        reps=reps,
        tags_top=tag_counts(session, sl, week, limit=3),
        funnel=funnel(session, sl, funnel_period),
        red=red,
        red_total=counts["red"],
        review=review,
        generated_at=now,
    )
