"""Writing leads: create (scored), change facts (re-scored), interactions (effective or not), stages, pool
moves, claims within the cap, conversion into a customer and an opportunity. Every change is audited with
before and after in the caller's transaction (storage/audit.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import ORG_ZONE
from core.leads.policy import LeadPolicy
from core.leads.score import LeadFacts, ScoreCard, score
from storage import audit
from storage.leads.models import LeadInteractionRow, LeadRow, LeadStageRow
from storage.models import CustomerRow, InteractionRow, OpportunityRow, OrgConfigRow

CONFIG_KEY = "leads"
OPEN_STAGES = ("new", "contacted", "proposal")  # a lead still being worked (converted and lost are closed)
STAGE_WORDS = {
    "new": "新线索",
    "contacted": "已联系",
    "proposal": "已出方案",
    "converted": "已转化",
    "lost": "已输单",
}
POOL_WORDS = {None: "跟进中", "nurture": "培育池", "public": "公海"}
CONTACT_KINDS = ("call", "visit", "meeting", "wecom", "email")
# a lead interaction as a customer interaction when the lead converts (interactions.channel)
CHANNEL_OF = {"call": "call", "wecom": "wecom", "email": "email"}


def load_policy(session: Session) -> LeadPolicy:
    """org_config["leads"] on top of the defaults. A broken setting raises: an admin sees it at once."""
    row = session.get(OrgConfigRow, CONFIG_KEY)
    return LeadPolicy.from_config(row.value if row else None)


def new_lead_id() -> str:
    return "L" + uuid.uuid4().hex[:8].upper()


def facts_of(lead: LeadRow) -> LeadFacts:
    return LeadFacts(
        source=lead.source,
        credit_grade=lead.credit_grade,
        inquiries=int(lead.inquiries or 0),
        contact_role=lead.contact_role,
        industry=lead.industry,
        downloads=int(lead.downloads or 0),
    )


def card_of(lead: LeadRow, policy: LeadPolicy) -> ScoreCard:
    return score(facts_of(lead), policy)


def _audit(
    session: Session,
    lead: Any,
    *,
    now: datetime,
    actor: str,
    reason: str | None,
    before,
    action: str = "update",
    entity: str = "lead",
) -> None:  # noqa: ANN001
    after = audit.snapshot(lead)
    if action == "update" and not audit.changed(before, after):
        return
    key = lead.lead_id if entity == "lead" else lead.id
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(key),
        before=before,
        after=after,
        reason=reason,
    )


def apply_score(lead: LeadRow, policy: LeadPolicy, now: datetime) -> tuple[str | None, str]:
    """Score the lead's current facts onto the row (the caller audits). Returns (old grade, new grade)."""
    card = card_of(lead, policy)
    old = lead.grade
    if lead.score != card.score or lead.grade != card.grade or lead.score_detail != card.detail():
        lead.score, lead.grade = float(card.score), card.grade
        lead.score_detail = card.detail()
        lead.scored_at = now
    return old, card.grade


def create_lead(
    session: Session,
    *,
    values: dict[str, Any],
    owner: str | None,
    now: datetime,
    actor: str,
    reason: str | None,
    policy: LeadPolicy,
) -> LeadRow:
    """A new lead, scored and graded, in stage `new`, held by `owner` (None: the public pool)."""
    lead = LeadRow(
        lead_id=values.pop("lead_id", None) or new_lead_id(),
        created_at=now,
        first_contact_at=values.pop("first_contact_at", None) or now,
        owner_userid=owner,
        pool=None if owner else "public",
        pool_since=None if owner else now,
        quiet_since=now,
        stage="new",
        stage_since=now,
        pain_words=list(values.pop("pain_words", []) or []),
        inquiries=int(values.pop("inquiries", 0) or 0),
        downloads=int(values.pop("downloads", 0) or 0),
        sop_gen=0,
        **values,
    )
    apply_score(lead, policy, now)
    session.add(lead)
    session.flush()
    session.add(LeadStageRow(lead_id=lead.lead_id, stage="new", entered_at=now))
    _audit(session, lead, now=now, actor=actor, reason=reason, before=None, action="create")
    return lead


def update_facts(
    session: Session,
    lead: LeadRow,
    changes: dict[str, Any],
    *,
    now: datetime,
    actor: str,
    reason: str | None,
    policy: LeadPolicy,
) -> tuple[str | None, str]:
    """Change facts of a lead and re-score it (one audit row). Returns (old grade, new grade)."""
    before = audit.snapshot(lead)
    for key, value in changes.items():
        setattr(lead, key, value)
    old, new = apply_score(lead, policy, now)
    session.flush()
    _audit(session, lead, now=now, actor=actor, reason=reason, before=before)
    return old, new


def rescore_all(
    session: Session,
    *,
    policy: LeadPolicy,
    now: datetime,
    actor: str,
    reason: str,
    lead_ids: list[str] | None = None,
) -> int:
    """Re-score leads (all, or those named) after the score card or the facts changed; audited per change."""
    q = select(LeadRow).order_by(LeadRow.lead_id)
    if lead_ids is not None:
        q = q.where(LeadRow.lead_id.in_(lead_ids))
    changed = 0
    for lead in session.scalars(q):
        before = audit.snapshot(lead)
        apply_score(lead, policy, now)
        if audit.changed(before, audit.snapshot(lead)):
            changed += 1
            _audit(session, lead, now=now, actor=actor, reason=reason, before=before)
    session.flush()
    return changed


def set_stage(
    session: Session,
    lead: LeadRow,
    stage: str,
    *,
    now: datetime,
    actor: str,
    reason: str | None,
    lost_reason: str | None = None,
) -> bool:
    """Move a lead to `stage`: its stay in the old stage ends now. False when it is already there."""
    if lead.stage == stage:
        return False
    before = audit.snapshot(lead)
    current = session.scalars(
        select(LeadStageRow).where(LeadStageRow.lead_id == lead.lead_id, LeadStageRow.left_at.is_(None))
    ).all()
    for stay in current:
        stay.left_at = now
    session.add(LeadStageRow(lead_id=lead.lead_id, stage=stage, entered_at=now))
    lead.stage, lead.stage_since = stage, now
    if lost_reason is not None:
        lead.lost_reason = lost_reason[:64]
    session.flush()
    _audit(session, lead, now=now, actor=actor, reason=reason, before=before)
    return True


@dataclass(frozen=True)
class Recorded:
    interaction: LeadInteractionRow
    regraded: tuple[str | None, str] | None  # (old, new) when the interaction changed the score's facts
    back_from_nurture: bool


def record_interaction(
    session: Session,
    lead: LeadRow,
    *,
    kind: str,
    rep: str | None,
    at: datetime,
    now: datetime,
    actor: str,
    reason: str | None,
    policy: LeadPolicy,
    note: str | None = None,
    source: str = "chat",
) -> Recorded:
    """One interaction: stored with its effectiveness; an effective one restarts the dormancy clock, brings a
    nurtured lead back into its owner's hands and moves a new lead to 已联系 (a proposal to 已出方案); an inquiry
    or a download is a fact of the score card (re-scored)."""
    effective = policy.is_effective(kind)
    row = LeadInteractionRow(
        lead_id=lead.lead_id, rep_userid=rep, at=at, kind=kind, effective=effective, note=note, source=source
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        row,
        now=now,
        actor=actor,
        reason=reason,
        before=None,
        action="create",
        entity="lead_interaction",
    )
    before = audit.snapshot(lead)
    back = False
    regraded = None
    if effective:
        if lead.last_effective_at is None or at > lead.last_effective_at:
            lead.last_effective_at = at
        if at > lead.quiet_since:
            lead.quiet_since = at
        if lead.pool == "nurture" and lead.owner_userid is not None:
            lead.pool, lead.pool_since, back = None, None, True
    if kind in ("inquiry", "download"):
        if kind == "inquiry":
            lead.inquiries = int(lead.inquiries or 0) + 1
        else:
            lead.downloads = int(lead.downloads or 0) + 1
        regraded = apply_score(lead, policy, now)
    session.flush()
    _audit(session, lead, now=now, actor=actor, reason=reason, before=before)
    if effective and lead.stage in OPEN_STAGES:
        if kind == "proposal" and lead.stage != "proposal":
            set_stage(session, lead, "proposal", now=now, actor=actor, reason=reason)
        elif lead.stage == "new" and kind in CONTACT_KINDS:
            set_stage(session, lead, "contacted", now=now, actor=actor, reason=reason)
    return Recorded(row, regraded, back)


def move_pool(
    session: Session,
    lead: LeadRow,
    pool: str | None,
    *,
    owner: str | None,
    now: datetime,
    actor: str,
    reason: str,
) -> None:
    """Put a lead in a pool (nurture keeps its owner; public has none) or in an owner's hands (pool None)."""
    before = audit.snapshot(lead)
    lead.pool, lead.owner_userid = pool, owner
    lead.pool_since = now if pool else None
    if pool is None:
        lead.quiet_since = now  # a claim or a hand-over: the new owner gets the full window
    session.flush()
    _audit(session, lead, now=now, actor=actor, reason=reason, before=before)


def held_by(session: Session, rep: str) -> int:
    """Open leads a rep holds (in hand or in the nurture pool): what the claim cap counts."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(LeadRow)
            .where(LeadRow.owner_userid == rep, LeadRow.stage.in_(OPEN_STAGES))
        )
        or 0
    )


@dataclass(frozen=True)
class Claim:
    ok: bool
    held: int  # how many the rep held before the claim
    cap: int
    lead: LeadRow | None
    why: str = ""  # "cap" | "not_in_pool" | "gone"


def claim(
    session: Session, lead_id: str, *, rep: str, now: datetime, actor: str, reason: str, policy: LeadPolicy
) -> Claim:
    """A rep takes a lead from the public pool, within the cap. The lead row is locked (PostgreSQL) so two reps
    clicking at once cannot both get it."""
    q = select(LeadRow).where(LeadRow.lead_id == lead_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    lead = session.scalars(q).first()
    held = held_by(session, rep)
    if lead is None:
        return Claim(False, held, policy.claim_cap, None, "gone")
    if lead.pool != "public" or lead.stage not in OPEN_STAGES:
        return Claim(False, held, policy.claim_cap, lead, "not_in_pool")
    if held >= policy.claim_cap:
        return Claim(False, held, policy.claim_cap, lead, "cap")
    move_pool(session, lead, None, owner=rep, now=now, actor=actor, reason=reason)
    return Claim(True, held, policy.claim_cap, lead)


def convert(
    session: Session, lead: LeadRow, *, now: datetime, actor: str, reason: str
) -> tuple[CustomerRow, OpportunityRow]:
    """The lead becomes a customer (owned by the lead's owner) with an opportunity in 需求确认. The history is
    kept: the lead row and its interactions stay and point at the customer, and each effective interaction is
    copied into the customer's interactions (id `lead:<interaction id>`), so the customer's last touch and
    stale clock start from the lead's follow-ups."""
    if lead.owner_userid is None:
        raise ValueError("a lead in the public pool has no owner to convert it")
    customer_id = f"C-{lead.lead_id}"
    customer = session.get(CustomerRow, customer_id)
    if customer is None:
        roles = (
            [{"role": lead.contact_role or "联系人", "name": lead.contact_name}] if lead.contact_name else []
        )
        customer = CustomerRow(
            customer_id=customer_id,
            name=lead.company,
            region=lead.region,
            owner_userid=lead.owner_userid,
            status="active",
            categories=[],
            decision_roles=roles,
            created_on=now.astimezone(ORG_ZONE).date(),
            created_at=now,
        )
        audit.add_created(
            session,
            customer,
            at=now,
            actor=actor,
            entity="customer",
            entity_id=customer_id,
            reason=reason,
        )
    opp_id = f"O-{lead.lead_id}"
    opp = session.get(OpportunityRow, opp_id)
    if opp is None:
        opp = OpportunityRow(
            opportunity_id=opp_id,
            customer_id=customer_id,
            stage="need_confirmed",
            entered_on=now.astimezone(ORG_ZONE).date(),
        )
        audit.add_created(
            session,
            opp,
            at=now,
            actor=actor,
            entity="opportunity",
            entity_id=opp_id,
            reason=reason,
        )
    done = set(
        session.scalars(
            select(InteractionRow.interaction_id).where(InteractionRow.customer_id == customer_id)
        )
    )
    effective = session.scalars(
        select(LeadInteractionRow)
        .where(LeadInteractionRow.lead_id == lead.lead_id, LeadInteractionRow.effective.is_(True))
        .order_by(LeadInteractionRow.at, LeadInteractionRow.id)
    )
    for it in effective:
        iid = f"lead:{it.id}"
        if iid in done:
            continue
        row = InteractionRow(
            interaction_id=iid,
            customer_id=customer_id,
            rep_userid=it.rep_userid,
            at=it.at,
            channel=CHANNEL_OF.get(it.kind, "other"),
        )
        audit.add_created(
            session,
            row,
            at=now,
            actor=actor,
            entity="interaction",
            entity_id=iid,
            reason=reason,
        )
    before = audit.snapshot(lead)
    lead.customer_id, lead.opportunity_id, lead.converted_at = customer_id, opp_id, now
    lead.pool, lead.pool_since = None, None
    session.flush()
    _audit(session, lead, now=now, actor=actor, reason=reason, before=before)
    set_stage(session, lead, "converted", now=now, actor=actor, reason=reason)
    return customer, opp
