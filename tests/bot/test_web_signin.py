"""Sign-in through WeCom for the web pages (docs/web-sign-in.md), end to end through the emulator: no session →
WeCom's authorize page (inside the WeCom browser) or QR login (a desktop browser); the callback checks the state
against its cookie and exchanges the one-time code (auth/getuserinfo) for the userid; the session cookie holds
a random id stored hashed; expiry, sign-out and deactivation end it; old bearer links open nothing; the scope
comes from the current org on every request. (Two viewers in a real Chromium: tests/metrics/test_dashboard_browser.py.)
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.web_session import SESSION_COOKIE, STATE_COOKIE, hash_secret
from storage.models import UserRow
from storage.web.models import WebSessionRow
from tests.support.factories import org
from tests.support.harness import Harness
from tests.support.web import DESKTOP_UA, WECOM_UA, local, sign_in, wecom_browser


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    with harness.session_factory() as s:
        org(s, touched_at=clock.now())
        s.commit()
    return harness


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _start(client: TestClient, path: str = "/dashboard", ua: str = WECOM_UA):  # noqa: ANN202
    r = client.get(path, headers={"user-agent": ua}, follow_redirects=False)
    assert r.status_code == 302
    return r, r.headers["location"].split("#")[0]


def _code_for(h: Harness, userid: str, authorize: str) -> str:
    """What WeCom's authorize page hands back: the callback URL with ?code=…&state=…."""
    r = wecom_browser(h, userid).get(authorize, follow_redirects=False)
    assert r.status_code == 302
    return r.headers["location"]


def _rows(h: Harness, userid: str) -> list[WebSessionRow]:
    with h.session_factory() as s:
        return list(s.scalars(select(WebSessionRow).where(WebSessionRow.userid == userid)))


def test_no_session_sends_the_wecom_browser_to_oauth_and_a_desktop_to_qr_login(h):
    r, authorize = _start(h.http, "/dashboard/customers?tier=red")
    assert authorize.startswith("http://wecom.test/connect/oauth2/authorize?")
    assert r.headers["location"].endswith("#wechat_redirect") and "data-kpi" not in r.text
    q = _query(authorize)
    assert q["appid"] == h.services.settings.WECOM_CORP_ID and q["scope"] == "snsapi_base"
    assert q["response_type"] == "code" and q["redirect_uri"] == "http://127.0.0.1:8000/auth/wecom/callback"
    assert q["state"].isalnum() and len(q["state"]) <= 128  # WeCom accepts a-zA-Z0-9, ≤ 128 bytes
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith(f"{STATE_COOKIE}=") and "httponly" in cookie and "samesite=lax" in cookie
    assert "path=/auth" in cookie and "secure" not in cookie  # PUBLIC_BASE_URL is http here

    _, qr = _start(h.http, ua=DESKTOP_UA)
    assert qr.startswith("http://wecom.test/wwlogin/sso/login?")
    q = _query(qr)
    assert q["login_type"] == "CorpApp" and q["agentid"] == str(h.services.settings.WECOM_AGENT_ID)
    assert h.http.get("/dashboard/targets.png", follow_redirects=False).status_code == 302


def test_sign_in_inside_wecom_opens_the_page_asked_for_with_a_hashed_session(h):
    done = sign_in(h, "sup01", "/dashboard?period=last_week&t=old-bearer-token")
    assert done.status_code == 302 and done.headers["location"] == "/dashboard?period=last_week"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    low = cookie.lower()
    assert "httponly" in low and "samesite=lax" in low and "path=/" in low and "max-age=43200" in low
    raw = h.http.cookies.get(SESSION_COOKIE)
    page = h.http.get("/dashboard?period=last_week")
    assert page.status_code == 200 and "团队健康度看板" in page.text and "郑主管" in page.text
    assert 'action="/auth/logout"' in page.text
    [row] = _rows(h, "sup01")
    assert row.id_hash == hash_secret(raw) and row.id_hash != raw and row.via == "oauth"
    [call] = h.wecom.calls_to("auth/getuserinfo")
    assert call.errcode == 0


def test_cookies_are_secure_when_the_public_address_is_https(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock, PUBLIC_BASE_URL="https://crm.example.cn")
    with h.session_factory() as s:
        org(s)
        s.commit()
    browser = TestClient(h.app, base_url="https://testserver")
    r, authorize = _start(browser)
    assert "secure" in r.headers["set-cookie"].lower()
    assert _query(authorize)["redirect_uri"] == "https://crm.example.cn/auth/wecom/callback"
    done = browser.get(local(_code_for(h, "rm_east", authorize)), follow_redirects=False)
    assert done.status_code == 302
    assert "secure" in done.headers["set-cookie"].lower()
    assert browser.get("/dashboard").status_code == 200


def test_qr_login_on_a_desktop_browser(h):
    _, qr = _start(h.http, ua=DESKTOP_UA)
    emulator = TestClient(h.fake_app, base_url="http://wecom.test")
    page = emulator.get(qr)
    assert page.status_code == 200 and "扫码登录" in page.text
    [ticket] = h.wecom.qr_waiting
    assert emulator.get(f"/wwlogin/sso/poll?ticket={ticket}").json() == {"status": "waiting"}
    assert emulator.post("/emu/qr/scan", json={"user": "rm_east"}).json()["ok"] is True
    status = emulator.get(f"/wwlogin/sso/poll?ticket={ticket}").json()
    assert status["status"] == "confirmed"
    done = h.http.get(local(status["redirect"]), follow_redirects=False)
    assert done.status_code == 302 and done.headers["location"] == "/dashboard"
    assert "吴经理" in h.http.get("/dashboard").text
    assert [r.via for r in _rows(h, "rm_east")] == ["qr"]
    assert emulator.post("/emu/qr/scan", json={"user": "rm_east"}).json()["ok"] is False  # nothing waiting


def test_forged_replayed_and_expired_codes_and_bad_states_are_refused(h, clock):
    # a forged code, with the right state
    _, authorize = _start(h.http)
    state = _query(authorize)["state"]
    r = h.http.get(f"/auth/wecom/callback?code=forged&state={state}", follow_redirects=False)
    assert r.status_code == 403 and "登录凭证无效" in r.text
    assert h.wecom.calls_to("auth/getuserinfo")[-1].errcode == 40029

    # a good code with a state that is not this browser's
    _, authorize = _start(h.http)
    back = _code_for(h, "sup01", authorize)
    tampered = back.replace("state=", "state=0")
    r = h.http.get(local(tampered), follow_redirects=False)
    assert r.status_code == 403 and "登录请求已失效" in r.text

    # login CSRF: a callback URL pushed into another browser (no state cookie there)
    _, authorize = _start(h.http)
    back = _code_for(h, "sup01", authorize)
    other = TestClient(h.app)
    r = other.get(local(back), follow_redirects=False)
    assert r.status_code == 403 and SESSION_COOKIE not in other.cookies

    # replay: the code signs in once; again (same browser, or another with its own state) it is refused
    assert h.http.get(local(back), follow_redirects=False).status_code == 302
    assert h.http.get(local(back), follow_redirects=False).status_code == 403  # the state cookie is spent
    _, authorize = _start(other)
    replay = f"/auth/wecom/callback?code={_query(back)['code']}&state={_query(authorize)['state']}"
    r = other.get(replay, follow_redirects=False)
    assert r.status_code == 403 and "登录凭证无效" in r.text

    # a code used after five minutes
    _, authorize = _start(other)
    late = _code_for(h, "rep01", authorize)
    clock.advance(minutes=5, seconds=1)
    assert other.get(local(late), follow_redirects=False).status_code == 403

    # a declined sign-in comes back without a code; a forged state cookie does not parse
    _, authorize = _start(other)
    r = other.get(f"/auth/wecom/callback?state={_query(authorize)['state']}", follow_redirects=False)
    assert r.status_code == 403 and "登录已取消" in r.text
    other.cookies.set(
        STATE_COOKIE, "x.oauth." + base64.urlsafe_b64encode(b"//evil.example").decode(), path="/auth"
    )
    assert other.get("/auth/wecom/callback?code=a&state=x", follow_redirects=False).status_code == 403
    assert _rows(h, "rep01") == [] and len(_rows(h, "sup01")) == 1


def test_wecom_busy_during_the_exchange_is_a_503_and_the_code_still_works_on_a_retry(h):
    _, authorize = _start(h.http)
    back = _code_for(h, "rep01", authorize)
    h.wecom.fail_next(1, paths=["auth/getuserinfo"])  # errcode -1: WeCom busy, the code not spent
    r = h.http.get(local(back), follow_redirects=False)
    assert (
        r.status_code == 503
        and "企业微信暂时无法确认你的身份" in r.text
        and SESSION_COOKIE not in h.http.cookies
    )
    _, authorize = _start(h.http)
    retry = f"/auth/wecom/callback?code={_query(back)['code']}&state={_query(authorize)['state']}"
    assert h.http.get(retry, follow_redirects=False).status_code == 302
    assert h.http.get("/dashboard/customers").status_code == 200


def test_a_session_expires_and_sign_out_ends_it(h, clock):
    sign_in(h, "sup01")
    raw = h.http.cookies.get(SESSION_COOKIE)
    assert h.http.get("/dashboard").status_code == 200
    clock.advance(hours=12)
    r = h.http.get("/dashboard", follow_redirects=False)
    assert r.status_code == 302 and "wecom.test" in r.headers["location"]  # expired: sign in again

    h.http.cookies.clear()
    sign_in(h, "sup01")
    raw = h.http.cookies.get(SESSION_COOKIE)
    out = h.http.post("/auth/logout")
    assert out.status_code == 200 and "已退出登录" in out.text
    assert SESSION_COOKIE not in h.http.cookies
    stolen = TestClient(h.app)
    stolen.cookies.set(SESSION_COOKIE, raw)
    assert stolen.get("/dashboard", follow_redirects=False).status_code == 302
    assert sorted(str(r.ended_reason) for r in _rows(h, "sup01")) == ["None", "signed_out"]


def test_deactivation_ends_sessions_at_once(h):
    sign_in(h, "sup01")
    assert h.http.get("/dashboard").status_code == 200
    h.peer.text("admin", "停用 sup01")
    h.tick()
    assert [r.ended_reason for r in _rows(h, "sup01")] == ["deactivated"]
    _, authorize = _start(h.http)  # the session is gone: sign-in again…
    back = _code_for(h, "sup01", authorize)
    refused = h.http.get(local(back), follow_redirects=False)
    assert refused.status_code == 403 and "已停用" in refused.text  # …which WeCom vouches for, we refuse
    h.peer.text("admin", "启用 sup01")
    h.tick()
    assert h.http.get("/dashboard", follow_redirects=False).status_code == 302  # nothing revived

    # deactivated by any other path (an import, a sync): the next request is refused and ends the session
    h.http.cookies.clear()
    sign_in(h, "rm_east")
    with h.session_factory() as s:
        s.get(UserRow, "rm_east").active = False
        s.commit()
    r = h.http.get("/dashboard", follow_redirects=False)
    assert r.status_code == 403 and "data-kpi" not in r.text
    assert [r.ended_reason for r in _rows(h, "rm_east")] == ["deactivated"]


def test_scope_comes_from_the_current_org_not_the_session(h):
    sign_in(h, "sup01")
    assert "郑主管" in h.http.get("/dashboard").text
    before = h.http.get("/dashboard/customers").text
    assert 'data-customer="' in before
    with h.session_factory() as s:
        s.get(UserRow, "rep01").manager_userid = "rm_east"  # rep01 and rep02 move out of sup01's team
        s.get(UserRow, "rep02").manager_userid = "rm_east"
        s.commit()
    after = h.http.get("/dashboard/customers").text
    assert 'data-total="0"' in after and 'data-customer="' not in after


def test_chat_links_carry_no_token_and_old_bearer_links_open_nothing(h):
    h.peer.text("sup01", "看板")
    h.tick()
    reply = h.texts("sup01")[-1]
    assert "(http://127.0.0.1:8000/dashboard)" in reply and "?t=" not in reply
    old = (
        "/dashboard?t=c3VwMDF8NDEwMjQ0NDgwMA.0123456789abcdef0123456789abcdef"  # userid|expiry.mac, as before
    )
    r = h.http.get(old, follow_redirects=False)
    assert r.status_code == 302 and "wecom.test" in r.headers["location"] and "data-kpi" not in r.text
    assert h.http.get("/dashboard/visits?t=anything", follow_redirects=False).status_code == 302


def test_the_daily_retention_sweep_forgets_sessions_a_month_after_they_ended(h, clock):
    from storage import retention

    sign_in(h, "sup01")
    h.http.post("/auth/logout")
    h.http.cookies.clear()
    clock.advance(days=20)
    sign_in(h, "rm_east")  # live
    clock.advance(days=11)
    retention.sweep(h.session_factory, clock)
    assert _rows(h, "sup01") == [] and len(_rows(h, "rm_east")) == 1
