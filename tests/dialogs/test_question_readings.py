"""Clarify, do not refuse, in chat: an ambiguous question is answered on its likeliest reading, and the other
readings come on a card whose buttons answer the same question read that way — in the clicker's own scope."""

from __future__ import annotations

import pytest

from handlers import texts
from storage.models import CustomerRow, UserRow
from tests.support.factories import org
from tests.support.harness import Harness


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    with harness.session_factory() as s:
        org(s, touched_at=clock.now())
        # a second 张伟, in another team: the name is shared
        s.add(UserRow(userid="rep09", name="张伟", role="rep", manager_userid="rm_east", region="华东"))
        s.add(CustomerRow(customer_id="C909", name="九号便利店", owner_userid="rep09", status="active"))
        s.commit()
    return harness


def _readings_card(h, user: str) -> dict:
    return next(c for c in reversed(h.cards(user)) if c["main_title"]["title"] == texts.READINGS_TITLE)


def test_a_shared_name_is_answered_and_the_namesake_is_one_tap_away(h):
    h.peer.text("director", "张伟的客户有哪些")
    h.tick()
    first = "\n".join(h.texts("director"))
    assert "理解为：负责人为张伟（rep01）" in first and "味源超市" in first and "九号便利店" not in first
    card = _readings_card(h, "director")
    assert "rep09" in card["main_title"]["desc"]
    button = next(b for b in card["button_list"] if b["text"] == texts.READINGS_BUTTON.format(n=1))
    seen = len(h.texts("director"))
    h.peer.card_click("director", card["task_id"], button["key"])
    h.tick()
    after = "\n".join(h.texts("director")[seen:])
    assert "九号便利店" in after and "rep09" in after and "味源超市" not in after


def test_a_namesake_outside_the_scope_is_never_mentioned(h):
    """sup01 sees only rep01's and rep02's customers: the other 张伟 is not offered, not even by name."""
    h.peer.text("sup01", "张伟的客户有哪些")
    h.tick()
    everything = "\n".join(h.texts("sup01"))
    assert "味源超市" in everything
    assert "rep09" not in everything and "九号便利店" not in everything
    assert all(c["main_title"]["title"] != texts.READINGS_TITLE for c in h.cards("sup01"))
