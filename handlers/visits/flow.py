"""The life of one visit in chat: open, gather evidence, say what is missing (once), complete, close.

A check-in location is graded when it is recorded (`record_location`, core/visits.py grade_location). A
location away from the store (outside) opens the visit but never completes it: the rep is told in plain words
how far it was and that a location sent at the store fixes it, and the rep's supervisor gets one short note
per rep per day (the first such check-in of the day; the rest of the day is quiet). A GPS or map location
within the tolerance says nothing more than the distance.

The record card (`record_card`) always shows the visit's current record — its tags, open promises, the
follow-up and the note — with one 删除 button per piece; it is sent after a line and after 撤销, and a clicked
card is replaced by it in place (handlers/visits/line.py on_fix). `rejudge` re-judges a visit after a change
that may take something away: a complete visit that is no longer complete is marked so (audited) and the rep
is told what is missing; one that became complete again gets its summary and VisitCompleted."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.clock import local
from core.events import VisitCompleted
from core.geo import distance_words
from core.visits import (
    GPS_TRUST,
    OUTSIDE,
    at_store,
    grade_location,
    is_complete,
    missing_pieces,
    tolerance_for,
)
from handlers import dialog, texts
from handlers.context import Ctx
from handlers.messages import Button, Card, CardAction, CardUpdate, card_key
from handlers.messages import Text as TextReply
from storage import audit
from storage import visits as visit_repo
from storage.models import CustomerRow, PhotoRow, PromiseRow, UserRow, VisitRow

# Do not repeat the same "还差…" within this time (HandlerDeps.prompt_quiet).
PROMPT_QUIET = timedelta(minutes=30)
PENDING_PHOTOS_WINDOW = 30  # minutes: photos sent before the check-in still count


def _quiet(ctx: Ctx) -> timedelta:
    return ctx.deps.prompt_quiet if ctx.deps.prompt_quiet is not None else PROMPT_QUIET


def is_idle(ctx: Ctx, visit: VisitRow) -> bool:
    idle = ctx.deps.visit_idle
    return visit.last_activity_at is not None and ctx.now - visit.last_activity_at > idle


def customer_name(ctx: Ctx, customer_id: str) -> str:
    c = ctx.session.get(CustomerRow, customer_id)
    return c.name if c else customer_id


def open_for(
    ctx: Ctx,
    *,
    customer_id: str,
    location: dict | None,
    distance: float | None,
    card_response: str = "",
    card_label: str = "",
) -> VisitRow:
    """Open a visit at this customer (closing the rep's other open visit), attach waiting photos."""
    current = visit_repo.open_visit(ctx.session, ctx.userid)
    if current is not None and current.customer_id == customer_id:
        if location and (current.lat is None or not at_store(current.location_grade)):
            record_location(ctx, current, location, distance)
        after_change(ctx, current)
        return current
    if current is not None:
        close(ctx, current, why=ctx.source, notify=True)
    grade, tolerance = judge(ctx, location, distance)
    visit = visit_repo.start_visit(
        ctx.session,
        rep=ctx.userid,
        customer_id=customer_id,
        now=ctx.now,
        lat=location["lat"] if location else None,
        lng=location["lng"] if location else None,
        source=location["source"] if location else None,
        precision=location.get("precision") if location else None,
        distance=distance,
        grade=grade,
        tolerance=tolerance,
        why=ctx.source,
    )
    for photo in visit_repo.unattached_photos(
        ctx.session, ctx.userid, since=ctx.now - timedelta(minutes=PENDING_PHOTOS_WINDOW)
    ):
        photo.visit_id = visit.visit_id
    visit_repo.refresh_photo_count(ctx.session, visit)
    remember_undo(ctx, {"op": "checkin", "visit_id": visit.visit_id})
    name = customer_name(ctx, customer_id)
    if card_response:
        ctx.reply(CardUpdate(response_code=card_response, replace_name=f"已签到 {card_label or name}"[:20]))
    if location and grade == OUTSIDE and distance is not None:
        ctx.reply(
            TextReply(content=texts.CHECKED_IN_OUTSIDE.format(name=name, distance=distance_words(distance)))
        )
        report_outside(ctx, visit, distance)
    elif location and distance is not None:
        ctx.reply(TextReply(content=texts.CHECKED_IN.format(name=name, distance=round(distance))))
    elif location:
        ctx.reply(TextReply(content=texts.CHECKED_IN_UNMEASURED.format(name=name)))
    else:
        ctx.reply(TextReply(content=texts.CHECKED_IN_NO_LOCATION.format(name=name)))
    after_change(ctx, visit, announce_missing=False)
    return visit


def judge(ctx: Ctx, location: dict | None, distance: float | None) -> tuple[str | None, float | None]:
    """(grade, the circle it was judged against) of a location `distance` metres from the store."""
    if not location:
        return None, None
    precision = location.get("precision") if location["source"] == GPS_TRUST else None
    base = ctx.deps.checkin_tolerance_m
    grade = grade_location(
        source=location["source"], distance_m=distance, precision_m=precision, tolerance_m=base
    )
    return grade, (tolerance_for(precision, base) if distance is not None else None)


def record_location(ctx: Ctx, visit: VisitRow, location: dict, distance: float | None) -> None:
    """Put a (better) location on an open visit; say so when it is away from the store, or no longer is."""
    was = visit.location_grade
    grade, tolerance = judge(ctx, location, distance)
    visit_repo.set_location(
        ctx.session,
        visit,
        lat=location["lat"],
        lng=location["lng"],
        source=location["source"],
        precision=location.get("precision"),
        distance=distance,
        grade=grade,
        tolerance=tolerance,
        now=ctx.now,
        actor=ctx.userid,
        why=ctx.source,
    )
    name = customer_name(ctx, visit.customer_id)
    if grade == OUTSIDE and distance is not None:
        ctx.reply(
            TextReply(content=texts.LOCATION_OUTSIDE.format(name=name, distance=distance_words(distance)))
        )
        report_outside(ctx, visit, distance)
    elif was == OUTSIDE and distance is not None:
        ctx.reply(TextReply(content=texts.LOCATION_AT_STORE_NOW.format(name=name, distance=round(distance))))


OUTSIDE_REPORTED = "outside_reported"  # conversations.told key: the local date the supervisor was last told


def report_outside(ctx: Ctx, visit: VisitRow, distance: float) -> None:
    """The rep's supervisor hears of a check-in away from the store: the first of the rep's day only."""
    rep = ctx.user or ctx.session.get(UserRow, ctx.userid)
    if rep is None or not rep.manager_userid:
        return
    today = local(ctx.now).date().isoformat()
    if dialog.told(ctx.session, rep.userid).get(OUTSIDE_REPORTED) == today:
        return
    dialog.remember_told(ctx.session, rep.userid, OUTSIDE_REPORTED, today, now=ctx.now)
    ctx.send(
        rep.manager_userid,
        TextReply(
            content=texts.SUPERVISOR_OUTSIDE.format(
                rep=rep.name or rep.userid,
                name=customer_name(ctx, visit.customer_id),
                distance=distance_words(distance),
            )
        ),
    )


def evidence(ctx: Ctx, visit: VisitRow) -> tuple[str | None, int, list[str]]:
    """(location grade, valid photos, tags): what completeness is judged on."""
    return (
        visit.location_grade,
        visit_repo.valid_photo_count(ctx.session, visit.visit_id),
        visit_repo.tags_of(ctx.session, visit.visit_id),
    )


def after_change(ctx: Ctx, visit: VisitRow, *, announce_missing: bool = True) -> bool:
    """Re-judge completeness. On first completion: the summary and the SOP hook. Returns complete?"""
    visit.last_activity_at = ctx.now
    visit_repo.refresh_photo_count(ctx.session, visit)
    grade, photos, tags = evidence(ctx, visit)
    if is_complete(location_grade=grade, valid_photos=photos, tags=tags):
        if visit.completed_at is None:
            visit.completed_at = ctx.now
            ctx.reply(summary_card(ctx, visit))
            ctx.emit(VisitCompleted(visit.visit_id))
        return True
    if announce_missing:
        prompt_missing(ctx, visit, missing_pieces(location_grade=grade, valid_photos=photos, tags=tags))
    return False


def prompt_missing(ctx: Ctx, visit: VisitRow, missing: list[str]) -> None:
    """One prompt naming everything missing; the same prompt is not repeated within the quiet time."""
    text = texts.MISSING_PROMPT.format(missing="、".join(missing))
    data = dict(ctx.state_data)
    last = data.get("last_prompt") or {}
    if (
        last.get("visit") == visit.visit_id
        and last.get("text") == text
        and ctx.now - datetime.fromisoformat(last["at"]) < _quiet(ctx)
    ):
        return
    data["last_prompt"] = {"visit": visit.visit_id, "text": text, "at": ctx.now.isoformat()}
    ctx.set_state(ctx.state, data)
    ctx.reply(TextReply(content=text))


def rejudge(ctx: Ctx, visit: VisitRow | None) -> None:
    """After a change that may take evidence away (删除, 撤销): a complete visit that no longer is loses its
    completion (audited) and the rep hears what is missing; an incomplete one that now is completes."""
    if visit is None:
        return
    visit_repo.refresh_photo_count(ctx.session, visit)
    grade, photos, tags = evidence(ctx, visit)
    if is_complete(location_grade=grade, valid_photos=photos, tags=tags):
        if visit.completed_at is None and visit.status == "open":
            after_change(ctx, visit)
        return
    if visit.completed_at is None:
        return
    before = audit.snapshot(visit)
    visit.completed_at = None  # no longer complete; the next change re-judges it
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="update",
        entity="visit",
        entity_id=visit.visit_id,
        before=before,
        after=audit.snapshot(visit),
        reason=f"{ctx.source}: no longer complete",
    )
    missing = missing_pieces(location_grade=grade, valid_photos=photos, tags=tags)
    ctx.reply(
        TextReply(
            content=texts.INCOMPLETE_AFTER_CHANGE.format(
                name=customer_name(ctx, visit.customer_id), missing="、".join(missing)
            )
        )
    )


def promise_label(p: PromiseRow) -> tuple[str, str]:
    """(field name, value) of a promise or follow-up on a card."""
    if p.kind == "follow_up":
        return texts.SUMMARY_FIELDS_FOLLOWUP, f"{local(p.due_at):%m月%d日}"
    return texts.SUMMARY_FIELDS_PROMISES, f"{p.text}（{local(p.due_at):%m月%d日 %H:%M}）"


def has_record(ctx: Ctx, visit: VisitRow) -> bool:
    """Anything on the record card: a tag, an open promise or follow-up, a note."""
    return bool(
        visit.note
        or visit_repo.tags_of(ctx.session, visit.visit_id)
        or visit_repo.promises_of(ctx.session, visit.visit_id)
    )


def record_card(ctx: Ctx, visit: VisitRow, *, description: str = "", task_id: str = "") -> Card:
    """The visit's current record, one 删除 button per piece (at most 6: WeCom's limit); with nothing left,
    a 撤销 button. `task_id`: the card being replaced in place (empty for a new card)."""
    tags = sorted(visit_repo.tags_of(ctx.session, visit.visit_id))  # the same order on every database
    promises = sorted(
        visit_repo.promises_of(ctx.session, visit.visit_id), key=lambda p: (p.kind == "follow_up", p.id)
    )
    fields: list[tuple[str, str]] = []
    buttons: list[Button] = []
    if tags:
        fields.append((texts.SUMMARY_FIELDS_TAGS, "、".join(tags)))
        buttons += [
            Button(
                text=texts.BUTTON_DELETE.format(what=t)[:20],
                key=card_key(CardAction.FIX, "tag", visit.visit_id, t),
                style=2,
            )
            for t in tags
        ]
    for p in promises:
        label, value = promise_label(p)
        fields.append((label, value))
        what = texts.SUMMARY_FIELDS_FOLLOWUP if p.kind == "follow_up" else p.text
        buttons.append(
            Button(
                text=texts.BUTTON_DELETE.format(what=what)[:12],
                key=card_key(CardAction.FIX, "promise", p.id),
                style=2,
            )
        )
    if visit.note:
        fields.append((texts.SUMMARY_FIELDS_NOTE, visit.note))
        buttons.append(
            Button(
                text=texts.BUTTON_DELETE.format(what=texts.PIECE_NOTE),
                key=card_key(CardAction.FIX, "note", visit.visit_id),
                style=2,
            )
        )
    title = texts.UNDERSTOOD_TITLE.format(name=customer_name(ctx, visit.customer_id))
    if not buttons:
        return Card(
            title=title,
            description=texts.RECORD_EMPTY,
            buttons=[Button(text=texts.RECORD_UNDO_BUTTON, key=card_key(CardAction.UNDO, visit.visit_id))],
            task_id=task_id,
        )
    if len(fields) > 6:
        fields = fields[:5] + [(texts.RECORD_FIELD_MORE.format(count=len(fields) - 5), "")]
    hint = texts.RECORD_MORE_PIECES if len(buttons) > 6 else texts.FIX_HINT
    return Card(
        title=title,
        description=description or hint,
        fields=fields,
        buttons=buttons[:6],
        task_id=task_id,
    )


def summary_card(ctx: Ctx, visit: VisitRow) -> Card:
    tags = visit_repo.tags_of(ctx.session, visit.visit_id)
    fields = [
        (texts.SUMMARY_FIELDS_TAGS, "、".join(tags)),
        (texts.SUMMARY_FIELDS_PHOTOS, f"{visit.photo_count}张"),
    ]
    for p in visit_repo.promises_of(ctx.session, visit.visit_id):
        label = texts.SUMMARY_FIELDS_FOLLOWUP if p.kind == "follow_up" else texts.SUMMARY_FIELDS_PROMISES
        fields.append(
            (
                label,
                f"{p.text} {local(p.due_at):%m月%d日 %H:%M}"
                if p.kind == "promise"
                else f"{local(p.due_at):%m月%d日}",
            )
        )
    if visit.note:
        fields.append((texts.SUMMARY_FIELDS_NOTE, visit.note))
    return Card(title=texts.SUMMARY_TITLE.format(name=customer_name(ctx, visit.customer_id)), fields=fields)


def close(ctx: Ctx, visit: VisitRow, *, why: str, notify: bool) -> None:
    grade, photos, tags = evidence(ctx, visit)
    visit_repo.close_visit(ctx.session, visit, now=ctx.now, actor=ctx.userid, why=why)
    if notify:
        missing = missing_pieces(location_grade=grade, valid_photos=photos, tags=tags)
        state = (
            texts.VISIT_STATE_COMPLETE
            if not missing
            else texts.VISIT_STATE_INCOMPLETE.format(missing="、".join(missing))
        )
        ctx.reply(
            TextReply(
                content=texts.PREVIOUS_VISIT_CLOSED.format(
                    name=customer_name(ctx, visit.customer_id), state=state
                )
            )
        )


def remember_undo(ctx: Ctx, entry: dict) -> None:
    """Push an undoable change (undone by `撤销` within 10 minutes)."""
    data = dict(ctx.state_data)
    stack = list(data.get("undo", []))[-9:]
    stack.append({**entry, "at": ctx.now.isoformat()})
    data["undo"] = stack
    ctx.set_state(ctx.state, data)


def attach_photo(ctx: Ctx, photo: PhotoRow) -> None:
    visit_repo.add_photo(ctx.session, photo, now=ctx.now, why=ctx.source)
