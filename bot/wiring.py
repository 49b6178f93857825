"""Wire the parts for a running process: services + handler modules + timer sweep + photo prefetch."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from bot.reports import install as install_reports
from bot.services import Services, build_services
from bot.settings import Settings
from bot.wecom.media import make_prefetch
from core.clock import Clock, SystemClock
from handlers.registry import load_handlers
from handlers.sop.payments import rematch_contracts
from handlers.sop.sweep import ensure_recurring, sweep_due_timers
from handlers.visits.idle import close_idle_visits
from nlq.llm import model_from_env
from nlq.vocab import VocabCache
from storage import retention

log = logging.getLogger("assistant")


def build(settings: Settings, *, clock: Clock | None = None, redis_client: Any = None, transport: Any = None,
          create_schema: bool = True) -> Services:
    load_handlers()
    services = build_services(settings, clock=clock, redis_client=redis_client, transport=transport,
                              create_schema=create_schema)
    _install_parts(services)
    return services


def _install_llm(services: Services) -> None:
    """An OpenAI-compatible chat model for question parsing, when LLM_BASE_URL/LLM_MODEL are set, and the
    organisation's vocabulary cache the question handler reuses."""
    s = services.settings
    env = {k: v for k, v in (("LLM_BASE_URL", s.LLM_BASE_URL), ("LLM_API_KEY", s.LLM_API_KEY),
                             ("LLM_MODEL", s.LLM_MODEL)) if v}
    services.worker.settings["llm"] = model_from_env(env)
    services.worker.settings["vocab_cache"] = VocabCache(ttl_s=60)


def _install_parts(services: Services) -> None:
    """The sweeps every tick runs (idle visits, SOP timers, retention…), reports, and the photo prefetch."""
    _install_llm(services)
    sf, clock = services.session_factory, services.clock
    # the recurring timers book their successors when they fire; checking that one is pending (first start,
    # or cancelled by hand) is housekeeping, not every beat
    def sweep_timers() -> int:
        return sweep_due_timers(sf, clock, owner=services.worker.owner, recurring=False)

    services.extra["sweeps"] = [sweep_timers, lambda: len(ensure_recurring(sf, clock))]
    install_reports(services)  # prepends the booking of the recurring report timers
    retention.install(services, retain_days=services.settings.GPS_RETENTION_DAYS)
    sweeps = services.extra["sweeps"]
    sop = sweeps.index(sweep_timers)
    # housekeeping need not run every beat: booking, retention, idle visits at most every 30 s (clock time)
    services.extra["sweeps"] = [sweeps[sop]] + [every(30, clock, f) for i, f in enumerate(sweeps) if i != sop] + [
        every(30, clock, lambda: close_idle_visits(sf, clock))]
    services.worker.prefetch = make_prefetch(services)


def every(seconds: float, clock: Clock, fn: Callable[[], int | None]) -> Callable[[], int]:
    """Run `fn` at most once per `seconds` of clock time (tests move the clock, so they see it run)."""
    last: list[Any] = [None]

    def throttled() -> int:
        now = clock.now()
        if last[0] is not None and (now - last[0]).total_seconds() < seconds:
            return 0
        last[0] = now
        return fn() or 0

    return throttled


def on_payments_loaded(session) -> None:  # noqa: ANN001
    """The import's hook: a bank statement (or new contracts) re-runs contract matching."""
    rematch_contracts(session, SystemClock().now())


WAKE_GAP_S = 0.1  # a woken tick starts at least this long after the previous one began


async def run_forever(services: Services, *, interval: float = 1.0, listen: bool = True) -> None:
    """The `worker` process: APScheduler beats the tick (inbox, sweeps, outbox) every `interval` seconds.
    The scheduler holds no timers of ours: those are database rows the tick claims."""
    from datetime import datetime, timedelta

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    last_start = [0.0]  # monotonic time the latest tick began

    async def beat() -> None:
        last_start[0] = time.monotonic()
        try:
            await services.tick()
        except Exception:  # noqa: BLE001 - a failing tick must not stop the metronome
            log.exception("tick failed")

    scheduler = AsyncIOScheduler()
    scheduler.add_job(beat, "interval", seconds=interval, id="tick", coalesce=True, max_instances=1,
                      misfire_grace_time=None, next_run_time=datetime.now(scheduler.timezone))
    scheduler.start()

    def wake() -> None:
        """A tick now, or WAKE_GAP_S after the latest one began: under a flood of callbacks the ticks keep
        their batches (one tick at a time: max_instances=1, coalesced) instead of running for every message."""
        wait = max(0.0, last_start[0] + WAKE_GAP_S - time.monotonic())
        try:
            scheduler.modify_job("tick", next_run_time=datetime.now(scheduler.timezone) + timedelta(seconds=wait))
        except Exception:  # noqa: BLE001 - job missing during shutdown
            pass

    listener = (asyncio.create_task(listen_for_inbox(services.engine.url, wake))
                if listen and services.engine.dialect.name == "postgresql" else None)
    try:
        await asyncio.Event().wait()
    finally:
        if listener is not None:
            listener.cancel()
        scheduler.shutdown(wait=False)
        await services.client.aclose()


async def listen_for_inbox(url: Any, wake: Callable[[], None], *, retry_s: float = 5.0) -> None:
    """PostgreSQL LISTEN on the inbox channel: a callback stored by any `serve` process wakes this worker at
    once instead of at its next beat (the beat stays, as the fallback). A lost connection is retried; while
    it is down the beat alone carries on."""
    import psycopg

    from storage.inbox import INBOX_CHANNEL

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                await conn.execute(f"LISTEN {INBOX_CHANNEL}")
                wake()  # anything stored while we were not listening
                async for _ in conn.notifies():
                    wake()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the beat carries on; listen again later
            log.warning("inbox LISTEN lost (%s); retrying in %.0f s", exc.__class__.__name__, retry_s)
        await asyncio.sleep(retry_s)
