"""What a handler gets: the unit of work's session, the time, who is talking, its dependencies, and a reply
sink.

Handlers never send anything: every reply becomes an outbox row in the same transaction as the change that
caused it (the worker commits both, or neither). Domain events a handler emits (`emit`) are handed at once to
the subscribers of handlers/routes.py, inside the same unit of work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.events import DomainEvent
from handlers.messages import Reply
from storage.models import UserRow


@dataclass(frozen=True)
class HandlerDeps:
    """What handlers need besides the session, built once by bot/bootstrap.py from the settings."""

    public_base_url: str = ""  # how WeCom users reach this server (links in chat)
    ics_key: bytes | None = None  # signs calendar feed links
    llm: Any = None  # an OpenAI-compatible chat model for questions, or None (offline parser)
    vocab_cache: Any = None  # nlq.vocab.VocabCache: the org's names, reloaded at most once a minute
    render_brief: Callable[[Any, Path], None] | None = None  # the weekly brief's PNG renderer
    render_target_report: Callable[[Any, Path], Any] | None = None  # the monthly target report's PNG renderer
    render_handoff_report: Callable[[Any, Path], Any] | None = None  # the collaboration health report's PNG
    files_root: Path | None = None  # DATA_DIR: the relay uploads Image paths relative to it
    checkin_tolerance_m: float = 300.0
    visit_idle: timedelta = timedelta(minutes=120)
    prompt_quiet: timedelta | None = None  # None: handlers.visits.flow's default
    # channels besides WeCom that are configured ("email", "sms"): alerts the seeds route there (docs/channels.md)
    alert_channels: frozenset[str] = frozenset()
    # the corp connects 客户联系 (WECOM_CUSTOMER_CONTACT): a hand-over also calls WeCom's 在职/离职继承
    customer_contact: bool = False
    # the address book (docs/contacts-sync.md): the role rules (core.contacts.mapping.RoleRule; empty: the
    # defaults), and whether the nightly full sync runs
    contact_role_rules: tuple[Any, ...] = ()
    contacts_nightly: bool = False


Publish = Callable[["Ctx", DomainEvent], None]


@dataclass
class Ctx:
    session: Session
    now: datetime
    user: UserRow | None  # None: a WeCom member not in our org table
    userid: str
    source: str  # what caused this work, for audit rows: "inbox:<id>", "timer:<id>", ...
    deps: HandlerDeps = field(default_factory=HandlerDeps)
    state: str = "idle"
    state_data: dict[str, Any] = field(default_factory=dict)
    prefetched: dict[str, Any] | None = None  # results of slow work done before the transaction
    outgoing: list[tuple[str, Reply]] = field(default_factory=list)
    state_changed: bool = False
    publish: Publish | None = (
        None  # the subscribers' table (handlers/routes.py), set by whoever runs the work
    )
    events: list[DomainEvent] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)  # per unit of work (the SOP policy, read once)

    def reply(self, reply: Reply) -> None:
        """Answer the person who is talking."""
        self.outgoing.append((self.userid, reply))

    def send(self, userid: str, reply: Reply) -> None:
        """Message someone else (a manager, an approver)."""
        self.outgoing.append((userid, reply))

    def set_state(self, state: str, data: dict[str, Any] | None = None) -> None:
        """Change what the bot waits for from this user (saved with the transaction)."""
        self.state = str(state)
        self.state_data = dict(data or {})
        self.state_changed = True

    def emit(self, event: DomainEvent) -> None:
        """Something happened: the subscribers react now, in this unit of work."""
        self.events.append(event)
        if self.publish is not None:
            self.publish(self, event)
