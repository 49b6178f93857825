"""The first time a person opens the app (WeCom's enter_agent event): a welcome and a three-line guide for
their role — a rep's (how to log a visit) or a manager's (ask, cards, the dashboard).

Once per person: remembered in the conversation row (`conversations.told`, handlers/dialog.py) with the role
it was written for, so a rep promoted to supervisor later gets the manager's guide once; every other
opening of the app is silent (the LOCATION event that may follow still checks in).
"""

from __future__ import annotations

from core.roles import MANAGERS
from handlers import dialog, texts
from handlers.context import Ctx
from handlers.messages import EnterAgent, Inbound
from handlers.messages import Text as TextReply

WELCOMED = "welcome"  # conversations.told key: {"role": "rep" | "manager", "at": ISO time}


def on_enter(ctx: Ctx, event: Inbound) -> None:
    assert isinstance(event, EnterAgent) and ctx.user is not None
    kind = "manager" if ctx.user.role in MANAGERS else "rep"
    if (dialog.told(ctx.session, ctx.userid).get(WELCOMED) or {}).get("role") == kind:
        return
    dialog.remember_told(
        ctx.session, ctx.userid, WELCOMED, {"role": kind, "at": ctx.now.isoformat()}, now=ctx.now
    )
    words = texts.WELCOME_MANAGER if kind == "manager" else texts.WELCOME_REP
    ctx.reply(TextReply(content=words.format(name=ctx.user.name or ctx.userid)))
