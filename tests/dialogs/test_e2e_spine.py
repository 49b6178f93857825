"""End to end through the emulator: encrypted callback in → inbox → worker → outbox → message/send out."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handlers import texts
from storage.models import InboxRow, OutboxRow
from tests.support.factories import org
from tests.support.harness import Harness


def test_help_reply_through_the_real_protocol(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    assert h.peer.text("rep01", "帮助").status_code == 200
    h.tick()
    assert h.texts("rep01") == [texts.HELP_REP]
    sent = h.replies("rep01")
    assert len(sent) == 1 and sent[0]["enable_duplicate_check"] == 1
    # managers get the manager help
    h.peer.text("sup01", "帮助")
    h.tick()
    assert h.texts("sup01") == [texts.HELP_MANAGER]


def test_stale_cached_token_is_refreshed(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    h.peer.text("rep01", "帮助")
    h.tick()
    h.wecom.expire_tokens()  # WeCom invalidates the token early: 42001 on the next call
    h.peer.text("rep01", "我的待办")
    h.tick()
    assert h.texts("rep01") == [texts.HELP_REP, texts.TODO_NONE]
    assert h.wecom.tokens_issued == 2


def test_unknown_member_is_told_so(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    h.peer.text("stranger", "你好")
    h.peer.text("stranger", "帮助")
    h.tick()
    unknown = texts.UNKNOWN_USER.format(userid="stranger")
    assert h.texts("stranger") == [unknown, texts.HELP_REP + "\n\n" + unknown]


def test_fifty_concurrent_copies_make_one_row_and_one_reply(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    h.peer.text("rep01", "帮助")
    original = h.peer.last
    statuses = []
    barrier = threading.Barrier(10)

    def deliver(n: int) -> None:
        barrier.wait()
        for _ in range(n):
            statuses.append(h.peer.resend(original).status_code)

    threads = [threading.Thread(target=deliver, args=(5,)) for _ in range(10)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert statuses == [200] * 50
    h.tick()
    with h.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == 1
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == 1
    assert len(h.replies("rep01")) == 1


def test_each_senders_messages_are_handled_in_order(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    for word in ("帮助", "今天拜访了哪些", "我的待办"):
        h.peer.text("rep01", word)
    h.tick()
    assert h.texts("rep01") == [texts.HELP_REP, texts.TODAY_NONE, texts.TODO_NONE]


def test_a_failing_event_is_retried_then_parked_visibly(db_url, tmp_path, redis_server, clock, monkeypatch):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    from handlers.routes import ROUTER

    calls = []

    def broken(ctx, event):
        calls.append(1)
        raise RuntimeError("boom")

    monkeypatch.setitem(ROUTER.dialog_states, "idle", broken)
    h.peer.text("rep01", "帮助")
    for _ in range(8):
        h.tick()
        clock.advance(seconds=20)
    with h.session_factory() as s:
        row = s.scalars(select(InboxRow)).one()
        assert row.status == "failed" and row.attempts == 5 and "boom" in row.last_error
    assert len(calls) == 5
    assert h.texts("rep01") == [texts.INTERNAL_ERROR]


def test_manager_question_answered_in_chat_with_a_next_action(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now() - timedelta(days=10))  # every customer untouched for 10 days
    h.peer.text("sup01", "超过72小时未跟进的客户")
    h.tick()
    said = h.texts("sup01")
    answer = next(t for t in said if t.startswith("理解为："))
    assert "范围：" in answer and "味源超市" in answer and "味源超市二店" in answer
    card = [c for c in h.cards("sup01") if c["button_list"][0]["key"].startswith("ask:act:")][-1]
    h.peer.card_click("sup01", card["task_id"], card["button_list"][0]["key"])
    h.tick()
    assert any("郑主管提醒" in t and "味源超市" in t for t in h.texts("rep01"))
    assert any("郑主管提醒" in t and "味源超市二店" in t for t in h.texts("rep02"))
    # a rep asks about their own book only
    h.peer.text("rep02", "我的客户有哪些")
    h.tick()
    mine = next(t for t in h.texts("rep02") if t.startswith("理解为："))
    assert "味源超市二店" in mine and "好邻居便利店" not in mine


def test_serving_installs_the_app_menu(db_url, tmp_path, redis_server, clock):
    from fastapi.testclient import TestClient

    from bot.app import create_app

    h = Harness(db_url, tmp_path, redis_server, clock)
    with TestClient(create_app(h.services, run_scheduler=True)) as client:
        assert client.get("/healthz").status_code == 200
    menu = h.wecom.menus[1000002]["button"]
    assert [b["name"] for b in menu] == ["拍照", "签到", "我的待办"]
    assert menu[0]["type"] == "pic_sysphoto" and menu[1]["type"] == "location_select"


def test_a_batch_broken_off_by_the_database_gives_its_claims_back_at_once(
    db_url, tmp_path, redis_server, clock, monkeypatch
):
    """The database goes away while the worker holds claims (the failure cannot even be recorded): the
    next round releases them instead of waiting out the 60 s lease, and each event is handled once."""
    from sqlalchemy.exc import OperationalError

    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    for user in ("rep01", "rep02", "sup01"):
        h.peer.text(user, "帮助")
    worker = h.services.worker
    real_handle = worker.handle
    gone = OperationalError("UPDATE inbox", {}, Exception("database is unavailable"))

    def first_event_meets_a_dead_database(inbox_id):  # noqa: ANN001, ANN202
        monkeypatch.setattr(worker, "handle", real_handle)
        raise gone

    monkeypatch.setattr(worker, "handle", first_event_meets_a_dead_database)
    with pytest.raises(OperationalError):
        h.tick()
    with h.session_factory() as s:
        held = s.scalars(select(InboxRow).where(InboxRow.status == "processing")).all()
        assert len(held) == 3 and {r.claimed_by for r in held} == {worker.owner}
    h.tick()  # the same instant: no lease has expired
    with h.session_factory() as s:
        assert [r.status for r in s.scalars(select(InboxRow))] == ["done"] * 3
    for user in ("rep01", "rep02", "sup01"):
        assert len(h.texts(user)) == 1


def test_an_action_button_acts_only_on_what_the_clicker_may_still_see(db_url, tmp_path, redis_server, clock):
    """The remind button was made for an in-scope answer; if a rep moves to another team before the click,
    that rep's customers are left out (the scope is checked again at the click)."""
    from storage.models import UserRow

    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now() - timedelta(days=10))
    h.peer.text("sup01", "超过72小时未跟进的客户")
    h.tick()
    card = [c for c in h.cards("sup01") if c["button_list"][0]["key"].startswith("ask:act:")][-1]
    with h.session_factory() as s:
        s.get(UserRow, "rep02").manager_userid = "rm_east"  # 李娜 now reports to the regional manager
        s.commit()
    h.peer.card_click("sup01", card["task_id"], card["button_list"][0]["key"])
    h.tick()
    assert any("郑主管提醒" in t and "味源超市" in t for t in h.texts("rep01"))
    assert not any("郑主管提醒" in t for t in h.texts("rep02"))
