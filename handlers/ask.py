"""Questions in plain Chinese (managers, and reps about their own book): nlq answers, read-only, in a
session of its own so the event's transaction is untouched; a suggested next action becomes a button.

Customers shown to someone outside their owner's line (a finance director, an admin) are recorded as
reads in the event's transaction, so the audit rows commit together with the reply (storage/read_audit.py).

With a model configured (docs/llm.md), the question is read by the model in its own lane (nlq.llm.ModelLane):
`with_model_reading` wraps the worker's prefetch so a manager's question waits on the model before its event's
transaction, while the worker handles the other events of its batch; the handler gets the reading in
`ctx.prefetched`. A question without a prefetched reading (a rep's line, a button) waits in the same lane inline,
at most LLM_BUDGET_S. Either way a late, failed or invalid reading gives the offline parser's answer."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.rep_line import line_intent, parse_line
from handlers import dialog as conversation
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
from handlers.router import HELP_WORDS
from nlq.answer import CHAT_ROWS, answer_spec, ask, render_chat
from nlq.guard import refusal_reason
from nlq.llm import ModelLane, Reading, customer_names
from nlq.spec import QuerySpec
from nlq.vocab import Vocab
from storage import read_audit
from storage.metrics import figures as metrics
from storage.models import CustomerRow, UserRow

log = logging.getLogger("assistant.ask")
MAX_NAMES = 10
READING = "nlq_reading"  # the key of a prefetched model reading in ctx.prefetched


def answer(ctx: Ctx, question: str) -> dict:
    with Session(bind=ctx.session.get_bind()) as read:
        cache = ctx.deps.vocab_cache  # the org's names, reloaded at most once a minute
        vocab = cache.get(read) if cache is not None else None
        if vocab is not None and ctx.userid not in vocab.users:
            vocab = None  # a member added since: read afresh
        llm = _model_reading(ctx, read, question, vocab)
        result = ask(read, asker=ctx.userid, question=question, now=ctx.now, llm=llm, vocab=vocab)
    _audit(ctx, result, question)
    return result


def _model_reading(ctx: Ctx, read: Session, question: str, vocab: Vocab | None) -> Reading | None:
    """The model's reading of the question (None: no model configured): the one prefetched for this very
    question, else read now in the lane, waiting at most its budget. Never sent: what the guard refuses."""
    if ctx.deps.llm is None:
        return None
    pre = (ctx.prefetched or {}).get(READING)
    if isinstance(pre, dict) and pre.get("question") == question:
        return Reading(_spec_or_none(pre.get("spec")))
    if refusal_reason(question):
        return Reading(None)
    if ctx.user is not None and ctx.user.role == "rep" and not _asks(question, ctx):
        return Reading(None)  # a rep's line not phrased as a question (a note, a remark) is never sent
    spec = lane_of(ctx.deps.llm).read(
        question, now=ctx.now, vocab=vocab, asker=ctx.userid, customers=customer_names(read)
    )
    return Reading(spec)


def _asks(line: str, ctx: Ctx) -> bool:
    """Is a rep's line phrased as a question (core/rep_line.py's rule for lines typed during a visit)?"""
    return line_intent(line, parse_line(line, now=ctx.now)) == "question"


def _spec_or_none(data: Any) -> QuerySpec | None:
    try:
        return QuerySpec.model_validate(data) if data else None
    except ValueError:
        return None


_LANES: dict[int, tuple[Any, ModelLane]] = {}
_LANES_LOCK = threading.Lock()


def lane_of(llm: Any) -> ModelLane:
    """The lane of HandlerDeps.llm: itself when it is one (bootstrap), else one made once for that model."""
    if isinstance(llm, ModelLane):
        return llm
    with _LANES_LOCK:
        if id(llm) not in _LANES:
            _LANES[id(llm)] = (llm, ModelLane(llm))
        return _LANES[id(llm)][1]


def with_model_reading(
    inner: Callable[[Inbound], Any] | None,
    *,
    deps: Any,
    session_factory: sessionmaker[Session],
    clock: Any,
    router: Any,
) -> Callable[[Inbound], Any]:
    """The worker's prefetch, plus the model's reading of a manager's question: for a text (or a recognised
    voice message) from an active manager (not a rep: a rep's line may be a visit note) who is in no dialog
    and did not type a command, a Future done within the lane's budget with {READING: {"question", "spec"}};
    the worker handles the other events of its batch meanwhile (handlers/worker.py). Anything else goes to
    `inner` unchanged. `router`: the route table (handlers.routes.ROUTER), whose text commands are not
    questions."""

    def prefetch(event: Inbound) -> Any:
        got = inner(event) if inner is not None else None
        if got is not None or deps.llm is None or not text_of(event):
            return got
        try:
            return _prefetch_reading(event, deps, session_factory, clock, router)
        except Exception:  # noqa: BLE001 — never fail the event for the model: the handler reads it inline
            log.warning("model prefetch failed for a question; it is read in the handler", exc_info=True)
            return None

    prefetch.inner = inner  # type: ignore[attr-defined]
    if inner is not None and hasattr(inner, "client"):
        prefetch.client = inner.client  # type: ignore[attr-defined]  # the shared media client, as before
    return prefetch


def _prefetch_reading(
    event: Inbound, deps: Any, session_factory: sessionmaker[Session], clock: Any, router: Any
) -> Future[dict[str, Any]] | None:
    said = text_of(event) or ""  # typed, or WeCom's recognition of a voice message: what the handler reads
    if not said or refusal_reason(said):
        return None
    if said in HELP_WORDS or any(pattern.search(said) for pattern, _ in router.text_commands):
        return None  # a command, not a question
    with session_factory() as s:
        user = s.get(UserRow, event.sender)
        if user is None or user.role == "rep" or not getattr(user, "active", True):
            return None
        if conversation.state_of(s, event.sender)[0] != DialogState.IDLE.value:
            return None  # the text answers a dialog, not a question
        vocab = deps.vocab_cache.get(s) if deps.vocab_cache is not None else None
        if vocab is None:
            from nlq.vocab import load_vocab

            vocab = load_vocab(s)
        names = customer_names(s)
    read = lane_of(deps.llm).submit(said, now=clock.now(), vocab=vocab, asker=event.sender, customers=names)
    out: Future[dict[str, Any]] = Future()
    out.set_running_or_notify_cancel()

    def done(f: Future[QuerySpec | None]) -> None:
        spec = f.result()
        out.set_result({READING: {"question": said, "spec": spec.model_dump(mode="json") if spec else None}})

    read.add_done_callback(done)
    return out


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
