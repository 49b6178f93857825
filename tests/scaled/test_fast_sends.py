"""The relay's sends over the network (bot/wecom/client.py: aiohttp for message/send and the card update when no
transport is injected): delivered like the httpx path, and their failures classified the same way — HTTP 5xx and
network errors transient (raised as httpx's errors, which the relay retries), a body that is not JSON
unexpected. Real loopback ports: the emulated WeCom in a uvicorn thread, a refused port, a server that stalls."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from bot.wecom.client import UNEXPECTED, WeComClient, WeComError
from tests.scaled.procs import EmulatorServer, demo_wecom, free_port


def _client(api_base: str, *, timeout: float = 10.0) -> WeComClient:
    wecom = demo_wecom()
    return WeComClient(
        api_base=api_base,
        corp_id=wecom.corp_id,
        secret=wecom.secret,
        agent_id=wecom.agent_id,
        timeout=timeout,
    )


def _text(user: str, content: str) -> str:
    return json.dumps(
        {"touser": user, "msgtype": "text", "agentid": demo_wecom().agent_id, "text": {"content": content}},
        ensure_ascii=False,
    )


class _Server:
    """A FastAPI app on a loopback port in a uvicorn thread."""

    def __init__(self, app: FastAPI):
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _gateway(answer) -> FastAPI:  # noqa: ANN001 - the message/send endpoint
    app = FastAPI()

    @app.get("/cgi-bin/gettoken")
    async def gettoken() -> dict:
        return {"errcode": 0, "access_token": "t" * 32, "expires_in": 7200}

    app.add_api_route("/cgi-bin/message/send", answer, methods=["POST"])
    return app


def test_a_send_over_the_network_is_delivered_and_its_errcode_read():
    wecom = demo_wecom(users=["rep01"])

    async def go(client: WeComClient) -> tuple[dict, WeComError]:
        try:
            ok = await client.send_raw(_text("rep01", "你好，<b>已记录</b>"))
            with pytest.raises(WeComError) as refused:
                await client.send_raw(_text("nobody", "你好"))
            assert client._aio is not None  # the sends took the fast path (no transport injected)
            return ok, refused.value
        finally:
            await client.aclose()

    with EmulatorServer(wecom) as emulator:
        ok, refused = asyncio.run(go(_client(emulator.api_base)))
    assert ok["errcode"] == 0 and ok["msgid"]
    assert [m["text"]["content"] for m in wecom.messages_to("rep01")] == ["你好，<b>已记录</b>"]
    assert refused.errcode == 81013 and not refused.transient


def test_a_gateway_error_is_transient_and_a_page_that_is_not_json_unexpected():
    async def bad_gateway() -> PlainTextResponse:
        return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=502)

    async def html() -> PlainTextResponse:
        return PlainTextResponse("<html>login</html>", status_code=200)

    async def send(api_base: str) -> WeComError:
        client = _client(api_base)
        try:
            with pytest.raises(WeComError) as exc:
                await client.send_raw(_text("rep01", "x"))
            return exc.value
        finally:
            await client.aclose()

    with _Server(_gateway(bad_gateway)) as base:
        gateway = asyncio.run(send(base))
    with _Server(_gateway(html)) as base:
        page = asyncio.run(send(base))
    assert gateway.transient and gateway.errcode == -1
    assert page.errcode == UNEXPECTED and not page.transient


def test_a_refused_port_and_a_stalled_server_raise_httpx_errors_the_relay_retries():
    async def stall() -> dict:
        await asyncio.sleep(5)
        return {"errcode": 0}

    async def send(client: WeComClient) -> Exception:
        try:
            with pytest.raises(Exception) as exc:  # noqa: PT011 - the class is what is checked
                await client.send_raw(_text("rep01", "x"))
            return exc.value
        finally:
            await client.aclose()

    with _Server(_gateway(stall)) as base:
        stalled = asyncio.run(send(_client(base, timeout=0.5)))
        with EmulatorServer(demo_wecom()) as emulator:
            token_from = emulator.api_base  # a token from a live server, then a port nobody listens on
            client = _client(token_from)

            async def refused() -> Exception:
                await client.token()
                client.api_base = f"http://127.0.0.1:{free_port()}/cgi-bin/"
                return await send(client)

            gone = asyncio.run(refused())
    assert isinstance(stalled, httpx.TimeoutException)
    assert isinstance(gone, httpx.TransportError)


def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(monkeypatch):
    """HTTP(S)_PROXY as httpx honours it (an egress proxy on WeCom's trusted IP), read once per session: a
    proxy nobody listens on fails the send; NO_PROXY naming the API's host sends directly."""
    wecom = demo_wecom(users=["rep01"])

    async def send(api_base: str, no_proxy: str) -> Exception | dict:
        client = _client(api_base)
        try:
            await client.token()  # httpx (its client made now, with NO_PROXY=127.0.0.1: direct)
            monkeypatch.setenv("NO_PROXY", no_proxy)  # read by the send's session, made at the first send
            return await client.send_raw(_text("rep01", "经代理"))
        except Exception as exc:  # noqa: BLE001 - the class is what is checked
            return exc
        finally:
            await client.aclose()

    with EmulatorServer(wecom) as emulator:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
        monkeypatch.delenv("http_proxy", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        through_dead_proxy = asyncio.run(send(emulator.api_base, "wecom.invalid"))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        direct = asyncio.run(send(emulator.api_base, "127.0.0.1"))
    assert isinstance(through_dead_proxy, httpx.TransportError)
    assert isinstance(direct, dict) and direct["errcode"] == 0
    assert [m["text"]["content"] for m in wecom.messages_to("rep01")] == ["经代理"]
