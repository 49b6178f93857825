"""Signing in to the assistant's web pages in tests.

`sign_in(h, userid)`: the whole WeCom round trip through the emulator (the page → WeCom's authorize page,
where the emulator's browser is signed in as `userid` → the callback with the code → a session cookie in
`h.http`). `open_session` / `bare_auth`: for tests that mount the page routers alone and only need someone
signed in (a real session row in storage, as the callback would write it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from fastapi.testclient import TestClient

from bot.emulator.oauth import MEMBER_COOKIE
from bot.web.signin import WebAuth
from core.web_session import SESSION_COOKIE
from storage.web import sessions

WECOM_UA = (
    "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0 Mobile Safari/537.36 "
    "wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh ColorScheme/Light"
)
DESKTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"


def local(url: str) -> str:
    """The path and query of an absolute URL (TestClient keeps cookies per host: stay on its own)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def wecom_browser(h, userid: str) -> TestClient:  # noqa: ANN001
    """The emulated WeCom's pages, in a browser signed in to WeCom as `userid`."""
    client = TestClient(h.fake_app, base_url="http://wecom.test")
    client.cookies.set(MEMBER_COOKIE, userid)
    return client


def sign_in(h, userid: str, path: str = "/dashboard", *, client: TestClient | None = None) -> httpx.Response:  # noqa: ANN001
    """Open `path` in the WeCom browser as `userid`, signing in on the way; returns the callback's answer."""
    client = client or h.http
    first = client.get(path, headers={"user-agent": WECOM_UA}, follow_redirects=False)
    assert first.status_code == 302, first.text
    wecom = wecom_browser(h, userid).get(first.headers["location"].split("#")[0], follow_redirects=False)
    assert wecom.status_code == 302, wecom.text
    return client.get(local(wecom.headers["location"]), follow_redirects=False)


def open_session(session_factory, userid: str, now: datetime, ttl: timedelta = timedelta(hours=12)) -> str:  # noqa: ANN001
    with session_factory() as s:
        raw = sessions.open_session(s, userid, now=now, ttl=ttl, via="oauth")
        s.commit()
    return raw


def session_cookies(session_factory, userid: str, now: datetime) -> dict[str, str]:  # noqa: ANN001
    return {SESSION_COOKIE: open_session(session_factory, userid, now)}


def bare_auth(session_factory, clock) -> WebAuth:  # noqa: ANN001
    return WebAuth(
        session_factory=session_factory,
        clock=clock,
        corp_id="wwtest",
        agent_id=1000002,
        public_base_url="http://127.0.0.1:8000",
        oauth_url="http://wecom.test/connect/oauth2/authorize",
        qr_url="http://wecom.test/wwlogin/sso/login",
    )
