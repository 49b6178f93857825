"""Where the visit flow hands over to the SOP engine (timers, calendar, approvals)."""
from __future__ import annotations

from handlers.context import Ctx


def visit_completed(ctx: Ctx, visit_id: str) -> None:
    from handlers.sop.hooks import after_visit_completed

    after_visit_completed(ctx, visit_id)


def promise_cancelled(ctx: Ctx, promise_id: int) -> None:
    from handlers.sop.hooks import on_promise_cancelled

    on_promise_cancelled(ctx, promise_id)


def tag_removed(ctx: Ctx, visit_id: str, tag: str) -> None:
    from handlers.sop.hooks import on_tag_removed

    on_tag_removed(ctx, visit_id, tag)
