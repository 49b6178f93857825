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

Claims are short leases (storage/leases.py) renewed by a heartbeat while a batch is in progress, so the rows
of a worker killed mid-batch are taken over within seconds. An event whose handling raises is retried with
backoff (1, 2, 4, 8 s) and parked as `failed` after `inbox.MAX_ATTEMPTS` (5) attempts: the sender is told
once, in plain words, and every admin is alerted by a separate outbox row (and the log). A parked event no
longer holds back its sender's later events. `Deferred` (WeCom refuses the app's configuration) is not the
event's fault: it is put back without being charged an attempt.

Replies are handed to the relay at once: each reply goes into the outbox in the event's lane (LANE_REPLY to
the sender, LANE_FOLLOWUP to anyone else), and `on_replies`, when set (bot/bootstrap.py `Runtime.tick`), is
called after every commit that wrote replies, so the relay sends them while the rest of a backlog is handled.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Connection, select
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
from storage.db import EventWriter, LazySession, writer_session
from storage.leases import LEASE, Heartbeat
from storage.models import ConversationRow, UserRow

log = logging.getLogger("assistant.worker")

# Work that must not hold the database write lock (photo download and Pillow): it runs before the
# event's transaction and its result is handed to the handler. Must be idempotent. It answers at once
# (a dict, or None) or with a Future of one, for slow work that may run while other events are handled.
PrefetchResult = dict[str, Any] | None
Prefetch = Callable[[Inbound], PrefetchResult | Future[PrefetchResult]]
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
    prefetch_in_flight: int = 4  # Futures of one batch awaited at once (each may hold a 10 MB download)
    # called (from the worker's thread) after each commit that wrote replies: the relay's wake-up
    on_replies: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self._interrupted = False  # a batch broke off after claiming: give its rows back first
        self._writer = EventWriter(self.session_factory)  # the events' transactions: one held connection

    def run_once(self, *, look: bool = True) -> int:
        """Claim and handle one batch. Returns how many events were handled (or failed). `look=False` (the
        previous batch was full): claim without the lock-free look first."""
        if self._interrupted:
            with writer_session(self.session_factory) as s:
                released = inbox.release_claims(s, owner=self.owner)
                s.commit()
            self._interrupted = False
            if released:
                log.warning("released %d inbox rows this worker held when its last batch broke off", released)
        if look:
            with self.session_factory() as s:  # an idle tick must not take the write lock
                if not inbox.anything_waiting(s):
                    return 0
        with writer_session(self.session_factory) as s:
            ids = inbox.claim_events(s, now=self.clock.now(), owner=self.owner, limit=self.batch)
            s.commit()
        self._interrupted = True
        with Heartbeat(self._renew_leases), closing(self._writer):
            pending: dict[Future[PrefetchResult], inbox.Claimed] = {}
            for claimed in ids:
                started = self.handle(claimed)
                if isinstance(started, Future):
                    pending[started] = claimed
                    while len(pending) >= max(1, self.prefetch_in_flight):
                        self._finish_ready(pending)
            while pending:
                self._finish_ready(pending)
        self._interrupted = False
        return len(ids)

    def _renew_leases(self) -> None:
        with writer_session(self.session_factory) as s:
            inbox.renew_leases(s, owner=self.owner, until=self.clock.now() + LEASE)
            s.commit()

    def drain(self, max_rounds: int = 1000) -> int:
        total, n = 0, 0
        for _ in range(max_rounds):
            n = self.run_once(look=n < self.batch)  # after a full batch more is likely waiting
            total += n
            if n == 0:
                break
        return total

    def handle(self, item: inbox.Claimed | int) -> Future[PrefetchResult] | None:
        """Prefetch and handle one claimed event (as the claim returned it, or by id: then it is read). If
        its prefetch answers with a Future, the event is not handled yet: the Future is returned, and
        `finish(item, future)` handles the event once it is done (run_once does both)."""
        if isinstance(item, int):
            with self.session_factory() as s:
                found = inbox.load_event(s, inbox_id=item)
            if found is None:
                return None
            item = found
        try:
            event = Inbound.from_dict(item.event)
            extra = self.prefetch(event) if self.prefetch else None
        except Deferred as exc:
            self._defer(item.id, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - as a failure of the handler: retry with backoff
            self._failed(item.id, exc)
            return None
        if isinstance(extra, Future):
            return extra
        self._commit(item, event, extra)
        return None

    def _finish_ready(self, pending: dict[Future[PrefetchResult], inbox.Claimed]) -> None:
        """Wait for at least one pending prefetch; handle every finished one, in claim order."""
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: pending[f].id):
            self.finish(pending.pop(future), future)

    def finish(self, item: inbox.Claimed, future: Future[PrefetchResult]) -> None:
        """Handle an event whose prefetch Future `handle` returned (waits for it if it is not done)."""
        try:
            extra = future.result()
        except Deferred as exc:
            self._defer(item.id, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a transient download failure, a sandbox that cannot start
            self._failed(item.id, exc)
            return
        self._commit(item, Inbound.from_dict(item.event), extra)

    def _commit(self, item: inbox.Claimed, event: Inbound, extra: PrefetchResult) -> None:
        """The event's one transaction, on the batch's held connection: the row marked done (if our claim
        still holds: its first statement, which also locks the row on PostgreSQL), the person and their
        dialog state read in one statement, the handler's work (an ORM session only if it asks for one),
        its replies in one insert, one commit. The fixed statements are prepared (storage.db.RawStatement)."""
        try:
            conn = self._writer.connection()
            tx = conn.begin()
            session: LazySession | None = None
            try:
                if not inbox.finish_claimed(conn, inbox_id=item.id, owner=self.owner, now=self.clock.now()):
                    tx.rollback()
                    return  # our claim expired and someone else took it
                user, dialog_row = conversation.user_and_conversation(conn, item.sender)
                session = LazySession(conn, [r for r in (user, dialog_row) if r is not None])
                replies = self._dispatch(session, conn, item, event, extra, user, dialog_row)
                session.finish()
                tx.commit()
            finally:
                if tx.is_active:
                    tx.rollback()
                if session is not None:
                    session.close()
        except Deferred as exc:
            self._defer(item.id, exc)
        except Exception as exc:  # noqa: BLE001 - any failure: retry with backoff, then park visibly
            self._failed(item.id, exc)
        else:
            if replies:
                self._hand_over()

    def _hand_over(self) -> None:
        """Replies were committed: wake the relay (a failing wake-up never fails the event)."""
        if self.on_replies is not None:
            try:
                self.on_replies()
            except Exception:  # noqa: BLE001 - e.g. the tick's loop closed; the next beat sends them
                log.warning("could not wake the relay", exc_info=True)

    def _defer(self, inbox_id: int, exc: Deferred) -> None:
        """Not the event's fault (WeCom refuses the app's configuration): put back, not charged an attempt."""
        log.warning("inbox %s deferred: %s", inbox_id, exc)
        now = self.clock.now()
        with writer_session(self.session_factory) as s:
            inbox.defer(
                s, inbox_id=inbox_id, until=now + timedelta(seconds=DEFER_S), error=f"deferred: {exc}"
            )
            s.commit()

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
                self._parked(s, inbox_id, f"{exc.__class__.__name__}: {exc}")
            s.commit()
        if status == "failed":
            self._hand_over()

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
            lane=outbox.LANE_REPLY,
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
        self,
        s: LazySession,
        conn: Connection,
        row: inbox.Claimed,
        event: Inbound,
        extra: dict[str, Any] | None,
        user: UserRow | None,
        dialog_row: ConversationRow | None,
    ) -> int:
        """Route the event; its replies go into the outbox in its lane. Returns how many replies it wrote."""
        now = self.clock.now()
        state, data = conversation.state_from(dialog_row)
        ctx = Ctx(
            session=cast(Session, s),
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
            conversation.save(cast(Session, s), row.sender, state=ctx.state, data=ctx.state_data, now=now)
        if s.made:
            s.flush()  # the handler's ORM changes go first (an outbox row may refer to them)
        outbox.enqueue_rows(  # one prepared statement (an executemany) for all of the event's replies
            conn,
            [
                outbox.row_values(
                    recipient=recipient,
                    message=reply.to_dict(),
                    dedupe_key=f"in:{row.id}:{n}",
                    now=now,
                    lane=outbox.LANE_REPLY if recipient == row.sender else outbox.LANE_FOLLOWUP,
                )
                for n, (recipient, reply) in enumerate(ctx.outgoing)
            ],
        )
        return len(ctx.outgoing)
