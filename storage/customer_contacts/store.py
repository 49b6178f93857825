"""Writes of customer contacts, each audited with before and after (storage/audit.py): an external contact as WeCom
describes it, its link to a customer (suggested, confirmed, 不是客户, unmatched), its removal, the interactions its
events become, the member's daily WeCom figures and 客户群."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.customer_contacts.matching import ContactFacts, CustomerFacts, Suggestion
from storage import audit
from storage.customer_contacts.models import ContactBehaviorRow, ExternalChatRow, ExternalContactRow
from storage.models import CustomerRow, InteractionRow

CHANNEL = "wecom"
# interaction ids made from 客户联系 events start with this (the first-follow-up figure leaves them out)
INTERACTION_PREFIX = "wx"


def _audit(
    session: Session,
    *,
    now: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None,
) -> None:
    if audit.changed(before, after):
        audit.record(
            session,
            at=now,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=before,
            after=after,
            reason=reason,
        )


def contact_id(row: ExternalContactRow) -> str:
    return f"{row.userid}:{row.external_userid}"


def get_contact(session: Session, userid: str, external_userid: str) -> ExternalContactRow | None:
    return session.get(ExternalContactRow, (external_userid, userid))


def facts_of(row: ExternalContactRow) -> ContactFacts:
    return ContactFacts(
        name=row.name or "",
        corp_name=row.corp_name or "",
        remark=row.remark or "",
        description=row.description or "",
        mobiles=tuple(str(m) for m in row.remark_mobiles or ()),
    )


def customer_facts(session: Session, userid: str) -> list[CustomerFacts]:
    """The rep's active customers as the matching rule reads them: name, contact phones (imported, and the
    备注手机号 of contacts already linked to the customer), the names on the decision chain."""
    learned: dict[str, list[str]] = {}
    for cid, mobiles in session.execute(
        select(ExternalContactRow.customer_id, ExternalContactRow.remark_mobiles).where(
            ExternalContactRow.status == "linked", ExternalContactRow.customer_id.is_not(None)
        )
    ):
        learned.setdefault(cid, []).extend(str(m) for m in mobiles or ())
    out = []
    for c in session.scalars(
        select(CustomerRow)
        .where(CustomerRow.owner_userid == userid, CustomerRow.status == "active")
        .order_by(CustomerRow.customer_id)
    ):
        phones = tuple(str(p) for p in (c.contact_phones or ())) + tuple(learned.get(c.customer_id, ()))
        people = tuple(str(r.get("name", "")) for r in (c.decision_roles or ()) if isinstance(r, dict))
        out.append(CustomerFacts(c.customer_id, c.name, phones, people))
    return out


def save_contact(
    session: Session,
    *,
    userid: str,
    external_userid: str,
    detail: Mapping[str, Any],
    added_at: datetime,
    now: datetime,
    actor: str,
    reason: str | None,
) -> tuple[ExternalContactRow, bool]:
    """The contact as WeCom described it (`detail`: name, corp_name, remark, description, remark_mobiles,
    add_way); created when new. Returns (row, created). A removed contact added again is live again."""
    row = get_contact(session, userid, external_userid)
    created = row is None
    before = audit.snapshot(row)
    if row is None:
        row = ExternalContactRow(
            external_userid=external_userid,
            userid=userid,
            added_at=added_at,
            status="pending",
            remark_mobiles=[],
            suggested=[],
            updated_at=now,
        )
        session.add(row)
    for key, limit in (("name", 128), ("corp_name", 128), ("remark", 128), ("description", 256)):
        if key in detail:
            setattr(row, key, str(detail.get(key) or "")[:limit] or None)
    if "remark_mobiles" in detail:
        row.remark_mobiles = [str(m)[:32] for m in detail.get("remark_mobiles") or []][:10]
    if detail.get("add_way") is not None:
        row.add_way = int(detail["add_way"])
    row.removed_at = row.removed_by = None
    row.updated_at = now
    session.flush()
    _audit(
        session,
        now=now,
        actor=actor,
        action="create" if created else "update",
        entity="external_contact",
        entity_id=contact_id(row),
        before=before,
        after=audit.snapshot(row),
        reason=reason,
    )
    return row, created


def decide(
    session: Session,
    row: ExternalContactRow,
    *,
    status: str,
    customer_id: str | None = None,
    suggested: Sequence[Suggestion] | None = None,
    now: datetime,
    actor: str,
    reason: str | None,
) -> None:
    """The link's state: pending (with its suggestions), linked (to `customer_id`), not_customer, unmatched."""
    before = audit.snapshot(row)
    row.status = status
    if suggested is not None:
        row.suggested = [
            {"customer_id": s.customer_id, "name": s.name, "points": s.points, "why": s.why}
            for s in suggested
        ]
    if status == "linked":
        row.customer_id = customer_id
    elif status in ("not_customer", "unmatched"):
        row.customer_id = None
    if status != "pending":
        row.decided_by, row.decided_at = actor, now
    row.updated_at = now
    session.flush()
    _audit(
        session,
        now=now,
        actor=actor,
        action="link" if status == "linked" else "update",
        entity="external_contact",
        entity_id=contact_id(row),
        before=before,
        after=audit.snapshot(row),
        reason=reason,
    )


def remove(
    session: Session, row: ExternalContactRow, *, by: str, now: datetime, actor: str, reason: str | None
) -> None:
    """The member deleted the contact (by="member") or the customer deleted the member (by="customer"). The link
    and its interactions stay: they happened."""
    before = audit.snapshot(row)
    row.removed_at, row.removed_by, row.updated_at = now, by, now
    session.flush()
    _audit(
        session,
        now=now,
        actor=actor,
        action="delete",
        entity="external_contact",
        entity_id=contact_id(row),
        before=before,
        after=audit.snapshot(row),
        reason=reason,
    )


def interaction_id(kind: str, *parts: object) -> str:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f"{INTERACTION_PREFIX}{kind}:{digest}"[:64]


def record_interaction(
    session: Session,
    *,
    customer_id: str,
    rep_userid: str,
    at: datetime,
    kind: str,
    key: Sequence[object],
    now: datetime,
    actor: str,
    reason: str | None,
) -> InteractionRow | None:
    """An interaction of the customer (channel wecom) from a 客户联系 event; once per event (`key`)."""
    iid = interaction_id(kind, *key)
    if session.get(InteractionRow, iid) is not None:
        return None
    row = InteractionRow(
        interaction_id=iid, customer_id=customer_id, rep_userid=rep_userid, at=at, channel=CHANNEL
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        now=now,
        actor=actor,
        action="create",
        entity="interaction",
        entity_id=iid,
        before=None,
        after=audit.snapshot(row),
        reason=reason,
    )
    return row


def interactions_of(session: Session, customer_id: str) -> list[InteractionRow]:
    return list(
        session.scalars(
            select(InteractionRow)
            .where(
                InteractionRow.customer_id == customer_id,
                InteractionRow.interaction_id.like(INTERACTION_PREFIX + "%"),
            )
            .order_by(InteractionRow.at)
        )
    )


def save_behavior(
    session: Session,
    *,
    userid: str,
    days: Iterable[tuple[date, Mapping[str, Any]]],
    now: datetime,
    actor: str,
    reason: str | None,
) -> int:
    """The member's days from get_user_behavior_data (a day fetched again is replaced). Returns days written."""
    n = 0
    for day, d in days:
        row = session.get(ContactBehaviorRow, (userid, day))
        before = audit.snapshot(row)
        if row is None:
            row = ContactBehaviorRow(userid=userid, day=day)
            session.add(row)
        row.chat_cnt = int(d.get("chat_cnt") or 0)
        row.message_cnt = int(d.get("message_cnt") or 0)
        rp, art = d.get("reply_percentage"), d.get("avg_reply_time")
        row.reply_percentage = float(rp) if rp is not None and row.chat_cnt else None
        row.avg_reply_time = float(art) if art is not None and row.chat_cnt else None
        row.new_contact_cnt = int(d.get("new_contact_cnt") or 0)
        row.fetched_at = now
        session.flush()
        after = audit.snapshot(row, exclude=("fetched_at",))
        if before is not None:
            before.pop("fetched_at", None)
        _audit(
            session,
            now=now,
            actor=actor,
            action="create" if before is None else "update",
            entity="contact_behavior",
            entity_id=f"{userid}:{day.isoformat()}",
            before=before,
            after=after,
            reason=reason,
        )
        n += 1
    return n


def linked_customers(session: Session, external_userids: Iterable[str]) -> dict[str, str]:
    """external_userid → customer_id for contacts linked to a customer (any member's link)."""
    ids = list(set(external_userids))
    if not ids:
        return {}
    return {
        e: c
        for e, c in session.execute(
            select(ExternalContactRow.external_userid, ExternalContactRow.customer_id).where(
                ExternalContactRow.external_userid.in_(ids),
                ExternalContactRow.status == "linked",
                ExternalContactRow.customer_id.is_not(None),
            )
        )
    }


def save_chat(
    session: Session,
    *,
    chat_id: str,
    values: Mapping[str, Any],
    now: datetime,
    actor: str,
    reason: str | None,
) -> ExternalChatRow:
    row = session.get(ExternalChatRow, chat_id)
    before = audit.snapshot(row)
    if row is None:
        row = ExternalChatRow(
            chat_id=chat_id, status="active", member_count=0, external_userids=[], customer_ids=[]
        )
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = now
    session.flush()
    _audit(
        session,
        now=now,
        actor=actor,
        action="create" if before is None else "update",
        entity="external_chat",
        entity_id=chat_id,
        before=before,
        after=audit.snapshot(row),
        reason=reason,
    )
    return row
