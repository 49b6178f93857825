"""Priority lanes and replies first (issue 13 item 2, issue 20 item 1): a person's own conversation never waits
behind alerts queued for them or anyone else, and under a backlog the relay sends while the worker is still
handling it. Ordering evidence at the emulator (its delivery sequence), never timing."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from sqlalchemy import func, select

from bot.wecom import render as cards
from handlers import texts
from handlers.messages import Text
from handlers.router import Router, Routes
from storage import outbox
from storage.models import InboxRow, OutboxRow
from tests.support.factories import org, queued_texts
from tests.support.harness import Harness


def _alerts(h: Harness, recipient: str, n: int, prefix: str = "a") -> None:
    """n alerts for `recipient`, as a timer would queue them (the bulk lane, the default)."""
    with h.session_factory() as s:
        outbox.enqueue_many(
            s,
            [
                outbox.row_values(
                    recipient=recipient,
                    message=Text(content=f"提醒 {prefix}{i}").to_dict(),
                    dedupe_key=f"timer:{prefix}:{recipient}:{i}",
                    now=h.clock.now(),
                )
                for i in range(n)
            ],
        )
        s.commit()


def _seen_by(h: Harness, user: str) -> str:
    """Everything `user` received, one message per line (digests spread over several)."""
    return "\n".join(d.body[d.body["msgtype"]]["content"] for d in h.wecom.deliveries_to(user))


def _done(h: Harness) -> int:
    with h.session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status == "done")) or 0)


def test_a_reps_own_help_is_sent_before_the_30_alerts_queued_for_them(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock, TICK_INTERLEAVE=True)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    _alerts(h, "rep01", 30)
    h.peer.text("rep01", "帮助")
    h.tick()
    got = h.texts("rep01")
    assert got[0] == texts.HELP_REP  # the first message the rep gets is the answer to what they said
    assert len(got) >= 15  # the alerts did go out after it (14 and a digest: the per-minute budget)
    seen = _seen_by(h, "rep01")
    assert all(f"提醒 a{i}" in seen for i in range(14))
    with h.session_factory() as s:
        lanes = Counter(s.execute(select(OutboxRow.lane, OutboxRow.dedupe_key.like("in:%"))).all())
    assert lanes[(outbox.LANE_REPLY, True)] == 1  # the reply to the sender: the first lane
    assert lanes[(outbox.LANE_BULK, False)] >= 30  # the alerts (and their digest): the last lane


def test_a_reply_written_while_a_storm_is_sent_jumps_the_storm(db_url, tmp_path, redis_server, clock):
    """600 alerts for 20 supervisors, then 30 for rep01, are being sent when rep01 writes 帮助 (posted from the
    emulator while it takes the storm's first message, and held there until the worker has answered it): the
    answer is claimed by the next round, before every alert queued for rep01. With the old order (the whole
    inbox, then one relay round of 1,000) rep01's alerts all went first."""
    h = Harness(db_url, tmp_path, redis_server, clock, TICK_INTERLEAVE=True)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    for k in range(20):
        _alerts(h, f"s{k:02d}", 30)
    _alerts(h, "rep01", 30)
    state = {"posted": False, "answered": False}

    @h.fake_app.middleware("http")
    async def rep_writes(request, call_next):  # noqa: ANN001, ANN202
        if request.url.path.endswith("message/send") and not state["posted"]:
            state["posted"] = True
            h.peer.text("rep01", "帮助")  # stored by the callback; the worker has not seen it yet
            for _ in range(500):  # hold the storm's first send until the answer is committed (≤ 5 s)
                if await asyncio.to_thread(_done, h) == 1:
                    state["answered"] = True
                    break
                await asyncio.sleep(0.01)
        return await call_next(request)

    h.tick()
    assert state["answered"]  # the worker answered while the relay was sending
    got = h.texts("rep01")
    assert got and got[0] == texts.HELP_REP
    assert any(t.startswith("提醒 a") for t in got[1:])  # rep01's alerts followed in the same tick
    assert h.wecom.dropped == []


def test_with_300_events_queued_the_first_reply_leaves_before_the_last_event_is_handled(
    db_url, tmp_path, redis_server, clock
):
    """The relay runs beside the worker: the emulator's first delivery happens while most of the backlog is
    still in the inbox. The last event's prefetch waits (at most 10 s) for that first delivery, so the order is
    certain when the relay is interleaved and the test fails when it only runs after the whole inbox."""
    h = Harness(db_url, tmp_path, redis_server, clock, TICK_INTERLEAVE=True)
    n = 300
    now = clock.now()
    with h.session_factory() as s:
        queued_texts(s, n, prefix="c", now=now)
        s.commit()
    first_sent = threading.Event()
    seen = {"done_at_first_send": None, "waited": None}

    @h.fake_app.middleware("http")
    async def first_send(request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        if request.url.path.endswith("message/send") and seen["done_at_first_send"] is None:
            seen["done_at_first_send"] = await asyncio.to_thread(_done, h)
            first_sent.set()
        return response

    worker = h.services.worker
    real_prefetch = worker.prefetch

    def prefetch(event):  # noqa: ANN001, ANN202
        if event.sender == f"c{n - 1:05d}":
            seen["waited"] = first_sent.wait(10)
        return real_prefetch(event) if real_prefetch else None

    worker.prefetch = prefetch
    h.tick()
    assert seen["waited"] is True
    assert seen["done_at_first_send"] is not None and seen["done_at_first_send"] < n
    assert _done(h) == n
    assert len({d.userid for d in h.wecom.all_deliveries()}) == n  # and everyone was answered in that tick


def test_each_persons_rows_keep_their_order_within_a_lane_across_small_rounds(
    db_url, tmp_path, redis_server, clock
):
    """Rounds of 4 rows: rep01's three messages are answered in the order they were written (the first before
    any alert: the worker's batches hold one event per sender, so the later answers may meet alerts between);
    the alerts arrive in the order they were queued, to each person."""
    h = Harness(db_url, tmp_path, redis_server, clock, TICK_INTERLEAVE=True)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    h.services.relay.batch = 4
    _alerts(h, "rep01", 6)
    _alerts(h, "rep02", 6)
    for word in ("帮助", "你好", "帮助"):
        h.peer.text("rep01", word)
    h.tick()
    got = h.texts("rep01")
    alerts = [t for t in got if t.startswith("提醒")]
    answers = [t for t in got if not t.startswith("提醒")]
    assert got[0] == texts.HELP_REP
    assert len(answers) == 3 and answers[1] != texts.HELP_REP
    assert "".join(c for c in answers[2] if c not in cards.INVISIBLE) == texts.HELP_REP  # the repeat, last
    assert alerts == [f"提醒 a{i}" for i in range(6)]
    assert h.texts("rep02") == [f"提醒 a{i}" for i in range(6)]
    with h.session_factory() as s:
        replies = s.scalars(
            select(OutboxRow).where(OutboxRow.dedupe_key.like("in:%")).order_by(OutboxRow.id)
        ).all()
    sent_order = [d.seq for d in h.wecom.deliveries_to("rep01")][: len(replies)]
    assert sent_order == sorted(sent_order)
    assert {r.lane for r in replies} == {outbox.LANE_REPLY} and {r.status for r in replies} == {"sent"}


def test_what_an_event_causes_for_someone_else_is_a_follow_up_sent_before_their_alerts(
    db_url, tmp_path, redis_server, clock
):
    """The worker's lanes: the answer to the sender is LANE_REPLY; a message the same event causes for another
    person (an approval card to the supervisor, say) is LANE_FOLLOWUP, sent to them before the alerts queued
    for them earlier."""
    h = Harness(db_url, tmp_path, redis_server, clock, TICK_INTERLEAVE=True)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())

    def asks_the_supervisor(ctx, event):  # noqa: ANN001, ANN202
        ctx.reply(Text(content="已提交主管"))
        ctx.send("sup01", Text(content="张伟请你审批"))

    h.services.worker.router = Router(
        Routes(
            text_commands=[],
            card_actions=[],
            dialog_states=[],
            events=[],
            role_fallbacks=[("rep", [asks_the_supervisor])],
            subscribers=[],
            timer_kinds=[],
            recurring=[],
        )
    )
    _alerts(h, "sup01", 5)
    h.peer.text("rep01", "价格异议 要求降5%")
    h.tick()
    assert h.texts("rep01") == ["已提交主管"]
    assert h.texts("sup01")[0] == "张伟请你审批"
    assert h.texts("sup01")[1:] == [f"提醒 a{i}" for i in range(5)]
    with h.session_factory() as s:
        lanes = dict(
            s.execute(
                select(OutboxRow.recipient, OutboxRow.lane).where(OutboxRow.dedupe_key.like("in:%"))
            ).all()
        )
    assert lanes == {"rep01": outbox.LANE_REPLY, "sup01": outbox.LANE_FOLLOWUP}
    assert h.services.worker.on_replies is None  # the tick's wake-up does not outlive the tick


def test_replies_and_alerts_sent_side_by_side_share_the_per_person_budget(
    db_url, tmp_path, redis_server, clock
):
    """The replies' rounds and the alerts' rounds run at once; each counts the other's sends in flight, so rep01
    never gets more than 20 messages a minute, and every answer arrives, in order, none lost."""
    h = Harness(db_url, tmp_path, redis_server, clock, TICK_INTERLEAVE=True)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    _alerts(h, "rep01", 200)
    for _ in range(8):
        h.peer.text("rep01", "帮助")

    alert_in_flight = threading.Event()

    @h.fake_app.middleware("http")
    async def hold_alerts(request, call_next):  # noqa: ANN001, ANN202 - alerts in flight while replies are claimed
        if request.url.path.endswith("message/send") and "提醒" in (await request.body()).decode():
            alert_in_flight.set()
            for _ in range(500):
                if await asyncio.to_thread(_done, h) == 8:
                    break
                await asyncio.sleep(0.01)
        return await call_next(request)

    worker = h.services.worker
    real_prefetch, calls = worker.prefetch, []

    def prefetch(event):  # noqa: ANN001, ANN202 - the 2nd to 8th message are handled once alerts are in flight
        calls.append(event)
        if len(calls) > 1:
            alert_in_flight.wait(5)
        return real_prefetch(event) if real_prefetch else None

    worker.prefetch = prefetch
    h.tick()
    first_minute = h.wecom.deliveries_to("rep01")
    assert len(first_minute) <= 20 and h.wecom.dropped == []
    assert h.texts("rep01")[0] == texts.HELP_REP
    for _ in range(12):
        clock.advance(seconds=61)
        h.tick()
    answers = [t for t in h.texts("rep01") if not t.startswith("提醒") and "条提醒" not in t]
    assert len(answers) == 8 and len(set(answers)) == 8  # each repeat carries its own invisible mark
    assert all("".join(c for c in a if c not in cards.INVISIBLE) == texts.HELP_REP for a in answers)
    times = sorted(d.at for d in h.wecom.deliveries_to("rep01"))
    for i, t in enumerate(times):  # any 60-second window holds at most 20
        assert sum(1 for u in times[i:] if (u - t).total_seconds() < 60) <= 20
    with h.session_factory() as s:
        assert set(s.scalars(select(OutboxRow.status).where(OutboxRow.dedupe_key.like("in:%")))) == {"sent"}


def test_the_claim_walks_the_lane_index_in_order_under_a_storm(db_url, tmp_path, redis_server, clock):
    """20,000 alerts pending and never analysed: each read of the claim is an index walk in (status, lane,
    next_try_at, id) order that stops at the round's size, no sort of the storm (checked on each statement's
    plan; PostgreSQL may sort the few rows in flight when it looks for lapsed leases)."""
    from datetime import timedelta

    from sqlalchemy import event

    h = Harness(db_url, tmp_path, redis_server, clock, TICK_INTERLEAVE=True)
    for k in range(4):
        _alerts(h, f"s{k}", 5000, prefix=f"p{k}")
    engine = h.services.engine
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        if statement.lstrip().upper().startswith("SELECT") and "FROM outbox" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with h.session_factory() as s:
            ids = [r.id for r in outbox.claim(s, now=clock.now(), limit=50, lease=timedelta(seconds=15))]
            s.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(ids) == 50 and ids == sorted(ids)  # the oldest due first
    assert len(statements) == 4  # replies, follow-ups, lapsed leases, alerts
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        for statement, parameters in statements:
            lapsed = "sending" in str(
                parameters
            )  # rows in flight: a few rounds' worth, a sort of them is fine
            cur = raw.cursor()
            if engine.dialect.name == "sqlite":
                cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = " | ".join(str(r[-1]) for r in cur.fetchall())
                assert "ix_outbox_lane_due" in plan and "TEMP B-TREE" not in plan, plan
            else:
                cur.execute("EXPLAIN " + statement, parameters)
                plan = " | ".join(str(r[0]) for r in cur.fetchall())
                assert "Seq Scan" not in plan, plan
                if not lapsed:
                    assert "Index Scan using ix_outbox_lane_due" in plan and "Sort" not in plan, plan
            cur.close()
