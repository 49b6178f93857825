"""The reports wired as the app wires them (bot.bootstrap.build, bot.app.create_app), end to end through the
WeCom emulator: 「看板」 in chat → a link that opens the scoped dashboard after WeCom sign-in; Monday morning →
each manager receives the brief as an uploaded image and a text."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlparse

from core.clock import SHANGHAI
from tests.support.factories import org
from tests.support.harness import Harness
from tests.support.web import sign_in


def test_chat_link_and_weekly_brief_through_the_emulator(db_url, tmp_path, redis_server, clock, monkeypatch):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        s.commit()

    h.peer.text("sup01", "看板")
    h.tick()
    reply = next(t for t in h.texts("sup01") if t.startswith("**团队健康度**"))
    assert "范围：郑主管（销售主管）及下属共2人负责的客户" in reply and "客户信息鲜度：100.0%（4/4）" in reply
    url = reply.split("](", 1)[1].split(")", 1)[0]
    assert url.startswith(h.services.settings.PUBLIC_BASE_URL)
    assert sign_in(h, "sup01", urlparse(url).path).status_code == 302
    page = h.http.get(urlparse(url).path)
    assert page.status_code == 200 and 'data-kpi="freshness" data-num="4" data-den="4"' in page.text

    clock.set(datetime(2026, 11, 30, 8, 41, tzinfo=SHANGHAI))  # the next Monday
    h.tick()
    clock.set(datetime(2026, 11, 30, 8, 43, tzinfo=SHANGHAI))
    h.tick()
    for manager in ("sup01", "rm_east", "director"):
        kinds = [m["msgtype"] for m in h.replies(manager)]
        assert "image" in kinds, manager
        assert any(t.startswith("**上周经营简报") for t in h.texts(manager)), manager
    image = next(m for m in h.replies("sup01") if m["msgtype"] == "image")
    assert image["image"]["media_id"]
