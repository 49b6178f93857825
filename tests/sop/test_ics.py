"""The private ICS feed per rep: signed URL, 404 otherwise, one VEVENT per open or done promise."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.web.ics import make_ics_router
from core import ics_token
from core.clock import SHANGHAI
from handlers.context import HandlerDeps
from handlers.messages import TextIn
from handlers.worker import InboxWorker
from storage import inbox
from tests.sop.conftest import add_customer, add_promise, messages, say

SECRET = "test-secret"


def _client(sf, clock) -> TestClient:
    app = FastAPI()
    app.include_router(make_ics_router(sf, SECRET, clock=clock))
    return TestClient(app)


def test_feed_lists_the_reps_promises_behind_a_signed_token(org, clock):
    add_customer(org, "c1", "rep1", name="味源超市; 旗舰店, 二楼")
    add_promise(
        org,
        kind="follow_up",
        visit_id=None,
        customer_id="c1",
        rep="rep1",
        text="回访",
        due_at=datetime(2026, 11, 25, tzinfo=SHANGHAI),
        created_at=clock.now(),
    )
    add_promise(
        org,
        kind="promise",
        visit_id=None,
        customer_id="c1",
        rep="rep1",
        text="送样品" * 20,
        due_at=clock.now() + timedelta(days=2),
        created_at=clock.now(),
    )
    add_promise(
        org,
        kind="promise",
        visit_id=None,
        customer_id="c1",
        rep="rep2",
        text="别人的承诺",
        due_at=clock.now() + timedelta(days=2),
        created_at=clock.now(),
    )
    client = _client(org, clock)
    key = ics_token.derive_key(SECRET)
    ok = client.get(ics_token.feed_path(key, "rep1"))
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/calendar")
    body = ok.text
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert body.count("BEGIN:VEVENT") == 2 and "别人的承诺" not in body
    unfolded = body.replace("\r\n ", "")
    assert "SUMMARY:回访 味源超市\\; 旗舰店\\, 二楼" in unfolded
    assert "DTSTART:20261125T010000Z" in unfolded  # a date without a time: the 09:00 morning slot
    assert "TRIGGER:-PT60M" in unfolded
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    assert client.get("/ics/rep1.ics?token=" + "0" * 32).status_code == 404
    assert client.get("/ics/rep1.ics").status_code == 404
    assert client.get(ics_token.feed_path(key, "rep2").replace("rep2.ics", "rep1.ics")).status_code == 404
    assert client.get(ics_token.feed_path(key, "ghost")).status_code == 404


def test_rep_asks_for_the_feed_link(org, clock):
    say(org, clock, "rep1", "日历订阅")
    assert messages(org, "rep1")[-1].message["content"] == "日历订阅暂未开通，请联系管理员。"
    key = ics_token.derive_key(SECRET)
    worker = InboxWorker(
        session_factory=org,
        clock=clock,
        owner="w",
        deps=HandlerDeps(public_base_url="https://crm.example.com/", ics_key=key),
    )
    with org() as s:
        inbox.put(
            s,
            dedupe_key="m-ics",
            sender="rep1",
            kind="text",
            now=clock.now(),
            event=TextIn(sender="rep1", at=0, content="订阅日历", msg_id="m-ics").to_dict(),
        )
        s.commit()
    worker.drain()
    text = messages(org, "rep1")[-1].message["content"]
    assert "https://crm.example.com" + ics_token.feed_path(key, "rep1") in text


def test_resetting_the_feed_stops_the_old_url_of_that_rep_only(org, clock):
    """「重置日历订阅」: a new URL at once, the old one 404 (a leaked link), another rep's untouched; audited."""
    from sqlalchemy import select

    from storage.models import AuditRow

    add_customer(org, "c1", "rep1")
    key = ics_token.derive_key(SECRET)
    client = _client(org, clock)
    old, other = ics_token.feed_path(key, "rep1"), ics_token.feed_path(key, "rep2")
    assert client.get(old).status_code == 200 and client.get(other).status_code == 200
    worker = InboxWorker(
        session_factory=org,
        clock=clock,
        owner="w",
        deps=HandlerDeps(public_base_url="https://crm.example.com/", ics_key=key),
    )
    for n, words in enumerate(("重置日历订阅", "日历订阅")):
        with org() as s:
            inbox.put(
                s,
                dedupe_key=f"m-reset-{n}",
                sender="rep1",
                kind="text",
                now=clock.now(),
                event=TextIn(sender="rep1", at=0, content=words, msg_id=f"m-reset-{n}").to_dict(),
            )
            s.commit()
        worker.drain()
    reset, again = (m.message["content"] for m in messages(org, "rep1")[-2:])
    new = ics_token.feed_path(key, "rep1", 1)
    assert reset.startswith("日历订阅地址已重置") and "https://crm.example.com" + new in reset
    assert "https://crm.example.com" + new in again  # asked again: the current URL, not the old one
    assert client.get(old).status_code == 404 and client.get(new).status_code == 200
    assert client.get(other).status_code == 200
    with org() as s:
        [row] = s.scalars(select(AuditRow).where(AuditRow.entity == "calendar_feed"))
    assert (row.entity_id, row.before, row.after) == ("rep1", {"generation": 0}, {"generation": 1})
