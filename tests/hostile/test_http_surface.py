"""What the assistant's HTTP side shows a stranger: no API schema pages in production (/openapi.json, /docs,
/redoc answer 404 unless DEBUG_API_DOCS), and security headers on every page it serves — a
Content-Security-Policy that lets the dashboard render (inline CSS and SVG, no script: checked in a real
Chromium), no framing, no MIME sniffing, no Referer. The callback's fast lane stays as it was: past the
middleware."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlencode

import pytest
import uvicorn
from fastapi.responses import HTMLResponse, RedirectResponse

from bot.web.headers import CONTENT_SECURITY_POLICY
from core import ics_token
from core.web_session import SESSION_COOKIE
from tests.support.browser import chromium, headless
from tests.support.factories import org
from tests.support.harness import Harness
from tests.support.web import open_session, sign_in

EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
SCHEMA_PAGES = ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect")


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    with harness.session_factory() as s:
        org(s, touched_at=clock.now())
    return harness


def test_no_api_schema_pages_unless_the_debug_flag_says_so(h, db_url, tmp_path, redis_server, clock):
    for path in SCHEMA_PAGES:
        r = h.http.get(path)
        assert r.status_code == 404, path
        assert "openapi" not in r.text.lower() and "swagger" not in r.text.lower(), path
    debug = Harness(db_url, tmp_path / "debug", redis_server, clock, DEBUG_API_DOCS=True)
    assert debug.http.get("/openapi.json").json()["info"]["title"] == "WeCom sales assistant"
    for path in ("/docs", "/redoc"):
        assert debug.http.get(path).status_code == 200, path


def test_every_page_carries_the_security_headers(h):
    key = ics_token.derive_key(h.services.settings.WECOM_SECRET)
    anonymous = {
        "/healthz": 200,
        "/readyz": 200,
        "/dashboard?t=bad": 302,  # no session: off to WeCom to sign in
        "/dashboard/customers": 302,
        "/auth/wecom/callback?code=x&state=y": 403,
        ics_token.feed_path(key, "rep01"): 200,
        "/ics/rep01.ics?token=x": 404,
        "/wecom/callback?msg_signature=x&timestamp=1&nonce=n&echostr=e": 403,
        "/no-such-page": 404,
        "/openapi.json": 404,
    }
    signed_in = {
        "/dashboard": 200,
        "/dashboard/customers": 200,
        "/dashboard/visits": 200,
        "/dashboard/visits?sample=1": 200,
        "/dashboard/customers?tier=purple": 422,
    }
    for pages in (anonymous, signed_in):
        if pages is signed_in:
            sign_in(h, "sup01")
        for path, status in pages.items():
            r = h.http.get(path, follow_redirects=False)
            assert r.status_code == status, (path, r.status_code)
            for name, value in EXPECTED.items():
                assert r.headers.get(name) == value, (path, name, r.headers.get(name))
            assert len(r.headers.get_list("referrer-policy")) == 1, path  # the dashboard's own is not doubled
    r = h.http.head("/healthz")
    assert r.headers.get("x-frame-options") == "DENY"


def test_the_callback_fast_lane_still_passes_by_the_middleware(h):
    r = h.peer.text("rep01", "帮助")
    assert r.status_code == 200
    assert "content-security-policy" not in r.headers  # answered by the fast lane: no middleware ran
    h.tick()
    assert h.texts("rep01")  # and the message was handled


@pytest.fixture
def served(h):
    """The assistant's app over real HTTP: uvicorn on a socket bound and listening before the thread starts,
    so a client's connection waits in the backlog until the server accepts it (nothing to poll for)."""
    page = '<!doctype html><html><head><title>probe</title></head><body><script>document.title="ran"</script></body></html>'
    h.app.add_api_route(
        "/csp-probe", lambda: HTMLResponse(page)
    )  # a page that breaks the policy: the control

    def signed_in_as(userid: str, next: str) -> RedirectResponse:  # noqa: A002
        """The browser signed in (a session as the WeCom callback opens it: tests/bot/test_web_signin.py)."""
        response = RedirectResponse(next, status_code=302)
        response.set_cookie(
            SESSION_COOKIE, open_session(h.session_factory, userid, h.clock.now()), httponly=True
        )
        return response

    h.app.add_api_route("/test-signed-in/{userid}", signed_in_as)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(h.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = server.force_exit = True  # no graceful wait for the browser's idle connections
    thread.join(timeout=30)
    sock.close()


def _chromium(url: str, profile) -> tuple[str, list[str]]:  # noqa: ANN001
    run = headless(chromium(), url, profile, "--enable-logging=stderr", "--v=0")
    return run.stdout, [line for line in run.stderr.splitlines() if "Content Security Policy" in line]


def test_the_dashboard_renders_under_its_policy_in_chromium(h, served, tmp_path):
    dom, refused = _chromium(f"{served}/csp-probe", tmp_path / "p0")
    assert refused and "<title>probe</title>" in dom, "the browser must report what the policy blocks"
    for n, path in enumerate(("/dashboard", "/dashboard/customers", "/dashboard/visits?sample=1")):
        url = f"{served}/test-signed-in/sup01?{urlencode({'next': path})}"
        dom, refused = _chromium(url, tmp_path / f"p{n + 1}")
        assert not refused, (path, refused)
        assert "<style>" in dom and "<script" not in dom, path
        if n == 0:
            assert 'data-kpi="freshness"' in dom and "<svg" in dom
