"""kill -9 of the server in the middle of 1,000 inbound messages: WeCom re-delivers what was not acknowledged
(and, as WeCom does, some that were) → every message is stored once, processed once, answered once."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.demo_corp import DEMO_CORP
from bot.emulator.peer import WeComPeer
from bot.emulator.state import FakeWeCom
from storage.models import InboxRow, OutboxRow
from tests.harness import Harness

ROOT = Path(__file__).resolve().parent.parent
N = 1000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(db_url: str, data: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "bot.bench_app", "--mode", "callback", "--port", str(port),
                             "--data", str(data), "--db", db_url], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


@pytest.mark.slow
def test_sigkill_mid_ingest_loses_nothing_and_doubles_nothing(db_url, tmp_path, redis_server, clock):
    # the schema exists (db_url fixture); the server runs as the demo corp
    wecom = FakeWeCom(corp_id=DEMO_CORP["WECOM_CORP_ID"], secret=DEMO_CORP["WECOM_SECRET"],
                      agent_id=DEMO_CORP["WECOM_AGENT_ID"])
    port = _port()
    server = _serve(db_url, tmp_path / "srv", port)
    client = httpx.Client(timeout=5)
    peer = WeComPeer(wecom, callback_url=f"http://127.0.0.1:{port}/wecom/callback", token=DEMO_CORP["WECOM_TOKEN"],
                     aes_key=DEMO_CORP["WECOM_AES_KEY"], corp_id=DEMO_CORP["WECOM_CORP_ID"],
                     agent_id=DEMO_CORP["WECOM_AGENT_ID"], client=client)
    # build every request first (a WeCom retry resends the same bytes)
    sent = []
    for i in range(N):
        plain_peer_user = f"m{i:04d}"
        sent.append(peer.seal(_text_xml(plain_peer_user, i)))
    acked: set[int] = set()
    lock = threading.Lock()
    killed = threading.Event()

    def deliver(i: int) -> None:
        params, body = sent[i]
        try:
            r = client.post(f"http://127.0.0.1:{port}/wecom/callback", params=params, content=body)
        except httpx.HTTPError:
            return
        if r.status_code == 200:
            with lock:
                acked.add(i)
                if len(acked) == 350 and not killed.is_set():
                    killed.set()
                    os.kill(server.pid, signal.SIGKILL)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(deliver, range(N)))
    server.wait(10)
    assert killed.is_set() and 350 <= len(acked) < N
    # restart; WeCom re-delivers everything not acknowledged, plus every fifth acknowledged one
    server = _serve(db_url, tmp_path / "srv", port)
    try:
        redeliver = [i for i in range(N) if i not in acked] + sorted(acked)[::5]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(deliver, redeliver))
        assert len(acked) == N
    finally:
        server.terminate()
        server.wait(10)
    client.close()
    # now the worker and the relay (in-process, against the emulator) process the backlog
    h = Harness(db_url, tmp_path, redis_server, clock)
    while any(h.tick().values()):
        pass
    with h.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == N
        assert s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status == "done")) == N
        assert s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "sent")) == N
    per_user = Counter(d.userid for d in h.wecom.all_deliveries())
    assert len(per_user) == N and set(per_user.values()) == {1}
    if db_url.startswith("sqlite"):
        with h.services.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def _text_xml(user: str, i: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{DEMO_CORP['WECOM_CORP_ID']}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{1_700_000_000 + i}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>{9_000_000 + i}</MsgId>"
            f"<AgentID>1000002</AgentID></xml>")
