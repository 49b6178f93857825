"""The generation of each person's calendar feed secret (core/ics_token.py): read it, move it on (audited)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from storage import audit
from storage.web.models import CalendarFeedRow


def generation_of(session: Session, userid: str) -> int:
    row = session.get(CalendarFeedRow, userid)
    return row.generation if row is not None else 0


def rotate(session: Session, userid: str, *, now: datetime, actor: str, reason: str | None = None) -> int:
    """Move `userid`'s feed to a new generation (the caller commits): every URL of an earlier one stops."""
    row = session.get(CalendarFeedRow, userid)
    before = {"generation": row.generation if row is not None else 0}
    if row is None:
        row = CalendarFeedRow(userid=userid, generation=1, rotated_at=now)
        session.add(row)
    else:
        row.generation += 1
        row.rotated_at = now
    audit.record(
        session,
        at=now,
        actor=actor,
        action="rotate",
        entity="calendar_feed",
        entity_id=userid,
        before=before,
        after={"generation": row.generation},
        reason=reason,
    )
    return row.generation
