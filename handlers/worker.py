"""Drain the inbox: claim events in order per sender, run the handler, write replies to the outbox.

Each event is handled in its own transaction: the domain change, audit rows, timer rows, outbox rows
and the inbox row's `done` commit together or not at all, so an event is processed exactly once even
if the process dies (an expired claim is taken over by another worker and the half-done work was
rolled back).

Claims are short leases (storage/leases.py) renewed by a heartbeat while a batch is in progress, so the rows
of a worker killed mid-batch are taken over within seconds. An event whose handling raises is retried with
backoff (1, 2, 4, 8 s) and parked as `failed` after `inbox.MAX_ATTEMPTS` (5) attempts: the sender is told
once, in plain words, and every admin is alerted by a separate outbox row (and the log). A parked event no
longer holds back its sender's later events. `Deferred` (WeCom refuses the app's configuration) is not the
event's fault: it is put back without being charged an attempt.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from handlers import dialog as conversation
from handlers import texts
from handlers.context import Ctx, HandlerDeps
from handlers.messages import Inbound
from handlers.messages import Text as TextReply
from handlers.router import Router
from handlers.routes import ROUTER
from storage import inbox, outbox
from storage.db import writer_session
from storage.leases import LEASE, Heartbeat
from storage.models import UserRow

log = logging.getLogger("assistant.worker")

# Work that must not hold the database write lock (photo download and Pillow): it runs before the
# event's transaction and its result is handed to the handler. Must be idempotent.
Prefetch = Callable[[Inbound], dict[str, Any] | None]
DEFER_S = 30  # how long an event put back by `Deferred` waits before it is tried again


class Deferred(Exception):  # noqa: N818 - a signal, not an error of the event
    """Raised by a prefetch (or handler) when the event cannot be handled now for a reason outside it, e.g.
    WeCom pauses every call of the app (bot/wecom/client.py ErrorClass.CONFIG): retried later, not charged."""


@dataclass
class InboxWorker:
    session_factory: sessionmaker[Session]
    clock: Clock
    owner: str
    prefetch: Prefetch | None = None
    deps: HandlerDeps = field(default_factory=HandlerDeps)
    router: Router = ROUTER
    batch: int = 50

    def __post_init__(self) -> None:
        self._interrupted = False  # a batch broke off after claiming: give its rows back first

    def run_once(self) -> int:
        """Claim and handle one batch. Returns how many events were handled (or failed)."""
        if self._interrupted:
            with writer_session(self.session_factory) as s:
                released = inbox.release_claims(s, owner=self.owner)
                s.commit()
            self._interrupted = False
            if released:
                log.warning("released %d inbox rows this worker held when its last batch broke off", released)
        with self.session_factory() as s:  # an idle tick must not take the write lock
            if not inbox.anything_waiting(s):
                return 0
        with writer_session(self.session_factory) as s:
            ids = inbox.claim(s, now=self.clock.now(), owner=self.owner, limit=self.batch)
            s.commit()
        self._interrupted = True
        with Heartbeat(self._renew_leases):
            for inbox_id in ids:
                self.handle(inbox_id)
        self._interrupted = False
        return len(ids)

    def _renew_leases(self) -> None:
        with writer_session(self.session_factory) as s:
            inbox.renew_leases(s, owner=self.owner, until=self.clock.now() + LEASE)
            s.commit()

    def drain(self, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            n = self.run_once()
            total += n
            if n == 0:
                break
        return total

    def handle(self, inbox_id: int) -> None:
        try:
            with self.session_factory() as s:
                row = s.get(inbox.InboxRow, inbox_id)
                event = Inbound.from_dict(row.event) if row else None
            extra = self.prefetch(event) if (self.prefetch and event is not None) else None
            with writer_session(self.session_factory) as s:
                row = inbox.load_claimed(s, inbox_id=inbox_id, owner=self.owner)
                if row is None:
                    return  # our claim expired and someone else took it
                self._dispatch(s, row, Inbound.from_dict(row.event), extra)
                inbox.mark_done(row, now=self.clock.now())
                s.commit()
        except Deferred as exc:
            log.warning("inbox %s deferred: %s", inbox_id, exc)
            now = self.clock.now()
            with writer_session(self.session_factory) as s:
                inbox.defer(
                    s, inbox_id=inbox_id, until=now + timedelta(seconds=DEFER_S), error=f"deferred: {exc}"
                )
                s.commit()
        except Exception as exc:  # noqa: BLE001 - any failure: retry with backoff, then park visibly
            log.error(
                "inbox %s failed: %s",
                inbox_id,
                exc.__class__.__name__,
                extra={"trace": traceback.format_exc(limit=5)},
            )
            now = self.clock.now()
            with writer_session(self.session_factory) as s:
                error = f"{exc.__class__.__name__}: {exc}"
                status = inbox.mark_failed_attempt(s, inbox_id=inbox_id, now=now, error=error)
                if status == "failed":
                    self._parked(s, inbox_id, error)
                s.commit()

    def _parked(self, s: Session, inbox_id: int, error: str) -> None:
        """The event is parked: tell its sender once, in plain words, and alert every admin by a row of its
        own (sent by the relay like any other; the sender's own reply failing does not stop it)."""
        now = self.clock.now()
        row = s.get(inbox.InboxRow, inbox_id)
        if row is None:
            return
        log.error(
            "inbox %s parked after %s attempts (sender %s): %s", inbox_id, row.attempts, row.sender, error
        )
        outbox.enqueue(
            s,
            recipient=row.sender,
            message=TextReply(content=texts.INTERNAL_ERROR).to_dict(),
            dedupe_key=f"in:{inbox_id}:error",
            now=now,
        )
        alert = texts.ADMIN_EVENT_PARKED.format(
            sender=row.sender, inbox_id=inbox_id, attempts=row.attempts, error=error[:200]
        )
        for admin in s.scalars(select(UserRow.userid).where(UserRow.role == "admin")):
            outbox.enqueue(
                s,
                recipient=admin,
                message=TextReply(content=alert).to_dict(),
                dedupe_key=f"alert:inbox:{inbox_id}:{admin}",
                now=now,
            )

    def _dispatch(
        self, s: Session, row: inbox.InboxRow, event: Inbound, extra: dict[str, Any] | None
    ) -> None:
        now = self.clock.now()
        user = s.get(UserRow, row.sender)
        state, data = conversation.state_of(s, row.sender)
        ctx = Ctx(
            session=s,
            now=now,
            user=user,
            userid=row.sender,
            source=f"inbox:{row.id}",
            deps=self.deps,
            publish=self.router.publish,
            state=state,
            state_data=data,
            prefetched=extra,
        )
        self.router.route(ctx, event, state=state)
        if ctx.state_changed:
            conversation.save(s, row.sender, state=ctx.state, data=ctx.state_data, now=now)
        for n, (recipient, reply) in enumerate(ctx.outgoing):
            outbox.enqueue(
                s, recipient=recipient, message=reply.to_dict(), dedupe_key=f"in:{row.id}:{n}", now=now
            )
