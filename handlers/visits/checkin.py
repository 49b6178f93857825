"""Check-in: a GPS LOCATION event, a location picked on the map, or `拜访 客户名` opens a visit."""

from __future__ import annotations

from datetime import timedelta

from rapidfuzz import fuzz, process

from core.visits import GPS_TRUST, MAP_PICK_TRUST, clear_winner, nearby, tolerance_for
from handlers import texts
from handlers.context import Ctx
from handlers.dialog import DialogState
from handlers.messages import (
    Button,
    Card,
    CardAction,
    CardClick,
    Inbound,
    LocationIn,
    LocationReport,
    card_key,
    parse_card_key,
    text_of,
)
from handlers.messages import Text as TextReply
from handlers.visits import flow as visit_flow
from storage import visits as visit_repo
from storage.models import CustomerRow

MAX_CHOICES = 5
JUST_CHECKED_IN = timedelta(minutes=2)  # the picker's event and its location message: one check-in, one reply


def _tolerance(ctx: Ctx) -> float:
    return ctx.deps.checkin_tolerance_m


def on_gps(ctx: Ctx, event: Inbound) -> None:
    assert isinstance(event, LocationReport)
    _check_in_at(ctx, event.lat, event.lng, source=GPS_TRUST, precision=event.precision, automatic=True)


def on_map_location(ctx: Ctx, event: Inbound) -> None:
    assert isinstance(event, LocationIn)
    _check_in_at(ctx, event.lat, event.lng, source=MAP_PICK_TRUST, precision=None, automatic=False)


def _check_in_at(
    ctx: Ctx, lat: float, lng: float, *, source: str, precision: float | None, automatic: bool
) -> None:
    rep = ctx.userid
    tolerance = tolerance_for(precision, _tolerance(ctx))
    within, ranked = nearby(lat, lng, visit_repo.rep_places(ctx.session, rep), tolerance_m=tolerance)
    current = visit_repo.open_visit(ctx.session, rep)
    if current is not None and visit_flow.is_idle(ctx, current):
        visit_flow.close(ctx, current, why=f"{ctx.source}: idle", notify=True)
        current = None
    winner = clear_winner(within, precision)
    if current is not None:
        here = next((n for n in within if n.place.customer_id == current.customer_id), None)
        if here is not None and (winner is None or winner.place.customer_id == current.customer_id):
            if current.lat is None or (current.location_source == MAP_PICK_TRUST and source == GPS_TRUST):
                visit_repo.set_location(
                    ctx.session,
                    current,
                    lat=lat,
                    lng=lng,
                    source=source,
                    precision=precision,
                    distance=here.distance_m,
                    now=ctx.now,
                    actor=rep,
                    why=ctx.source,
                )
                visit_flow.after_change(ctx, current)
            elif not automatic and ctx.now - current.checked_in_at > JUST_CHECKED_IN:
                ctx.reply(TextReply(content=texts.ALREADY_HERE.format(name=here.place.name)))
            return
    pending = {"lat": lat, "lng": lng, "source": source, "precision": precision}
    if winner is not None:
        visit_flow.open_for(
            ctx, customer_id=winner.place.customer_id, location=pending, distance=winner.distance_m
        )
        return
    if within:
        ctx.set_state(DialogState.PICK_CUSTOMER, {"location": pending})
        ctx.reply(
            Card(
                title=texts.PICK_CUSTOMER_TITLE.format(count=len(within)),
                description=texts.PICK_CUSTOMER_DESC,
                buttons=[
                    Button(
                        text=f"{n.place.name}（{n.distance_m:.0f}米）"[:20],
                        key=card_key(CardAction.PICK, "pick", n.place.customer_id),
                    )
                    for n in within[:MAX_CHOICES]
                ],
            )
        )
        return
    if automatic and current is not None:
        return  # opening the app somewhere else during a visit is not a check-in
    ctx.set_state(DialogState.PICK_CUSTOMER, {"location": pending})
    buttons = [
        Button(
            text=f"{n.place.name}（{n.distance_m:.0f}米）"[:20],
            key=card_key(CardAction.PICK, "pick", n.place.customer_id),
            style=2,
        )
        for n in ranked[:3]
    ]
    buttons.append(Button(text=texts.NEW_CUSTOMER_BUTTON, key=card_key(CardAction.CUSTOMER, "new"), style=1))
    ctx.reply(
        Card(
            title=texts.NONE_NEARBY_TITLE.format(distance=int(tolerance)),
            description=texts.NONE_NEARBY_DESC,
            buttons=buttons,
        )
    )


def on_pick(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key, maxsplit=1)
    if len(parts) != 2 or parts[0] != "pick":
        return False
    customer = ctx.session.get(CustomerRow, parts[1])
    if customer is None or customer.owner_userid != ctx.userid:
        ctx.reply(TextReply(content=texts.NO_SUCH_CUSTOMER.format(query=parts[1])))
        return None
    location = ctx.state_data.get("location") if ctx.state == DialogState.PICK_CUSTOMER else None
    distance = None
    if location and customer.lat is not None:
        from core.geo import distance_m

        distance = distance_m(location["lat"], location["lng"], customer.lat, customer.lng)
    ctx.set_state(DialogState.IDLE)
    visit_flow.open_for(
        ctx,
        customer_id=customer.customer_id,
        location=location,
        distance=distance,
        card_response=event.response_code,
        card_label=customer.name,
    )
    return None


def on_visit_by_name(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event) or ""
    query = said.strip()
    for word in ("拜访", "到店", "签到"):
        if query.startswith(word):
            query = query[len(word) :].strip()
            break
    customers = visit_repo.rep_customers(ctx.session, ctx.userid)
    names = {cid: name for cid, name in customers}
    exact = [cid for cid, name in customers if name == query]
    if len(exact) == 1:
        visit_flow.open_for(ctx, customer_id=exact[0], location=None, distance=None)
        return None
    matches = process.extract(query, names, scorer=fuzz.WRatio, limit=MAX_CHOICES, score_cutoff=70)
    if not matches:
        ctx.reply(TextReply(content=texts.NO_SUCH_CUSTOMER.format(query=query[:30])))
        return None
    best = matches[0]
    if len(matches) == 1 or best[1] - matches[1][1] >= 15:
        visit_flow.open_for(ctx, customer_id=best[2], location=None, distance=None)
        return None
    ctx.reply(
        Card(
            title=texts.PICK_BY_NAME_TITLE.format(count=len(matches)),
            description=texts.PICK_CUSTOMER_DESC,
            buttons=[
                Button(text=name[:20], key=card_key(CardAction.PICK, "pick", cid))
                for name, _score, cid in matches
            ],
        )
    )
    return None
