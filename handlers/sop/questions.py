"""Asking a person one question (a 驳回 reason, a 延后 reason) without losing what they were doing.

A conversation has one state. When a card click needs a typed answer, the state the person was in
(say, halfway through logging a visit) is kept in the question's data and put back once the answer
came. Something that is not an answer (re-entering the app, a location, a photo, another card's button)
is handled by the router under the flow beneath the question, and the question stays open
(handlers/router.py); a new text command, 取消, or dialog.QUESTION_TTL without an answer ends it. A
question handler that finds a text is not its answer returns `pass_on` (RESUMED: the router hands the text
on as if the question had not been asked).
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
    ctx.set_state(
        state,
        {
            **data,
            Slot.RESUME.value: previous,
            Slot.ASKED_AT.value: ctx.now.isoformat(),
            Slot.PROMPT.value: question.to_dict(),
        },
    )
    ctx.reply(question)


def resume(ctx: Ctx) -> None:
    """Back to the state the person was in before the question."""
    previous = ctx.state_data.get(Slot.RESUME) or {}
    ctx.set_state(previous.get("state") or DialogState.IDLE, previous.get("data") or {})


def pass_on(ctx: Ctx, event: Inbound) -> Any:
    """Not an answer: resume the earlier flow; its own state handler (if any) then takes the event."""
    resume(ctx)
    return RESUMED
