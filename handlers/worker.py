"""Drain the inbox: claim events in order per sender, run the handler, write replies to the outbox.

Each event is handled in its own transaction: the domain change, audit rows, timer rows, outbox rows
and the inbox row's `done` commit together or not at all, so an event is processed exactly once even
if the process dies (an expired claim is taken over by another worker and the half-done work was
rolled back).

A batch holds at most one event per sender (storage/inbox.py `claim`), so its events may finish in any
order: an event whose prefetch answers with a Future (a photo being downloaded and gated) is set aside
while the rest of the batch is handled, and is handled itself when its result is ready — up to
`prefetch_in_flight` of them at a time. Events whose prefetch answers at once are handled in claim
order, exactly as before.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

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
from storage.models import UserRow

log = logging.getLogger("assistant.worker")

# Work that must not hold the database write lock (photo download and Pillow): it runs before the
# event's transaction and its result is handed to the handler. Must be idempotent. It answers at once
# (a dict, or None) or with a Future of one, for slow work that may run while other events are handled.
PrefetchResult = dict[str, Any] | None
Prefetch = Callable[[Inbound], PrefetchResult | Future[PrefetchResult]]


@dataclass
class InboxWorker:
    session_factory: sessionmaker[Session]
    clock: Clock
    owner: str
    prefetch: Prefetch | None = None
    deps: HandlerDeps = field(default_factory=HandlerDeps)
    router: Router = ROUTER
    batch: int = 50
    prefetch_in_flight: int = 4  # Futures of one batch awaited at once (each may hold a 10 MB download)

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
        pending: dict[Future[PrefetchResult], int] = {}
        for inbox_id in ids:
            started = self.handle(inbox_id)
            if isinstance(started, Future):
                pending[started] = inbox_id
                while len(pending) >= max(1, self.prefetch_in_flight):
                    self._finish_ready(pending)
        while pending:
            self._finish_ready(pending)
        self._interrupted = False
        return len(ids)

    def drain(self, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            n = self.run_once()
            total += n
            if n == 0:
                break
        return total

    def handle(self, inbox_id: int) -> Future[PrefetchResult] | None:
        """Prefetch and handle one claimed event. If its prefetch answers with a Future, the event is not
        handled yet: the Future is returned, and `finish(inbox_id, future)` handles the event once it is
        done (run_once does both)."""
        try:
            with self.session_factory() as s:
                row = s.get(inbox.InboxRow, inbox_id)
                event = Inbound.from_dict(row.event) if row else None
            extra = self.prefetch(event) if (self.prefetch and event is not None) else None
        except Exception as exc:  # noqa: BLE001 - as a failure of the handler: retry with backoff
            self._failed(inbox_id, exc)
            return None
        if isinstance(extra, Future):
            return extra
        self._commit(inbox_id, extra)
        return None

    def _finish_ready(self, pending: dict[Future[PrefetchResult], int]) -> None:
        """Wait for at least one pending prefetch; handle every finished one, in claim order."""
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=pending.__getitem__):
            self.finish(pending.pop(future), future)

    def finish(self, inbox_id: int, future: Future[PrefetchResult]) -> None:
        """Handle an event whose prefetch Future `handle` returned (waits for it if it is not done)."""
        try:
            extra = future.result()
        except Exception as exc:  # noqa: BLE001 - a transient download failure, a sandbox that cannot start
            self._failed(inbox_id, exc)
            return
        self._commit(inbox_id, extra)

    def _commit(self, inbox_id: int, extra: PrefetchResult) -> None:
        try:
            with writer_session(self.session_factory) as s:
                row = inbox.load_claimed(s, inbox_id=inbox_id, owner=self.owner)
                if row is None:
                    return  # our claim expired and someone else took it
                self._dispatch(s, row, Inbound.from_dict(row.event), extra)
                inbox.mark_done(row, now=self.clock.now())
                s.commit()
        except Exception as exc:  # noqa: BLE001 - any failure: retry with backoff, then park visibly
            self._failed(inbox_id, exc)

    def _failed(self, inbox_id: int, exc: Exception) -> None:
        """Record a failed attempt (retried with backoff); the last one tells the sender and parks the row."""
        log.error(
            "inbox %s failed: %s",
            inbox_id,
            exc.__class__.__name__,
            extra={"trace": "".join(traceback.format_exception(exc, limit=5))},
        )
        with writer_session(self.session_factory) as s:
            status = inbox.mark_failed_attempt(
                s, inbox_id=inbox_id, now=self.clock.now(), error=f"{exc.__class__.__name__}: {exc}"
            )
            if status == "failed":
                row = s.get(inbox.InboxRow, inbox_id)
                outbox.enqueue(
                    s,
                    recipient=row.sender,
                    message=TextReply(content=texts.INTERNAL_ERROR).to_dict(),
                    dedupe_key=f"in:{inbox_id}:error",
                    now=self.clock.now(),
                )
            s.commit()

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
