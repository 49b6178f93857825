"""Questions in plain Chinese (managers, and reps about their own book): nlq answers, read-only, in a
session of its own so the event's transaction is untouched; a suggested next action becomes a button.

Customers shown to someone outside their owner's line (a finance director, an admin) are recorded as
reads in the event's transaction, so the audit rows commit together with the reply (storage/read_audit.py)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

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
from nlq.answer import CHAT_ROWS, answer_spec, ask, render_chat
from nlq.spec import QuerySpec
from storage import read_audit
from storage.metrics import figures as metrics
from storage.models import CustomerRow

MAX_NAMES = 10


def answer(ctx: Ctx, question: str) -> dict:
    with Session(bind=ctx.session.get_bind()) as read:
        cache = ctx.deps.vocab_cache  # the org's names, reloaded at most once a minute
        vocab = cache.get(read) if cache is not None else None
        if vocab is not None and ctx.userid not in vocab.users:
            vocab = None  # a member added since: read afresh
        result = ask(read, asker=ctx.userid, question=question, now=ctx.now, llm=ctx.deps.llm, vocab=vocab)
    _audit(ctx, result, question)
    return result


def _audit(ctx: Ctx, result: dict, question: str) -> None:
    # the chat shows the first CHAT_ROWS customers of a list (render_chat): those are the ones read
    read_audit.audit_reads(
        ctx.session,
        viewer=ctx.userid,
        shown=read_audit.shown_in_answer(result, CHAT_ROWS),
        why=read_audit.reason("chat:ask", question),
        at=ctx.now,
    )


def on_question(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event) or ""
    result = answer(ctx, said)
    if result["kind"] == "refusal" and ctx.user is not None and ctx.user.role == "rep":
        return False  # a rep's line that is not a question: the help reply
    reply_with(ctx, result)
    return None


MAX_READINGS = 3


def _remember(ctx: Ctx, action: dict) -> str:
    """Keep a button's action in the dialog state (the newest eight) under a fresh token."""
    token = uuid.uuid4().hex[:10]
    data = dict(ctx.state_data)
    data["actions"] = {**{k: v for k, v in list(data.get("actions", {}).items())[-7:]}, token: action}
    ctx.set_state(ctx.state, data)
    return token


def reply_with(ctx: Ctx, result: dict) -> None:
    body = render_chat(result)
    if len(body.encode()) > 1900:
        body = body.encode()[:1800].decode(errors="ignore") + texts.ANSWER_TOO_LONG_TAIL
    action = result.get("action")
    readings = [a for a in result.get("alternatives") or [] if a.get("spec")][:MAX_READINGS]
    if not action:
        ctx.reply(TextReply(content=body))
        _offer_readings(ctx, readings)
        return
    token = _remember(ctx, action)
    label = {
        "remind_owners": texts.ACTION_REMIND_BUTTON,
        "ask": texts.ACTION_ASK_BUTTON,
        "schedule_visits": texts.ACTION_VISIT_BUTTON,
    }.get(action.get("type"), texts.ACTION_ASK_BUTTON)
    ctx.reply(TextReply(content=body))
    ctx.reply(
        Card(
            title=result.get("suggestion") or label,
            buttons=[Button(text=label, key=card_key(CardAction.ASK, "act", token))],
        )
    )
    _offer_readings(ctx, readings)


def _offer_readings(ctx: Ctx, readings: list[dict]) -> None:
    """The question's other readings (nlq.clarify) on one card: a button answers the question as that reading."""
    if not readings:
        return
    buttons, lines = [], []
    for n, alt in enumerate(readings, 1):
        token = _remember(ctx, {"type": "ask_spec", "spec": alt["spec"], "understood": alt["understood"]})
        lines.append(texts.READING_LINE.format(n=n, understood=alt["understood"]))
        buttons.append(
            Button(text=texts.READINGS_BUTTON.format(n=n), key=card_key(CardAction.ASK, "act", token))
        )
    ctx.reply(Card(title=texts.READINGS_TITLE, description="\n".join(lines)[:500], buttons=buttons))


def on_action(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    token = parts[-1] if parts else ""
    action = ctx.state_data.get("actions", {}).get(token)
    if action is None:
        ctx.reply(TextReply(content=texts.ACTION_EXPIRED))
        return None
    if event.response_code:
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name="已处理"))
    if action["type"] == "ask":
        reply_with(ctx, answer(ctx, action["question"]))
        return None
    if (
        action["type"] == "ask_spec"
    ):  # another reading of an earlier question, answered in the clicker's scope
        with Session(bind=ctx.session.get_bind()) as read:
            result = answer_spec(
                read,
                QuerySpec.model_validate(action["spec"]),
                asker=ctx.userid,
                now=ctx.now,
                understood=action.get("understood"),
            )
        _audit(ctx, result, action.get("understood") or "")
        reply_with(ctx, {**result, "alternatives": []})
        return None
    by_owner = _in_scope_by_owner(ctx, action)
    reason = action.get("reason", "")
    why = texts.REMIND_REASONS.get(reason.split(":")[0], "需要跟进")
    manager = ctx.user.name if ctx.user else ctx.userid
    total = 0
    for owner, ids in by_owner.items():
        names = [ctx.session.get(CustomerRow, cid) for cid in ids[:MAX_NAMES]]
        lines = "\n".join(f"- {c.name}" for c in names if c is not None)
        if len(ids) > MAX_NAMES:
            lines += f"\n……共{len(ids)}位"
        ctx.send(
            owner,
            TextReply(
                content=texts.REMIND_OWNER.format(manager=manager, count=len(ids), reason=why, names=lines)
            ),
        )
        total += len(ids)
    ctx.reply(TextReply(content=texts.REMINDED.format(owners=len(by_owner), count=total)))
    return None


def _in_scope_by_owner(ctx: Ctx, action: dict) -> dict[str, list[str]]:
    """The action's customers grouped by their owner now, keeping only those the clicker may still see: the
    button was made for an in-scope answer, but the org or the owners may have changed since."""
    ids = [cid for ids in (action.get("by_owner") or {}).values() for cid in ids] or action.get(
        "customer_ids", []
    )
    viewer = metrics.viewer_for(metrics.load_people(ctx.session), ctx.userid)
    by_owner: dict[str, list[str]] = {}
    for cid in dict.fromkeys(ids):
        c = ctx.session.get(CustomerRow, cid)
        if c is None or c.owner_userid is None or viewer is None:
            continue
        if viewer.owners is None or c.owner_userid in viewer.owners:
            by_owner.setdefault(c.owner_userid, []).append(cid)
    return by_owner
