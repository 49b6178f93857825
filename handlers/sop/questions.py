"""Asking a person one question (a 驳回 reason, a 延后 reason) without losing what they were doing.

A conversation has one state. When a card click needs a typed answer, the state the person was in
(say, halfway through logging a visit) is kept in the question's data and put back once the answer
came — or at once when they send something that is not an answer (a photo, a location), which is then
handled by the flow they were in (`pass_on` returns RESUMED and the router hands the event on).
"""

from __future__ import annotations

from typing import Any

from handlers.context import Ctx
from handlers.dialog import ASKING, RESUMED, DialogState, Slot
from handlers.messages import Inbound, Reply


def ask(ctx: Ctx, state: DialogState, data: dict[str, Any], question: Reply) -> None:
    if ctx.state in ASKING and Slot.RESUME in ctx.state_data:  # already asking: keep the original flow
        previous = ctx.state_data[Slot.RESUME]
    else:
        previous = {"state": ctx.state, "data": dict(ctx.state_data)}
    ctx.set_state(state, {**data, Slot.RESUME.value: previous})
    ctx.reply(question)


def resume(ctx: Ctx) -> None:
    """Back to the state the person was in before the question."""
    previous = ctx.state_data.get(Slot.RESUME) or {}
    ctx.set_state(previous.get("state") or DialogState.IDLE, previous.get("data") or {})


def pass_on(ctx: Ctx, event: Inbound) -> Any:
    """Not an answer: resume the earlier flow; its own state handler (if any) then takes the event."""
    resume(ctx)
    return RESUMED
