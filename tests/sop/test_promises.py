"""Follow-up and promise reminders, their escalation, the 已完成 button and the calendar entries."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from core.clock import SHANGHAI
from core.events import PromiseCancelled, VisitCompleted
from handlers.routes import ROUTER
from handlers.sop import promises as promise_rules
from handlers.sop import stale as stale_rules
from storage.models import InteractionRow, OutboxRow, PromiseRow, TimerRow
from storage.models import PromiseRow as _PromiseRow
from tests.sop.conftest import (
    add_customer,
    add_promise,
    add_visit,
    click,
    messages,
    sweep,
    timers_of,
    titles,
    unit_of_work,
)

VISIT_AT = datetime(2026, 11, 23, 8, 40, tzinfo=SHANGHAI)
FOLLOW_UP_DUE = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
PROMISE_DUE = datetime(2026, 11, 27, 18, 0, tzinfo=SHANGHAI)


def _visit_with_promises(sf, clock) -> tuple[int, int]:
    add_customer(sf, "c1", "rep1", name="味源超市")
    add_visit(sf, "v1", "c1", "rep1", VISIT_AT, tags=("新品兴趣",))
    fu = add_promise(
        sf,
        kind="follow_up",
        visit_id="v1",
        customer_id="c1",
        rep="rep1",
        text="回访新品试销",
        due_at=FOLLOW_UP_DUE,
        created_at=clock.now(),
    )
    pr = add_promise(
        sf,
        kind="promise",
        visit_id="v1",
        customer_id="c1",
        rep="rep1",
        text="周五前送样品",
        due_at=PROMISE_DUE,
        created_at=clock.now(),
    )
    with unit_of_work(sf, clock, "rep1", source="inbox:1") as ctx:
        ROUTER.publish(ctx, VisitCompleted("v1"))
    return fu, pr


def _local(at: datetime) -> datetime:
    return at.astimezone(SHANGHAI)


def test_visit_completed_plans_reminders_and_calendar_entries(org, clock):
    fu, pr = _visit_with_promises(org, clock)
    with unit_of_work(org, clock, "rep1", source="inbox:2") as ctx:  # a repeated hook changes nothing
        ROUTER.publish(ctx, VisitCompleted("v1"))
    pending = {t.business_key: _local(t.due_at) for t in timers_of(org, status="pending")}
    assert set(pending) == {
        f"follow_up:{fu}:g1:remind",
        f"promise:{pr}:g1:before",
        f"promise:{pr}:g1:due",
        "stale:c1:" + str(int(VISIT_AT.timestamp())),
    }
    remind = pending[f"follow_up:{fu}:g1:remind"]
    assert remind.date() == FOLLOW_UP_DUE.date() and remind.hour == 9 and remind.minute not in (0, 30)
    assert pending[f"promise:{pr}:g1:before"].date() == datetime(2026, 11, 26).date()
    assert timedelta(0) < PROMISE_DUE - pending[f"promise:{pr}:g1:due"] < timedelta(minutes=10)  # off :00
    assert pending["stale:c1:" + str(int(VISIT_AT.timestamp()))] == VISIT_AT + timedelta(hours=72)

    adds = messages(org, "rep1", kind="schedule_add")
    assert [m.message["promise_id"] for m in adds] == [fu, pr]
    sched = adds[1].message["schedule"]
    assert (
        sched["start_time"] == int(PROMISE_DUE.timestamp())
        and sched["end_time"] == sched["start_time"] + 3600
    )
    assert sched["attendees"] == [{"userid": "rep1"}]
    assert sched["summary"] == "兑现承诺 味源超市：周五前送样品" and len(sched["summary"]) <= 128
    assert sched["reminders"] == {
        "is_remind": 1,
        "remind_before_event_secs": 3600,
        "is_repeat": 0,
        "timezone": 8,
    }
    assert "承诺#" in sched["description"]


def test_follow_up_reminder_then_escalation_each_once(org, clock):
    fu, _ = _visit_with_promises(org, clock)
    clock.set(datetime(2026, 11, 25, 8, 59, tzinfo=SHANGHAI))
    sweep(org, clock)
    assert messages(org, kind="card") == []
    clock.set(datetime(2026, 11, 25, 9, 45, tzinfo=SHANGHAI))
    assert sweep(org, clock) == 1
    assert sweep(org, clock) == 0
    cards = messages(org, kind="card")
    assert [(m.recipient, m.message["title"]) for m in cards] == [("rep1", "今日回访：味源超市")]
    assert cards[0].message["buttons"][0] == {"text": "已完成", "key": f"promise:done:{fu}", "style": 1}

    clock.set(datetime(2026, 11, 26, 9, 45, tzinfo=SHANGHAI))  # +1 day, still not followed up
    sweep(org, clock)
    sweep(org, clock)
    sup = messages(org, "sup1", kind="card")
    assert titles(sup) == ["回访逾期：味源超市"]
    assert "张三" in sup[0].message["description"]
    # the stale ladder (72 h after the visit) reached the owner too, once
    assert titles(messages(org, "rep1", kind="card")) == [
        "今日回访：味源超市",
        "客户已3天未跟进：味源超市",
    ]


def test_a_touch_cancels_the_follow_up_escalation(org, clock):
    fu, _ = _visit_with_promises(org, clock)
    clock.set(datetime(2026, 11, 25, 9, 45, tzinfo=SHANGHAI))
    sweep(org, clock)
    clock.set(datetime(2026, 11, 25, 14, 0, tzinfo=SHANGHAI))
    with org() as s:
        s.add(
            InteractionRow(
                interaction_id="i1", customer_id="c1", rep_userid="rep1", at=clock.now(), channel="phone"
            )
        )
        s.commit()
    with unit_of_work(org, clock, "rep1") as ctx:
        stale_rules.restart_clock(ctx, "c1")
    clock.set(datetime(2026, 11, 27, 9, 45, tzinfo=SHANGHAI))
    sweep(org, clock)
    assert messages(org, "sup1") == []
    overdue = [t for t in timers_of(org, kind="follow_up") if t.payload["step"] == "overdue"]
    assert [(t.status, t.outcome) for t in overdue] == [
        ("cancelled", "customer touched since the follow-up was planned")
    ]


def test_promise_day_before_at_due_then_supervisor(org, clock):
    _, pr = _visit_with_promises(org, clock)
    clock.set(datetime(2026, 11, 26, 18, 0, tzinfo=SHANGHAI))
    sweep(org, clock)
    clock.set(datetime(2026, 11, 27, 18, 0, tzinfo=SHANGHAI))
    sweep(org, clock)
    promise_cards = [m for m in messages(org, "rep1", kind="card") if "承诺" in m.message["title"]]
    assert titles(promise_cards) == ["承诺明天到期：味源超市", "承诺到期：味源超市"]
    clock.set(datetime(2026, 11, 28, 18, 30, tzinfo=SHANGHAI))
    sweep(org, clock)
    sweep(org, clock)
    assert titles([m for m in messages(org, "sup1", kind="card") if "承诺" in m.message["title"]]) == [
        "承诺逾期未兑现：味源超市"
    ]


def test_done_button_stops_reminders_and_marks_the_calendar(org, clock):
    _, pr = _visit_with_promises(org, clock)
    with org() as s:  # the relay sent the add and stored WeCom's schedule_id
        s.execute(update(OutboxRow).where(OutboxRow.kind == "schedule_add").values(status="sent"))
        for p in s.scalars(select(PromiseRow)):
            p.schedule_id = f"SCH-{p.id}"
        s.commit()
    clock.set(datetime(2026, 11, 26, 18, 0, tzinfo=SHANGHAI))
    sweep(org, clock)
    click(org, clock, "rep1", f"promise:done:{pr}", response_code="RC1", times=3)
    click(org, clock, "rep1", f"promise:done:{pr}", response_code="RC2")  # a second, different click
    with org() as s:
        assert s.get(PromiseRow, pr).status == "done"
    updates = messages(org, "rep1", kind="card_update")
    assert [m.message["replace_name"] for m in updates] == ["已完成", "已完成"]
    texts = [m.message["content"] for m in messages(org, "rep1", kind="text")]
    assert texts == ["已标记完成：味源超市「周五前送样品」。", "这条承诺已是「已完成」状态，无需再处理。"]
    cal = messages(org, "rep1", kind="schedule_update")
    assert len(cal) == 1 and cal[0].message["schedule"]["schedule_id"] == f"SCH-{pr}"
    assert cal[0].message["schedule"]["summary"].startswith("【已完成】")
    clock.set(datetime(2026, 11, 30, 18, 0, tzinfo=SHANGHAI))
    sweep(org, clock)
    assert [m for m in messages(org, "sup1") if "承诺" in m.message.get("title", "")] == []
    with org() as s:
        live = s.scalars(
            select(TimerRow).where(TimerRow.kind == "promise", TimerRow.status == "pending")
        ).all()
        assert live == []


def test_changed_and_cancelled_promises_update_and_delete_the_calendar(org, clock):
    fu, pr = _visit_with_promises(org, clock)
    # changed before the add was sent: a short calendar_sync timer waits for the schedule_id
    with org() as s:
        s.get(PromiseRow, pr).due_at = PROMISE_DUE + timedelta(days=3)
        s.commit()
    with unit_of_work(org, clock, "rep1", source="inbox:5") as ctx:
        promise_rules.promise_changed(ctx, ctx.session.get(_PromiseRow, pr))
    assert messages(org, kind="schedule_update") == []
    keys = {t.business_key: t.status for t in timers_of(org, kind="promise")}
    assert keys == {
        f"promise:{pr}:g1:before": "cancelled",
        f"promise:{pr}:g1:due": "cancelled",
        f"promise:{pr}:g2:before": "pending",
        f"promise:{pr}:g2:due": "pending",
    }
    with org() as s:
        s.execute(update(OutboxRow).where(OutboxRow.kind == "schedule_add").values(status="sent"))
        s.get(PromiseRow, pr).schedule_id = "SCH-P"
        s.get(PromiseRow, fu).schedule_id = "SCH-F"
        s.commit()
    clock.advance(minutes=3)
    sweep(org, clock)
    upd = messages(org, "rep1", kind="schedule_update")
    assert len(upd) == 1 and upd[0].message["schedule"]["schedule_id"] == "SCH-P"
    assert upd[0].message["schedule"]["start_time"] == int((PROMISE_DUE + timedelta(days=3)).timestamp())

    with org() as s:
        s.get(PromiseRow, fu).status = "cancelled"
        s.commit()
    with unit_of_work(org, clock, "rep1", source="inbox:6") as ctx:
        ROUTER.publish(ctx, PromiseCancelled(fu))
    dels = messages(org, "rep1", kind="schedule_del")
    assert [(m.message["schedule_id"], m.message["promise_id"]) for m in dels] == [("SCH-F", fu)]
    assert all(t.status == "cancelled" for t in timers_of(org, kind="follow_up"))
