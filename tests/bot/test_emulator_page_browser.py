"""The emulator's chat page in a real headless Chromium: what the assistant sends is shown as WeCom shows it.
An ordered list whose items are separated by other lines (a product, then its selling points) keeps the numbers
it was written with (1, 2, 3), not 1, 1, 1 (seen in the demo: 推荐产品)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from bot.emulator import FakeWeCom, WeComPeer, create_emulator_app
from core.clock import FixedClock
from tests.support.browser import chromium, dump_dom, free_port, serve

CORP, SECRET, AGENT = "wwemupagetest0001", "emu-page-secret", 1000002
TOKEN, AES_KEY = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
USERS = [{"userid": "rep001", "name": "张伟", "role": "rep"}]


def test_an_ordered_list_keeps_its_numbers_across_lines_between_items(tmp_path):
    state = FakeWeCom(
        corp_id=CORP, secret=SECRET, agent_id=AGENT, clock=FixedClock(datetime.now(UTC)), users=["rep001"]
    )
    peer = WeComPeer(
        state,
        callback_url="http://127.0.0.1:9/wecom/callback",
        token=TOKEN,
        aes_key=AES_KEY,
        corp_id=CORP,
        agent_id=AGENT,
        client=httpx.Client(),
    )
    port = free_port()
    srv = serve(create_emulator_app(state, peer=peer, users=USERS), port)
    try:
        base = f"http://127.0.0.1:{port}"
        token = state.issue_token(CORP, SECRET)["access_token"]
        content = "**推荐产品：测试公司**\n1. **甲产品**\n卖点：省电\n2. **乙产品**\n卖点：预警\n3. **丙产品**\n卖点：回本快"
        sent = httpx.post(
            f"{base}/cgi-bin/message/send",
            params={"access_token": token},
            json={
                "touser": "rep001",
                "msgtype": "markdown",
                "agentid": AGENT,
                "markdown": {"content": content},
            },
        ).json()
        assert sent["errcode"] == 0, sent
        page = f"{base}/?user=rep001"
        dom = dump_dom(chromium(), page, tmp_path / "page", "--virtual-time-budget=8000")  # time for its poll
        lists = re.findall(r"<ol(?: start=\"(\d+)\")?>(.*?)</ol>", dom, re.S)
        assert [(start or "1", re.sub(r"<[^>]+>", "", items)) for start, items in lists] == [
            ("1", "甲产品"),
            ("2", "乙产品"),
            ("3", "丙产品"),
        ], dom[-3000:]
    finally:
        srv.should_exit = True
