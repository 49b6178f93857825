"""客户联系 events (docs/customer-contacts.md): what WeCom tells when a member adds, edits or deletes an external
contact, or a 客户群 changes. What WeCom said about the contact was fetched before the transaction
(bot/wecom/external.py) and arrives in `ctx.prefetched`.

- added: the contact is stored; matched to the rep's customers (core/customer_contacts/matching.py); with a
  suggestion the rep gets the link card (handlers/customer_contacts/link.py); with none it becomes a lead as before
  (docs/leads.md). A contact already linked and added again is one more interaction of its customer.
  add_half_external_contact (the customer added the member, not yet accepted): stored, nothing asked yet.
- edit_external_contact: the new 备注 / 描述 / 备注手机号 stored; a linked contact's edit is an interaction of its
  customer; an unmatched contact whose new remark now points to a customer gets the link card.
- del_external_contact / del_follow_user: the contact is marked removed (by the member / by the customer); the link
  and its interactions stay. The rep is told when a linked customer's contact deleted them.
- change_external_chat: the 客户群 stored (name, owner, external members); a create or an add_member of a group
  holding linked contacts is an interaction of each of their customers (owner as the rep); dismiss marks it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.customer_contacts.matching import suggest
from handlers.context import Ctx
from handlers.customer_contacts import link as contact_link
from handlers.customer_contacts import refusals
from handlers.customer_contacts import texts as T
from handlers.leads import intake as lead_intake
from handlers.messages import ExternalChatChanged, ExternalContactAdded, ExternalContactChanged, Inbound, Text
from storage.customer_contacts import store
from storage.customer_contacts.models import ExternalContactRow
from storage.models import CustomerRow, UserRow

ACTOR = "system:wecom_contact"


def _at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _detail(ctx: Ctx, member: str | None) -> dict[str, Any] | None:
    """The prefetched contact; a refusal is answered (refusals.py) and gives None."""
    pre = ctx.prefetched or {}
    if pre.get("refused"):
        refusals.answer(ctx, pre["refused"], member=member)
        return None
    contact = pre.get("contact")
    return dict(contact) if isinstance(contact, dict) and contact.get("followed", True) else None


def _member(ctx: Ctx) -> UserRow | None:
    return ctx.session.get(UserRow, ctx.userid)


def _offer(ctx: Ctx, row: ExternalContactRow) -> bool:
    """Suggest the rep's customers for the contact: the card (True), or unmatched (False)."""
    suggestions = suggest(store.facts_of(row), store.customer_facts(ctx.session, row.userid))
    if not suggestions:
        if row.status != "unmatched":
            store.decide(
                ctx.session,
                row,
                status="unmatched",
                suggested=[],
                now=ctx.now,
                actor=ACTOR,
                reason=ctx.source,
            )
        return False
    store.decide(
        ctx.session, row, status="pending", suggested=suggestions, now=ctx.now, actor=ACTOR, reason=ctx.source
    )
    ctx.send(row.userid, contact_link.card(row, suggestions))
    return True


def _save(
    ctx: Ctx, event: ExternalContactAdded | ExternalContactChanged, detail: dict[str, Any] | None
) -> tuple[ExternalContactRow, bool]:
    detail = detail or {}
    created = detail.get("createtime")
    added_at = _at(int(created)) if isinstance(created, int) and created > 0 else _at(event.at)
    return store.save_contact(
        ctx.session,
        userid=event.sender,
        external_userid=event.external_userid,
        detail=detail,
        added_at=added_at,
        now=ctx.now,
        actor=ACTOR,
        reason=ctx.source,
    )


def _interaction(ctx: Ctx, row: ExternalContactRow, kind: str, at: datetime) -> None:
    if row.status == "linked" and row.customer_id:
        store.record_interaction(
            ctx.session,
            customer_id=row.customer_id,
            rep_userid=row.userid,
            at=at,
            kind=kind,
            key=(row.userid, row.external_userid, kind, at.isoformat()),
            now=ctx.now,
            actor=ACTOR,
            reason=ctx.source,
        )


def on_added(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, ExternalContactAdded)
    member = _member(ctx)
    if not event.external_userid:
        return None
    active = member is not None and member.active
    detail = _detail(ctx, event.sender if active else None)
    row, created = _save(ctx, event, detail)
    if not active or event.half:
        return None  # stored; a member outside the org (or not yet accepted) is asked nothing
    if row.status == "linked":
        _interaction(ctx, row, "add", _at(event.at))  # added again: one more interaction
        return None
    if row.status == "not_customer" or (row.status == "pending" and not created and row.suggested):
        return None  # decided already, or the card is out
    if not _offer(ctx, row):
        lead_intake.on_external_contact(
            ctx, event
        )  # no customer came close: a lead, as before (docs/leads.md)
    return None


def on_changed(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, ExternalContactChanged)
    row = store.get_contact(ctx.session, event.sender, event.external_userid)
    member = _member(ctx)
    active = member is not None and member.active
    if event.change_type == "edit_external_contact":
        detail = _detail(ctx, event.sender if active else None)
        if detail is None and row is None:
            return None
        row, created = _save(ctx, event, detail)
        if not active:
            return None
        if row.status == "linked":
            _interaction(ctx, row, "edit", _at(event.at))
        elif row.status in ("unmatched",) or created:
            _offer(ctx, row)
        return None
    if row is None:
        return None
    by = "customer" if event.change_type == "del_follow_user" else "member"
    reason = ctx.source + (f" ({event.source})" if event.source else "")
    store.remove(ctx.session, row, by=by, now=ctx.now, actor=ACTOR, reason=reason)
    if by == "customer" and active and row.status == "linked" and row.customer_id:
        customer = ctx.session.get(CustomerRow, row.customer_id)
        if customer is not None:
            ctx.send(
                row.userid,
                Text(content=T.CUSTOMER_LEFT.format(customer=customer.name, who=contact_link.who(row))),
            )
    return None


def on_chat(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, ExternalChatChanged)
    pre = ctx.prefetched or {}
    if pre.get("refused"):
        refusals.answer(ctx, pre["refused"], member=None)
        return None
    if event.change_type == "dismiss":
        store.save_chat(
            ctx.session,
            chat_id=event.chat_id,
            values={"status": "dismissed"},
            now=ctx.now,
            actor=ACTOR,
            reason=ctx.source,
        )
        return None
    chat = pre.get("chat")
    if not isinstance(chat, dict):
        return None
    externals = [str(e) for e in chat.get("external_userids") or []]
    customers = sorted(set(store.linked_customers(ctx.session, externals).values()))
    store.save_chat(
        ctx.session,
        chat_id=event.chat_id,
        values={
            "name": str(chat.get("name") or "")[:128] or None,
            "owner_userid": str(chat.get("owner") or "") or None,
            "status": "active",
            "member_count": int(chat.get("member_count") or 0),
            "external_userids": externals,
            "customer_ids": customers,
        },
        now=ctx.now,
        actor=ACTOR,
        reason=ctx.source,
    )
    if event.change_type == "create" or event.update_detail == "add_member":
        at = _at(event.at)
        for cid in customers:
            store.record_interaction(
                ctx.session,
                customer_id=cid,
                rep_userid=str(chat.get("owner") or "") or None,  # type: ignore[arg-type]
                at=at,
                kind="chat",
                key=(event.chat_id, event.change_type, event.update_detail, at.isoformat(), cid),
                now=ctx.now,
                actor=ACTOR,
                reason=ctx.source,
            )
    return None
