"""The dormancy sweep's two moves (docs/leads.md § Pools), each lead audited:

- into the nurture pool: an open lead in its owner's hands whose dormancy clock (`quiet_since`: the latest
  effective interaction, claim or creation) is older than `dormant_after` (72 h). The owner keeps it;
- into the public pool: an open lead with an owner (in hand or nurtured) whose clock is older than
  `public_after` (15 days). It loses its owner.
Each call moves at most `limit` leads (oldest clock first), so one sweep's transaction stays small; the
next sweep takes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.leads.policy import LeadPolicy
from storage.leads.models import LeadRow
from storage.leads.store import OPEN_STAGES, move_pool


@dataclass(frozen=True)
class Moved:
    lead_id: str
    company: str
    owner: str  # the owner before the move
    pool: str  # nurture | public
    grade: str | None
    quiet_since: datetime


def _due(session: Session, *, in_hand_only: bool, before: datetime, limit: int) -> list[LeadRow]:
    q = select(LeadRow).where(
        LeadRow.owner_userid.is_not(None), LeadRow.stage.in_(OPEN_STAGES), LeadRow.quiet_since < before
    )
    q = (
        q.where(LeadRow.pool.is_(None))
        if in_hand_only
        else q.where((LeadRow.pool.is_(None)) | (LeadRow.pool == "nurture"))
    )
    q = q.order_by(LeadRow.quiet_since, LeadRow.lead_id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return list(session.scalars(q))


def sweep(
    session: Session, *, now: datetime, policy: LeadPolicy, actor: str, reason: str, limit: int = 2000
) -> list[Moved]:
    """Move what is due: first the leads quiet for `public_after` to the public pool, then those quiet for
    `dormant_after` to the nurture pool. Returns the moves (for the announcements)."""
    moved: list[Moved] = []
    for lead in _due(session, in_hand_only=False, before=now - policy.public_after, limit=limit):
        owner = lead.owner_userid or ""
        move_pool(session, lead, "public", owner=None, now=now, actor=actor, reason=reason)
        moved.append(Moved(lead.lead_id, lead.company, owner, "public", lead.grade, lead.quiet_since))
    left = limit - len(moved)
    if left > 0:
        for lead in _due(session, in_hand_only=True, before=now - policy.dormant_after, limit=left):
            owner = lead.owner_userid or ""
            quiet = lead.quiet_since
            move_pool(session, lead, "nurture", owner=owner, now=now, actor=actor, reason=reason)
            moved.append(Moved(lead.lead_id, lead.company, owner, "nurture", lead.grade, quiet))
    session.flush()
    return moved
