"""「周报」 sends the asker's weekly brief now (picture and text), through the emulator; a rep is told where their
own figures are."""

from __future__ import annotations

from tests.support.factories import org
from tests.support.harness import Harness


def test_a_manager_asks_for_the_weekly_brief_and_gets_it_now(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        s.commit()
    h.peer.text("sup01", "周报")
    h.tick()
    h.tick()
    texts = h.texts("sup01")
    assert any(t.startswith("正在生成你的周报") for t in texts)
    assert any(t.startswith("**上周经营简报") for t in texts)
    assert "image" in [m["msgtype"] for m in h.replies("sup01")]


def test_a_rep_asking_for_the_brief_is_pointed_at_their_own_figures(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        s.commit()
    h.peer.text("rep01", "周报")
    h.tick()
    (reply,) = h.texts("rep01")
    assert reply.startswith("周报是发给主管和经理的")
