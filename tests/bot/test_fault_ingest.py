"""kill -9 of the server at ten random points in 1,000 inbound messages: WeCom re-delivers what was not
acknowledged (and, as WeCom does, some that were) → every message is stored once, processed once, answered once.

Reading of the issue's "kill -9 at random points in 1,000 inbound messages, repeated 10 times": one stream of
1,000 messages with ten kills in it (eleven server lives), not ten streams — the same ten kill/restart cycles
in a quarter of the time. The server runs the callback *and* the worker/relay (against the emulated WeCom over
HTTP), so a kill can land in the ingest (callbacks in flight, committed or not) and in the worker (an event
half-handled, a reply sent to WeCom but not yet marked sent). A seeded RNG draws ten kill points spread over the
stream (positions between 20 and 900 of the 1,000 messages, at least 6 apart) and, for each, a kind:

- `ingest` — kill -9 when that many distinct messages have been acknowledged (the worker is usually draining
  at the same moment, so this also cuts handler transactions);
- `send`   — at that point WeCom pauses (a lull in traffic) while the worker catches up, and the kill fires from
  inside the emulated WeCom the moment it accepted the life's s-th message/send (s random in 1..12): WeCom
  delivered the reply, the server never heard. (Should no send come within 10 s, the kill fires anyway and is
  recorded as `hold-timeout`.)

The seed is printed (and in every assertion message); `KILL_SEED=<n>` replays the same plan. Thread timing still
varies, so a replay repeats the kill points, not every interleaving.

After the stream a worker in this process drains what the dead lives left claimed (the clock moved past the
leases) through the same emulated WeCom, whose duplicate check — like WeCom's `enable_duplicate_check` — turns a
resend of the same bytes into no second delivery.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import func, select
from starlette.requests import ClientDisconnect

from bot.bootstrap import build
from bot.emulator.api import create_api_router
from bot.emulator.corp import DEMO_CORP
from bot.emulator.peer import WeComPeer
from bot.emulator.state import FakeWeCom
from core.clock import FixedClock
from storage.models import InboxRow, OutboxRow
from tests.support.db import make_settings
from tests.support.fault_report import lost_and_twice, record
from tests.support.processes import reap_orphans

ROOT = Path(__file__).resolve().parents[2]
N = 1000
KILLS = 10
SENDERS = 16


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(
    db_url: str,
    data: Path,
    port: int,
    *,
    api_base: str | None = None,
    redis_url: str | None = None,
    log: Path | None = None,
) -> subprocess.Popen:
    """The callback server (with the worker and relay when `api_base` is given) in its own process."""
    cmd = [
        sys.executable,
        "-m",
        "tests.bench.app",
        "--mode",
        "callback",
        "--port",
        str(port),
        "--data",
        str(data),
        "--db",
        db_url,
    ]
    if api_base:
        cmd += ["--worker", "--api-base", api_base]
    env = {**os.environ, **({"REDIS_URL": redis_url} if redis_url else {})}
    err = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    finally:
        if log:
            err.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited") from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


class _Emulator:
    """FakeWeCom's API over real HTTP in a thread; `on_send` runs after each accepted message/send,
    before the answer leaves (so a kill there is "WeCom delivered, the server never heard")."""

    def __init__(self, wecom: FakeWeCom, on_send):
        app = FastAPI()

        @app.middleware("http")
        async def watch(request: Request, call_next):
            try:
                response = await call_next(request)
            except ClientDisconnect:  # the server was killed while sending: nobody to answer
                return Response(status_code=499)
            if request.url.path.endswith("/message/send") and response.status_code == 200:
                on_send()
            return response

        app.include_router(create_api_router(wecom))
        self.port = _port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="off"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


class _Chaos:
    """The stream, the kill plan and the restarts, under one condition variable."""

    def __init__(self, rng: random.Random, start_server):
        self.rng, self.start_server = rng, start_server
        self.cv = threading.Condition()
        points = sorted(10 * p + rng.randint(0, 4) for p in rng.sample(range(2, 90), KILLS))
        # (kind, acknowledged messages at which it fires or WeCom pauses, sends before a `send` kill)
        self.plan = [
            ("ingest", at, 0) if rng.random() < 0.5 else ("send", at, rng.randint(1, 12)) for at in points
        ]
        self.queue: deque[int] = deque(range(N))
        self.acked: set[int] = set()
        self.in_flight = 0
        self.up = False
        self.restart_needed = False
        self.proc: subprocess.Popen | None = None
        self.life_acked: list[int] = []
        self.life_sends = 0
        self.holding_since: float | None = None  # WeCom paused so the worker catches up (a `send` life)
        self.kills: list[dict] = []
        self.posts = 0
        self.deadline = time.monotonic() + 180  # a hang fails the test instead of the CI run

    # -- the server's lives --------------------------------------------------------------------------
    def start(self) -> None:
        proc = self.start_server()
        with self.cv:
            self.proc, self.life_acked, self.life_sends, self.holding_since = proc, [], 0, None
            self.up, self.restart_needed = True, False
            self.cv.notify_all()

    def _kill(self, trigger: str) -> None:  # holds cv
        kind, at, sends = self.plan.pop(0)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.up, self.restart_needed, self.holding_since = False, True, None
        self.kills.append(
            {
                "planned": f"{kind}@{at}" + (f"+{sends} sends" if sends else ""),
                "fired_by": trigger,
                "acked": len(self.acked),
                "life_acks": len(self.life_acked),
                "life_sends": self.life_sends,
            }
        )
        # WeCom also re-delivers some acknowledged callbacks (an answer lost on the way back): a fifth of this life's
        again = [i for i in self.life_acked if self.rng.random() < 0.2]
        self.queue.extend(again)
        self.cv.notify_all()

    def _maybe_kill(self) -> None:  # holds cv
        if not self.up or not self.plan:
            return
        kind, at, sends = self.plan[0]
        if kind == "ingest" and len(self.acked) >= at:
            self._kill("ingest")
        elif kind == "send" and self.holding_since is not None and self.life_sends >= sends:
            self._kill("send")
        elif kind == "send" and self.holding_since is None and len(self.acked) >= at:
            self.holding_since = time.monotonic()
            self.life_sends = 0
        elif self.holding_since is not None and time.monotonic() - self.holding_since > 10:
            self._kill("hold-timeout")

    def on_send(self) -> None:
        with self.cv:
            self.life_sends += 1
            self._maybe_kill()

    def run_restarts(self, senders: list[threading.Thread]) -> None:
        """Main thread: restart the server after each kill until the senders are done."""
        while True:
            with self.cv:
                self.cv.wait_for(
                    lambda: self.restart_needed or not any(t.is_alive() for t in senders), timeout=1
                )
                if not self.restart_needed:
                    if not any(t.is_alive() for t in senders):
                        return
                    self._maybe_kill()  # a hold that saw no send
                    continue
                dead = self.proc
            dead.wait(10)
            self.start()

    # -- WeCom's side ------------------------------------------------------------------------------------
    def _take(self) -> int | None:
        with self.cv:
            while True:
                if self.up and self.queue and self.holding_since is None:
                    self.in_flight += 1
                    return self.queue.popleft()
                if self.up and not self.queue and self.in_flight == 0 and not self.plan:
                    self.cv.notify_all()
                    return None
                if time.monotonic() > self.deadline:
                    return None
                self.cv.wait(0.5)

    def sender(self, client: httpx.Client, url: str, sealed: list) -> None:
        while (i := self._take()) is not None:
            params, body = sealed[i]
            try:
                ok = client.post(url, params=params, content=body).status_code == 200
            except httpx.HTTPError:
                ok = False
            with self.cv:
                self.in_flight -= 1
                self.posts += 1
                if ok:
                    self.acked.add(i)
                    self.life_acked.append(i)
                    self._maybe_kill()
                else:
                    self.queue.append(i)  # not acknowledged: WeCom sends it again
                self.cv.notify_all()


@pytest.mark.slow
def test_sigkill_ten_times_in_1000_messages_loses_nothing_and_doubles_nothing(db_url, tmp_path, redis_server):
    seed = int(os.environ.get("KILL_SEED") or random.SystemRandom().randrange(2**31))
    print(f"KILL_SEED={seed}")
    redis_server.flushall()
    wecom = FakeWeCom(
        corp_id=DEMO_CORP["WECOM_CORP_ID"],
        secret=DEMO_CORP["WECOM_SECRET"],
        agent_id=DEMO_CORP["WECOM_AGENT_ID"],
    )
    chaos: _Chaos | None = None
    with _Emulator(wecom, on_send=lambda: chaos.on_send()) as emu:
        port = _port()
        lives = iter(range(100))

        def start_server() -> subprocess.Popen:
            return _serve(
                db_url,
                tmp_path / "srv",
                port,
                api_base=emu.base,
                redis_url=f"unix://{redis_server.socket_file}",
                log=tmp_path / f"life{next(lives)}.log",
            )

        chaos = _Chaos(random.Random(seed), start_server)
        ctx = f"KILL_SEED={seed} plan={chaos.plan}"
        client = httpx.Client(timeout=5, limits=httpx.Limits(max_connections=SENDERS))
        url = f"http://127.0.0.1:{port}/wecom/callback"
        peer = WeComPeer(
            wecom,
            callback_url=url,
            token=DEMO_CORP["WECOM_TOKEN"],
            aes_key=DEMO_CORP["WECOM_AES_KEY"],
            corp_id=DEMO_CORP["WECOM_CORP_ID"],
            agent_id=DEMO_CORP["WECOM_AGENT_ID"],
            client=client,
        )
        # every request built first: a WeCom retry resends the same bytes
        sealed = [peer.seal(_text_xml(f"m{i:04d}", i)) for i in range(N)]
        chaos.start()
        try:
            senders = [
                threading.Thread(target=chaos.sender, args=(client, url, sealed), daemon=True)
                for _ in range(SENDERS)
            ]
            for t in senders:
                t.start()
            chaos.run_restarts(senders)
            for t in senders:
                t.join()
        finally:
            chaos.proc.terminate()
            chaos.proc.wait(10)
            client.close()
            reap_orphans()  # the bundled Redis of every server life killed with SIGKILL
        ctx += f" kills={chaos.kills}"
        print(ctx)
        assert len(chaos.kills) == KILLS, ctx
        assert all(0 < k["acked"] < N for k in chaos.kills), ctx  # every kill mid-stream
        assert len(chaos.acked) == N, ctx

        # a worker here finishes what the dead lives left claimed: its clock is past their leases
        clock = FixedClock(datetime.now(UTC) + timedelta(minutes=5))
        settings = make_settings(
            db_url,
            tmp_path / "drain",
            WECOM_API_BASE=emu.base,
            **{
                k: DEMO_CORP[k]
                for k in ("WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID", "WECOM_TOKEN", "WECOM_AES_KEY")
            },
        )
        services = build(settings, clock=clock, redis_client=redis_server)

        async def beat():
            try:
                return await services.tick()
            finally:
                await services.client.aclose()

        while any(asyncio.run(beat()).values()):
            pass
        suppressed = len(wecom.duplicates)

    with services.session_factory() as s:
        inbox_rows = s.scalar(select(func.count()).select_from(InboxRow))
        inbox_done = s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status == "done"))
        effects = Counter(s.scalars(select(OutboxRow.recipient)))
        sent = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "sent"))
    per_user = Counter(d.userid for d in wecom.all_deliveries())
    print(
        f"posts={chaos.posts} inbox={inbox_rows} done={inbox_done} effects={sum(effects.values())} "
        f"deliveries={sum(per_user.values())} resends_suppressed_by_wecom={suppressed}"
    )
    record(
        "kill -9 of the server ×10 in 1,000 messages",
        db_url,
        messages=N,
        kills=len(chaos.kills),
        stored=inbox_rows,
        processed_twice=lost_and_twice(N, effects.elements())["twice"],
        **lost_and_twice(N, per_user.elements()),
    )
    assert inbox_rows == N, ctx  # stored once
    assert inbox_done == N, ctx  # processed
    assert len(effects) == N and set(effects.values()) == {1}, ctx  # 0 processed twice
    assert sent == N, ctx
    assert len(per_user) == N and set(per_user.values()) == {1}, ctx  # 0 lost, 0 duplicate replies
    if db_url.startswith("sqlite"):
        with services.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    services.engine.dispose()


def _text_xml(user: str, i: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{DEMO_CORP['WECOM_CORP_ID']}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{1_700_000_000 + i}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>{9_000_000 + i}</MsgId>"
        f"<AgentID>1000002</AgentID></xml>"
    )
