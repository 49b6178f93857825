"""The scaled deployment for real: PostgreSQL + a real Redis server + two `serve --no-worker` callback
processes + two `worker` processes, all configured by env vars, WeCom emulated on loopback.

The peer alternates callbacks between the two servers; one worker is SIGKILLed mid-run. Every message is
stored once, processed once and answered exactly once (counted at the emulator). Claims the dead worker held
expire with their lease; the test does not wait for the 60 s / 120 s leases in real time: one tick as of
"three minutes later" stands for it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from bot.bootstrap import build
from bot.settings import Settings
from core.clock import FixedClock
from storage.db import make_engine, make_session_factory
from storage.models import InboxRow, OutboxRow
from storage.schema import create_all
from tests.conftest import BACKENDS, _fresh_pg_url
from tests.scaled.procs import (
    ROOT,
    EmulatorServer,
    clean_env,
    demo_wecom,
    free_port,
    main_py,
    peer_for,
    stop_all,
    text_xml,
    wait_until,
)

pytestmark = pytest.mark.skipif("postgres" not in BACKENDS, reason="TEST_DATABASES excludes postgres")
N = 400


def _tick_once(services) -> dict[str, int]:
    async def beat():
        try:
            return await services.tick()
        finally:
            await services.client.aclose()
            services.engine.dispose()

    return asyncio.run(beat())


def _counts(factory) -> tuple[Counter, Counter]:
    with factory() as s:
        inbox = Counter(
            dict(s.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all())
        )
        out = Counter(
            dict(s.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all())
        )
    return inbox, out


@pytest.mark.slow
def test_two_servers_two_workers_on_postgres_and_redis_one_worker_killed(pg_server, redis_server, tmp_path):
    db_url = _fresh_pg_url(pg_server)
    engine = make_engine(db_url)
    create_all(
        engine
    )  # the schema exists before the four processes start (concurrent upgrades race: see below)
    factory = make_session_factory(engine)
    redis_server.flushall()
    wecom = demo_wecom()
    procs = []
    with EmulatorServer(wecom) as emulator:
        env = clean_env(
            DATABASE_URL=db_url,
            REDIS_URL=f"unix://{redis_server.socket_file}",
            WECOM_API_BASE=emulator.api_base,
            WECOM_MAX_CLOCK_SKEW=300,
            DATA_DIR=tmp_path / "data",
            PUBLIC_BASE_URL="http://127.0.0.1:8000",
        )
        try:
            ports = [free_port(), free_port()]
            servers = [
                main_py(
                    ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(p)],
                    env=env,
                    cwd=tmp_path,
                    name=f"serve{i}",
                    port=p,
                )
                for i, p in enumerate(ports)
            ]
            workers = [main_py(["worker"], env=env, cwd=tmp_path, name=f"worker{i}") for i in range(2)]
            procs = servers + workers
            for s in servers:
                s.wait_http("/readyz")
            for (
                w
            ) in workers:  # both are polling before the first callback (on a loaded machine one starts late)
                wait_until(lambda w=w: "worker running" in w.log_tail(), timeout=60, what=f"{w.name} to run")
            client = httpx.Client(timeout=5)
            peers = [peer_for(wecom, p, client) for p in ports]
            now = int(time.time())
            sealed = [peers[0].seal(text_xml(f"u{i:04d}", 8_100_000 + i, now, f"消息{i}")) for i in range(N)]
            acked: Counter = Counter()
            lock = threading.Lock()
            killed = threading.Event()

            def deliver(i: int) -> None:
                params, body = sealed[i]
                for attempt in range(4):  # the original + WeCom's three retries
                    port = ports[(i + attempt) % 2]  # alternate servers; a retry may land on the other one
                    try:
                        r = client.post(
                            f"http://127.0.0.1:{port}/wecom/callback", params=params, content=body
                        )
                    except httpx.HTTPError:
                        continue
                    if r.status_code == 200:
                        with lock:
                            acked[port] += 1
                        return

            def finishers() -> int:  # how many workers have finished an event (its row keeps their id)
                with factory() as s:
                    q = select(func.count(InboxRow.claimed_by.distinct())).where(InboxRow.status == "done")
                    return int(s.scalar(q) or 0)

            def killer() -> None:  # SIGKILL worker0 once replies are flowing and both workers have done some
                wait_until(
                    lambda: len(wecom.all_deliveries()) >= N // 4 and finishers() >= 2,
                    timeout=90,
                    interval=0.05,
                    what="a quarter of the replies, by both workers",
                )
                workers[0].sigkill()
                killed.set()

            k = threading.Thread(target=killer, daemon=True)
            k.start()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(deliver, range(N)))
            assert sum(acked.values()) == N and all(acked[p] > N // 4 for p in ports), acked
            k.join(90)
            assert killed.is_set() and not workers[0].alive() and workers[1].alive()
            # the survivor does everything that was not claimed by the dead worker
            wait_until(
                lambda: (
                    lambda c: (
                        c[0]["new"] == 0 and c[1]["pending"] == 0 and c[0]["done"] + c[0]["processing"] == N
                    )
                )(_counts(factory)),
                timeout=120,
                what="the survivor to drain the backlog",
            )
            # a few minutes later the dead worker's leases have expired and any process takes its claims
            # over: one tick as of now + 3 min (what `main.py sweep --once --now T` runs), in this process
            later = FixedClock(datetime.now(UTC) + timedelta(minutes=3))
            settings = Settings(
                _env_file=None, **{k: v for k, v in env.items() if k in Settings.model_fields}
            )
            _tick_once(build(settings, clock=later))
            wait_until(lambda: len(wecom.all_deliveries()) >= N, timeout=60, what="all replies")
            time.sleep(1.5)  # one more worker beat: nothing further may arrive
            client.close()
        finally:
            stop_all(procs)
    inbox, out = _counts(factory)
    assert inbox == Counter({"done": N}), inbox
    assert out == Counter({"sent": N}), out
    per_user = Counter(d.userid for d in wecom.all_deliveries())
    assert len(per_user) == N and set(per_user.values()) == {1}
    assert wecom.dropped == []
    with factory() as s:  # both workers (and the sweep) really shared the work
        owners = set(s.scalars(select(InboxRow.claimed_by).distinct()))
    assert len(owners) >= 2, owners
    engine.dispose()


def test_four_processes_starting_on_an_empty_database_all_come_up(pg_server, tmp_path):
    """The scaled deployment's first start: two `serve` and two `worker` units start at once (systemd, a
    Procfile), each migrating the database to head. All four must come up."""
    db_url = _fresh_pg_url(pg_server)  # empty: no schema yet
    code = (
        "import sys; from storage.db import make_engine; from storage.schema import upgrade; "
        "upgrade(make_engine(sys.argv[1]))"
    )
    env = clean_env(PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    results = [(p.wait(120), p.stderr.read().decode(errors="replace")[-300:]) for p in procs]
    assert [rc for rc, _ in results] == [0, 0, 0, 0], results
