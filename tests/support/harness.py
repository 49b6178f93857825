"""The assistant wired to the WeCom emulator in-process: callbacks through TestClient, API calls through
an ASGI transport into FakeWeCom. `tick()` runs one beat (inbox, timers, outbox) — tests move the clock."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.bootstrap import build
from bot.emulator.api import create_api_router
from bot.emulator.oauth import create_oauth_router
from bot.emulator.peer import WeComPeer
from bot.emulator.state import FakeWeCom
from tests.support.db import TEST_CORP, make_settings

_OPEN: list[Harness] = []


def close_all() -> None:
    """Give back the database connections of every Harness built so far (tests/conftest.py calls it after
    each test): an engine left to the garbage collector keeps its pool open, and on PostgreSQL a few dozen
    such tests exhaust the server's connection slots."""
    while _OPEN:
        _OPEN.pop().services.engine.dispose()


class Harness:
    def __init__(self, db_url: str, tmp_path, redis_server, clock, **overrides):
        """`redis_server` None: no shared server, the services start the bundled one under DATA_DIR (as `serve`
        does with REDIS_URL unset); the test shuts it down."""
        self.clock = clock
        if redis_server is not None:
            redis_server.flushall()  # no access token cached by another test's WeCom
        self.wecom = FakeWeCom(
            corp_id=TEST_CORP["WECOM_CORP_ID"],
            secret=TEST_CORP["WECOM_SECRET"],
            agent_id=TEST_CORP["WECOM_AGENT_ID"],
            clock=clock,
        )
        fake_app = FastAPI()
        fake_app.include_router(create_api_router(self.wecom))
        fake_app.include_router(create_oauth_router(self.wecom))
        self.fake_app = fake_app
        settings = make_settings(db_url, tmp_path, WECOM_API_BASE="http://wecom.test/cgi-bin/", **overrides)
        self.services = build(
            settings, clock=clock, redis_client=redis_server, transport=httpx.ASGITransport(app=fake_app)
        )
        _OPEN.append(self)
        self.app = create_app(self.services)
        self.http = TestClient(self.app)
        self.peer = WeComPeer(
            self.wecom,
            callback_url="/wecom/callback",
            token=TEST_CORP["WECOM_TOKEN"],
            aes_key=TEST_CORP["WECOM_AES_KEY"],
            corp_id=TEST_CORP["WECOM_CORP_ID"],
            agent_id=TEST_CORP["WECOM_AGENT_ID"],
            client=self.http,
            clock=clock,
            retries=3,  # as WeCom: a slow machine's 503 (the inbox budget spent) is delivered again
        )

    @property
    def session_factory(self):
        return self.services.session_factory

    def tick(self) -> dict[str, int]:
        async def beat():
            try:
                return await self.services.tick()
            finally:
                await self.services.client.aclose()

        return asyncio.run(beat())

    def replies(self, user: str) -> list[dict]:
        return self.wecom.messages_to(user)

    def texts(self, user: str) -> list[str]:
        """Text, markdown and card titles a user received, in order, as plain strings."""
        out = []
        for m in self.replies(user):
            kind = m["msgtype"]
            if kind in ("text", "markdown"):
                out.append(m[kind]["content"])
            elif kind == "template_card":
                card = m["template_card"]
                parts = [card["main_title"].get("title", ""), card["main_title"].get("desc", "")]
                parts += [f"{h['keyname']}：{h['value']}" for h in card.get("horizontal_content_list", [])]
                parts += [b["text"] for b in card.get("button_list", [])]
                out.append("\n".join(parts))
        return out

    def cards(self, user: str) -> list[dict]:
        return [m["template_card"] for m in self.replies(user) if m["msgtype"] == "template_card"]
