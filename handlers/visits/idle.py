"""An idle visit closes itself with whatever it has (run by the tick)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from core.visits import missing_pieces
from handlers import texts
from handlers.context import Ctx
from handlers.messages import Text as TextReply
from handlers.visits import flow as visit_flow
from storage import outbox
from storage import visits as visit_repo
from storage.db import writer_session

IDLE_MINUTES = 120


def close_idle_visits(
    session_factory: sessionmaker[Session], clock: Clock, *, idle_minutes: int = IDLE_MINUTES
) -> int:
    now = clock.now()
    closed = 0
    with session_factory() as s:  # an idle tick must not take the write lock
        if not visit_repo.idle_open_visits(s, idle_since=now - timedelta(minutes=idle_minutes)):
            return 0
    with writer_session(session_factory) as s:
        for visit in visit_repo.idle_open_visits(s, idle_since=now - timedelta(minutes=idle_minutes)):
            ctx = Ctx(session=s, now=now, user=None, userid=visit.rep_userid, source="system:idle-close")
            grade, photos, tags = visit_flow.evidence(ctx, visit)
            missing = missing_pieces(location_grade=grade, valid_photos=photos, tags=tags)
            state = (
                texts.VISIT_STATE_COMPLETE
                if not missing
                else texts.VISIT_STATE_INCOMPLETE.format(missing="、".join(missing))
            )
            visit_repo.close_visit(s, visit, now=now, actor="system:idle-close", why="idle")
            outbox.enqueue(
                s,
                recipient=visit.rep_userid,
                dedupe_key=f"idle-close:{visit.visit_id}",
                now=now,
                message=TextReply(
                    content=texts.VISIT_IDLE_CLOSED.format(
                        name=visit_flow.customer_name(ctx, visit.customer_id),
                        minutes=idle_minutes,
                        state=state,
                    )
                ).to_dict(),
            )
            closed += 1
        s.commit()
    return closed
