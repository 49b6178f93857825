"""The reports' recurring timers: the nightly scorecard and the Monday weekly brief.

Importing this module registers their firers with the SOP sweep (handlers.sop.sweep.register_firer), so a
due row of these kinds fires like any SOP timer: claimed once, in one transaction with its outbox
rows. `ensure_report_timers` books the first occurrence when none is live; each firing books the next.
It runs as one of the tick's sweeps (bot/reports.py puts it there), so the SOP engine's own recurring
list is left as it is.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from handlers.context import Ctx
from handlers.sop import scorecard as score_tiers
from handlers.sop import sweep as sop
from handlers.sop import weekly_brief
from storage import timers
from storage.db import writer_session
from storage.models import TimerRow

ACTOR = "system:reports"

RECURRING: dict[str, Callable[[Ctx], TimerRow]] = {
    score_tiers.KIND: lambda ctx: score_tiers.schedule_next(ctx, after=ctx.now),
    weekly_brief.KIND: lambda ctx: weekly_brief.schedule_next(ctx, after=ctx.now),
}

sop.register_firer(score_tiers.KIND, score_tiers.fire_scorecard_nightly)
sop.register_firer(weekly_brief.KIND, weekly_brief.fire_weekly_brief)
sop.register_firer(weekly_brief.KIND_TO, weekly_brief.fire_weekly_brief_to)


def ensure_report_timers(session_factory: sessionmaker[Session], clock: Clock) -> list[str]:
    """Book the next nightly scorecard and weekly brief when none is live. One read when they exist."""
    with session_factory() as s:
        missing = [kind for kind in RECURRING if not timers.exists_live(s, kind)]
    if not missing:
        return []
    with writer_session(session_factory) as s:
        ctx = Ctx(session=s, now=clock.now(), user=None, userid=ACTOR, source="sweep:reports")
        booked = [RECURRING[kind](ctx).business_key for kind in missing if not timers.exists_live(s, kind)]
        s.commit()
    return booked


def make_ensure(session_factory: sessionmaker[Session], clock: Clock) -> Callable[[], int]:
    """A no-argument sweep for services.extra["sweeps"] (returns 0: booking is not firing)."""
    def run() -> int:
        ensure_report_timers(session_factory, clock)
        return 0
    return run
