"""What a handler gets: the unit of work's session, the time, who is talking, and a reply sink.

Handlers never send anything: every reply becomes an outbox row in the same transaction as the
change that caused it (the worker commits both, or neither).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from handlers.messages import Reply
from storage.models import UserRow


@dataclass
class Ctx:
    session: Session
    now: datetime
    user: UserRow | None  # None: a WeCom member not in our org table
    userid: str
    source: str  # what caused this work, for audit rows: "inbox:<id>", "timer:<id>", ...
    settings: dict = field(default_factory=dict)
    state: str = "idle"
    state_data: dict[str, Any] = field(default_factory=dict)
    prefetched: dict[str, Any] | None = None  # results of slow work done before the transaction
    outgoing: list[tuple[str, Reply]] = field(default_factory=list)
    state_changed: bool = False

    def reply(self, reply: Reply) -> None:
        """Answer the person who is talking."""
        self.outgoing.append((self.userid, reply))

    def send(self, userid: str, reply: Reply) -> None:
        """Message someone else (a manager, an approver)."""
        self.outgoing.append((userid, reply))

    def set_state(self, state: str, data: dict[str, Any] | None = None) -> None:
        """Change what the bot waits for from this user (saved with the transaction)."""
        self.state = state
        self.state_data = dict(data or {})
        self.state_changed = True
