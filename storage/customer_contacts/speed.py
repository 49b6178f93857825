"""The scorecard's WeCom response figures per customer (core/customer_contacts/speed.py says what they are worth).

A customer has them when it is linked to a live external contact of its owner: the owner's days in
`contact_behavior` in the window (per member: WeCom gives nothing per customer without 会话存档), and, for each of
the customer's contacts added in the window, the hours from the add to the owner's first follow-up record after
it (a visit, or an interaction that is not one of the 客户联系 events themselves).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import SHANGHAI
from core.customer_contacts.speed import DayFigures, SpeedRules, WeComSpeed, combine
from storage.customer_contacts.models import ContactBehaviorRow, ExternalContactRow
from storage.customer_contacts.store import INTERACTION_PREFIX
from storage.models import CustomerRow, InteractionRow, VisitRow


def speed_by_customer(
    session: Session,
    *,
    now: datetime,
    days: int,
    customer_ids: Collection[str] | None = None,
    rules: SpeedRules = SpeedRules(),
) -> dict[str, WeComSpeed]:
    """customer_id → the owner's WeCom figures, for customers linked to a live contact of their owner."""
    E, C = ExternalContactRow, CustomerRow
    q = (
        select(E.customer_id, C.owner_userid, E.added_at)
        .join(C, C.customer_id == E.customer_id)
        .where(E.status == "linked", E.removed_at.is_(None), E.userid == C.owner_userid, C.status == "active")
    )
    if customer_ids is not None:
        q = q.where(E.customer_id.in_(list(customer_ids)))
    links = session.execute(q).all()
    if not links:
        return {}
    since = now - timedelta(days=days)
    owners = {owner for _, owner, _ in links}
    today = now.astimezone(SHANGHAI).date()
    figures: dict[str, list[DayFigures]] = defaultdict(list)
    for r in session.scalars(
        select(ContactBehaviorRow).where(
            ContactBehaviorRow.userid.in_(owners),
            ContactBehaviorRow.day >= since.astimezone(SHANGHAI).date(),
            ContactBehaviorRow.day <= today,
        )
    ):
        figures[r.userid].append(DayFigures(r.chat_cnt, r.message_cnt, r.reply_percentage, r.avg_reply_time))

    recent = [(cid, owner, added) for cid, owner, added in links if added >= since]
    follows: dict[str, list[datetime]] = defaultdict(list)
    if recent:
        ids = list({cid for cid, _, _ in recent})
        earliest = min(added for _, _, added in recent)
        for cid, at in session.execute(
            select(VisitRow.customer_id, VisitRow.checked_in_at).where(
                VisitRow.customer_id.in_(ids),
                VisitRow.checked_in_at >= earliest,
                VisitRow.checked_in_at <= now,
            )
        ):
            follows[cid].append(at)
        for cid, at in session.execute(
            select(InteractionRow.customer_id, InteractionRow.at).where(
                InteractionRow.customer_id.in_(ids),
                InteractionRow.at >= earliest,
                InteractionRow.at <= now,
                ~InteractionRow.interaction_id.like(INTERACTION_PREFIX + "%"),
            )
        ):
            follows[cid].append(at)

    first: dict[str, list[float | None]] = defaultdict(list)
    for cid, _owner, added in recent:
        after = [t for t in follows.get(cid, ()) if t > added]
        if after:
            first[cid].append((min(after) - added).total_seconds() / 3600)
            continue
        waited = (now - added).total_seconds() / 3600
        if waited >= rules.follow_zero_hours:
            first[cid].append(None)  # none after a week: 0 points
        elif waited > rules.follow_full_hours:
            first[cid].append(waited)  # overdue: at least this long
        # younger than a day and no follow-up yet: not judged

    out: dict[str, WeComSpeed] = {}
    for cid, owner, _ in links:
        if cid in out:
            continue
        base = combine(figures.get(owner, ()))
        speed = WeComSpeed(
            chats=base.chats,
            messages=base.messages,
            reply_percentage=base.reply_percentage,
            avg_reply_minutes=base.avg_reply_minutes,
            first_follow_hours=tuple(first.get(cid, ())),
        )
        if speed.present:
            out[cid] = speed
    return out
