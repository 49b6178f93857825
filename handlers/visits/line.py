"""The rep's one line: tags, promises, the next follow-up, and the rest as a note — shown back on the record
card (handlers/visits/flow.py `record_card`), whose buttons remove a wrongly understood piece with one tap.

Corrections: each 删除 is a change of its own, pushed on the undo stack (撤销 puts exactly that piece back,
handlers/visits/self_service.py); the clicked card is replaced in place by the current record with the
remaining buttons; a deletion that makes a complete visit incomplete tells the rep what is missing.

A line typed while a visit is open is part of the visit, a question, or unclear (`core.rep_line.line_intent`):
- no question sign (?/？, 多少/哪些/几家/什么/怎么/有没有/…吗, 完整率/排名/统计…) → the visit's line, as always:
  tags, promises, follow-up, and a plain remark as the note;
- a question sign, nobody quoted, and the rep asks about their own book or a figure (starts with 我/我的/查
  or a period such as 今天/这个月, or names a figure such as 完整率) → answered as a question
  (handlers/ask.py); the visit is left exactly as it was (no note, no follow-up read into the question);
  should the question not be understood, the rep gets the choice below instead of losing the line;
- a quoted question with visit content (客户问新品什么时候到 → 新品兴趣) → the visit's line;
- anything else with a question sign (哪些客户缺货？, 下周一再去吗) → a card with 「记到拜访里」 /
  「当作提问」; the line waits in the dialog state (Slot.PENDING_LINE) and the button acts on it (记到拜访里
  reads its date words as of when it was typed). A newer unclear line replaces the waiting one.
With no visit open, a question or an unclear line goes on to the question fallback (handlers/ask.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from core.events import PromiseCancelled, TagRemoved, VisitCompleted
from core.rep_line import ParsedLine, line_intent, parse_line
from core.tags import DEFAULT_MENU, TagMenu
from handlers import ask, texts
from handlers.context import Ctx
from handlers.dialog import Slot
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
from storage import visits as visit_repo
from storage.models import OrgConfigRow, PromiseRow, VisitRow


def tag_menu(ctx: Ctx) -> TagMenu:
    row = ctx.session.get(OrgConfigRow, "tag_menu")
    return TagMenu.from_config(row.value) if row is not None else DEFAULT_MENU


def on_rep_text(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event) or ""
    menu = tag_menu(ctx)
    parsed = parse_line(said, now=ctx.now, menu=menu)
    intent = line_intent(said, parsed)
    visit = visit_repo.open_visit(ctx.session, ctx.userid)
    if visit is None:
        # no visit open: perhaps a question about the rep's own book (the next fallback). A question can read
        # like a promise (「超过72小时未跟进的客户」: 过72小时 + 跟进), so the question is tried first and
        # on_line_without_visit, after it, answers a visit line typed before checking in.
        return False
    if intent == "question":
        result = ask.answer(ctx, said)
        if result["kind"] == "refusal":
            offer_choice(ctx, visit, said)
        else:
            ask.reply_with(ctx, result)
        return None
    if intent == "unclear":
        offer_choice(ctx, visit, said)
        return None
    apply_line(ctx, visit, parsed, menu=menu)
    return None


def on_line_without_visit(ctx: Ctx, event: Inbound) -> bool | None:
    """A visit's line (tags, a promise, a follow-up) with no visit open and not a question: check in first."""
    parsed = parse_line(text_of(event) or "", now=ctx.now, menu=tag_menu(ctx))
    if parsed.tags or parsed.promises or parsed.follow_up_at:
        ctx.reply(TextReply(content=texts.NO_OPEN_VISIT_TEXT))
        return None
    return False


def apply_line(ctx: Ctx, visit: VisitRow, parsed: ParsedLine, *, menu: TagMenu) -> None:
    added_tags = visit_repo.add_tags(
        ctx.session, visit, list(parsed.tags), now=ctx.now, actor=ctx.userid, why=ctx.source
    )
    promise_ids: list[int] = []
    replaced: list[int] = []
    for p in parsed.promises:
        row = visit_repo.add_promise(
            ctx.session,
            visit=visit,
            kind="promise",
            text=p.text,
            due_at=p.due_at,
            now=ctx.now,
            actor=ctx.userid,
            why=ctx.source,
        )
        promise_ids.append(row.id)
    if parsed.follow_up_at is not None:
        for old in visit_repo.promises_of(ctx.session, visit.visit_id):
            if old.kind == "follow_up":
                visit_repo.set_promise_status(
                    ctx.session,
                    old,
                    "cancelled",
                    now=ctx.now,
                    actor=ctx.userid,
                    why=f"{ctx.source}: replaced",
                )
                ctx.emit(PromiseCancelled(old.id))  # the replaced follow-up's reminders go with it
                replaced.append(old.id)
        row = visit_repo.add_promise(
            ctx.session,
            visit=visit,
            kind="follow_up",
            text=parsed.follow_up_text or "回访",
            due_at=parsed.follow_up_at,
            now=ctx.now,
            actor=ctx.userid,
            why=ctx.source,
        )
        promise_ids.append(row.id)
    note_before = visit.note
    if parsed.note:
        visit_repo.set_note(
            ctx.session,
            visit,
            ((visit.note + "；") if visit.note else "") + parsed.note,
            now=ctx.now,
            actor=ctx.userid,
            why=ctx.source,
        )
    visit_flow.remember_undo(
        ctx,
        {
            "op": "text",
            "visit_id": visit.visit_id,
            "tags": added_tags,
            "promises": promise_ids,
            "replaced": replaced,
            "note_before": note_before,
        },
    )
    was_complete = visit.completed_at is not None
    understood = parsed.tags or parsed.promises or parsed.follow_up_at
    nothing = "" if understood else texts.UNDERSTOOD_NOTHING.format(menu="、".join(menu.names))
    ctx.reply(visit_flow.record_card(ctx, visit, description=nothing))
    complete = visit_flow.after_change(ctx, visit)
    if complete and was_complete and promise_ids:
        ctx.emit(VisitCompleted(visit.visit_id))  # new promises on a complete visit get their timers


# --- 删除 on the record card ------------------------------------------------------------------------------
def on_fix(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key, maxsplit=2)
    if parts and parts[0] == "line" and len(parts) == 3:
        return on_line_choice(ctx, event, token=parts[1], choice=parts[2])
    visit: VisitRow | None = None
    what, done = "", False
    why = f"{ctx.source}: 删除"
    if parts and parts[0] == "tag" and len(parts) == 3:
        visit = _own_visit(ctx, parts[1])
        if visit is not None:
            what = parts[2]
            done = visit_repo.remove_tag(
                ctx.session, visit.visit_id, what, now=ctx.now, actor=ctx.userid, why=why
            )
            if done:
                visit_flow.remember_undo(ctx, {"op": "del_tag", "visit_id": visit.visit_id, "tag": what})
                ctx.emit(TagRemoved(visit.visit_id, what))
    elif parts and parts[0] == "promise" and len(parts) == 2 and parts[1].isdigit():
        p = ctx.session.get(PromiseRow, int(parts[1]))
        if p is not None and p.rep_userid == ctx.userid:
            visit = ctx.session.get(VisitRow, p.visit_id) if p.visit_id else None
            what = texts.SUMMARY_FIELDS_FOLLOWUP if p.kind == "follow_up" else p.text
            if p.status == "open":
                visit_repo.set_promise_status(
                    ctx.session, p, "cancelled", now=ctx.now, actor=ctx.userid, why=why
                )
                visit_flow.remember_undo(
                    ctx, {"op": "del_promise", "visit_id": p.visit_id, "promise_id": p.id}
                )
                ctx.emit(PromiseCancelled(p.id))
                done = True
    elif parts and parts[0] == "note" and len(parts) == 2:
        visit = _own_visit(ctx, parts[1])
        if visit is not None and visit.note:
            note = visit.note
            visit_repo.set_note(ctx.session, visit, None, now=ctx.now, actor=ctx.userid, why=why)
            visit_flow.remember_undo(ctx, {"op": "del_note", "visit_id": visit.visit_id, "note": note})
            what, done = texts.PIECE_NOTE, True
    if event.response_code:
        if visit is not None:  # the clicked card now shows the current record, with the buttons left
            card = visit_flow.record_card(ctx, visit, task_id=event.task_id)
            ctx.reply(CardUpdate(response_code=event.response_code, card=card))
        else:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name="已处理"))
    ctx.reply(TextReply(content=texts.REMOVED_PIECE.format(what=what) if done else texts.PIECE_ALREADY_GONE))
    if done:
        visit_flow.rejudge(ctx, visit)
    return None


def _own_visit(ctx: Ctx, visit_id: str) -> VisitRow | None:
    visit = ctx.session.get(VisitRow, visit_id)
    return visit if visit is not None and visit.rep_userid == ctx.userid else None


# --- a line that may be a question ----------------------------------------------------------------------
def offer_choice(ctx: Ctx, visit: VisitRow, said: str) -> None:
    """Ask whether an unclear line belongs to the visit or is a question; the line waits in the dialog."""
    token = uuid.uuid4().hex[:10]
    data = dict(ctx.state_data)
    data[Slot.PENDING_LINE] = {
        "token": token,
        "text": said,
        "visit_id": visit.visit_id,
        "at": ctx.now.isoformat(),
    }
    ctx.set_state(ctx.state, data)
    ctx.reply(
        Card(
            title=texts.LINE_CHOICE_TITLE,
            description=texts.LINE_CHOICE_DESC.format(text=said[:60]),
            buttons=[
                Button(text=texts.LINE_CHOICE_VISIT, key=card_key(CardAction.FIX, "line", token, "visit")),
                Button(
                    text=texts.LINE_CHOICE_ASK, key=card_key(CardAction.FIX, "line", token, "ask"), style=2
                ),
            ],
        )
    )


def on_line_choice(ctx: Ctx, event: CardClick, *, token: str, choice: str) -> None:
    pending = ctx.state_data.get(Slot.PENDING_LINE) or {}
    if pending.get("token") != token or choice not in ("visit", "ask"):
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name="已处理"))
        ctx.reply(TextReply(content=texts.LINE_CHOICE_EXPIRED))
        return
    data = dict(ctx.state_data)
    data.pop(Slot.PENDING_LINE, None)
    ctx.set_state(ctx.state, data)
    said = str(pending["text"])
    if choice == "ask":
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name=texts.LINE_CHOICE_DONE_ASK))
        ask.reply_with(ctx, ask.answer(ctx, said))
        return
    visit = _own_visit(ctx, str(pending["visit_id"]))
    if visit is None or visit.status != "open":
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name="已处理"))
        ctx.reply(TextReply(content=texts.LINE_CHOICE_VISIT_CLOSED))
        return
    if event.response_code:
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name=texts.LINE_CHOICE_DONE_VISIT))
    menu = tag_menu(ctx)
    typed_at = datetime.fromisoformat(str(pending["at"]))
    apply_line(ctx, visit, parse_line(said, now=typed_at, menu=menu), menu=menu)
