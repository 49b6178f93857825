"""Per-user dialog state (what the bot is waiting for), stored in the conversations table."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.models import ConversationRow


def load(session: Session, userid: str) -> ConversationRow | None:
    return session.get(ConversationRow, userid)


def state_of(session: Session, userid: str) -> tuple[str, dict[str, Any]]:
    row = load(session, userid)
    return (row.state, dict(row.data or {})) if row else ("idle", {})


def save(session: Session, userid: str, *, state: str, data: dict[str, Any], now: datetime) -> None:
    row = load(session, userid)
    if row is None:
        session.add(ConversationRow(userid=userid, state=state, data=data, updated_at=now))
    else:
        row.state, row.data, row.updated_at = state, data, now
