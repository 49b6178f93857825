"""Tokens of any shape on the signed links: the dashboard (`?t=`) and the ICS feed (`/ics/<userid>.ics?token=`)
answer 4xx to every token that is not right — non-ASCII, very long, broken base64, empty, or signed correctly
over a body that makes no sense — never a 500, and nothing lands in the log as an error or a traceback.
Through the assistant's own app (bot/app.py), over HTTP."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from core import dashboard_token, ics_token
from tests.support.factories import org
from tests.support.harness import Harness

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


def _signed(key: bytes, body: bytes) -> str:
    """A token whose mac is right over a payload that does not hold "userid|expiry" as make_token writes it."""
    payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
    return f"{payload}.{dashboard_token._mac(key, payload)}"


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


def test_dashboard_tokens_of_any_shape_get_a_403_page(h, client, clock, caplog):
    caplog.set_level(logging.DEBUG)
    key = dashboard_token.derive_key(h.services.settings.WECOM_SECRET)
    good = dashboard_token.make_token(key, "sup01", expires_at=clock.now() + timedelta(days=1))
    crafted = [
        _signed(key, body)
        for body in (
            b"\xff\xfe\xfd",
            b"no separator",
            b"sup01|",
            b"|9999999999",
            b"sup01|" + b"9" * 30,
            b"sup01|-" + b"9" * 30,
            b"sup01|1e309",
            b"sup01|" + b"9" * 5000,
            "中文|9999999999".encode(),
        )
    ]
    expired = dashboard_token.make_token(key, "sup01", expires_at=clock.now() - timedelta(seconds=1))
    ghost = dashboard_token.make_token(key, "ghost", expires_at=clock.now() + timedelta(days=1))
    tokens = SHAPES + crafted + [expired, ghost, good + "ü", good + "x", good[:-1], good.replace(".", "..")]
    for path in DASHBOARD_PATHS:
        join = "&" if "?" in path else "?"
        for token in tokens:
            r = client.get(f"{path}{join}t={quote(token)}")
            assert r.status_code == 403 and "无法打开看板" in r.text, (path, token[:40], r.status_code)
        for raw in RAW:
            r = client.get(f"{path}{join}t={raw}")
            assert r.status_code == 403, (path, raw, r.status_code)
        assert client.get(path).status_code == 403  # no token at all
        assert client.get(f"{path}{join}t={quote(good)}").status_code == 200  # and the right one still opens
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
