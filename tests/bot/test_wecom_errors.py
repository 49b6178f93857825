"""WeCom errors by class, poison rows and killed holders — through the emulator's fault injection, on the
moved clock: a configuration error pauses everyone and loses nothing, an unreadable answer is sent at most
three times, a row or event that raises is parked while everything else flows, a dead holder's claims are
taken over within seconds."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from io import BytesIO

import pytest
from PIL import Image
from sqlalchemy import select

from bot.emulator.faults import Fault
from bot.wecom import relay as sender
from handlers import texts
from handlers.messages import Text
from storage import inbox, outbox
from storage.leases import LEASE
from storage.models import InboxRow, OutboxRow
from tests.support.factories import org
from tests.support.harness import Harness

PEOPLE = ("rep01", "rep02", "sup01", "rm_east", "finance")


def _harness(db_url, tmp_path, redis_server, clock) -> Harness:
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    return h


def _enqueue(h: Harness, recipient: str, n: int, prefix: str = "t") -> None:
    with h.session_factory() as s:
        for i in range(n):
            outbox.enqueue(
                s,
                recipient=recipient,
                message=Text(content=f"提醒 {prefix}{i}").to_dict(),
                dedupe_key=f"{prefix}:{recipient}:{i}",
                now=h.clock.now(),
            )
        s.commit()


def _statuses(h: Harness, *, like: str = "%") -> Counter:
    with h.session_factory() as s:
        return Counter(s.scalars(select(OutboxRow.status).where(OutboxRow.dedupe_key.like(like))))


def _run(h: Harness, *, seconds: int, step: int = 1) -> None:
    for _ in range(seconds // step):
        h.tick()
        h.clock.advance(seconds=step)


def _alerts(h: Harness, title: str) -> list[str]:
    return [t for t in h.texts("admin") if t.startswith(title)]


# -- configuration errors: pause everyone, keep everything, probe, resume by themselves ----------------------
CONFIG_ERRORS = [
    pytest.param(Fault.UNTRUSTED_IP, None, 60020, "企业可信IP", id="60020-untrusted-ip"),
    pytest.param(Fault.BAD_SECRET, ["gettoken"], 40001, "Secret", id="40001-secret-rejected"),
    pytest.param(Fault.API_FORBIDDEN, None, 48002, "权限", id="48002-api-forbidden"),
    pytest.param(Fault.NO_PERMISSION, None, 60011, "可见范围", id="60011-no-permission"),
]


@pytest.mark.parametrize(("fault", "paths", "errcode", "fix_word"), CONFIG_ERRORS)
def test_a_configuration_error_for_30_seconds_loses_nothing_and_recovers_by_itself(
    db_url, tmp_path, redis_server, clock, caplog, fault, paths, errcode, fix_word
):
    h = _harness(db_url, tmp_path, redis_server, clock)
    assert h.http.get("/readyz").status_code == 200
    h.wecom.fail_for(30, fault, paths=paths)  # someone changed the console; fixed 30 s later
    for person in PEOPLE:
        _enqueue(h, person, 2)
    caplog.set_level(logging.WARNING, logger="assistant.sender")
    h.tick()
    ready = h.http.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["ready"] is False and body["wecom"] is False and body["database"] is True
    assert body["wecom_error"]["errcode"] == errcode
    assert fix_word in body["wecom_error"]["message"] and "管理后台" in body["wecom_error"]["fix"]
    h.peer.text("rep01", "帮助")  # people keep writing: their messages are handled, the replies wait
    _run(h, seconds=25)
    assert h.http.get("/readyz").status_code == 503
    assert _statuses(h) == Counter({"pending": len(PEOPLE) * 2 + 1})  # nothing dead, nothing lost
    with h.session_factory() as s:
        assert set(s.scalars(select(OutboxRow.attempts))) == {0}  # a pause charges no row an attempt
    refused = [c for c in h.wecom.calls if c.errcode == errcode]
    # the first sends in flight (at most one per person's lane: they share one token lookup, which Redis answers
    # off the event loop, so every lane is past its check before the first refusal comes back — as with real
    # HTTP) and a few probes (5 s, 10 s, 20 s), not a storm
    assert len(refused) <= len(PEOPLE) + 3
    _run(h, seconds=30)
    assert h.http.get("/readyz").status_code == 200
    assert h.http.get("/readyz").json()["wecom"] is True
    for person in PEOPLE:  # each person's messages once, in order (a reply goes before alerts)
        assert [t for t in h.texts(person) if t.startswith("提醒")] == ["提醒 t0", "提醒 t1"]
    assert h.texts("rep01")[0] == texts.HELP_REP
    assert _statuses(h) == Counter({"sent": len(PEOPLE) * 2 + 2})  # + the admin's one recovery notice
    resumed = _alerts(h, "【企业微信发送已恢复】")
    assert len(resumed) == 1 and str(errcode) in resumed[0]
    paused_logs = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(paused_logs) == 1 and str(errcode) in paused_logs[0].getMessage()
    assert h.wecom.dropped == [] and h.wecom.duplicates == []


def test_an_app_visible_to_nobody_pauses_and_resumes_when_the_range_is_fixed(
    db_url, tmp_path, redis_server, clock
):
    """81013 for everyone (the app's visible range emptied) is the app's configuration, not each person's:
    three different people refused with no success between pauses sending; a fixed range resumes it."""
    h = _harness(db_url, tmp_path, redis_server, clock)
    h.wecom.users = set()
    for person in PEOPLE:
        _enqueue(h, person, 1)
    h.tick()
    body = h.http.get("/readyz").json()
    assert body["wecom"] is False and body["wecom_error"]["errcode"] == 81013
    assert "可见范围" in body["wecom_error"]["fix"]
    _run(h, seconds=60)
    assert _statuses(h, like="t:%") == Counter({"pending": len(PEOPLE)})
    h.wecom.users = None  # the admin makes the app visible to everyone again
    _run(h, seconds=11 * 60, step=5)  # the first people refused wait out their 10 minutes
    assert h.http.get("/readyz").json()["wecom"] is True
    for person in PEOPLE:
        assert h.texts(person) == ["提醒 t0"]
    assert _statuses(h, like="t:%") == Counter({"sent": len(PEOPLE)})


def test_the_calendar_permission_off_holds_calendar_rows_while_messages_flow(
    db_url, tmp_path, redis_server, clock
):
    """48002 from oa/schedule/* is the 日程 permission: it must not stop the chat. Calendar rows wait and are
    written once the permission is on; the admins are told once."""
    h = _harness(db_url, tmp_path, redis_server, clock)
    h.wecom.fail_for(5 * 60, Fault.API_FORBIDDEN, paths=["oa/schedule/add"])
    schedule = {
        "start_time": 1732240800,
        "end_time": 1732244400,
        "attendees": [{"userid": "rep01"}],
        "summary": "回访 张三超市",
    }
    with h.session_factory() as s:
        outbox.enqueue(
            s,
            recipient="rep01",
            message={"kind": "schedule_add", "schedule": schedule},
            dedupe_key="cal:1",
            now=clock.now(),
        )
        s.commit()
    _enqueue(h, "rep01", 2)
    _run(h, seconds=30)
    assert h.texts("rep01") == ["提醒 t0", "提醒 t1"]
    assert h.http.get("/readyz").json()["wecom"] is True
    assert _statuses(h, like="cal:%") == Counter({"pending": 1})
    assert len(_alerts(h, "【日程同步暂停】")) == 1
    _run(h, seconds=15 * 60, step=30)
    assert _statuses(h, like="cal:%") == Counter({"sent": 1}) and len(h.wecom.schedules) == 1
    assert len(_alerts(h, "【日程同步暂停】")) == 1


# -- answers we cannot read: at most three sends, backing off, then parked with an alert ---------------------
@pytest.mark.parametrize("fault", [Fault.JSON_LIST, Fault.MISSING_FIELD, Fault.BAD_GZIP])
def test_an_unreadable_answer_is_sent_at_most_three_times_then_parked_with_an_alert(
    db_url, tmp_path, redis_server, clock, fault
):
    h = _harness(db_url, tmp_path, redis_server, clock)
    _enqueue(h, "rep01", 1)
    h.wecom.fail_next(3, fault, paths=["message/send"])
    _run(h, seconds=60)
    mine = [c for c in h.wecom.calls_to("message/send") if c.body.get("touser") == "rep01"]
    assert len(mine) == 3
    gaps = [(b.at - a.at).total_seconds() for a, b in zip(mine, mine[1:], strict=False)]
    assert gaps[0] >= 1 and gaps[1] >= 2  # backed off, not resent every beat
    with h.session_factory() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.dedupe_key == "t:rep01:0")).one()
    assert (row.status, row.strikes) == ("dead", sender.MAX_STRIKES)
    alert = _alerts(h, "【发送失败告警】")
    assert len(alert) == 1 and "rep01" in alert[0] and "无法识别" in alert[0]
    assert h.http.get("/readyz").json()["parked_24h"] == 1


# -- a row that raises: parked, while the same person's next rows go out ------------------------------------
def test_an_outbox_row_that_raises_is_parked_while_the_same_persons_next_rows_go_out(
    db_url, tmp_path, redis_server, clock
):
    h = _harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        now = clock.now()
        outbox.enqueue(
            s, recipient="rep01", message=Text(content="第一条").to_dict(), dedupe_key="a", now=now
        )
        outbox.enqueue(  # a card whose stored button cannot be read back
            s,
            recipient="rep01",
            message={"kind": "card", "title": "审批", "buttons": [{"label": "通过"}]},
            dedupe_key="bad-card",
            now=now,
        )
        outbox.enqueue(  # an image whose file is gone
            s,
            recipient="rep01",
            message={"kind": "image", "path": "gone/brief.png"},
            dedupe_key="bad-img",
            now=now,
        )
        outbox.enqueue(
            s, recipient="rep01", message=Text(content="第二条").to_dict(), dedupe_key="b", now=now
        )
        s.commit()
    h.tick()  # no exception out of the sweep
    assert h.texts("rep01") == ["第一条", "第二条"]
    _run(h, seconds=60)
    with h.session_factory() as s:
        bad = {
            r.dedupe_key: r for r in s.scalars(select(OutboxRow).where(OutboxRow.dedupe_key.like("bad-%")))
        }
    assert {k: (r.status, r.strikes) for k, r in bad.items()} == {
        "bad-card": ("dead", 3),
        "bad-img": ("dead", 3),
    }
    assert "TypeError" in bad["bad-card"].last_error and "FileNotFoundError" in bad["bad-img"].last_error
    assert len(_alerts(h, "【发送失败告警】")) == 2
    assert h.texts("rep01") == ["第一条", "第二条"]
    assert _statuses(h) == Counter({"sent": 4, "dead": 2})


# -- a poison inbox event: parked after N attempts, one plain-words reply, the sender's next message flows --
def test_a_poison_inbox_event_is_parked_after_n_attempts_with_one_plain_reply(
    db_url, tmp_path, redis_server, clock
):
    h = _harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:  # an event no handler can read (say stored by a newer version)
        inbox.put(
            s,
            dedupe_key="poison",
            sender="rep01",
            kind="x",
            event={"type": "from-the-future"},
            now=clock.now(),
        )
        s.commit()
    h.peer.text("rep02", "帮助")  # another person is not held up
    h.tick()
    assert texts.HELP_REP in h.texts("rep02")
    h.peer.text("rep01", "帮助")  # the same person's next message waits its turn, then flows
    _run(h, seconds=30)
    with h.session_factory() as s:
        row = s.scalars(select(InboxRow).where(InboxRow.dedupe_key == "poison")).one()
        statuses = Counter(s.scalars(select(InboxRow.status)))
    assert (row.status, row.attempts) == ("failed", inbox.MAX_ATTEMPTS)
    assert "KeyError" in row.last_error
    assert statuses == Counter({"done": 2, "failed": 1})
    said = h.texts("rep01")
    assert (
        said.count(texts.INTERNAL_ERROR) == 1
        and texts.INTERNAL_ERROR == "这条消息没能处理，已记录，管理员会查看。"
    )
    assert said[-1] == texts.HELP_REP
    alert = _alerts(h, "【消息处理失败告警】")
    assert len(alert) == 1 and "rep01" in alert[0]
    _run(h, seconds=60)
    assert h.texts("rep01").count(texts.INTERNAL_ERROR) == 1  # told once


# -- a killed holder: its claims run out in seconds, another process takes over -------------------------------
def test_a_killed_holders_rows_are_taken_over_within_the_short_lease(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    _enqueue(h, "rep01", 2)
    h.peer.text("rep02", "帮助")
    with h.session_factory() as s:  # another process claimed everything, then was killed with SIGKILL
        outbox.claim(s, now=clock.now(), limit=100, lease=sender.CLAIM_LEASE, owner="killed")
        inbox.claim(s, now=clock.now(), owner="killed")
        s.commit()
    clock.advance(seconds=10)
    h.tick()
    assert h.texts("rep01") == [] and h.texts("rep02") == []  # a live holder would still be working
    clock.advance(seconds=LEASE.total_seconds() - 10 + 1)
    h.tick()
    assert h.texts("rep01") == ["提醒 t0", "提醒 t1"] and texts.HELP_REP in h.texts("rep02")
    assert LEASE <= timedelta(seconds=15)


def test_a_live_holder_keeps_its_claims_by_renewing_them(db_url, tmp_path, redis_server, clock):
    """The heartbeat's renewal: a holder still at work keeps its rows past the first lease."""
    h = _harness(db_url, tmp_path, redis_server, clock)
    _enqueue(h, "rep01", 1)
    with h.session_factory() as s:
        outbox.claim(s, now=clock.now(), limit=100, lease=sender.CLAIM_LEASE, owner="alive")
        s.commit()
    for _ in range(6):  # 60 s of work, a beat every 10 s (well inside the 15 s lease)
        clock.advance(seconds=10)
        with h.session_factory() as s:
            assert outbox.renew_leases(s, owner="alive", until=clock.now() + sender.CLAIM_LEASE) == 1
            s.commit()
        h.tick()
    assert h.texts("rep01") == []
    assert _statuses(h) == Counter({"sending": 1})


def test_a_photo_sent_while_wecom_refuses_the_app_waits_without_being_charged(
    db_url, tmp_path, redis_server, clock
):
    """media/get refused for the app's configuration (60020) is not the photo's fault: the event waits, is not
    parked after five attempts, and is handled once the console is fixed."""
    h = _harness(db_url, tmp_path, redis_server, clock)
    h.wecom.fail_for(90, Fault.UNTRUSTED_IP)
    out = BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(out, "JPEG")
    h.peer.image("rep01", out.getvalue())
    _run(h, seconds=80, step=5)
    with h.session_factory() as s:
        row = s.scalars(select(InboxRow)).one()
    assert (row.status, row.attempts) == ("new", 0) and "deferred" in row.last_error
    assert h.texts("rep01") == []
    _run(h, seconds=120, step=5)
    with h.session_factory() as s:
        assert s.scalars(select(InboxRow.status)).one() == "done"
    assert h.texts("rep01") and texts.INTERNAL_ERROR not in h.texts("rep01")
