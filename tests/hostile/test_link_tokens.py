"""Secrets of any shape: the dashboard's session cookie, an old link's `?t=`, the sign-in callback's state and
code (docs/web-sign-in.md), and the ICS feed's token (`/ics/<userid>.ics?token=`) — non-ASCII, very long, broken
base64, empty — get a redirect to sign-in or a 4xx, never a 500, and nothing lands in the log as an error or a
traceback. Through the assistant's own app (bot/app.py), over HTTP."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from core import ics_token
from core.web_session import SESSION_COOKIE, STATE_COOKIE
from tests.support.factories import org
from tests.support.harness import Harness
from tests.support.web import sign_in

DASHBOARD_PATHS = ("/dashboard", "/dashboard/customers", "/dashboard/visits?sample=1")
SHAPES = [
    "",
    " ",
    "ü",
    "中文令牌",
    "令牌.签名",
    "😀" * 300,
    "a" * 20_000,
    "a." * 5_000,
    ".",
    "..",
    "a.b",
    "a.b.c",
    "!!!.???",
    "====.====",
    "%",
    "\x00",
    "\x00.\x00",
    "\t\n",
    "YWJj.",
    ".0123456789abcdef0123456789abcdef",
    "cmVwMDF8OTk5OTk5OTk5OQ.0123456789abcdef0123456789abcdef",
]  # rep01|9999999999 with a wrong mac
RAW = [
    "%FF%FE",
    "%ED%A0%80",
    "%00",
    "%C0%AF",
    "%E4%B8",
    "%2E%2E%2F",
]  # percent-encoded as sent, not UTF-8 text


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    with harness.session_factory() as s:
        org(s, touched_at=clock.now())
    return harness


@pytest.fixture
def client(h):
    return TestClient(h.app, raise_server_exceptions=False)  # a 500 is an answer to look at, not a raise


def _no_errors_logged(caplog) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]


def _cookie(value: str) -> dict[str, bytes]:
    """A Cookie header as a browser could send it: raw bytes (Latin-1), else percent-encoded."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raw = quote(value).encode()
    return {"cookie": f"{SESSION_COOKIE}=".encode() + raw}


def test_sessions_and_old_tokens_of_any_shape_lead_to_sign_in(h, client, caplog):
    caplog.set_level(logging.DEBUG)
    packed = [
        "x.oauth." + base64.urlsafe_b64encode(b).decode()
        for b in (b"\xff\xfe", b"//evil.example", b"https://e.x/")
    ]
    for path in DASHBOARD_PATHS:
        join = "&" if "?" in path else "?"
        for shape in SHAPES:
            r = client.get(f"{path}{join}t={quote(shape)}", follow_redirects=False)
            assert r.status_code == 302 and "data-kpi" not in r.text, (path, shape[:40], r.status_code)
            if "\x00" not in shape and "\n" not in shape:
                r = client.get(path, headers=_cookie(shape), follow_redirects=False)
                assert r.status_code == 302, (path, shape[:40], r.status_code)
        for raw in RAW:
            assert client.get(f"{path}{join}t={raw}", follow_redirects=False).status_code == 302, (path, raw)
    for shape in SHAPES + RAW + packed:
        for cookie in (shape, *packed):
            if "\x00" in cookie or "\n" in cookie:
                continue
            client.cookies.clear()
            client.cookies.set(STATE_COOKIE, quote(cookie, safe="."), path="/auth")
            r = client.get(
                f"/auth/wecom/callback?code={quote(shape)}&state={quote(shape)}", follow_redirects=False
            )
            assert r.status_code == 403, (shape[:40], cookie[:40], r.status_code)
    client.cookies.clear()
    assert sign_in(h, "sup01", client=client).status_code == 302  # and a real sign-in still opens the page
    assert client.get("/dashboard").status_code == 200
    _no_errors_logged(caplog)


def test_ics_tokens_and_userids_of_any_shape_get_a_404(h, client, caplog):
    caplog.set_level(logging.DEBUG)
    key = ics_token.derive_key(h.services.settings.WECOM_SECRET)
    good = ics_token.sign(key, "rep01")
    users = ["rep01", "中文", "ü", "a" * 5_000, "ghost", "rep01 ", "😀"]
    tokens = SHAPES + [good + "ü", good.upper(), good[:-1], "ü" * 32, ics_token.sign(key, "rep02")]
    for user in users:
        for token in tokens:
            r = client.get(f"/ics/{quote(user)}.ics?token={quote(token)}")
            assert r.status_code == 404, (user[:20], token[:40], r.status_code)
        for raw in RAW:
            assert client.get(f"/ics/{quote(user)}.ics?token={raw}").status_code == 404, (user[:20], raw)
    for raw in RAW:  # the userid itself percent-encoded as no UTF-8
        assert client.get(f"/ics/{raw}.ics?token={good}").status_code == 404, raw
    assert (
        client.get(f"/ics/ghost.ics?token={ics_token.sign(key, 'ghost')}").status_code == 404
    )  # no such user
    assert client.get(ics_token.feed_path(key, "rep01")).status_code == 200  # and the right one still opens
    _no_errors_logged(caplog)
