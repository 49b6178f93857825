"""The metronome of the inbox worker, timer sweep and outbox relay: APScheduler beats `Runtime.tick` every
`interval` seconds, and a stored callback wakes it at once (on PostgreSQL through LISTEN/NOTIFY, in `serve`
by a direct call). The scheduler holds no timers of ours: those are database rows the tick claims.

The `worker` process runs it on its main loop (`run_forever`); `serve` without --no-worker runs it on an event
loop of its own in a thread (`BeatThread`), so the relay's sends and the tick's bookkeeping never queue on the
loop that acknowledges callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.bootstrap import Runtime

log = logging.getLogger("assistant")

WAKE_GAP_S = 0.1  # a woken tick starts at least this long after the previous one began
STOP_GRACE_S = 10.0  # on SIGTERM or SIGINT, the running tick gets this long to finish its batch


async def run_forever(
    services: Runtime,
    *,
    interval: float = 1.0,
    listen: bool = True,
    stop: asyncio.Event | None = None,
    on_wake: Callable[[Callable[[], None]], None] | None = None,
    client: Any = None,
) -> None:
    """APScheduler beats the tick (inbox, sweeps, outbox) every `interval` seconds until SIGTERM or SIGINT
    (the `worker` process) or `stop` is set (`BeatThread`: no signal handlers, they belong to the main
    thread). `on_wake` receives the wake-up function once the scheduler runs; `client` is the WeCom client
    closed at the end (default services.client)."""
    from datetime import datetime, timedelta

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    last_start = [0.0]  # monotonic time the latest tick began
    # a wake-up during a tick: APScheduler skips a run due while one is running (max_instances=1) and
    # reschedules by the interval, so the wake-up would wait for the next beat (10 minutes with --beat 600);
    # it is remembered and a tick follows this one
    running, woken = [False], [False]

    async def beat() -> None:
        last_start[0] = time.monotonic()
        running[0], woken[0] = True, False
        try:
            await services.tick()
        except Exception:  # noqa: BLE001 - a failing tick must not stop the metronome
            log.exception("tick failed")
        finally:
            running[0] = False
            if woken[0]:
                wake()

    scheduler = AsyncIOScheduler()
    scheduler.add_job(
        beat,
        "interval",
        seconds=interval,
        id="tick",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=datetime.now(scheduler.timezone),
    )
    scheduler.start()

    def wake() -> None:
        """A tick now, or WAKE_GAP_S after the latest one began: under a flood of callbacks the ticks keep
        their batches (one tick at a time: max_instances=1, coalesced) instead of running for every message."""
        if running[0]:  # the running tick may have looked already: another one follows it (beat)
            woken[0] = True
            return
        wait = max(0.0, last_start[0] + WAKE_GAP_S - time.monotonic())
        try:
            scheduler.modify_job(
                "tick", next_run_time=datetime.now(scheduler.timezone) + timedelta(seconds=wait)
            )
        except Exception:  # noqa: BLE001 - job missing during shutdown
            pass

    listener = (
        asyncio.create_task(listen_for_inbox(services.engine.url, wake))
        if listen and services.engine.dialect.name == "postgresql"
        else None
    )
    # SIGTERM (systemd, docker stop, a supervisor) ends the process the way Ctrl-C does: the running tick
    # finishes its batch, then the process exits normally, so its exit handlers run (the bundled Redis
    # server is stopped by one; Python's default SIGTERM skips them and the daemonized server lives on)
    loop = asyncio.get_running_loop()
    signals = stop is None
    stop = stop or asyncio.Event()
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)} if signals else {}
    if signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
                loop.add_signal_handler(sig, stop.set)
    if on_wake is not None:
        on_wake(wake)
    log.info("worker running (beat every %.2f s)", interval)
    try:
        await stop.wait()
        log.info("worker stopping")
    finally:
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)
                    signal.signal(sig, before[sig])  # the process's own (main.py: exit through the handlers)
        if listener is not None:
            listener.cancel()
        scheduler.shutdown(wait=False)
        deadline = time.monotonic() + STOP_GRACE_S
        while running[0] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await (client or services.client).aclose()


class BeatThread:
    """`serve`'s own worker: `run_forever` on an event loop of its own, in a daemon thread. The relay sends
    through a WeCom client of that loop (an httpx client belongs to one loop); the callback's loop keeps
    services.client (sign-in, readiness, the menu). `wake()` may be called from any thread."""

    def __init__(self, services: Runtime, *, interval: float = 1.0):
        self.services, self.interval = services, interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._wake: Callable[[], None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="beat", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # noqa: BLE001 - logged; the callback keeps storing, a restart resumes the work
            log.exception("the in-process worker stopped")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        relay = self.services.relay
        theirs, own = relay.client, self.services.client.sibling()
        relay.client = own

        def ready(wake: Callable[[], None]) -> None:
            self._wake = wake
            self._ready.set()

        try:
            await run_forever(
                self.services,
                interval=self.interval,
                listen=False,
                stop=self._stop,
                on_wake=ready,
                client=own,
            )
        finally:
            relay.client = theirs

    def wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
                loop.call_soon_threadsafe(wake)

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(STOP_GRACE_S + 5)


async def listen_for_inbox(url: Any, wake: Callable[[], None], *, retry_s: float = 5.0) -> None:
    """PostgreSQL LISTEN on the inbox channel: a callback stored by any `serve` process wakes this worker at
    once instead of at its next beat (the beat stays, as the fallback). A lost connection is retried; while
    it is down the beat alone carries on."""
    import psycopg

    from storage.inbox import INBOX_CHANNEL

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, connect_timeout=5
            ) as conn:
                await conn.execute(f"LISTEN {INBOX_CHANNEL}")
                wake()  # anything stored while we were not listening
                async for _ in conn.notifies():
                    wake()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the beat carries on; listen again later
            log.warning("inbox LISTEN lost (%s); retrying in %.0f s", exc.__class__.__name__, retry_s)
        await asyncio.sleep(retry_s)
