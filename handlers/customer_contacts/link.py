"""The card that links an added WeChat contact to one of the rep's customers: the suggestions of
core/customer_contacts/matching.py as buttons (是 <客户>), 其他客户 (the rep types a name), 不是客户."""

from __future__ import annotations

from sqlalchemy import select

from core.customer_contacts.matching import Suggestion, bare_name, contact_words, normal
from handlers.context import Ctx
from handlers.customer_contacts import texts as T
from handlers.dialog import DialogState
from handlers.messages import (
    Button,
    Card,
    CardAction,
    CardClick,
    CardUpdate,
    Inbound,
    Text,
    card_key,
    parse_card_key,
    text_of,
)
from storage.customer_contacts import store
from storage.customer_contacts.models import ExternalContactRow
from storage.models import CustomerRow

CANCEL_WORDS = ("取消", "算了", "不用了")
PICK_SHOWN = 5


def who(row: ExternalContactRow) -> str:
    return " · ".join(contact_words(store.facts_of(row)))


def card(row: ExternalContactRow, suggestions: list[Suggestion]) -> Card:
    best = suggestions[0]
    desc = T.LINK_DESC.format(best=best.name, why=best.why) if len(suggestions) == 1 else T.LINK_DESC_MANY
    mobiles = "、".join(str(m) for m in row.remark_mobiles or []) or T.NONE
    buttons = [
        Button(
            text=T.BUTTON_USE.format(name=s.name[:12]),
            key=card_key(CardAction.CONTACT, "use", row.external_userid, s.customer_id),
        )
        for s in suggestions
    ]
    buttons.append(
        Button(text=T.BUTTON_PICK, key=card_key(CardAction.CONTACT, "pick", row.external_userid), style=2)
    )
    buttons.append(
        Button(text=T.BUTTON_NOT, key=card_key(CardAction.CONTACT, "not", row.external_userid), style=2)
    )
    return Card(
        title=T.LINK_TITLE.format(who=(row.name or row.remark or row.external_userid[-6:])[:24]),
        description=desc,
        fields=[
            (T.FIELD_NAME, row.name or T.NONE),
            (T.FIELD_REMARK, row.remark or T.NONE),
            (T.FIELD_CORP, row.corp_name or T.NONE),
            (T.FIELD_MOBILE, mobiles),
        ],
        buttons=buttons,
    )


def link(ctx: Ctx, row: ExternalContactRow, customer: CustomerRow) -> None:
    """Confirmed: the link, and the add itself as the customer's first WeChat interaction."""
    store.decide(
        ctx.session,
        row,
        status="linked",
        customer_id=customer.customer_id,
        now=ctx.now,
        actor=ctx.userid,
        reason=ctx.source,
    )
    store.record_interaction(
        ctx.session,
        customer_id=customer.customer_id,
        rep_userid=row.userid,
        at=row.added_at,
        kind="add",
        key=(row.userid, row.external_userid, "add", row.added_at.isoformat()),
        now=ctx.now,
        actor=ctx.userid,
        reason=ctx.source,
    )
    ctx.reply(Text(content=T.LINKED.format(who=who(row), customer=customer.name)))


def _own_customer(ctx: Ctx, customer_id: str) -> CustomerRow | None:
    c = ctx.session.get(CustomerRow, customer_id)
    return c if c is not None and c.owner_userid == ctx.userid and c.status == "active" else None


def on_button(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key, maxsplit=2)
    if len(parts) < 2:
        return False
    verb, external = parts[0], parts[1]
    row = store.get_contact(ctx.session, ctx.userid, external)
    if row is None:
        ctx.reply(Text(content=T.CONTACT_GONE))
        return None
    if verb == "use" and len(parts) == 3:
        customer = _own_customer(ctx, parts[2])
        if customer is None:
            ctx.reply(Text(content=T.NOT_YOURS))
            return None
        if event.response_code:
            ctx.reply(
                CardUpdate(
                    response_code=event.response_code,
                    replace_name=T.LINKED_DONE.format(customer=customer.name[:10]),
                )
            )
        link(ctx, row, customer)
        return None
    if verb == "not":
        store.decide(
            ctx.session, row, status="not_customer", now=ctx.now, actor=ctx.userid, reason=ctx.source
        )
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name=T.NOT_CUSTOMER_DONE))
        ctx.reply(Text(content=T.NOT_CUSTOMER.format(who=who(row))))
        return None
    if verb == "pick":
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name=T.PICK_ASKED))
        ctx.set_state(DialogState.LINK_CUSTOMER, {"external_userid": external})
        ctx.reply(Text(content=T.PICK_ASK.format(who=who(row))))
        return None
    return False


def on_typed(ctx: Ctx, event: Inbound) -> bool | None:
    """After 其他客户: the rep types a customer's name. One of the rep's customers matches → linked; several →
    asked again; none → the state ends and the text is handled as any other (a visit line, a question)."""
    said = text_of(event)
    if said is None:
        return False
    external = str(ctx.state_data.get("external_userid") or "")
    if said in CANCEL_WORDS:
        ctx.set_state(DialogState.IDLE)
        ctx.reply(Text(content=T.PICK_CANCELLED))
        return None
    row = store.get_contact(ctx.session, ctx.userid, external)
    words = bare_name(said)
    found = []
    if row is not None and words:
        for c in ctx.session.scalars(
            select(CustomerRow)
            .where(CustomerRow.owner_userid == ctx.userid, CustomerRow.status == "active")
            .order_by(CustomerRow.name)
        ):
            name = normal(c.name)
            if name == normal(said):
                found = [c]
                break
            if words in name:
                found.append(c)
    if len(found) > 1:
        names = "、".join(c.name for c in found[:PICK_SHOWN])
        ctx.reply(Text(content=T.PICK_MANY.format(n=len(found), words=said[:20], names=names)))
        return None
    ctx.set_state(DialogState.IDLE)
    if not found or row is None:
        return False
    link(ctx, row, found[0])
    return None
