"""Reads about leads with the asker's scope inside the query (core/org.py Scope): the lead board, and the
functions a question about leads (nlq) calls. docs/leads.md § Questions lists them.

Scope of a lead: its owner, like a customer's (a rep: their own; a supervisor: their tree; org-wide roles:
all). A lead in the public pool has no owner: every asker may see the public pool (it is there to be
claimed), so `pool="public"` reads are not narrowed by owner; other reads include public leads only for the
org-wide roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.org import Scope
from storage.leads.models import LeadRow, LeadSopStepRow, LeadStageRow
from storage.leads.store import OPEN_STAGES

UNGRADED = "未评级"
ANY = object()  # a filter left open


@dataclass(frozen=True)
class LeadBrief:
    lead_id: str
    company: str
    owner_userid: str | None
    grade: str | None
    score: float | None
    stage: str
    pool: str | None
    quiet_since: datetime


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


def _owned_by(scope: Scope, column, *, public: bool = False):  # noqa: ANN001, ANN202
    if scope.owners is None:
        return None
    cond = column.in_(sorted(scope.owners))
    return (cond | (LeadRow.pool == "public")) if public else cond


def _scoped(q: Select, scope: Scope, *, public: bool = False) -> Select:
    cond = _owned_by(scope, LeadRow.owner_userid, public=public)
    return q if cond is None else q.where(cond)


def _filters(q: Select, *, grade, pool, stage) -> Select:  # noqa: ANN001
    if grade is not ANY:
        q = q.where(LeadRow.grade.is_(None) if grade is None else LeadRow.grade == grade)
    if pool is not ANY:
        q = q.where(LeadRow.pool.is_(None) if pool is None else LeadRow.pool == pool)
    if stage is ANY:
        q = q.where(LeadRow.stage.in_(OPEN_STAGES))
    elif stage is not None:
        q = q.where(LeadRow.stage == stage)
    return q


def count_leads(session: Session, scope: Scope, *, grade=ANY, pool=ANY, stage=ANY) -> int:  # noqa: ANN001
    """How many leads: `grade` "A+"|"A"|"B"|"C"|None (ungraded); `pool` None (in hand)|"nurture"|"public";
    `stage` one stage, or ANY: the open ones (new, contacted, proposal)."""
    q = _filters(select(func.count()).select_from(LeadRow), grade=grade, pool=pool, stage=stage)
    return int(session.scalar(_scoped(q, scope, public=pool == "public")) or 0)


def list_leads(
    session: Session,
    scope: Scope,
    *,
    grade=ANY,
    pool=ANY,
    stage=ANY,
    limit: int = 50,  # noqa: ANN001
) -> list[LeadBrief]:
    """The leads (best score first, then the quietest), same filters as `count_leads`."""
    q = _filters(select(LeadRow), grade=grade, pool=pool, stage=stage)
    q = _scoped(q, scope, public=pool == "public")
    q = q.order_by(LeadRow.score.desc().nulls_last(), LeadRow.quiet_since, LeadRow.lead_id).limit(limit)
    return [_brief(r) for r in session.scalars(q)]


def not_followed_for(
    session: Session,
    scope: Scope,
    *,
    hours: float,
    now: datetime,
    grade=ANY,
    limit: int = 50,  # noqa: ANN001
) -> tuple[int, list[LeadBrief]]:
    """Open leads held in the scope with no follow-up for more than `hours` (the dormancy clock: the latest
    effective interaction, claim or creation), quietest first: (how many, the first `limit`).
    超过24小时没跟进的A类线索 = not_followed_for(s, scope, hours=24, now=now, grade="A")."""
    cutoff = now - timedelta(hours=hours)
    base = _filters(select(LeadRow), grade=grade, pool=ANY, stage=ANY).where(
        LeadRow.owner_userid.is_not(None), LeadRow.quiet_since < cutoff
    )
    base = _scoped(base, scope)
    n = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(base.order_by(LeadRow.quiet_since, LeadRow.lead_id).limit(limit))
    return int(n), [_brief(r) for r in rows]


def grade_mix(session: Session, scope: Scope) -> dict[str, int]:
    """Open leads of the scope by grade: {"A+": n, "A": n, "B": n, "C": n, "未评级": n} (every key present)."""
    q = _scoped(
        select(LeadRow.grade, func.count()).where(LeadRow.stage.in_(OPEN_STAGES)).group_by(LeadRow.grade),
        scope,
    )
    out = {g: 0 for g in ("A+", "A", "B", "C", UNGRADED)}
    for grade, n in session.execute(q):
        out[grade or UNGRADED] += int(n)
    return out


def grade_mix_by_owner(session: Session, scope: Scope) -> dict[str, dict[str, int]]:
    """The same per owner (owners with no open lead are absent)."""
    q = _scoped(
        select(LeadRow.owner_userid, LeadRow.grade, func.count())
        .where(LeadRow.stage.in_(OPEN_STAGES), LeadRow.owner_userid.is_not(None))
        .group_by(LeadRow.owner_userid, LeadRow.grade),
        scope,
    )
    out: dict[str, dict[str, int]] = {}
    for owner, grade, n in session.execute(q):
        mix = out.setdefault(owner, {g: 0 for g in ("A+", "A", "B", "C", UNGRADED)})
        mix[grade or UNGRADED] += int(n)
    return out


def pool_counts(session: Session, scope: Scope) -> dict[str, int]:
    """Open leads by where they are: {"in_hand": n, "nurture": n, "public": n} (public: the whole pool)."""
    held = _scoped(
        select(LeadRow.pool, func.count())
        .where(LeadRow.stage.in_(OPEN_STAGES), LeadRow.owner_userid.is_not(None))
        .group_by(LeadRow.pool),
        scope,
    )
    out = {"in_hand": 0, "nurture": 0, "public": 0}
    for pool, n in session.execute(held):
        out["nurture" if pool == "nurture" else "in_hand"] += int(n)
    out["public"] = count_leads(session, scope, pool="public")
    return out


def _created_in(scope: Scope, since: datetime, until: datetime) -> Select:
    q = (
        select(func.count())
        .select_from(LeadRow)
        .where(LeadRow.created_at >= since, LeadRow.created_at < until)
    )
    return _scoped(q, scope)


def activation_rate(session: Session, scope: Scope, *, since: datetime, until: datetime) -> Rate:
    """激活率: of the scope's leads created in [since, until), those with at least one effective interaction."""
    q = _created_in(scope, since, until)
    return Rate(
        int(session.scalar(q.where(LeadRow.last_effective_at.is_not(None))) or 0), int(session.scalar(q) or 0)
    )


def conversion_rate(session: Session, scope: Scope, *, since: datetime, until: datetime) -> Rate:
    """转化率: of the scope's leads created in [since, until), those converted into a customer."""
    q = _created_in(scope, since, until)
    return Rate(int(session.scalar(q.where(LeadRow.stage == "converted")) or 0), int(session.scalar(q) or 0))


def stage_durations(session: Session, scope: Scope) -> dict[str, tuple[float, int]]:
    """Average time in each stage over the stays that ended, for the scope's leads: {stage: (hours, stays)}."""
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", LeadStageRow.left_at - LeadStageRow.entered_at)
    else:
        seconds = (func.julianday(LeadStageRow.left_at) - func.julianday(LeadStageRow.entered_at)) * 86400.0
    q = (
        select(LeadStageRow.stage, func.avg(seconds), func.count())
        .join(LeadRow, LeadRow.lead_id == LeadStageRow.lead_id)
        .where(LeadStageRow.left_at.is_not(None))
        .group_by(LeadStageRow.stage)
    )
    q = _scoped(q, scope)
    return {stage: (float(avg or 0) / 3600.0, int(n)) for stage, avg, n in session.execute(q)}


def loss_reasons(session: Session, scope: Scope, *, top: int = 3) -> list[tuple[str, int]]:
    """The commonest reasons of the scope's lost leads: [(reason, n)], most first, then by reason."""
    n = func.count().label("n")
    q = _scoped(
        select(LeadRow.lost_reason, n)
        .where(LeadRow.stage == "lost", LeadRow.lost_reason.is_not(None))
        .group_by(LeadRow.lost_reason)
        .order_by(n.desc(), LeadRow.lost_reason)
        .limit(top),
        scope,
    )
    return [(r, int(c)) for r, c in session.execute(q)]


@dataclass(frozen=True)
class OverdueStep:
    lead_id: str
    company: str
    owner_userid: str
    label: str
    due_at: datetime


def overdue_steps(
    session: Session, scope: Scope, *, now: datetime, limit: int = 5
) -> tuple[int, list[OverdueStep]]:
    """SOP steps past their time and not done (late or still open) of open leads their owner still holds, for
    the scope's owners: (count, the oldest `limit`)."""
    base = (
        select(LeadSopStepRow, LeadRow.company)
        .join(LeadRow, LeadRow.lead_id == LeadSopStepRow.lead_id)
        .where(
            LeadSopStepRow.status.in_(("open", "late")),
            LeadSopStepRow.due_at < now,
            LeadRow.owner_userid == LeadSopStepRow.owner_userid,  # still the owner's lead
            LeadRow.stage.in_(OPEN_STAGES),
        )
    )
    cond = _owned_by(scope, LeadSopStepRow.owner_userid)
    if cond is not None:
        base = base.where(cond)
    n = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(base.order_by(LeadSopStepRow.due_at, LeadSopStepRow.id).limit(limit)).all()
    return int(n), [OverdueStep(s.lead_id, company, s.owner_userid, s.label, s.due_at) for s, company in rows]


def find_for(
    session: Session, scope: Scope, words: str, *, public: bool = True, limit: int = 5
) -> list[LeadRow]:
    """Open leads the asker may see whose id is `words` or whose company contains it (best score first)."""
    w = words.strip()
    if not w:
        return []
    like = "%" + w.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
    q = select(LeadRow).where(
        LeadRow.lead_id.in_(sorted({w, w.upper()})) | LeadRow.company.like(like, escape="\\"),
        LeadRow.stage.in_(OPEN_STAGES),
    )
    q = _scoped(q, scope, public=public)
    return list(session.scalars(q.order_by(LeadRow.score.desc().nulls_last(), LeadRow.lead_id).limit(limit)))


def _brief(r: LeadRow) -> LeadBrief:
    return LeadBrief(r.lead_id, r.company, r.owner_userid, r.grade, r.score, r.stage, r.pool, r.quiet_since)
