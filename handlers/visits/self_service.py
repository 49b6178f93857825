"""今天拜访了哪些 / 我的待办 / 撤销 — a rep looking after their own record.

撤销 undoes the last change only: the dialog keeps a stack of changes (newest last, at most 10, each for 10
minutes). A change is a line (its tags, promises, follow-up — and the follow-up it replaced — and note), a
删除 on the record card (one tag, promise, follow-up or the note), a photo, a check-in or a 建档. Undoing a
删除 puts back exactly what was removed and re-emits what it implies (TagRestored: 价格异议 restarts its
approval; PromiseRestored: the promise's reminders and calendar entry). After a record change is undone the
rep gets the record card as it is now (when anything is left on it), and a visit that became incomplete says what is missing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core.clock import local
from core.events import PromiseCancelled, PromiseRestored, TagRemoved, TagRestored
from core.markup import escape_md
from handlers import texts
from handlers.context import Ctx
from handlers.messages import CardClick, CardUpdate, Inbound, Markdown, MenuClick
from handlers.messages import Text as TextReply
from handlers.visits import flow as visit_flow
from storage import audit
from storage import visits as visit_repo
from storage.models import CustomerRow, PhotoRow, PromiseRow, VisitRow

UNDO_WINDOW = timedelta(minutes=10)


class CannotUndo(Exception):
    """The change can no longer be undone; the message says why, in Chinese."""


def _today_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = local(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def on_today(ctx: Ctx, event: Inbound) -> None:
    start, end = _today_bounds(ctx.now)
    visits = visit_repo.visits_between(ctx.session, ctx.userid, start, end)
    if not visits:
        ctx.reply(TextReply(content=texts.TODAY_NONE))
        return
    lines = []
    complete = 0
    for v in visits:
        done = v.completed_at is not None
        complete += done
        tags = escape_md("、".join(visit_repo.tags_of(ctx.session, v.visit_id))) or "无标签"
        mark = "✅" if done else "⚠️"
        name = escape_md(visit_flow.customer_name(ctx, v.customer_id))
        lines.append(f"- {mark} {local(v.checked_in_at):%H:%M} {name}（照片{v.photo_count}张，{tags}）")
    title = texts.TODAY_TITLE.format(count=len(visits), complete=complete)
    ctx.reply(Markdown(content=f"**{title}**\n" + "\n".join(lines)))


def on_todo(ctx: Ctx, event: Inbound) -> None:
    horizon = ctx.now + timedelta(days=7)
    rows = ctx.session.execute(
        select(PromiseRow, CustomerRow.name)
        .join(CustomerRow, CustomerRow.customer_id == PromiseRow.customer_id)
        .where(PromiseRow.rep_userid == ctx.userid, PromiseRow.status == "open", PromiseRow.due_at < horizon)
        .order_by(PromiseRow.due_at)
        .limit(30)
    ).all()
    if not rows:
        ctx.reply(TextReply(content=texts.TODO_NONE))
        return
    lines = []
    for p, name in rows:
        overdue = "（已逾期）" if p.due_at < ctx.now else ""
        what = "回访" if p.kind == "follow_up" else escape_md(p.text)
        lines.append(f"- {local(p.due_at):%m-%d %H:%M} {escape_md(name)}：{what}{overdue}")
    ctx.reply(Markdown(content=f"**{texts.TODO_TITLE.format(count=len(rows))}**\n" + "\n".join(lines)))


def on_menu(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, MenuClick)
    if event.key == "menu_todo":
        on_todo(ctx, event)
        return None
    if event.key in ("menu_photo", "menu_checkin"):
        return None  # the photo or location message that follows does the work
    return False


def on_undo_button(ctx: Ctx, event: Inbound) -> None:
    """The 撤销 button of a record card with nothing left on it: the same as typing 撤销."""
    assert isinstance(event, CardClick)
    if event.response_code:
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name="已撤销"))
    on_undo(ctx, event)


def on_undo(ctx: Ctx, event: Inbound) -> None:
    stack = list(ctx.state_data.get("undo", []))
    while stack and ctx.now - datetime.fromisoformat(stack[-1]["at"]) > UNDO_WINDOW:
        stack.pop()
    if not stack:
        ctx.reply(TextReply(content=texts.UNDO_NOTHING))
        return
    entry = stack.pop()
    data = dict(ctx.state_data)
    data["undo"] = stack
    ctx.set_state(ctx.state, data)
    try:
        what = UNDOERS[entry["op"]](ctx, entry)
    except CannotUndo as exc:
        ctx.reply(TextReply(content=str(exc)))
        return
    ctx.reply(TextReply(content=texts.UNDO_DONE.format(what=what)))
    if entry["op"] in RECORD_OPS:
        visit = ctx.session.get(VisitRow, entry["visit_id"]) if entry.get("visit_id") else None
        if visit is not None and visit_flow.has_record(ctx, visit):
            ctx.reply(visit_flow.record_card(ctx, visit))  # the record as it is now
        visit_flow.rejudge(ctx, visit)


def _why(ctx: Ctx) -> str:
    return f"{ctx.source}: 撤销"


def _restore_promise(ctx: Ctx, promise_id: int) -> PromiseRow | None:
    """A cancelled promise back as a new open row; later entries of the stack that name it name the new row."""
    removed = ctx.session.get(PromiseRow, promise_id)
    if removed is None or removed.status != "cancelled":
        return None
    restored = visit_repo.restore_promise(ctx.session, removed, now=ctx.now, actor=ctx.userid, why=_why(ctx))
    data = dict(ctx.state_data)
    data["undo"] = [_renamed(e, promise_id, restored.id) for e in data.get("undo", [])]
    ctx.set_state(ctx.state, data)
    ctx.emit(PromiseRestored(restored.id))
    return restored


def _renamed(entry: dict, old: int, new: int) -> dict:
    out = dict(entry)
    for key in ("promises", "replaced"):
        if key in out:
            out[key] = [new if pid == old else pid for pid in out[key]]
    if out.get("promise_id") == old:
        out["promise_id"] = new
    return out


def _undo_del_tag(ctx: Ctx, entry: dict) -> str:
    visit = ctx.session.get(VisitRow, entry["visit_id"])
    if visit is None:
        raise CannotUndo(texts.UNDO_NOTHING)
    if visit_repo.add_tags(ctx.session, visit, [entry["tag"]], now=ctx.now, actor=ctx.userid, why=_why(ctx)):
        ctx.emit(TagRestored(visit.visit_id, entry["tag"]))
    return texts.UNDO_WHAT_REMOVAL.format(what=entry["tag"])


def _undo_del_promise(ctx: Ctx, entry: dict) -> str:
    removed = ctx.session.get(PromiseRow, entry["promise_id"])
    if removed is None:
        raise CannotUndo(texts.UNDO_NOTHING)
    what = texts.SUMMARY_FIELDS_FOLLOWUP if removed.kind == "follow_up" else removed.text
    if removed.kind == "follow_up":  # one follow-up per visit: a newer one stays, the removed one stays gone
        newer = [
            p for p in visit_repo.promises_of(ctx.session, removed.visit_id or "") if p.kind == "follow_up"
        ]
        if newer:
            raise CannotUndo(texts.UNDO_FOLLOW_UP_REPLACED)
    _restore_promise(ctx, removed.id)
    return texts.UNDO_WHAT_REMOVAL.format(what=what)


def _undo_del_note(ctx: Ctx, entry: dict) -> str:
    visit = ctx.session.get(VisitRow, entry["visit_id"])
    if visit is None:
        raise CannotUndo(texts.UNDO_NOTHING)
    if not visit.note:
        visit_repo.set_note(ctx.session, visit, entry["note"], now=ctx.now, actor=ctx.userid, why=_why(ctx))
    else:  # written again since: keep both
        joined = f"{entry['note']}；{visit.note}"
        visit_repo.set_note(ctx.session, visit, joined, now=ctx.now, actor=ctx.userid, why=_why(ctx))
    return texts.UNDO_WHAT_REMOVAL.format(what=texts.PIECE_NOTE)


def _undo_text(ctx: Ctx, entry: dict) -> str:
    visit = ctx.session.get(VisitRow, entry["visit_id"])
    for tag in entry.get("tags", []):
        if visit_repo.remove_tag(
            ctx.session, entry["visit_id"], tag, now=ctx.now, actor=ctx.userid, why=f"{ctx.source}: 撤销"
        ):
            ctx.emit(TagRemoved(entry["visit_id"], tag))
    for pid in entry.get("promises", []):
        p = ctx.session.get(PromiseRow, pid)
        if p is not None and p.status == "open":
            visit_repo.set_promise_status(
                ctx.session, p, "cancelled", now=ctx.now, actor=ctx.userid, why=f"{ctx.source}: 撤销"
            )
            ctx.emit(PromiseCancelled(p.id))
    for pid in entry.get("replaced", []):  # the follow-up this line replaced comes back
        _restore_promise(ctx, pid)
    if visit is not None and visit.note != entry.get("note_before"):
        visit_repo.set_note(
            ctx.session,
            visit,
            entry.get("note_before"),
            now=ctx.now,
            actor=ctx.userid,
            why=f"{ctx.source}: 撤销",
        )
    return texts.UNDO_WHAT_TEXT


def _undo_photo(ctx: Ctx, entry: dict) -> str:
    photo = ctx.session.get(PhotoRow, entry["photo_id"])
    if photo is not None and photo.verdict != "withdrawn":
        before = audit.snapshot(photo)
        photo.verdict, photo.reason = "withdrawn", "撤销"
        audit.record(
            ctx.session,
            at=ctx.now,
            actor=ctx.userid,
            action="update",
            entity="photo",
            entity_id=str(photo.id),
            before=before,
            after=audit.snapshot(photo),
            reason=f"{ctx.source}: 撤销",
        )
        if photo.visit_id:
            visit_flow.rejudge(ctx, ctx.session.get(VisitRow, photo.visit_id))
    return texts.UNDO_WHAT_PHOTO


def _undo_checkin(ctx: Ctx, entry: dict) -> str:
    visit = ctx.session.get(VisitRow, entry["visit_id"])
    if visit is not None and visit.status == "open":
        before = audit.snapshot(visit)
        visit.status, visit.closed_at = "cancelled", ctx.now
        audit.record(
            ctx.session,
            at=ctx.now,
            actor=ctx.userid,
            action="update",
            entity="visit",
            entity_id=visit.visit_id,
            before=before,
            after=audit.snapshot(visit),
            reason=f"{ctx.source}: 撤销",
        )
    return texts.UNDO_WHAT_CHECKIN


def _undo_customer(ctx: Ctx, entry: dict) -> str:
    """Undo a 建档: only while nothing but an empty, still open visit refers to the customer."""
    customer = ctx.session.get(CustomerRow, entry["customer_id"])
    if customer is None:
        return texts.UNDO_WHAT_CUSTOMER.format(name=entry["customer_id"])
    visits = list(ctx.session.scalars(select(VisitRow).where(VisitRow.customer_id == customer.customer_id)))
    for v in visits:
        if (
            v.status != "open"
            or visit_repo.tags_of(ctx.session, v.visit_id)
            or visit_repo.valid_photo_count(ctx.session, v.visit_id)
        ):
            raise CannotUndo(texts.UNDO_CUSTOMER_HAS_DATA.format(name=customer.name))
    why = f"{ctx.source}: 撤销建档"
    for v in visits:
        for photo in ctx.session.scalars(select(PhotoRow).where(PhotoRow.visit_id == v.visit_id)):
            photo.visit_id = None
        audit.record(
            ctx.session,
            at=ctx.now,
            actor=ctx.userid,
            action="delete",
            entity="visit",
            entity_id=v.visit_id,
            before=audit.snapshot(v),
            reason=why,
        )
        ctx.session.delete(v)
    ctx.session.flush()
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="delete",
        entity="customer",
        entity_id=customer.customer_id,
        before=audit.snapshot(customer),
        reason=why,
    )
    ctx.session.delete(customer)
    return texts.UNDO_WHAT_CUSTOMER.format(name=customer.name)


UNDOERS = {
    "text": _undo_text,
    "del_tag": _undo_del_tag,
    "del_promise": _undo_del_promise,
    "del_note": _undo_del_note,
    "photo": _undo_photo,
    "checkin": _undo_checkin,
    "customer": _undo_customer,
}
RECORD_OPS = frozenset({"text", "del_tag", "del_promise", "del_note"})  # after these: the record card again
