"""Which handler answers which input: the `Router` built from the table in handlers/routes.py.

Order of decision for one inbound event:
first of all, a system event (`Inbound.system`: WeCom's 客户联系 and 通讯录变更 notices, the assistant's own requests) goes to
   EVENTS by type at once, whoever the sender (no sender check, no dialog state);
0. a question is open (the state is one of dialog.ASKING: a 驳回 reason, an approval comment, a 延后 reason …):
   anything that is not a typed answer — re-entering the app, a location, a photo, a card click, 帮助 — is
   handled by the flow beneath the question (as if it had not been asked) and the question stays open; a text
   that is a text command (other than the question's own words, QUESTION_WORDS) ends the question and runs;
   any other text goes to the question's handler, which ends it (answered, 取消, its subject settled); a
   question unanswered for dialog.QUESTION_TTL lapses (the event is routed as if it had not been asked);
1. a card click → CARD_ACTIONS by the key's action (`parse_card_key`: "appr:ok:12" → CardAction.APPROVAL);
2. the sender's dialog state, if a handler waits for input in that state (a handler that puts an interrupted
   flow back returns RESUMED: that flow's state handler then takes the event);
3. text → 帮助 words; then the first TEXT_COMMANDS pattern that matches; then the role's fallbacks in order
   (a rep's line, a question);
4. other event types → EVENTS by type;
5. anything else → the help reply. Every message gets an answer.
A handler returns False to pass the event on to the next candidate.

Domain events (`ctx.emit`) go to SUBSCRIBERS by type, in the table's order. A key listed twice anywhere in
the table is an error when the Router is built (at start-up), never a silent override.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from core.events import DomainEvent
from core.roles import MANAGERS
from handlers import texts
from handlers.context import Ctx
from handlers.dialog import ASKING, QUESTION_TTL, RESUMED, DialogState, Slot
from handlers.messages import (
    CardAction,
    CardClick,
    EnterAgent,
    FileIn,
    Inbound,
    Reply,
    Unsupported,
    parse_card_key,
    text_of,
)
from handlers.messages import Text as TextReply

Handler = Callable[[Ctx, Inbound], Any]  # None: handled; False: pass the event on; RESUMED: see above
Subscriber = Callable[[Ctx, Any], None]
K = TypeVar("K")
V = TypeVar("V")

HELP_WORDS = ("帮助", "help", "?", "？", "菜单")
REP, MANAGER = "rep", "manager"


class DuplicateRoute(ValueError):
    pass


@dataclass(frozen=True)
class Routes:
    """Every way into the assistant, as pairs (handlers/routes.py spells them out)."""

    text_commands: Sequence[tuple[str, Handler]]
    card_actions: Sequence[tuple[CardAction, Handler]]
    dialog_states: Sequence[tuple[DialogState, Handler]]
    events: Sequence[tuple[type[Inbound], Handler]]
    role_fallbacks: Sequence[tuple[str, Sequence[Handler]]]
    subscribers: Sequence[tuple[type[DomainEvent], Sequence[Subscriber]]]
    timer_kinds: Sequence[tuple[str, Callable[..., Any]]]
    recurring: Sequence[tuple[str, Callable[..., Any]]]
    # (question state, pattern): texts that answer that open question although a text command matches them
    # (「驳回 原因」 answers the 驳回 question); any other text command ends the question
    question_words: Sequence[tuple[DialogState, str]] = ()


def _table(name: str, pairs: Sequence[tuple[K, V]]) -> dict[K, V]:
    out: dict[K, V] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateRoute(f"{name}: {key!r} is listed twice")
        out[key] = value
    return out


class Router:
    def __init__(self, routes: Routes):
        patterns = _table("text command", routes.text_commands)
        self.text_commands: list[tuple[re.Pattern[str], Handler]] = [
            (re.compile(p), h) for p, h in patterns.items()
        ]
        self.card_actions: dict[str, Handler] = _table("card action", routes.card_actions)
        self.dialog_states: dict[str, Handler] = _table("dialog state", routes.dialog_states)
        self.events: dict[type[Inbound], Handler] = _table("event type", routes.events)
        self.role_fallbacks: dict[str, Sequence[Handler]] = _table("role fallback", routes.role_fallbacks)
        self.subscribers: dict[type[DomainEvent], Sequence[Subscriber]] = _table(
            "domain event", routes.subscribers
        )
        self.timer_kinds: dict[str, Callable[..., Any]] = _table("timer kind", routes.timer_kinds)
        self.recurring: dict[str, Callable[..., Any]] = _table("recurring timer", routes.recurring)
        self.question_words: dict[str, re.Pattern[str]] = {
            k: re.compile(p) for k, p in _table("question words", routes.question_words).items()
        }
        unknown = [k for k in self.recurring if k not in self.timer_kinds]
        if unknown:
            raise DuplicateRoute(f"recurring timers without a firer: {unknown}")

    def publish(self, ctx: Ctx, event: DomainEvent) -> None:
        for subscriber in self.subscribers.get(type(event), ()):
            subscriber(ctx, event)

    def with_timer_kinds(self, extra: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        """The timer table plus `extra` kinds (tests and benches add their own); a clash is an error."""
        clash = set(extra) & set(self.timer_kinds)
        if clash:
            raise DuplicateRoute(f"timer kind already routed: {sorted(clash)}")
        return {**self.timer_kinds, **extra}

    def route(self, ctx: Ctx, event: Inbound, *, state: str = DialogState.IDLE) -> None:
        if ctx.publish is None:
            ctx.publish = self.publish
        if event.system:  # nothing the sender said (Inbound.system): its handler, or nothing
            handler = self.events.get(type(event))
            if handler is not None:
                handler(ctx, event)
            return
        if ctx.user is None:  # a member of the corp not (yet) in the imported org: help, and what to do
            if text_of(event) in HELP_WORDS:
                ctx.reply(
                    TextReply(content=texts.HELP_REP + "\n\n" + texts.UNKNOWN_USER.format(userid=ctx.userid))
                )
            else:
                ctx.reply(TextReply(content=texts.UNKNOWN_USER.format(userid=ctx.userid)))
            return
        if not ctx.user.active:  # deactivated: nothing but that word
            ctx.reply(TextReply(content=texts.DEACTIVATED))
            return
        if state in ASKING and _lapsed(ctx):  # unanswered too long: as if it had not been asked
            beneath = ctx.state_data.get(Slot.RESUME) or {}
            ctx.set_state(beneath.get("state") or DialogState.IDLE, beneath.get("data") or {})
            state = ctx.state
        if state in ASKING:
            said = text_of(event)
            if said is None or said in HELP_WORDS:
                self._beneath_question(ctx, event)
                return
            if self._is_new_command(state, said):  # a deliberate new command: the question ends
                beneath = ctx.state_data.get(Slot.RESUME) or {}
                ctx.set_state(beneath.get("state") or DialogState.IDLE, beneath.get("data") or {})
                state = ctx.state
        self._route(ctx, event, state=state)

    def _is_new_command(self, state: str, said: str) -> bool:
        own = self.question_words.get(state)
        if own is not None and own.search(said):
            return False
        return any(pattern.search(said) for pattern, _ in self.text_commands)

    def _beneath_question(self, ctx: Ctx, event: Inbound) -> None:
        """Route `event` under the flow the open question interrupted; the question stays on top of whatever
        that flow became — unless the event asked a question of its own (another card's 驳回), which then
        replaces this one (handlers/sop/questions.py keeps the flow beneath)."""
        question, data = ctx.state, dict(ctx.state_data)
        beneath = data.get(Slot.RESUME) or {}
        changed = ctx.state_changed
        ctx.state = str(beneath.get("state") or DialogState.IDLE)
        ctx.state_data = dict(beneath.get("data") or {})
        ctx.state_changed = False
        self._route(ctx, event, state=ctx.state)
        if ctx.state in ASKING:
            return
        if ctx.state_changed:
            data[Slot.RESUME.value] = {"state": ctx.state, "data": dict(ctx.state_data)}
        ctx.state, ctx.state_data = question, data
        ctx.state_changed = changed or ctx.state_changed
        if isinstance(event, EnterAgent) and data.get(Slot.PROMPT):  # back in the app: the question, again
            ctx.reply(Reply.from_dict(data[Slot.PROMPT]))

    def _route(self, ctx: Ctx, event: Inbound, *, state: str) -> None:
        if isinstance(event, CardClick):
            action, _ = parse_card_key(event.key)
            handler = self.card_actions.get(action) if action is not None else None
            if handler is not None and handler(ctx, event) is not False:
                return
        if state in self.dialog_states:
            result = self.dialog_states[state](ctx, event)
            if result is RESUMED:  # the earlier flow is back: its own state handler (if any) takes the event
                resumed = self.dialog_states.get(ctx.state)
                result = resumed(ctx, event) if resumed is not None else False
            if result is not False:
                return
        manager = ctx.user.role in MANAGERS
        said = text_of(event)
        if said is not None:
            if said in HELP_WORDS:
                _help(ctx)
                return
            for pattern, handler in self.text_commands:
                if pattern.search(said) and handler(ctx, event) is not False:
                    return
            for fallback in self.role_fallbacks.get(MANAGER if manager else REP, ()):
                if fallback(ctx, event) is not False:
                    return
            if manager:
                _help(ctx)
            else:
                ctx.reply(TextReply(content=texts.NOT_UNDERSTOOD_REP.format(text=said[:40])))
            return
        handler = self.events.get(type(event))
        if handler is not None and handler(ctx, event) is not False:
            return
        if isinstance(event, EnterAgent):
            return  # opening the app again is not a message; the LOCATION event that follows may check in
        if isinstance(event, FileIn):
            ctx.reply(TextReply(content=texts.FILE_NOT_PHOTO.format(title=event.title or "")))
        elif isinstance(event, Unsupported | CardClick):
            ctx.reply(TextReply(content=texts.UNSUPPORTED_MESSAGE))
        else:
            _help(ctx)


def _lapsed(ctx: Ctx) -> bool:
    asked = ctx.state_data.get(Slot.ASKED_AT)
    try:
        return bool(asked) and ctx.now - datetime.fromisoformat(str(asked)) > QUESTION_TTL
    except ValueError:
        return False


def _help(ctx: Ctx) -> None:
    role = ctx.user.role if ctx.user else REP
    ctx.reply(TextReply(content=texts.HELP_MANAGER if role in MANAGERS else texts.HELP_REP))
