"""The composition root: build every long-lived part from Settings, and spell out what one tick runs.

`build(settings)` → `Runtime`: the database, Redis, the WeCom crypto and client, the clock, the handlers'
dependencies (`HandlerDeps`), the inbox worker with the route table, the outbox relay, and `TICK`, the steps
of one beat. `main.py` (serve, worker, sweep, demo), the tests' harness and the benches all call `build`.

One tick (`Runtime.tick`): the inbox worker (in a thread) and the outbox relay (on the loop) run side by side,
so under any backlog the first reply leaves as soon as its event is handled:
- the worker's thread: 1. inbox: claim stored callbacks in order per sender, route each to its handler
  (handlers/routes.py), write its replies to the outbox in the same transaction, and wake the relay after
  each commit that wrote replies; 2. the steps of `tick_steps`: due SOP timers every beat; booking recurring
  timers, GPS retention and idle visits at most every 30 s of clock time; 3. inbox again when timers fired
  (their work may have queued events); then, while the relay is still sending, it keeps looking at the inbox
  (every POLL_S), so a message stored meanwhile is answered within the same tick;
- the relay, two families of small rounds (50 rows each, storage/outbox.py lanes) side by side on the loop:
  replies and dialog follow-ups from the first commit that wrote one, and alerts, reminders and digests once
  the replies to the worker's first batch (≤ 50 events) are sent; each family's rounds follow one another (each person's rows keep
  their order within a lane) and the per-person budget counts the other family's sends in flight. They end
  when nothing is due and the worker's first pass is over; the tick ends with both.
`Runtime.interleave = False` gives the earlier order (the whole inbox, the steps, then the relay; the bench's
"before" figures).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import build_channels
from bot.settings import Settings
from bot.web.brief_png import render_weekly_brief
from bot.web.handoff_png import render_handoff_report
from bot.web.target_png import render_penetration
from bot.wecom.client import WeComClient
from bot.wecom.contacts import with_contacts
from bot.wecom.crypto import WeComCrypto
from bot.wecom.external import with_external_contacts
from bot.wecom.media import make_prefetch
from bot.wecom.relay import Relay
from core.clock import Clock, SystemClock
from core.contacts.mapping import parse_rules
from core.ics_token import derive_key as derive_ics_key
from handlers import routes
from handlers.ask import with_model_reading
from handlers.context import HandlerDeps
from handlers.contracts import handoff as contract_handoff
from handlers.handover import flow as handover
from handlers.routes import ROUTER
from handlers.sop import catch_up
from handlers.sop.sweep import Firing, ensure_recurring, sweep_due_timers
from handlers.visits.idle import close_idle_visits
from handlers.worker import InboxWorker
from nlq.llm import lane_from_env
from nlq.vocab import VocabCache
from storage import outbox, retention
from storage.db import make_engine, make_session_factory
from storage.importer.run import ImportSummary
from storage.redis_conn import connect_redis
from storage.schema import upgrade

log = logging.getLogger("assistant")

HOUSEKEEPING_S = 30.0  # booking, retention and idle visits need not run every beat
POLL_S = 0.05  # while the relay sends a backlog, the worker looks at the inbox this often
BULK_LOOK_S = (
    1.0  # during a tick, the alerts' rounds look for work at least this often (replies wake them not)
)


@dataclass(frozen=True)
class Step:
    """One step of a tick: `run()` returns how many timers (or rows) it fired; `every_s` throttles it to at
    most once per that many seconds of clock time (tests move the clock, so they see it run)."""

    name: str
    run: Callable[[], int]
    every_s: float | None = None


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    redis: Any
    crypto: WeComCrypto
    client: WeComClient
    clock: Clock
    deps: HandlerDeps
    worker: InboxWorker
    relay: Relay
    firing: Firing
    steps: tuple[Step, ...] = ()
    interleave: bool = True  # False: the whole inbox, then the relay (the order before lanes; for the bench)

    def __post_init__(self) -> None:
        self._last_run: dict[str, Any] = {}

    async def tick(self) -> dict[str, int]:
        """One beat: the inbox and the steps in a thread while the relay sends on the loop, each reply as soon
        as its event committed (module docstring). Safe to run in several processes at once."""
        if not self.interleave:
            handled, fired = await asyncio.to_thread(self._work, None)
            return {"inbox": handled, "timers": fired, "outbox": await self.relay.drain()}
        loop = asyncio.get_running_loop()
        replies_wake, bulk_wake = asyncio.Event(), asyncio.Event()
        relay_done = threading.Event()
        started = threading.Event()  # the worker's first batch is committed (or there was none)
        drained = threading.Event()  # the worker's first pass (inbox, steps, inbox) is over
        bulk_over = asyncio.Event()
        replies_caught_up = asyncio.Event()  # a replies round began after the first batch and ended

        def wake_both() -> None:
            replies_wake.set()
            bulk_wake.set()

        def nudge() -> None:  # from the worker's thread: its first batch, the timers, the first pass over
            loop.call_soon_threadsafe(wake_both)

        # after each event's commit: its replies are in the interactive lanes, so only their rounds look (an
        # alert a handler wrote waits for the alerts' next look, at most BULK_LOOK_S)
        self.worker.on_replies = lambda: loop.call_soon_threadsafe(replies_wake.set)
        work = asyncio.ensure_future(asyncio.to_thread(self._work, relay_done, started, drained, nudge))
        work.add_done_callback(lambda _: wake_both())

        def first_pass_over() -> bool:
            return drained.is_set() or work.done()

        async def rounds(
            lanes: tuple[int, ...], wake: asyncio.Event, start: Any, stop: Any, idle_s: float | None = None
        ) -> int:
            """This lane family's rounds, one after another, from `start()` until nothing is due and `stop()`.
            A round right after one that claimed rows claims without the look first (rows are likely due: the
            look would be a second read of the same index). Between rounds it waits for a wake-up, or
            `idle_s`."""
            sent, busy = 0, False
            while not start():
                await wake.wait()
                wake.clear()
            while True:
                wake.clear()
                after_first_batch = started.is_set()
                n = await self.relay.run_once(lanes, look=not busy)
                busy = n > 0
                if lanes == outbox.INTERACTIVE:
                    if after_first_batch and not replies_caught_up.is_set():
                        replies_caught_up.set()
                        bulk_wake.set()
                else:
                    replies_wake.set()  # a look at the replies after every round of alerts (a pause ended)
                sent += n
                if n:
                    continue
                if stop():
                    return sent
                try:
                    await asyncio.wait_for(wake.wait(), idle_s)
                except TimeoutError:
                    pass

        async def bulk() -> int:
            try:
                sent = await rounds(
                    (outbox.LANE_BULK,),
                    bulk_wake,
                    lambda: replies_caught_up.is_set(),
                    first_pass_over,
                    idle_s=BULK_LOOK_S,
                )
                replies_wake.set()  # the replies' rounds may end now
                return sent
            finally:
                bulk_over.set()

        # replies and follow-ups in rounds of their own from the first commit, beside the alerts' rounds (after
        # the replies to the worker's first batch went out): a reply never waits for a round of alerts
        tasks = [
            asyncio.ensure_future(
                rounds(outbox.INTERACTIVE, replies_wake, lambda: True, lambda: bulk_over.is_set())
            ),
            asyncio.ensure_future(bulk()),
        ]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:  # one family failed (a database error): the other stops too
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            sent = sum(task.result() for task in tasks)
        finally:
            relay_done.set()
            try:
                handled, fired = await work
            finally:
                self.worker.on_replies = None
        sent += await self.relay.drain()  # replies committed after the relay's last look
        return {"inbox": handled, "timers": fired, "outbox": sent}

    def _work(
        self,
        relay_done: threading.Event | None,
        started: threading.Event | None = None,
        drained: threading.Event | None = None,
        nudge: Callable[[], None] | None = None,
    ) -> tuple[int, int]:
        """The worker's side of a tick: inbox (`started` set after its first batch), steps, inbox again if
        timers fired; then, until the relay is done (`relay_done`), the inbox every POLL_S. Returns (events
        handled, timers fired)."""
        try:
            handled = self.worker.run_once()
        finally:
            if started is not None:
                started.set()
                if nudge is not None:
                    nudge()
        if handled:
            handled += self.worker.drain()
        fired = self._run_steps()
        if fired:
            if nudge is not None:
                nudge()  # the timers' messages
            handled += self.worker.drain()
        if drained is not None:
            drained.set()
            if nudge is not None:
                nudge()
        while relay_done is not None and not relay_done.wait(POLL_S):
            handled += self.worker.drain()
        return handled, fired

    def _run_steps(self) -> int:
        """Timers, booking, retention, idle visits: each claims its rows atomically (one thread hop for all)."""
        fired = 0
        now = self.clock.now()
        for step in self.steps:
            if step.every_s is not None:
                last = self._last_run.get(step.name)
                if last is not None and (now - last).total_seconds() < step.every_s:
                    continue
                self._last_run[step.name] = now
            fired += step.run() or 0
        return fired

    # /healthz and /readyz: bot/health.py (each dependency checked apart, with its own timeout)


def tick_steps(rt: Runtime) -> tuple[Step, ...]:
    """THE steps of a tick after the inbox (see the module docstring)."""
    sf, clock, s = rt.session_factory, rt.clock, rt.settings
    return (
        Step(
            "timers",
            lambda: sweep_due_timers(sf, clock, owner=rt.worker.owner, recurring=False, firing=rt.firing),
        ),
        Step(
            "book recurring timers",
            lambda: len(ensure_recurring(sf, clock, rt.firing.recurring)),
            every_s=HOUSEKEEPING_S,
        ),
        Step(
            "gps retention",
            retention.make_sweep(
                sf, clock, retain_days=s.GPS_RETENTION_DAYS, message_retain_days=s.MESSAGE_RETENTION_DAYS
            ),
            every_s=HOUSEKEEPING_S,
        ),
        Step("idle visits", lambda: close_idle_visits(sf, clock), every_s=HOUSEKEEPING_S),
    )


def handler_deps(settings: Settings) -> HandlerDeps:
    """The handlers' dependencies from the settings: link keys, the LLM, the vocabulary cache, the brief renderer."""
    llm_env = {
        k: v
        for k, v in (
            ("LLM_BASE_URL", settings.LLM_BASE_URL),
            ("LLM_API_KEY", settings.LLM_API_KEY),
            ("LLM_MODEL", settings.LLM_MODEL),
            ("LLM_TIMEOUT_S", str(settings.LLM_TIMEOUT_S)),
            ("LLM_BUDGET_S", str(settings.LLM_BUDGET_S)),
            ("LLM_LANES", str(settings.LLM_LANES)),
            ("LLM_METHOD", settings.LLM_METHOD),
        )
        if v
    }
    return HandlerDeps(
        public_base_url=settings.PUBLIC_BASE_URL,
        ics_key=derive_ics_key(settings.WECOM_SECRET),
        llm=lane_from_env(llm_env),  # the model in its own lane (nlq.llm.ModelLane), or None
        vocab_cache=VocabCache(ttl_s=60),
        render_brief=render_weekly_brief,
        render_target_report=render_penetration,
        render_handoff_report=render_handoff_report,
        files_root=Path(settings.DATA_DIR),
        alert_channels=frozenset(
            k for k, on in (("email", settings.SMTP_HOST), ("sms", settings.SMS_PROVIDER)) if on
        ),
        customer_contact=settings.WECOM_CUSTOMER_CONTACT,
        contact_role_rules=parse_rules(settings.CONTACTS_ROLE_RULES),
        contacts_nightly=settings.CONTACTS_SYNC,
    )


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    redis_client: Any = None,
    transport: Any = None,
    create_schema: bool = True,
) -> Runtime:
    """Every part of a running process. Nothing starts running: `serve` and `worker` beat `Runtime.tick`."""
    clock = clock or SystemClock()
    engine = make_engine(settings.DATABASE_URL)
    if create_schema:
        upgrade(engine)
    factory = make_session_factory(engine)
    redis_client = (
        redis_client
        if redis_client is not None
        else connect_redis(settings.REDIS_URL, data_dir=Path(settings.DATA_DIR))
    )
    crypto = WeComCrypto(
        token=settings.WECOM_TOKEN, encoding_aes_key=settings.WECOM_AES_KEY, corp_id=settings.WECOM_CORP_ID
    )
    client = WeComClient(
        api_base=settings.WECOM_API_BASE,
        corp_id=settings.WECOM_CORP_ID,
        secret=settings.WECOM_SECRET,
        agent_id=settings.WECOM_AGENT_ID,
        redis=redis_client,
        transport=transport,
    )
    owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
    channels = build_channels(settings, clock=clock)
    deps = handler_deps(settings)
    worker = InboxWorker(session_factory=factory, clock=clock, owner=owner, deps=deps, router=ROUTER)
    relay = Relay(
        session_factory=factory,
        client=client,
        clock=clock,
        agent_id=settings.WECOM_AGENT_ID,
        file_root=Path(settings.DATA_DIR),
        channels=channels,
    )
    firing = routes.firing(deps)
    rt = Runtime(
        settings=settings,
        engine=engine,
        session_factory=factory,
        redis=redis_client,
        crypto=crypto,
        client=client,
        clock=clock,
        deps=deps,
        worker=worker,
        relay=relay,
        firing=firing,
    )
    rt.steps = tick_steps(rt)
    rt.interleave = settings.TICK_INTERLEAVE
    # photos, 客户联系 look-ups, the address book (read before a sync's transaction: bot/wecom/contacts.py), and a
    # manager's question read by the model (if one is set) while the batch goes on
    photos = make_prefetch(rt)
    worker.prefetch = with_model_reading(
        with_contacts(with_external_contacts(photos, photos.client)),  # 客户联系: docs/customer-contacts.md
        deps=deps,
        session_factory=factory,
        clock=clock,
        router=ROUTER,
    )
    return rt


def on_imported(session: Session, summary: ImportSummary, now: datetime) -> None:
    """The import's hook once every table is in (`main.py import`, the demo): contract matching when contracts
    or payments came in, and what is already stale or overdue held for one catch-up digest per person
    (handlers/sop/catch_up.py) instead of one alert per historical item."""
    contract_handoff.after_import(session, summary, now)  # terms → instalments, 已签约 → hand-off
    catch_up.after_import(session, now, payments_loaded=bool({"contracts", "payments"} & set(summary.tables)))
    if "users" in summary.tables:
        handover.after_import(session, now)  # who left (在职=否) or moved: a hand-over card to their manager
