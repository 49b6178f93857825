"""The outbox relay against a WeCom that fails, refuses and rate-limits — nothing lost, nothing seen twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.emulator.faults import Fault
from bot.wecom import relay as sender
from bot.wecom import render as cards
from handlers import texts
from handlers.messages import Button, Card, Text
from storage import outbox
from storage.models import OutboxRow
from tests.support.factories import org
from tests.support.harness import Harness


def _enqueue(h, recipient: str, n: int, prefix: str = "t") -> None:
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


def _statuses(h) -> Counter:
    with h.session_factory() as s:
        return Counter(s.scalars(select(OutboxRow.status)))


def _run(h, *, minutes: int, step_seconds: int = 5) -> None:
    for _ in range(minutes * 60 // step_seconds):
        h.tick()
        h.clock.advance(seconds=step_seconds)


def test_thirty_percent_failures_every_message_delivered_once(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    users = [f"u{i:03d}" for i in range(60)]
    for u in users:
        _enqueue(h, u, 5)  # 300 messages, 5 per person (under the per-minute limit)
    h.wecom.fail_rate(
        0.3,
        modes=(Fault.SYSTEM_BUSY, Fault.FREQ_LIMIT, Fault.HTTP_502, Fault.TIMEOUT),
        seed=3,
        paths=["message/send"],
    )
    _run(h, minutes=10)
    h.wecom.clear_faults()
    _run(h, minutes=2)
    assert _statuses(h) == Counter({"sent": 300})
    delivered = Counter(d.body["text"]["content"] + "→" + d.userid for d in h.wecom.all_deliveries())
    assert len(delivered) == 300 and set(delivered.values()) == {1}
    assert len(h.wecom.faults_injected) > 50  # the failures really happened


def test_a_permanent_error_parks_the_row_and_admins_are_alerted(db_url, tmp_path, redis_server, clock):
    """A request WeCom refuses for good (here a card whose task_id was used already: 40058) is parked at once,
    every admin is told, and the recipient's other messages go out."""
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        for i in range(2):
            outbox.enqueue(
                s,
                recipient="rep01",
                dedupe_key=f"card:{i}",
                now=clock.now(),
                message=Card(
                    title=f"审批{i}", task_id="same-task", buttons=[Button("通过", "appr:ok:1")]
                ).to_dict(),
            )
        s.commit()
    _enqueue(h, "rep01", 1)
    h.tick()
    h.tick()
    with h.session_factory() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.dedupe_key == "card:1")).one()
        assert row.status == "dead" and "40058" in row.last_error
    assert _statuses(h) == Counter({"sent": 3, "dead": 1})  # the first card, the text, the admin's alert
    alert = [t for t in h.texts("admin") if t.startswith("【发送失败告警】")]
    assert len(alert) == 1 and "rep01" in alert[0]


def test_a_person_outside_the_visible_range_is_held_and_sent_after_the_fix(
    db_url, tmp_path, redis_server, clock
):
    """81013 for one person while others are reached (it used to park the message for good): that person's
    messages wait, the admins are told once, and everything arrives once the console is fixed."""
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    h.wecom.users = {"admin", "sup01", "rep02"}  # rep01 left out of the app's visible range
    _enqueue(h, "rep01", 3)
    _enqueue(h, "rep02", 1)
    _run(h, minutes=2)
    assert h.texts("rep02") == ["提醒 t0"] and h.texts("rep01") == []
    with h.session_factory() as s:
        held = s.scalars(select(OutboxRow).where(OutboxRow.recipient == "rep01")).all()
    assert {r.status for r in held} == {"pending"}
    assert len(h.wecom.calls_to("message/send")) <= 4  # one refusal held all three of rep01's rows
    alert = [t for t in h.texts("admin") if t.startswith("【发送失败告警】")]
    assert len(alert) == 1 and "rep01" in alert[0] and "可见范围" in alert[0]
    h.wecom.users.add("rep01")  # the admin adds rep01 to the visible range
    _run(h, minutes=10)
    assert h.texts("rep01") == ["提醒 t0", "提醒 t1", "提醒 t2"]
    assert len([t for t in h.texts("admin") if t.startswith("【发送失败告警】")]) == 1


def test_burst_of_100_to_one_person_stays_under_the_limit_and_loses_nothing(
    db_url, tmp_path, redis_server, clock
):
    h = Harness(db_url, tmp_path, redis_server, clock)
    _enqueue(h, "sup01", 100)
    _run(h, minutes=5)
    got = h.wecom.deliveries_to("sup01")
    assert h.wecom.dropped == []
    times = sorted(d.at for d in got)
    for i, t in enumerate(times):  # any 60-second window holds at most 20
        assert sum(1 for u in times[i:] if u - t < timedelta(seconds=60)) <= 20
    # every one of the 100 is either its own message or a line of a digest
    text = "\n".join(d.body[d.body["msgtype"]]["content"] for d in got)
    for i in range(100):
        assert f"提醒 t{i}" in text
    with h.session_factory() as s:
        st = Counter(s.scalars(select(OutboxRow.status).where(OutboxRow.dedupe_key.like("t:%"))))
    assert st["sent"] + st["merged"] == 100 and st["merged"] > 0
    assert any(texts.DIGEST_TITLE.split("{")[0] in t for t in h.texts("sup01"))


def test_card_payload_is_rendered_once_and_resent_byte_for_byte(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        outbox.enqueue(
            s,
            recipient="sup01",
            dedupe_key="card:1",
            now=clock.now(),
            message=Card(title="审批", buttons=[Button("通过", "appr:ok:1")]).to_dict(),
        )
        s.commit()
    h.wecom.fail_next(1, Fault.TIMEOUT, paths=["message/send"])  # delivered, but the answer is lost
    h.tick()
    clock.advance(seconds=5)
    h.tick()
    bodies = [c.body for c in h.wecom.calls_to("message/send")]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert len(h.wecom.deliveries_to("sup01")) == 1  # enable_duplicate_check suppressed the repeat
    with h.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "sent")) == 1


def test_a_reply_is_not_stuck_behind_a_flood_of_alerts(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    _enqueue(h, "rep01", 200, prefix="alert")  # an alert storm, all due now
    h.tick()
    h.peer.text("rep01", "帮助")  # the rep writes while the storm is being sent
    h.tick()
    said = h.texts("rep01")
    assert texts.HELP_REP in said
    assert len(h.wecom.deliveries_to("rep01")) <= 20 and h.wecom.dropped == []


def test_sends_to_different_people_overlap_and_each_persons_stay_in_order(
    db_url, tmp_path, redis_server, clock
):
    h = Harness(db_url, tmp_path, redis_server, clock)
    seen = {"inflight": 0, "peak": 0, "event": None}

    @h.fake_app.middleware("http")
    async def overlap(request, call_next):  # noqa: ANN001, ANN202 - holds sends until four are in flight
        if not request.url.path.endswith("message/send"):
            return await call_next(request)
        seen["event"] = seen["event"] or asyncio.Event()
        seen["inflight"] += 1
        seen["peak"] = max(seen["peak"], seen["inflight"])
        if seen["inflight"] >= 4:
            seen["event"].set()
        else:  # a relay sending one at a time never gets past here in time: the assertion below fails
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(seen["event"].wait(), 2)
        try:
            return await call_next(request)
        finally:
            seen["inflight"] -= 1

    users = [f"u{i}" for i in range(6)]
    for u in users:
        _enqueue(h, u, 3)
    h.tick()
    assert seen["peak"] >= 4
    assert _statuses(h) == Counter({"sent": 18})
    for u in users:
        assert [m["text"]["content"] for m in h.replies(u)] == ["提醒 t0", "提醒 t1", "提醒 t2"]


def test_a_round_broken_off_by_the_database_releases_its_claims_at_once(
    db_url, tmp_path, redis_server, clock, monkeypatch
):
    h = Harness(db_url, tmp_path, redis_server, clock)
    for u in ("u1", "u2", "u3"):
        _enqueue(h, u, 1)
    relay = h.services.relay
    real_record = relay._record_sent

    def database_gone(sent):  # noqa: ANN001, ANN202 - WeCom took all three, recording them fails
        monkeypatch.setattr(relay, "_record_sent", real_record)
        raise OperationalError("UPDATE outbox", {}, Exception("database is unavailable"))

    monkeypatch.setattr(relay, "_record_sent", database_gone)
    with pytest.raises(OperationalError):
        h.tick()
    with h.session_factory() as s:
        held = s.scalars(select(OutboxRow)).all()
        assert {(r.status, r.claimed_by) for r in held} == {("sending", relay.owner)}
    h.tick()  # the same minute: no lease has expired, the relay releases its own claims
    assert _statuses(h) == Counter({"sent": 3})
    for u in ("u1", "u2", "u3"):
        assert len(h.wecom.deliveries_to(u)) == 1  # the resends were the same bytes: WeCom dropped them
    assert len(h.wecom.duplicates) == 3


def test_no_one_gets_more_than_the_hourly_limit(db_url, tmp_path, redis_server, clock):
    """WeCom also drops silently above 1,000 messages an hour to one member: 20 a minute alone would
    allow 1,200. Rows already sent in the last hour count."""
    h = Harness(db_url, tmp_path, redis_server, clock)
    start = clock.now()
    with h.session_factory() as s:
        for i in range(sender.HOURLY_LIMIT - 3):  # sent over the last 50 minutes, none in the last minute
            s.add(
                OutboxRow(
                    dedupe_key=f"old:{i}",
                    recipient="sup01",
                    kind="text",
                    message={"kind": "text"},
                    status="sent",
                    attempts=1,
                    next_try_at=start,
                    created_at=start,
                    sent_at=start - timedelta(minutes=50) + timedelta(seconds=3 * i),
                )
            )
        s.commit()
    _enqueue(h, "sup01", 30, prefix="late")
    _run(h, minutes=5)
    assert len(h.wecom.deliveries_to("sup01")) == 3  # the hour's budget, the rest merged and waiting
    clock.set(start + timedelta(minutes=11))  # the first old sends leave the hour
    _run(h, minutes=5)
    text = "\n".join(d.body[d.body["msgtype"]]["content"] for d in h.wecom.deliveries_to("sup01"))
    for i in range(30):
        assert f"提醒 late{i}" in text
    assert h.wecom.dropped == []


def _seen(content: str) -> str:
    """What a person sees: the text without default-ignorable characters."""
    return "".join(c for c in content if c not in cards.INVISIBLE)


def test_identical_messages_to_one_person_all_arrive_without_a_visible_counter(
    db_url, tmp_path, redis_server, clock
):
    """WeCom's duplicate check drops an identical message within 30 minutes: the 2nd, 3rd, 4th differ only
    by invisible characters (they used to carry 「（2）」「（3）」「（4）」), also when rendered in one round,
    while a retry of one of them is still the same bytes and deduplicated."""
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        for i in range(3):
            outbox.enqueue(
                s,
                recipient="rep01",
                message=Text(content="请补拍照片").to_dict(),
                dedupe_key=f"same:{i}",
                now=clock.now(),
            )
        s.commit()
    h.tick()
    clock.advance(minutes=5)
    with h.session_factory() as s:
        outbox.enqueue(
            s,
            recipient="rep01",
            message=Text(content="请补拍照片").to_dict(),
            dedupe_key="same:3",
            now=clock.now(),
        )
        s.commit()
    h.wecom.fail_next(1, Fault.TIMEOUT, paths=["message/send"])  # delivered, the answer lost: resent
    h.tick()
    clock.advance(seconds=5)
    h.tick()
    got = h.texts("rep01")
    assert [_seen(t) for t in got] == ["请补拍照片"] * 4
    assert len(set(got)) == 4 and got[0] == "请补拍照片"
    assert not any("（" in t for t in got)
    assert len(h.wecom.duplicates) == 1  # the retry of the 4th: the same bytes, dropped by WeCom
    assert h.wecom.dropped == []
    assert _statuses(h) == Counter({"sent": 4})
