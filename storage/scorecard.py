"""The scorecard's storage side: per-customer features in set-based SQL, the nightly recompute that
persists scores and tier changes (audited), and the reads the briefs and the dashboard need.

Features are a handful of GROUP BY queries over the whole customer table (one scan each), never a
query per customer. The one part done in Python is matching payments to contracts by "the memo contains
the contract number" (the spec's rule): a substring join in SQL is a nested loop over contracts ×
payments, while indexing contract numbers by length and sliding over each memo is linear in the memos.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, delete, false, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from core.periods import SHANGHAI
from core.scorecard import COMPONENTS, LABELS, CustomerFeatures, Scorecard, ScoreRules, explain, score
from storage import audit
from storage.customer_contacts.speed import speed_by_customer
from storage.models import (
    ContractRow,
    CustomerRow,
    InteractionRow,
    OrderRow,
    OrgConfigRow,
    PaymentRow,
    TicketRow,
    UserRow,
    UTCDateTime,
    VisitRow,
    VisitTagRow,
)
from storage.models_scorecard import CustomerScoreRow, ScoreChangeRow
from storage.payments import matched_numbers

log = logging.getLogger("assistant.scorecard")

CONFIG_KEY = "scorecard"
ACTOR = "system:scorecard"
ROUTES = {"red": "red_alert", "yellow": "weekly_review", "blue": "suggest"}
INSERT_CHUNK = 20_000  # rows per COPY / executemany


def load_rules(session: Session) -> ScoreRules:
    """org_config["scorecard"] over the defaults; a broken setting is logged and the defaults apply."""
    row = session.get(OrgConfigRow, CONFIG_KEY)
    if row is None:
        return ScoreRules()
    try:
        return ScoreRules.from_config(row.value)
    except (ValueError, TypeError) as exc:
        log.error("org_config[%s] is invalid, using the defaults: %s", CONFIG_KEY, exc)
        return ScoreRules()


# --- features ------------------------------------------------------------------------------------------


def _exceeds_hours(session: Session, later, earlier, hours):
    """later − earlier > hours, in SQL (exact on PostgreSQL, to the millisecond on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return later > earlier + func.make_interval(0, 0, 0, 0, hours)
    millis = func.round((func.julianday(later) - func.julianday(earlier)) * 86400000)
    return millis > hours * 3600000


def _at(value: datetime):
    return literal(value, UTCDateTime())


def extract_features(
    session: Session, *, now: datetime, rules: ScoreRules, customer_ids: Collection[str] | None = None
) -> dict[str, CustomerFeatures]:
    """CustomerFeatures of every active customer (or of `customer_ids` among them), as of now."""
    today = now.astimezone(SHANGHAI).date()
    C = CustomerRow
    scope = [C.status == "active"]
    if customer_ids is not None:
        scope.append(C.customer_id.in_(list(customer_ids)))
    ids = list(session.scalars(select(C.customer_id).where(*scope)))
    acc: dict[str, dict[str, Any]] = {cid: {} for cid in ids}

    def merge(rows: Iterable[Any], *names: str) -> None:
        for r in rows:
            slot = acc.get(r[0])
            if slot is not None:
                for i, n in enumerate(names, 1):
                    slot[n] = r[i]

    orders_from = today - timedelta(days=rules.orders_days - 1)
    merge(
        session.execute(
            select(OrderRow.customer_id, func.count())
            .join(C, C.customer_id == OrderRow.customer_id)
            .where(*scope, OrderRow.ordered_on >= orders_from, OrderRow.ordered_on <= today)
            .group_by(OrderRow.customer_id)
        ),
        "orders",
    )

    since = now - timedelta(days=rules.interest_days)
    tag = VisitTagRow
    merge(
        session.execute(
            select(VisitRow.customer_id, func.count(), func.count(tag.visit_id))
            .join(C, C.customer_id == VisitRow.customer_id)
            .outerjoin(tag, and_(tag.visit_id == VisitRow.visit_id, tag.tag == rules.interest_tag))
            .where(*scope, VisitRow.checked_in_at >= _at(since), VisitRow.checked_in_at <= _at(now))
            .group_by(VisitRow.customer_id)
        ),
        "visits",
        "interest_visits",
    )

    k = TicketRow
    answered_late = _exceeds_hours(session, k.responded_at, k.opened_at, k.sla_hours)
    judged = or_(
        and_(k.responded_at.is_not(None), k.responded_at <= _at(now)),
        _exceeds_hours(session, _at(now), k.opened_at, k.sla_hours),
    )
    on_time = and_(k.responded_at.is_not(None), k.responded_at <= _at(now), ~answered_late)
    merge(
        session.execute(
            select(k.customer_id, func.sum(case((judged, 1), else_=0)), func.sum(case((on_time, 1), else_=0)))
            .join(C, C.customer_id == k.customer_id)
            .where(
                *scope, k.opened_at >= _at(now - timedelta(days=rules.ticket_days)), k.opened_at <= _at(now)
            )
            .group_by(k.customer_id)
        ),
        "tickets_judged",
        "tickets_on_time",
    )

    touches = union_all(
        select(VisitRow.customer_id.label("cid"), VisitRow.checked_in_at.label("at")).where(
            VisitRow.checked_in_at <= _at(now)
        ),
        select(InteractionRow.customer_id.label("cid"), InteractionRow.at.label("at")).where(
            InteractionRow.at <= _at(now)
        ),
    ).subquery("touches")
    last = {
        cid: at
        for cid, at in session.execute(select(touches.c.cid, func.max(touches.c.at)).group_by(touches.c.cid))
        if cid in acc
    }

    due, on_time_contracts = _contracts_on_time(session, scope, today=today, days=rules.payment_days)
    # the owner's WeCom reply figures, for customers linked to a WeChat contact (客户联系)
    wecom = speed_by_customer(
        session, now=now, days=rules.ticket_days, customer_ids=customer_ids, rules=rules.speed_rules()
    )

    out: dict[str, CustomerFeatures] = {}
    for cid, slot in acc.items():
        t = last.get(cid)
        if isinstance(t, str):  # a raw UNION column on SQLite: the stored naive-UTC text
            t = datetime.fromisoformat(t).replace(tzinfo=UTC)
        elif t is not None and t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        out[cid] = CustomerFeatures(
            customer_id=cid,
            orders=int(slot.get("orders") or 0),
            visits=int(slot.get("visits") or 0),
            interest_visits=int(slot.get("interest_visits") or 0),
            contracts_due=due.get(cid, 0),
            contracts_on_time=on_time_contracts.get(cid, 0),
            tickets_judged=int(slot.get("tickets_judged") or 0),
            tickets_on_time=int(slot.get("tickets_on_time") or 0),
            days_since_touch=None if t is None else max(0.0, (now - t).total_seconds() / 86400),
            wecom=wecom.get(cid),
        )
    return out


def _contracts_on_time(
    session: Session, scope: list[Any], *, today: date, days: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Per customer: contracts due in [today − days, today) and those paid in full by their due date."""
    C = CustomerRow
    contracts = session.execute(
        select(ContractRow.contract_no, ContractRow.customer_id, ContractRow.amount, ContractRow.due_on)
        .join(C, C.customer_id == ContractRow.customer_id)
        .where(*scope, ContractRow.due_on >= today - timedelta(days=days), ContractRow.due_on < today)
    ).all()
    due: dict[str, int] = defaultdict(int)
    if not contracts:
        return {}, {}
    by_len: dict[int, set[str]] = defaultdict(set)
    info: dict[str, tuple[str, Decimal, date]] = {}
    for no, cid, amount, due_on in contracts:
        due[cid] += 1
        if no:
            by_len[len(no)].add(no)
            info[no] = (cid, Decimal(str(amount)), due_on)
    latest_due = max(d for _, _, d in info.values())
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for memo, amount, paid_on in session.execute(
        select(PaymentRow.memo, PaymentRow.amount, PaymentRow.paid_on).where(
            PaymentRow.memo.is_not(None), PaymentRow.paid_on <= latest_due
        )
    ):
        for no in matched_numbers(memo, by_len):
            if paid_on <= info[no][2]:
                paid[no] += Decimal(str(amount))
    on_time: dict[str, int] = defaultdict(int)
    for no, (cid, amount, _) in info.items():
        if paid.get(no, Decimal(0)).quantize(Decimal("0.01")) >= amount.quantize(Decimal("0.01")):
            on_time[cid] += 1
    return dict(due), dict(on_time)


# --- recompute -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierChange:
    change_id: int
    customer_id: str
    customer_name: str
    owner_userid: str
    old_tier: str | None
    new_tier: str
    old_score: float | None
    new_score: float
    moved: str | None
    explanation: str
    routed: str


@dataclass
class RecomputeResult:
    scored: int = 0
    baseline: int = 0  # customers scored for the first time (not a change: no notice)
    removed: int = 0  # scores dropped because the customer is no longer active
    changes: list[TierChange] = field(default_factory=list)
    tiers: dict[str, int] = field(default_factory=dict)


def _replace_all(session: Session, rows: list[dict[str, Any]]) -> None:
    """The scores are exactly those of this run: delete the old rows and insert the new ones (COPY on
    PostgreSQL, executemany on SQLite) in the caller's transaction, so readers see the old or the new set."""
    from storage.importer.run import bulk_insert

    session.execute(delete(CustomerScoreRow))
    for i in range(0, len(rows), INSERT_CHUNK):
        bulk_insert(session, CustomerScoreRow.__table__, rows[i : i + INSERT_CHUNK])


@dataclass(frozen=True)
class _Previous:
    score: float
    tier: str
    components: dict[str, Any]
    tier_since: datetime


def recompute(
    session: Session,
    *,
    now: datetime,
    rules: ScoreRules | None = None,
    actor: str = ACTOR,
    reason: str | None = None,
) -> RecomputeResult:
    """Score every active customer, persist the scores, record and audit every tier change.

    A customer's first score is its baseline (one summary audit row for all of them, no change row);
    a later score in another tier is a change: a score_changes row plus an audit row, in this
    transaction. Scores of customers no longer active are dropped (one summary audit row).
    """
    rules = rules or load_rules(session)
    features = extract_features(session, now=now, rules=rules)
    S = CustomerScoreRow
    previous = {
        cid: _Previous(sc, t, comps, since)
        for cid, sc, t, comps, since in session.execute(
            select(S.customer_id, S.score, S.tier, S.components, S.tier_since)
        )
    }
    people = dict(
        (cid, (name, owner))
        for cid, name, owner in session.execute(
            select(CustomerRow.customer_id, CustomerRow.name, CustomerRow.owner_userid).where(
                CustomerRow.status == "active"
            )
        )
    )
    result = RecomputeResult()
    rows: list[dict[str, Any]] = []
    pending: list[tuple[ScoreChangeRow, str, str]] = []
    version = rules.version()
    for cid, f in features.items():
        card: Scorecard = score(f, rules)
        result.tiers[card.tier] = result.tiers.get(card.tier, 0) + 1
        prev = previous.get(cid)
        tier_since = prev.tier_since if prev is not None and prev.tier == card.tier else now
        rows.append(
            dict(
                customer_id=cid,
                score=card.score,
                tier=card.tier,
                components=card.to_json(),
                features=_features_json(f),
                rules_version=version,
                computed_at=now,
                tier_since=tier_since,
            )
        )
        if prev is None:
            result.baseline += 1
            continue
        if prev.tier == card.tier:
            continue
        moved, why = explain(prev.components, card, rules, before_score=prev.score)
        name, owner = people.get(cid, (cid, ""))
        change = ScoreChangeRow(
            customer_id=cid,
            owner_userid=owner,
            at=now,
            old_score=prev.score,
            new_score=card.score,
            old_tier=prev.tier,
            new_tier=card.tier,
            moved=moved,
            explanation=why[:512],
            routed=ROUTES[card.tier],
        )
        session.add(change)
        pending.append((change, name, owner))
        audit.record(
            session,
            at=now,
            actor=actor,
            action="update",
            entity="customer_score",
            entity_id=cid,
            before={"score": prev.score, "tier": prev.tier},
            after={"score": card.score, "tier": card.tier, "moved": moved, "explanation": why[:200]},
            reason=reason,
        )
    result.scored = len(rows)
    _replace_all(session, rows)
    gone = [cid for cid in previous if cid not in features]
    result.removed = len(gone)
    if gone:
        audit.record(
            session,
            at=now,
            actor=actor,
            action="delete",
            entity="customer_scores",
            entity_id=f"inactive:{now.date().isoformat()}",
            after={"count": len(gone), "customers": sorted(gone)[:50]},
            reason=reason,
        )
    if result.baseline:
        audit.record(
            session,
            at=now,
            actor=actor,
            action="create",
            entity="customer_scores",
            entity_id=f"baseline:{now.date().isoformat()}",
            after={"count": result.baseline, "tiers": result.tiers, "rules": version},
            reason=reason,
        )
    session.flush()
    for change, name, owner in pending:
        result.changes.append(
            TierChange(
                change.id,
                change.customer_id,
                name,
                owner,
                change.old_tier,
                change.new_tier,
                change.old_score,
                change.new_score,
                change.moved,
                change.explanation,
                change.routed,
            )
        )
    return result


def _features_json(f: CustomerFeatures) -> dict[str, Any]:
    out = dict(f.__dict__)
    out.pop("customer_id", None)
    wecom = out.pop("wecom", None)
    if wecom is not None:  # the owner's WeCom reply figures (客户联系), kept with the score they explain
        out["wecom"] = asdict(wecom)
    if out.get("days_since_touch") is not None:
        out["days_since_touch"] = round(out["days_since_touch"], 2)
    return out


# --- reads -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredCustomer:
    customer_id: str
    name: str
    owner_userid: str
    owner_name: str
    region: str | None
    score: float
    tier: str
    tier_since: datetime
    weakest: str  # Chinese: the weakest component and its detail


def weakest_text(components: dict[str, Any]) -> str:
    have = [
        (v.get("points"), k, v.get("detail", ""))
        for k, v in (components or {}).items()
        if v.get("points") is not None
    ]
    if not have:
        return ""
    points, key, detail = min(have)
    tied = sorted(
        (k for p, k, _ in have if round(p) == round(points)),
        key=lambda k: COMPONENTS.index(k) if k in COMPONENTS else len(COMPONENTS),
    )
    if len(tied) > 1:
        return "、".join(LABELS.get(k, k) for k in tied) + f"均为{points:.0f}分"
    return f"{LABELS.get(key, key)}{points:.0f}分（{detail}）"


def scored_customers(
    session: Session,
    *,
    owners: Collection[str] | None,
    tier: str | None = None,
    region: str | None = None,
    since: datetime | None = None,
    limit: int | None = 50,
) -> list[ScoredCustomer]:
    """Scored customers of `owners` (None: all), lowest score first; `since`: entered the tier since then."""
    C, S = CustomerRow, CustomerScoreRow
    q = (
        select(
            C.customer_id,
            C.name,
            C.owner_userid,
            UserRow.name,
            C.region,
            S.score,
            S.tier,
            S.tier_since,
            S.components,
        )
        .join(S, S.customer_id == C.customer_id)
        .outerjoin(UserRow, UserRow.userid == C.owner_userid)
        .where(C.status == "active")
    )
    if owners is not None:
        q = q.where(C.owner_userid.in_(sorted(owners)) if owners else false())
    if tier is not None:
        q = q.where(S.tier == tier)
    if region is not None:
        q = q.where(C.region == region)
    if since is not None:
        q = q.where(S.tier_since >= _at(since))
    q = q.order_by(S.score, C.customer_id)
    if limit is not None:
        q = q.limit(limit)
    return [
        ScoredCustomer(cid, name, owner, owner_name or owner, region_, float(sc), t, ts, weakest_text(comps))
        for cid, name, owner, owner_name, region_, sc, t, ts, comps in session.execute(q)
    ]


def tier_counts(
    session: Session, *, owners: Collection[str] | None, region: str | None = None
) -> dict[str, int]:
    C, S = CustomerRow, CustomerScoreRow
    q = select(S.tier, func.count()).join(C, C.customer_id == S.customer_id).where(C.status == "active")
    if owners is not None:
        q = q.where(C.owner_userid.in_(sorted(owners)) if owners else false())
    if region is not None:
        q = q.where(C.region == region)
    counts = {"red": 0, "yellow": 0, "blue": 0}
    counts.update({t: int(n) for t, n in session.execute(q.group_by(S.tier))})
    return counts
