"""Check-in: a GPS LOCATION event, a location picked on the map, or `拜访 客户名` opens a visit.

- A location within the tolerance of one store checks in there; of several, a card asks which.
- A location picked on the map (or from the 签到 menu) near no store offers the nearest ones and 新建客户;
  a far one picked anyway is recorded as `outside` (handlers/visits/flow.py says so and never counts it).
- An automatic GPS report near no store is not a check-in: it is kept for 新建客户, and the rep gets a short
  hint (the nearest customer and how far) at most once an hour — WeCom may report every few seconds.
- `拜访 名称` opens the visit when the name matches one of the rep's customers exactly (normalised: width,
  case, spaces and punctuation ignored); a near name asks for confirmation on a card, never opens silently.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rapidfuzz import fuzz, process

from core.geo import distance_m, distance_words
from core.visits import (
    GPS_TRUST,
    GPS_WITHIN,
    MAP_PICK_TRUST,
    at_store,
    clear_winner,
    nearby,
    normalise_name,
    tolerance_for,
)
from handlers import dialog, texts
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
FAR_HINT_QUIET = timedelta(hours=1)  # at most one "no customer near here" hint per rep in this time
FAR_HINT = "far_gps"  # conversations.told key: when the rep last had that hint


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
            better = not at_store(current.location_grade) or (
                current.location_grade != GPS_WITHIN and source == GPS_TRUST
            )
            if current.lat is None or better:
                location = {"lat": lat, "lng": lng, "source": source, "precision": precision}
                visit_flow.record_location(ctx, current, location, here.distance_m)
                visit_flow.after_change(ctx, current)
            elif not automatic and ctx.now - current.checked_in_at > JUST_CHECKED_IN:
                ctx.reply(TextReply(content=texts.ALREADY_HERE.format(name=here.place.name)))
            return
        if not within and not automatic and current.lat is None:
            # a place sent for the visit already open (「拜访 名称」, then 签到) but far from every store: it is
            # this visit's location, graded outside and said so — not a list of other stores to pick from
            own = next((n for n in ranked if n.place.customer_id == current.customer_id), None)
            location = {"lat": lat, "lng": lng, "source": source, "precision": precision}
            visit_flow.record_location(ctx, current, location, own.distance_m if own else None)
            visit_flow.after_change(ctx, current)
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
    if automatic:  # a GPS report near none of the rep's stores is not a check-in
        if current is None:
            ctx.set_state(DialogState.PICK_CUSTOMER, {"location": pending})  # for 新建客户 here
        _far_hint(ctx, ranked, tolerance)
        return
    ctx.set_state(DialogState.PICK_CUSTOMER, {"location": pending})
    buttons = [
        Button(
            text=f"{n.place.name}（{distance_words(n.distance_m).removeprefix('约')}）"[:20],
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


def _far_hint(ctx: Ctx, ranked: list, tolerance: float) -> None:
    """One short word that this place is near none of the rep's customers, at most once per FAR_HINT_QUIET."""
    last = dialog.told(ctx.session, ctx.userid).get(FAR_HINT)
    if last and ctx.now - datetime.fromisoformat(last) < FAR_HINT_QUIET:
        return
    dialog.remember_told(ctx.session, ctx.userid, FAR_HINT, ctx.now.isoformat(), now=ctx.now)
    if ranked:
        nearest = ranked[0]
        content = texts.FAR_GPS_HINT.format(
            name=nearest.place.name, distance=distance_words(nearest.distance_m), tolerance=int(tolerance)
        )
    else:
        content = texts.FAR_GPS_HINT_NO_CUSTOMER.format(tolerance=int(tolerance))
    ctx.reply(TextReply(content=content))


def on_pick(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key, maxsplit=1)
    if len(parts) != 2 or parts[0] not in ("pick", "name"):
        return False
    customer = ctx.session.get(CustomerRow, parts[1])
    if customer is None or customer.owner_userid != ctx.userid:
        ctx.reply(TextReply(content=texts.NO_SUCH_CUSTOMER.format(query=parts[1])))
        return None
    # a pick after a location checks in there; a name confirmed (`name`) opens the visit without one
    picked_here = parts[0] == "pick" and ctx.state == DialogState.PICK_CUSTOMER
    location = ctx.state_data.get("location") if picked_here else None
    distance = None
    if location and customer.lat is not None and customer.lng is not None:
        distance = distance_m(location["lat"], location["lng"], customer.lat, customer.lng)
    if ctx.state == DialogState.PICK_CUSTOMER:
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
    wanted = normalise_name(query)
    exact = [cid for cid, name in customers if normalise_name(name) == wanted]
    if len(exact) == 1:
        visit_flow.open_for(ctx, customer_id=exact[0], location=None, distance=None)
        return None
    names = {cid: name for cid, name in customers}
    if exact:  # two of the rep's customers share the name: the rep says which
        matches = [(names[cid], 100.0, cid) for cid in exact[:MAX_CHOICES]]
    else:
        normalised = {cid: normalise_name(name) for cid, name in customers}
        found = process.extract(wanted, normalised, scorer=fuzz.WRatio, limit=MAX_CHOICES, score_cutoff=70)
        matches = [(names[cid], score, cid) for _norm, score, cid in found]
    if not matches:
        ctx.reply(TextReply(content=texts.NO_SUCH_CUSTOMER.format(query=query[:30])))
        return None
    title = (
        texts.NAME_CONFIRM_TITLE.format(name=matches[0][0][:30])
        if len(matches) == 1
        else texts.PICK_BY_NAME_TITLE.format(count=len(matches))
    )
    ctx.reply(
        Card(
            title=title,
            description=texts.NAME_PICK_DESC,
            buttons=[
                Button(text=name[:20], key=card_key(CardAction.PICK, "name", cid))
                for name, _score, cid in matches
            ],
        )
    )
    return None
