"""`main.py serve` under idle and slow connections (issue 14 item 3, bot/serve.py): a real `serve` process started
by the test, raw TCP sockets from the test, a genuine signed callback from the emulator's peer.

- 200 idle connections, 20 that sent a callback's headers and stalled its body, 10 that stalled inside their
  headers: a genuine callback is still acknowledged (and stored), and the server closes every one of the slow
  connections once SERVE_READ_TIMEOUT has passed.
- SERVE_MAX_CONNECTIONS: a connection over the cap is closed without an answer; once some close, the next one is
  answered.

Elapsed-time bounds are liveness checks (the setting + a generous margin).
"""

from __future__ import annotations

import socket
import time

import httpx
from sqlalchemy import func, select

from storage.db import make_engine
from storage.models import InboxRow
from tests.scaled.procs import clean_env, demo_wecom, free_port, main_py, peer_for, wait_until

READ_TIMEOUT_S = 3
MARGIN_S = 10.0


def _serve(tmp_path, redis_url: str, **settings):  # noqa: ANN001, ANN202
    port = free_port()
    env = clean_env(
        DATABASE_URL=f"sqlite:///{tmp_path}/serve.db",
        DATA_DIR=tmp_path / "data",
        REDIS_URL=redis_url,
        WECOM_API_BASE="http://127.0.0.1:9/cgi-bin/",  # --no-worker: nothing calls WeCom
        **settings,
    )
    server = main_py(
        ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        name="serve",
        port=port,
    )
    return server, port


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """True when the server closed the connection (EOF or reset) before `deadline`."""
    try:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        while True:
            data = sock.recv(4096)
            if not data:
                return True
            # an answer (e.g. 408/400) is fine as long as the connection then ends
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_idle_and_stalled_connections_keep_no_signed_callback_out_and_are_cut_off(tmp_path, redis_url):
    server, port = _serve(tmp_path, redis_url, SERVE_READ_TIMEOUT=READ_TIMEOUT_S, SERVE_MAX_CONNECTIONS=1000)
    sockets: list[socket.socket] = []
    try:
        server.wait_http()
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
        sockets += idle
        stalled_body = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(
                b"POST /wecom/callback?msg_signature=0&timestamp=0&nonce=0 HTTP/1.1\r\nHost: a\r\n"
                b"Content-Type: text/xml\r\nContent-Length: 4000\r\n\r\n<xml><Encrypt>"
            )
            stalled_body.append(s)
        sockets += stalled_body
        stalled_headers = []
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /wecom/callback HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            stalled_headers.append(s)
        sockets += stalled_headers
        opened = time.monotonic()

        wecom = demo_wecom()
        with httpx.Client(timeout=5.0) as client:  # WeCom's own deadline
            peer = peer_for(wecom, port, client)
            assert peer.text("rep01", "你好").status_code == 200
            assert client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        engine = make_engine(f"sqlite:///{tmp_path}/serve.db")
        try:
            with engine.connect() as conn:
                assert conn.scalar(select(func.count()).select_from(InboxRow)) == 1
        finally:
            engine.dispose()

        deadline = opened + READ_TIMEOUT_S + MARGIN_S
        still_open = [s for s in sockets if not _closed_by_server(s, deadline)]
        assert still_open == [], f"{len(still_open)} slow connections still open after the read timeout"
        assert server.alive()
    finally:
        for s in sockets:
            s.close()
        server.stop()


def test_a_connection_over_the_cap_is_closed_and_the_next_one_after_some_close_is_answered(
    tmp_path, redis_url
):
    cap = 50
    server, port = _serve(tmp_path, redis_url, SERVE_READ_TIMEOUT=60, SERVE_MAX_CONNECTIONS=cap)
    held: list[socket.socket] = []
    try:
        server.wait_http()
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(cap)]

        # the server takes connections in order: once one past the cap is refused, the cap is full of ours
        def refused() -> bool:
            with socket.create_connection(("127.0.0.1", port)) as extra:
                try:
                    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
                    extra.settimeout(MARGIN_S)
                    return extra.recv(4096) == b""  # closed without an answer
                except (ConnectionResetError, BrokenPipeError):
                    return True

        assert wait_until(refused, timeout=MARGIN_S, what="a connection over the cap to be refused")
        with socket.create_connection(("127.0.0.1", port)) as extra:
            try:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
                extra.settimeout(MARGIN_S)
                got = extra.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                got = b""
            assert got == b"", "a connection over the cap got an answer"
        for s in held[:10]:
            s.close()

        def answered() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(answered, timeout=MARGIN_S, what="an answer once connections closed")
    finally:
        for s in held:
            s.close()
        server.stop()
