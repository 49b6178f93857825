"""The dashboard in a real headless Chromium: two viewers see their own figures (equal to `ask`), a team
filter narrows to that team, and an expired or tampered link is refused with a Chinese 403 page.

Chromium is required, not optional: CI installs it (`apt-get install -y chromium`, see the report of
issue 6). A missing browser fails this test with that message instead of skipping it.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from bot.web.dashboard import make_dashboard_router
from core.clock import FixedClock
from core.dashboard_token import derive_key, make_token
from nlq.answer import ask
from tests.nlq.dataset import NOW

SECRET = "dashboard-test-secret"
CHROMIUM_MISSING = (
    "Chromium is not installed, so the dashboard cannot be checked in a browser. "
    "Install it (as root): apt-get install -y chromium — CI must do the same in .ci/run."
)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if path is None:
        pytest.fail(CHROMIUM_MISSING)
    return path


@pytest.fixture(scope="module")
def server(eval_sqlite):
    app = FastAPI()
    app.include_router(make_dashboard_router(eval_sqlite, SECRET, FixedClock(NOW)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the dashboard server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _dom(browser: str, url: str, profile) -> str:  # noqa: ANN001
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _link(base: str, userid: str, *, expires=NOW + timedelta(days=1), **params: str) -> str:  # noqa: ANN001
    token = make_token(derive_key(SECRET), userid, expires_at=expires)
    return f"{base}/dashboard?{urlencode({'t': token, **params})}"


def _kpi(dom: str, name: str) -> tuple[int, int]:
    m = re.search(rf'data-kpi="{name}" data-num="(\d+)" data-den="(\d+)"', dom)
    assert m, f"no {name} figure on the page"
    return int(m.group(1)), int(m.group(2))


def _asked(factory, who: str, question: str) -> tuple[int, int]:  # noqa: ANN001
    with factory() as s:
        a = ask(s, asker=who, question=question, now=NOW)
    return a["numerator"], a["denominator"]


def test_two_viewers_see_their_own_figures(server, eval_sqlite, tmp_path):
    browser = _chromium()
    seen = {}
    for who in ("rm_e", "sup_e2"):
        dom = _dom(browser, _link(server, who), tmp_path / who)
        assert "团队健康度看板" in dom
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
    narrowed = _dom(browser, _link(server, "rm_e", team="sup_e2"), tmp_path / "team")
    assert _kpi(narrowed, "completeness") == seen["sup_e2"]["completeness"]
    assert _kpi(narrowed, "freshness") == seen["sup_e2"]["freshness"]
    escape = _dom(
        browser, _link(server, "sup_e2", team="rm_e"), tmp_path / "escape"
    )  # above the viewer: ignored
    assert _kpi(escape, "freshness") == seen["sup_e2"]["freshness"]


def test_expired_and_tampered_links_are_refused(server, tmp_path):
    browser = _chromium()
    expired = _link(server, "rm_e", expires=NOW - timedelta(seconds=1))
    dom = _dom(browser, expired, tmp_path / "expired")
    assert "链接已过期" in dom and "data-kpi" not in dom
    good = _link(server, "rm_e")
    token = good.split("t=", 1)[1].split("&", 1)[0]
    other = make_token(derive_key(SECRET), "dir", expires_at=NOW + timedelta(days=1))
    forged = good.replace(token, other.split(".")[0] + "." + token.split(".")[1])  # dir's payload, rm_e's MAC
    dom = _dom(browser, forged, tmp_path / "forged")
    assert "链接无效" in dom and "data-kpi" not in dom
    with httpx.Client() as http:
        assert http.get(expired).status_code == 403
        assert http.get(forged).status_code == 403
        assert http.get(f"{server}/dashboard").status_code == 403
        assert http.get(good).status_code == 200


def test_drill_down_and_sample_pages(server, tmp_path):
    browser = _chromium()
    token = make_token(derive_key(SECRET), "sup_e2", expires_at=NOW + timedelta(days=1))
    dom = _dom(browser, f"{server}/dashboard/customers?t={token}&rep=rep_e3", tmp_path / "drill")
    assert "客户明细" in dom and 'data-customer="' in dom
    with httpx.Client() as http:
        outside = http.get(f"{server}/dashboard/customers?t={token}&rep=rep_s1").text  # not sup_e2's rep
        assert 'data-total="0"' in outside and 'data-customer="' not in outside
        sample = http.get(f"{server}/dashboard/visits?t={token}&sample=1&period=all").text
    num, den = _kpi(sample, "sample")
    assert den == 100 and 0 <= num <= 100
    assert len(re.findall(r'data-visit="', sample)) == 100
