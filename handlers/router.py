"""Which handler answers which input. Handler modules register themselves here on import.

Order of decision for one inbound event:
1. a card click → CARD_ACTIONS by the key's prefix ("appr:ok:12" → "appr");
2. the sender's conversation state, if a handler waits for input in that state;
3. text → the first TEXT_COMMANDS pattern that matches; then role fallbacks (a manager's question);
4. other event types → EVENT_HANDLERS by type;
5. anything else → the help reply. Every message gets an answer.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from core.roles import MANAGERS
from handlers import texts
from handlers.context import Ctx
from handlers.messages import CardClick, EnterAgent, FileIn, Inbound, TextIn, Unsupported, VoiceIn
from handlers.messages import Text as TextReply

Handler = Callable[[Ctx, Inbound], bool | None]  # return False to pass the event on

TEXT_COMMANDS: list[tuple[re.Pattern[str], Handler]] = []
EVENT_HANDLERS: dict[type[Inbound], Handler] = {}
CARD_ACTIONS: dict[str, Handler] = {}
STATE_HANDLERS: dict[str, Handler] = {}
ROLE_TEXT_FALLBACK: dict[str, Handler] = {}

HELP_WORDS = ("帮助", "help", "?", "？", "菜单")


def text_command(pattern: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        TEXT_COMMANDS.append((re.compile(pattern), fn))
        return fn
    return deco


def on_event(kind: type[Inbound]) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        EVENT_HANDLERS[kind] = fn
        return fn
    return deco


def card_action(prefix: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        CARD_ACTIONS[prefix] = fn
        return fn
    return deco


def in_state(state: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        STATE_HANDLERS[state] = fn
        return fn
    return deco


def text_of(event: Inbound) -> str | None:
    """What the person said: typed text, or WeCom's speech recognition of a voice message."""
    if isinstance(event, TextIn):
        return event.content.strip()
    if isinstance(event, VoiceIn):
        return event.recognition.strip() or None
    return None


def route(ctx: Ctx, event: Inbound, *, state: str = "idle") -> None:
    if ctx.user is None:  # a member of the corp not (yet) in the imported org: help, and what to do
        if text_of(event) in HELP_WORDS:
            ctx.reply(TextReply(content=texts.HELP_REP + "\n\n" + texts.UNKNOWN_USER.format(userid=ctx.userid)))
        else:
            ctx.reply(TextReply(content=texts.UNKNOWN_USER.format(userid=ctx.userid)))
        return
    if isinstance(event, CardClick):
        handler = CARD_ACTIONS.get(event.key.split(":", 1)[0])
        if handler is not None and handler(ctx, event) is not False:
            return
    if state in STATE_HANDLERS and STATE_HANDLERS[state](ctx, event) is not False:
        return
    said = text_of(event)
    if said is not None:
        if said in HELP_WORDS:
            _help(ctx)
            return
        for pattern, handler in TEXT_COMMANDS:
            if pattern.search(said) and handler(ctx, event) is not False:
                return
        fallback = ROLE_TEXT_FALLBACK.get("manager" if ctx.user.role in MANAGERS else "rep")
        if fallback is not None and fallback(ctx, event) is not False:
            return
        if ctx.user.role in MANAGERS:
            _help(ctx)
        else:
            ctx.reply(TextReply(content=texts.NOT_UNDERSTOOD_REP.format(text=said[:40])))
        return
    handler = EVENT_HANDLERS.get(type(event))
    if handler is not None and handler(ctx, event) is not False:
        return
    if isinstance(event, EnterAgent):
        return  # opening the app is not a message; the LOCATION event that follows may check in
    if isinstance(event, FileIn):
        ctx.reply(TextReply(content=texts.FILE_NOT_PHOTO.format(title=event.title or "")))
    elif isinstance(event, Unsupported | CardClick):
        ctx.reply(TextReply(content=texts.UNSUPPORTED_MESSAGE))
    else:
        _help(ctx)


def _help(ctx: Ctx) -> None:
    role = ctx.user.role if ctx.user else "rep"
    ctx.reply(TextReply(content=texts.HELP_MANAGER if role in MANAGERS else texts.HELP_REP))
