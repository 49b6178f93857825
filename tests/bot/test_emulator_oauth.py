"""The emulator's WeCom sign-in (bot/emulator/oauth.py, state.py): the authorize page answers a code for the
member the browser is signed in as, the QR page waits for a member's scan, and auth/getuserinfo spends a code
once within five minutes, answering WeCom's errors otherwise (40029 invalid code, 41008 missing, 40014 token)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi.testclient import TestClient

from bot.emulator import FakeWeCom, WeComPeer, create_emulator_app
from bot.emulator.oauth import MEMBER_COOKIE
from core.clock import FixedClock

CORP, SECRET, AGENT = "wwoauthemu0000001", "emu-secret", 1000002
USERS = [
    {"userid": "rep001", "name": "张伟", "role": "rep"},
    {"userid": "mgr001", "name": "王强", "role": "supervisor"},
]
BACK = "https://crm.example.cn/auth/wecom/callback"


def _emulator(clock: FixedClock) -> tuple[FakeWeCom, TestClient]:
    state = FakeWeCom(corp_id=CORP, secret=SECRET, agent_id=AGENT, clock=clock, users=["rep001", "mgr001"])
    peer = WeComPeer(
        state,
        callback_url="http://assistant/wecom/callback",
        token="QDG6eK",
        aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        corp_id=CORP,
        agent_id=AGENT,
        client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
    )
    return state, TestClient(create_emulator_app(state, peer=peer, users=USERS), base_url="http://wecom.test")


def _authorize(**over: str) -> str:
    q = {"appid": CORP, "redirect_uri": BACK, "response_type": "code", "scope": "snsapi_base", "state": "s1"}
    return "/connect/oauth2/authorize?" + urlencode({**q, **over})


def _userinfo(client: TestClient, code: str) -> dict:
    token = client.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": SECRET}).json()[
        "access_token"
    ]
    return client.get("/cgi-bin/auth/getuserinfo", params={"access_token": token, "code": code}).json()


def test_authorize_answers_a_one_time_code_for_the_member_of_this_browser():
    clock = FixedClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    state, emu = _emulator(clock)
    ask = emu.get(_authorize(), follow_redirects=False)
    assert (
        ask.status_code == 200 and "选择登录成员" in ask.text and "张伟" in ask.text
    )  # who are you in WeCom?
    chosen = emu.get("/emu/as", params={"user": "rep001", "next": _authorize()}, follow_redirects=False)
    assert chosen.status_code == 302 and emu.cookies.get(MEMBER_COOKIE) == "rep001"
    back = emu.get(_authorize(), follow_redirects=False).headers["location"]
    assert back.startswith(BACK + "?code=")
    q = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    assert q["state"] == "s1"
    assert _userinfo(emu, q["code"]) == {"errcode": 0, "errmsg": "ok", "userid": "rep001"}
    assert _userinfo(emu, q["code"])["errcode"] == 40029  # once only
    assert _userinfo(emu, "forged")["errcode"] == 40029
    assert _userinfo(emu, "")["errcode"] == 41008
    assert (
        emu.get("/cgi-bin/auth/getuserinfo", params={"access_token": "x", "code": "c"}).json()["errcode"]
        == 40014
    )
    late = state.issue_oauth_code("mgr001")
    clock.advance(minutes=5)
    assert _userinfo(emu, late)["errcode"] == 40029  # five minutes
    for bad in ({"appid": "wwother"}, {"scope": "snsapi_userinfo2"}, {"redirect_uri": "javascript:x"}):
        r = emu.get(_authorize(**bad), follow_redirects=False)
        assert r.status_code == 400 and "参数错误" in r.text, bad
    assert emu.get("/emu/as", params={"user": "ghost", "next": "/"}).status_code == 400


def test_qr_login_waits_for_a_scan_and_expires():
    clock = FixedClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    state, emu = _emulator(clock)
    q = {"login_type": "CorpApp", "appid": CORP, "agentid": AGENT, "redirect_uri": BACK, "state": "s2"}
    page = emu.get("/wwlogin/sso/login?" + urlencode(q))
    assert page.status_code == 200 and "扫码登录" in page.text
    [ticket] = state.qr_waiting
    assert emu.get("/wwlogin/sso/poll", params={"ticket": ticket}).json() == {"status": "waiting"}
    assert emu.post("/emu/qr/scan", json={"user": "mgr001"}).json() == {"ok": True, "ticket": ticket}
    done = emu.get("/wwlogin/sso/poll", params={"ticket": ticket}).json()
    code = parse_qs(urlsplit(done["redirect"]).query)["code"][0]
    assert done["status"] == "confirmed" and _userinfo(emu, code)["userid"] == "mgr001"
    emu.get("/wwlogin/sso/login?" + urlencode(q))
    [stale] = state.qr_waiting
    clock.advance(minutes=5)
    assert emu.get("/wwlogin/sso/poll", params={"ticket": stale}).json() == {"status": "expired"}
    assert emu.post("/emu/qr/scan", json={"user": "mgr001"}).json()["ok"] is False
    r = emu.get("/wwlogin/sso/login?" + urlencode({**q, "agentid": 1}))
    assert r.status_code == 400 and "agentid" in r.text
