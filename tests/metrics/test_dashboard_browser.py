"""The dashboard in a real headless Chromium, signed in through WeCom (the emulator's OAuth pages): two viewers
sign in as themselves and see their own figures (equal to `ask`), a team filter narrows to that team; without a
session (an old bearer link, a desktop browser) the page is not shown, an expired session is refused.

Chromium is required, not optional: CI installs it (`apt-get install -y chromium`, see the report of
issue 6). A missing browser fails this test with that message instead of skipping it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from bot.emulator.api import create_api_router
from bot.emulator.oauth import create_oauth_router
from bot.emulator.state import FakeWeCom
from bot.web.dashboard import make_dashboard_router
from bot.web.signin import WebAuth, make_signin_router
from bot.wecom.client import WeComClient
from core.clock import FixedClock
from core.web_session import SESSION_COOKIE
from nlq.answer import ask
from tests.nlq.dataset import NOW
from tests.support.browser import chromium, dump_dom, free_port, serve
from tests.support.web import DESKTOP_UA, open_session

CORP, SECRET, AGENT = "wwbrowsertest0001", "browser-test-secret", 1000002


@pytest.fixture(scope="module")
def server(eval_sqlite):
    """(the assistant's base URL, the emulated WeCom's): the dashboard behind WeCom sign-in, and WeCom."""
    clock = FixedClock(NOW)
    emu_port, port = free_port(), free_port()
    emu, base = f"http://127.0.0.1:{emu_port}", f"http://127.0.0.1:{port}"
    wecom = FakeWeCom(corp_id=CORP, secret=SECRET, agent_id=AGENT, clock=clock)
    emulator = FastAPI()
    emulator.include_router(create_api_router(wecom))
    emulator.include_router(create_oauth_router(wecom))
    auth = WebAuth(
        session_factory=eval_sqlite,
        clock=clock,
        corp_id=CORP,
        agent_id=AGENT,
        public_base_url=base,
        oauth_url=f"{emu}/connect/oauth2/authorize",
        qr_url=f"{emu}/wwlogin/sso/login",
    )
    client = WeComClient(api_base=f"{emu}/cgi-bin/", corp_id=CORP, secret=SECRET, agent_id=AGENT)
    app = FastAPI()
    app.include_router(make_signin_router(auth, client))
    app.include_router(make_dashboard_router(eval_sqlite, auth, clock))
    servers = [serve(emulator, emu_port), serve(app, port)]
    yield base, emu
    for srv in servers:
        srv.should_exit = True


def _as(server, userid: str, path: str = "/dashboard", **params: str) -> str:  # noqa: ANN001
    """The link opened from the emulator's chat as `userid` (WeCom's browser is signed in as them)."""
    base, emu = server
    page = f"{base}{path}" + (f"?{urlencode(params)}" if params else "")
    return f"{emu}/emu/as?{urlencode({'user': userid, 'next': page})}"


def _kpi(dom: str, name: str) -> tuple[int, int]:
    m = re.search(rf'data-kpi="{name}" data-num="(\d+)" data-den="(\d+)"', dom)
    assert m, f"no {name} figure on the page"
    return int(m.group(1)), int(m.group(2))


def _asked(factory, who: str, question: str) -> tuple[int, int]:  # noqa: ANN001
    with factory() as s:
        a = ask(s, asker=who, question=question, now=NOW)
    return a["numerator"], a["denominator"]


def test_two_viewers_sign_in_and_see_their_own_figures(server, eval_sqlite, tmp_path):
    browser = chromium()
    seen = {}
    for who in ("rm_e", "sup_e2"):
        dom = dump_dom(browser, _as(server, who), tmp_path / who)
        assert "团队健康度看板" in dom and 'id="sign-out"' in dom
        seen[who] = {k: _kpi(dom, k) for k in ("freshness", "completeness", "funnel")}
        assert seen[who]["freshness"] == _asked(eval_sqlite, who, "客户信息鲜度")
        assert seen[who]["completeness"] == _asked(eval_sqlite, who, "本月拜访完整率")
        assert seen[who]["funnel"] == _asked(eval_sqlite, who, "本月商机转化漏斗完整率")
        with eval_sqlite() as s:
            rows = ask(s, asker=who, question="本月各业务员拜访完整率", now=NOW)["rows"]
        for r in rows:
            m = re.search(
                rf'data-group="rep" data-key="{r["key"]}">.*?data-metric="completeness" '
                rf'data-num="(\d+)" data-den="(\d+)"',
                dom,
            )
            assert m and (int(m.group(1)), int(m.group(2))) == (r["numerator"], r["denominator"]), r["key"]
    assert seen["rm_e"] != seen["sup_e2"]
    narrowed = dump_dom(browser, _as(server, "rm_e", team="sup_e2"), tmp_path / "team")
    assert _kpi(narrowed, "completeness") == seen["sup_e2"]["completeness"]
    assert _kpi(narrowed, "freshness") == seen["sup_e2"]["freshness"]
    # a team above the viewer: ignored
    escape = dump_dom(browser, _as(server, "sup_e2", team="rm_e"), tmp_path / "escape")
    assert _kpi(escape, "freshness") == seen["sup_e2"]["freshness"]


def test_without_a_session_no_page_opens(server, eval_sqlite, tmp_path):
    browser = chromium()
    base, _ = server
    old = f"{base}/dashboard?t=cm1fZXw0MTAyNDQ0ODAw.0123456789abcdef0123456789abcdef"  # a 7-day bearer link
    # WeCom's browser, no member signed in to it: WeCom asks who
    dom = dump_dom(browser, old, tmp_path / "bearer")
    assert "选择登录成员" in dom and "data-kpi" not in dom
    dom = dump_dom(browser, f"{base}/dashboard", tmp_path / "desktop", ua=DESKTOP_UA)
    assert "扫码登录" in dom and "data-kpi" not in dom
    expired = open_session(eval_sqlite, "rm_e", NOW - timedelta(hours=13))
    live = open_session(eval_sqlite, "rm_e", NOW)
    with httpx.Client(base_url=base) as http:
        assert http.get(old, follow_redirects=False).status_code == 302
        assert http.get("/dashboard", cookies={SESSION_COOKIE: expired}).status_code == 302
        assert http.get("/dashboard", cookies={SESSION_COOKIE: live}).status_code == 200


def test_drill_down_and_sample_pages(server, eval_sqlite, tmp_path):
    browser = chromium()
    dom = dump_dom(browser, _as(server, "sup_e2", "/dashboard/customers", rep="rep_e3"), tmp_path / "drill")
    assert "客户明细" in dom and 'data-customer="' in dom
    cookies = {SESSION_COOKIE: open_session(eval_sqlite, "sup_e2", NOW)}
    with httpx.Client(base_url=server[0], cookies=cookies) as http:
        outside = http.get("/dashboard/customers?rep=rep_s1").text  # not sup_e2's rep
        assert 'data-total="0"' in outside and 'data-customer="' not in outside
        sample = http.get("/dashboard/visits?sample=1&period=all").text
    num, den = _kpi(sample, "sample")
    assert den == 100 and 0 <= num <= 100
    assert len(re.findall(r'data-visit="', sample)) == 100
