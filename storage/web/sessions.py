"""Web sign-in sessions: open one after WeCom said who signed in, find the userid behind a cookie, end one or
all of a person's. The cookie holds a random id; only its SHA-256 is stored (core/web_session.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from core.web_session import hash_secret, new_secret, well_formed
from storage.web.models import WebSessionRow

SIGNED_OUT = "signed_out"
DEACTIVATED = "deactivated"


def open_session(session: Session, userid: str, *, now: datetime, ttl: timedelta, via: str) -> str:
    """A new session for `userid` (the caller commits); returns the cookie value, which is stored nowhere."""
    raw = new_secret()
    session.add(
        WebSessionRow(id_hash=hash_secret(raw), userid=userid, created_at=now, expires_at=now + ttl, via=via)
    )
    return raw


def _live(raw: str, now: datetime):  # noqa: ANN202 - a select
    return select(WebSessionRow).where(
        WebSessionRow.id_hash == hash_secret(raw),
        WebSessionRow.ended_at.is_(None),
        WebSessionRow.expires_at > now,
    )


def find(session: Session, raw: str | None, *, now: datetime) -> WebSessionRow | None:
    """The live session behind a cookie value: not ended, not expired. Any other value gives None."""
    if raw is None or not well_formed(raw):
        return None
    return session.scalars(_live(raw, now)).first()


def end(session: Session, raw: str | None, *, now: datetime, reason: str = SIGNED_OUT) -> bool:
    if raw is None or not well_formed(raw):
        return False
    result = session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.id_hash == hash_secret(raw), WebSessionRow.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_all(session: Session, userid: str, *, now: datetime, reason: str = DEACTIVATED) -> int:
    """End every live session of `userid` (deactivation): their next request is refused."""
    result = session.execute(
        update(WebSessionRow)
        .where(WebSessionRow.userid == userid, WebSessionRow.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def live_count(session: Session, userid: str, *, now: datetime) -> int:
    rows = session.scalars(
        select(WebSessionRow.id_hash).where(
            WebSessionRow.userid == userid,
            WebSessionRow.ended_at.is_(None),
            WebSessionRow.expires_at > now,
        )
    ).all()
    return len(rows)


def purge(session: Session, *, before: datetime) -> int:
    """Forget sessions that ended or expired before `before`."""
    result = session.execute(
        delete(WebSessionRow).where(or_(WebSessionRow.expires_at < before, WebSessionRow.ended_at < before))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
