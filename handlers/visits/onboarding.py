"""新建客户 by chat: name → licence (checksum) → categories → decision chain, one question at a time.

The location comes from the check-in that preceded it. A duplicate (same licence number, or a similar
name within 100 m) offers the existing customer instead.
"""

from __future__ import annotations

import re
import uuid

from rapidfuzz import fuzz
from sqlalchemy import select

from core.clock import local
from core.geo import distance_m
from core.licence import explain_uscc, is_valid_uscc
from core.org import UnknownAsker, scope_of
from handlers import texts
from handlers.context import Ctx
from handlers.dialog import DialogState
from handlers.messages import (
    Button,
    Card,
    CardAction,
    CardClick,
    CardUpdate,
    Inbound,
    card_key,
    parse_card_key,
    text_of,
)
from handlers.messages import Text as TextReply
from handlers.visits import flow as visit_flow
from storage import audit, people
from storage.models import CustomerRow, UserRow

DUPLICATE_RADIUS_M = 100
NAME_SIMILARITY = 85
ROLE_WORDS = {
    "采购": "采购",
    "老板": "老板",
    "店长": "店长",
    "经理": "店长",
    "老板娘": "老板",
    "采购员": "采购",
}
STEPS = ("name", "licence", "categories", "roles")
_ROLE_RE = re.compile(r"(采购员|采购|老板娘|老板|店长|经理)\s*[:：]?\s*([\u4e00-\u9fa5A-Za-z·]{1,10})")


def start(ctx: Ctx, *, name: str = "", location: dict | None = None) -> None:
    draft = {"name": name.strip()} if name.strip() else {}
    ctx.set_state(DialogState.ONBOARD, {"draft": draft, "location": location})
    _ask_next(ctx)


def on_new_customer(ctx: Ctx, event: Inbound) -> None:
    said = text_of(event) or ""
    name = re.sub(r"^\s*(新建客户|新客户|建档)\s*", "", said)
    location = ctx.state_data.get("location") if ctx.state == DialogState.PICK_CUSTOMER else None
    start(ctx, name=name, location=location)


def on_card(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    if parts[0] == "new":
        location = ctx.state_data.get("location") if ctx.state == DialogState.PICK_CUSTOMER else None
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name="新建客户中"))
        start(ctx, location=location)
        return None
    if parts[0] == "use" and len(parts) == 2:
        location = ctx.state_data.get("location")
        ctx.set_state(DialogState.IDLE)
        customer = ctx.session.get(CustomerRow, parts[1])
        if customer is None or customer.owner_userid != ctx.userid:  # the same words: no owner, no existence
            ctx.reply(TextReply(content=texts.ONBOARD_NOT_YOURS))
            return None
        dist = (
            distance_m(location["lat"], location["lng"], customer.lat, customer.lng)
            if location and customer.lat is not None
            else None
        )
        visit_flow.open_for(
            ctx,
            customer_id=customer.customer_id,
            location=location,
            distance=dist,
            card_response=event.response_code,
            card_label=customer.name,
        )
        return None
    if parts[0] == "cancel":
        ctx.set_state(DialogState.IDLE)
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name="已取消"))
        ctx.reply(TextReply(content=texts.ONBOARD_CANCELLED))
        return None
    if parts[0] == "force" and ctx.state == DialogState.ONBOARD:
        data = dict(ctx.state_data)
        data["force"] = True
        ctx.set_state(DialogState.ONBOARD, data)
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name=texts.ONBOARD_CREATE_ANYWAY))
        _ask_next(ctx)
        return None
    return False


def on_answer(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event)
    if said is None:
        return False  # a photo or location during onboarding is handled as usual
    if said in ("取消", "算了", "不建了"):
        ctx.set_state(DialogState.IDLE)
        ctx.reply(TextReply(content=texts.ONBOARD_CANCELLED))
        return None
    data = dict(ctx.state_data)
    draft = dict(data.get("draft", {}))
    step = next((s for s in STEPS if s not in draft), None)
    if step == "name":
        draft["name"] = said.strip()[:64]
    elif step == "licence":
        code = said.strip().upper().replace(" ", "")
        if not is_valid_uscc(code):
            ctx.reply(
                TextReply(content=texts.ONBOARD_BAD_LICENCE.format(reason=explain_uscc(code) or "格式不对"))
            )
            return None
        draft["licence"] = code
    elif step == "categories":
        cats = [c for c in re.split(r"[、，,；;\s/]+", said) if c]
        draft["categories"] = cats[:10]
    elif step == "roles":
        roles = [{"role": ROLE_WORDS[r], "name": n} for r, n in _ROLE_RE.findall(said)]
        if not roles:
            ctx.reply(TextReply(content=texts.ONBOARD_BAD_ROLES))
            return None
        draft["roles"] = roles
    data["draft"] = draft
    ctx.set_state(DialogState.ONBOARD, data)
    _ask_next(ctx)
    return None


def _ask_next(ctx: Ctx) -> None:
    data = ctx.state_data
    draft = data.get("draft", {})
    if "name" in draft and _offer_duplicate(
        ctx, draft, data.get("location"), skip_nearby=bool(data.get("force"))
    ):
        return
    step = next((s for s in STEPS if s not in draft), None)
    if step == "name":
        ctx.reply(TextReply(content=texts.ONBOARD_ASK_NAME))
    elif step == "licence":
        ctx.reply(TextReply(content=texts.ONBOARD_ASK_LICENCE.format(name=draft["name"])))
    elif step == "categories":
        ctx.reply(TextReply(content=texts.ONBOARD_ASK_CATEGORIES))
    elif step == "roles":
        ctx.reply(TextReply(content=texts.ONBOARD_ASK_ROLES))
    else:
        _create(ctx, draft, data.get("location"))


def _sees(ctx: Ctx, owner: str | None) -> bool:
    """May the person onboarding see customers of `owner` (core/org.py scope)? Else a duplicate is named
    without its name or owner."""
    if owner is None:
        return False
    try:
        return scope_of(people.whole_tree(ctx.session), ctx.userid).sees_owner(owner)
    except UnknownAsker:
        return False


def _offer_duplicate(ctx: Ctx, draft: dict, location: dict | None, *, skip_nearby: bool) -> bool:
    existing = None
    why = ""
    visible = False
    if draft.get("licence"):
        existing = ctx.session.scalars(
            select(CustomerRow).where(CustomerRow.license_no == draft["licence"])
        ).first()
        if existing is not None:
            visible = _sees(ctx, existing.owner_userid)
            why = (
                texts.ONBOARD_DUPLICATE_LICENCE.format(
                    licence=draft["licence"], name=existing.name, owner=existing.owner_userid
                )
                if visible
                else texts.ONBOARD_DUPLICATE_LICENCE_OTHER.format(licence=draft["licence"])
            )
    if existing is None and location and "licence" not in draft and not skip_nearby:
        lat, lng = location["lat"], location["lng"]
        d = 0.002  # ~200 m box, then the exact distance
        near = ctx.session.scalars(
            select(CustomerRow).where(
                CustomerRow.lat.between(lat - d, lat + d), CustomerRow.lng.between(lng - d, lng + d)
            )
        )
        for c in near:
            dist = distance_m(lat, lng, c.lat, c.lng)
            if dist <= DUPLICATE_RADIUS_M and fuzz.ratio(c.name, draft["name"]) >= NAME_SIMILARITY:
                existing = c
                visible = _sees(ctx, c.owner_userid)
                why = (
                    texts.ONBOARD_DUPLICATE_NEARBY.format(distance=int(dist), name=c.name)
                    if visible
                    else texts.ONBOARD_DUPLICATE_NEARBY_OTHER.format(distance=int(dist))
                )
                break
    if existing is None:
        return False
    same_licence = bool(draft.get("licence"))
    second = (
        Button(text="取消", key=card_key(CardAction.CUSTOMER, "cancel"), style=2)
        if same_licence
        else Button(text=texts.ONBOARD_CREATE_ANYWAY, key=card_key(CardAction.CUSTOMER, "force"), style=2)
    )
    ctx.reply(
        Card(
            title=why,
            description="是同一个客户吗？",
            buttons=[  # a customer the person may not see is not offered (nor its id put on the card)
                *(
                    [
                        Button(
                            text=texts.ONBOARD_USE_EXISTING,
                            key=card_key(CardAction.CUSTOMER, "use", existing.customer_id),
                        )
                    ]
                    if visible
                    else []
                ),
                second,
            ],
        )
    )
    if same_licence:  # the same licence is the same company: it is never created twice
        data = dict(ctx.state_data)
        data["draft"] = {k: v for k, v in draft.items() if k != "licence"}
        ctx.set_state(DialogState.ONBOARD, data)
    return True


def _create(ctx: Ctx, draft: dict, location: dict | None) -> None:
    rep = ctx.session.get(UserRow, ctx.userid)
    customer = CustomerRow(
        customer_id=f"C{local(ctx.now):%y%m%d}{uuid.uuid4().hex[:6].upper()}",
        name=draft["name"],
        license_no=draft["licence"],
        region=rep.region if rep else None,
        city=rep.city if rep else None,
        lat=location["lat"] if location else None,
        lng=location["lng"] if location else None,
        coord_system="gcj02" if location else None,
        owner_userid=ctx.userid,
        status="active",
        categories=draft.get("categories", []),
        decision_roles=draft.get("roles", []),
        created_on=local(ctx.now).date(),
        created_at=ctx.now,
    )
    ctx.session.add(customer)
    ctx.session.flush()
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="create",
        entity="customer",
        entity_id=customer.customer_id,
        after=audit.snapshot(customer),
        reason=ctx.source,
    )
    ctx.set_state(DialogState.IDLE)
    visit_flow.remember_undo(ctx, {"op": "customer", "customer_id": customer.customer_id})
    ctx.reply(
        TextReply(content=texts.ONBOARD_CREATED.format(name=customer.name, customer_id=customer.customer_id))
    )
    if location:
        visit_flow.open_for(ctx, customer_id=customer.customer_id, location=location, distance=0.0)
    else:
        ctx.reply(TextReply(content=texts.ONBOARD_NO_LOCATION))
