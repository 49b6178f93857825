"""Asking a person one question (a 驳回 reason, a 延后 reason) without losing what they were doing.

A conversation has one state. When a card click needs a typed answer, the state the person was in
(say, halfway through logging a visit) is kept in the question's data and put back once the answer
came — or at once when they send something that is not an answer (a photo, a location), which is then
handled by the flow they were in.
"""
from __future__ import annotations

from typing import Any

from handlers import router
from handlers.context import Ctx
from handlers.messages import Inbound, Reply

RESUME = "_resume"


def ask(ctx: Ctx, state: str, data: dict[str, Any], question: Reply) -> None:
    if ctx.state.startswith("sop_") and RESUME in ctx.state_data:  # already asking: keep the original flow
        previous = ctx.state_data[RESUME]
    else:
        previous = {"state": ctx.state, "data": dict(ctx.state_data)}
    ctx.set_state(state, {**data, RESUME: previous})
    ctx.reply(question)


def resume(ctx: Ctx) -> None:
    """Back to the state the person was in before the question."""
    previous = ctx.state_data.get(RESUME) or {}
    ctx.set_state(previous.get("state") or "idle", previous.get("data") or {})


def pass_on(ctx: Ctx, event: Inbound) -> bool | None:
    """Not an answer: resume the earlier flow and let its own state handler (if any) take the event.
    Returns what that handler returned, or False so the router continues."""
    resume(ctx)
    handler = router.STATE_HANDLERS.get(ctx.state)
    if handler is None:
        return False
    return handler(ctx, event)
