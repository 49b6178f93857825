"""The composition root: build every long-lived part from Settings, and spell out what one tick runs.

`build(settings)` → `Runtime`: the database, Redis, the WeCom crypto and client, the clock, the handlers'
dependencies (`HandlerDeps`), the inbox worker with the route table, the outbox relay, and `TICK`, the steps
of one beat. `main.py` (serve, worker, sweep, demo), the tests' harness and the benches all call `build`.

One tick (`Runtime.tick`), in this order:
1. inbox: claim stored callbacks in order per sender, route each to its handler (handlers/routes.py), write
   its replies to the outbox in the same transaction;
2. the steps of `tick_steps`: due SOP timers every beat; booking recurring timers, GPS retention and idle
   visits at most every 30 s of clock time;
3. inbox again when timers fired (their work may have queued events);
4. outbox: the relay sends what is due.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from bot.web.brief_png import render_weekly_brief
from bot.wecom.client import WeComClient, kind_of
from bot.wecom.crypto import WeComCrypto
from bot.wecom.media import make_prefetch
from bot.wecom.relay import Relay
from core.clock import Clock, SystemClock
from core.dashboard_token import derive_key as derive_dashboard_key
from core.ics_token import derive_key as derive_ics_key
from handlers import routes
from handlers.context import HandlerDeps
from handlers.contracts import handoff as contract_handoff
from handlers.routes import ROUTER
from handlers.sop import catch_up
from handlers.sop.sweep import Firing, ensure_recurring, sweep_due_timers
from handlers.visits.idle import close_idle_visits
from handlers.worker import InboxWorker
from nlq.llm import model_from_env
from nlq.vocab import VocabCache
from storage import outbox, retention
from storage.db import make_engine, make_session_factory
from storage.importer.run import ImportSummary
from storage.models import InboxRow, OutboxRow
from storage.redis_conn import connect_redis, ping
from storage.schema import upgrade

log = logging.getLogger("assistant")

HOUSEKEEPING_S = 30.0  # booking, retention and idle visits need not run every beat


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

    def __post_init__(self) -> None:
        self._last_run: dict[str, Any] = {}

    async def tick(self) -> dict[str, int]:
        """One beat: inbox, the steps, outbox. Safe to run in several processes at once."""
        handled = await asyncio.to_thread(self.worker.drain)
        fired = await asyncio.to_thread(self._run_steps)
        if fired:
            handled += await asyncio.to_thread(self.worker.drain)
        sent = await self.relay.drain()
        return {"inbox": handled, "timers": fired, "outbox": sent}

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

    def ready(self) -> dict[str, bool]:
        """database and Redis reachable, and WeCom taking the app's calls (no `wecom_pause` row)."""
        return {k: v for k, v in self.readiness().items() if isinstance(v, bool)}

    def readiness(self) -> dict[str, Any]:
        """/readyz's body: each check a bool; `wecom_error` (errcode, reason, fix, since, in Chinese where a
        person reads it) while WeCom refuses the app's configuration; `parked_24h`, rows parked in the last
        day (outbox `dead` + inbox `failed`), for monitoring — it does not make the service unready."""
        out: dict[str, Any] = {"database": True, "redis": ping(self.redis), "wecom": True}
        try:
            with self.session_factory() as s:
                s.execute(text("SELECT 1"))
                pause = outbox.current_pause(s)
                since = self.clock.now() - timedelta(days=1)
                out["parked_24h"] = int(
                    s.scalar(
                        select(func.count())
                        .select_from(OutboxRow)
                        .where(OutboxRow.status == "dead", OutboxRow.created_at > since)
                    )
                    or 0
                ) + int(
                    s.scalar(
                        select(func.count())
                        .select_from(InboxRow)
                        .where(InboxRow.status == "failed", InboxRow.received_at > since)
                    )
                    or 0
                )
        except Exception:  # noqa: BLE001
            out["database"] = False
            return out
        if pause is not None:
            kind = kind_of(pause.errcode)
            out["wecom"] = False
            out["wecom_error"] = {
                "errcode": pause.errcode,
                "reason": kind.reason,
                "fix": kind.fix,
                "message": f"企业微信拒绝调用（errcode {pause.errcode}）：{kind.reason}。修复：{kind.fix}",
                "since": pause.since.isoformat(),
                "probes": pause.probes,
                "next_probe_at": pause.next_probe_at.isoformat(),
                "errmsg": pause.errmsg,
            }
        return out


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
        )
        if v
    }
    return HandlerDeps(
        public_base_url=settings.PUBLIC_BASE_URL,
        ics_key=derive_ics_key(settings.WECOM_SECRET),
        dashboard_key=derive_dashboard_key(settings.WECOM_SECRET),
        llm=model_from_env(llm_env),
        vocab_cache=VocabCache(ttl_s=60),
        render_brief=render_weekly_brief,
        files_root=Path(settings.DATA_DIR),
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
    deps = handler_deps(settings)
    worker = InboxWorker(session_factory=factory, clock=clock, owner=owner, deps=deps, router=ROUTER)
    relay = Relay(
        session_factory=factory,
        client=client,
        clock=clock,
        agent_id=settings.WECOM_AGENT_ID,
        file_root=Path(settings.DATA_DIR),
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
    worker.prefetch = make_prefetch(rt)
    return rt


def on_imported(session: Session, summary: ImportSummary, now: datetime) -> None:
    """The import's hook once every table is in (`main.py import`, the demo): contract matching when contracts
    or payments came in, and what is already stale or overdue held for one catch-up digest per person
    (handlers/sop/catch_up.py) instead of one alert per historical item."""
    contract_handoff.after_import(session, summary, now)  # terms → instalments, 已签约 → hand-off
    catch_up.after_import(session, now, payments_loaded=bool({"contracts", "payments"} & set(summary.tables)))
