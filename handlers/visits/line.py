"""The rep's one line: tags, promises, the next follow-up, and the rest as a note — shown back on one
card whose buttons remove a wrongly understood piece with one tap."""

from __future__ import annotations

from core.clock import local
from core.events import PromiseCancelled, TagRemoved, VisitCompleted
from core.rep_line import parse_line
from core.tags import DEFAULT_MENU, TagMenu
from handlers import texts
from handlers.context import Ctx
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
    visit = visit_repo.open_visit(ctx.session, ctx.userid)
    if visit is None:
        # no visit open: perhaps a question about the rep's own book (the next fallback). A question can read
        # like a promise (「超过72小时未跟进的客户」: 过72小时 + 跟进), so the question is tried first and
        # on_line_without_visit, after it, answers a visit line typed before checking in.
        return False
    apply_line(ctx, visit, parsed, menu=menu)
    return None


def on_line_without_visit(ctx: Ctx, event: Inbound) -> bool | None:
    """A visit's line (tags, a promise, a follow-up) with no visit open and not a question: check in first."""
    parsed = parse_line(text_of(event) or "", now=ctx.now, menu=tag_menu(ctx))
    if parsed.tags or parsed.promises or parsed.follow_up_at:
        ctx.reply(TextReply(content=texts.NO_OPEN_VISIT_TEXT))
        return None
    return False


def apply_line(ctx: Ctx, visit: VisitRow, parsed, *, menu: TagMenu) -> None:  # noqa: ANN001
    added_tags = visit_repo.add_tags(
        ctx.session, visit, list(parsed.tags), now=ctx.now, actor=ctx.userid, why=ctx.source
    )
    promise_ids: list[int] = []
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
            "note_before": note_before,
        },
    )
    was_complete = visit.completed_at is not None
    ctx.reply(understood_card(ctx, visit, added_tags, promise_ids, parsed.note, menu))
    complete = visit_flow.after_change(ctx, visit)
    if complete and was_complete and promise_ids:
        ctx.emit(VisitCompleted(visit.visit_id))  # new promises on a complete visit get their timers


def understood_card(
    ctx: Ctx, visit: VisitRow, tags: list[str], promise_ids: list[int], note: str, menu: TagMenu
) -> Card:
    fields: list[tuple[str, str]] = []
    buttons: list[Button] = []
    if tags:
        fields.append((texts.SUMMARY_FIELDS_TAGS, "、".join(tags)))
        buttons += [
            Button(text=f"删除 {t}"[:20], key=card_key(CardAction.FIX, "tag", visit.visit_id, t), style=2)
            for t in tags
        ]
    for pid in promise_ids:
        p = ctx.session.get(PromiseRow, pid)
        label = texts.SUMMARY_FIELDS_FOLLOWUP if p.kind == "follow_up" else texts.SUMMARY_FIELDS_PROMISES
        when = f"{local(p.due_at):%m月%d日}" if p.kind == "follow_up" else f"{local(p.due_at):%m月%d日 %H:%M}"
        fields.append((label, f"{p.text}（{when}）" if p.kind == "promise" else when))
        buttons.append(
            Button(text=f"删除 {label}"[:20], key=card_key(CardAction.FIX, "promise", pid), style=2)
        )
    if note:
        fields.append((texts.SUMMARY_FIELDS_NOTE, note))
    if not buttons:
        return Card(
            title=texts.UNDERSTOOD_TITLE.format(name=visit_flow.customer_name(ctx, visit.customer_id)),
            description=texts.UNDERSTOOD_NOTHING.format(menu="、".join(menu.names)),
            fields=fields,
        )
    return Card(
        title=texts.UNDERSTOOD_TITLE.format(name=visit_flow.customer_name(ctx, visit.customer_id)),
        description=texts.FIX_HINT,
        fields=fields,
        buttons=buttons[:6],
    )


def on_fix(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key, maxsplit=2)
    done = False
    what = ""
    if parts[0] == "tag" and len(parts) == 3:
        visit = ctx.session.get(VisitRow, parts[1])
        if visit is not None and visit.rep_userid == ctx.userid:
            done = visit_repo.remove_tag(
                ctx.session, visit.visit_id, parts[2], now=ctx.now, actor=ctx.userid, why=ctx.source
            )
            what = parts[2]
            if done:
                ctx.emit(TagRemoved(visit.visit_id, parts[2]))
                _recheck(ctx, visit)
    elif parts[0] == "promise" and len(parts) == 2:
        p = ctx.session.get(PromiseRow, int(parts[1]))
        if p is not None and p.rep_userid == ctx.userid and p.status == "open":
            visit_repo.set_promise_status(
                ctx.session, p, "cancelled", now=ctx.now, actor=ctx.userid, why=ctx.source
            )
            ctx.emit(PromiseCancelled(p.id))
            done, what = True, p.text
    if event.response_code:
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name="已删除" if done else "已处理"))
    ctx.reply(TextReply(content=texts.REMOVED_PIECE.format(what=what) if done else texts.PIECE_ALREADY_GONE))
    return None


def _recheck(ctx: Ctx, visit: VisitRow) -> None:
    grade, photos, tags = visit_flow.evidence(ctx, visit)
    from core.visits import is_complete

    if visit.completed_at is not None and not is_complete(
        location_grade=grade, valid_photos=photos, tags=tags
    ):
        visit.completed_at = None  # no longer complete; the next change re-judges it
