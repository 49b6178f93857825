"""Pure parts: the policy, the timing rules, the org tree, the decisions. No database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from core.clock import SHANGHAI
from core.org import OrgTree, Person
from core.sop.policy import LadderStep, SopPolicy
from core.sop.rules import (
    ApprovalStepFacts,
    Cancel,
    Done,
    Escalate,
    PaymentFacts,
    PromiseFacts,
    Remind,
    StaleFacts,
    approval_next_step,
    approval_route,
    follow_up_next_step,
    payment_next_step,
    promise_next_step,
    snooze_for,
    stale_next_step,
)
from core.sop.times import (
    follow_up_remind_at,
    morning_slot,
    next_daily_brief,
    next_stale_scan,
    payment_alert_at,
)

P = SopPolicy()
TREE = OrgTree(
    [
        Person("rep1", "rep", "sup1"),
        Person("sup1", "supervisor", "rm1"),
        Person("rm1", "regional_manager", "dir"),
        Person("dir", "sales_director", None),
        Person("fin", "finance_director", None),
        Person("loop1", "rep", "loop2"),
        Person("loop2", "supervisor", "loop1"),
    ]
)


def test_policy_defaults_and_overrides():
    assert P.stale_after == timedelta(hours=72)
    assert P.stale_ladder == (
        LadderStep(timedelta(hours=24), "supervisor"),
        LadderStep(timedelta(hours=24), "regional_manager"),
    )
    assert P.approval_chain == ("supervisor", "regional_manager", "finance_director")
    assert P.brief_at == time(8, 30) and P.follow_up_remind_at == time(9, 0)
    p = SopPolicy.from_config(
        {
            "stale_after_hours": 48,
            "follow_up_remind_at": "08:15",
            "stale_ladder": [{"after_hours": 12, "role": "supervisor"}],
            "approval_chain": ["supervisor", "finance_director"],
        }
    )
    assert p.stale_after == timedelta(hours=48) and p.follow_up_remind_at == time(8, 15)
    assert p.stale_ladder == (LadderStep(timedelta(hours=12), "supervisor"),)
    assert p.approval_chain == ("supervisor", "finance_director")
    for bad in (
        {"stale_afterhours": 1},
        {"approval_chain": ["boss"]},
        {"calendar_remind_before_secs": 60},
        {"brief_at": "25:00"},
        {"stale_after_hours": 0},
    ):
        with pytest.raises(ValueError):
            SopPolicy.from_config(bad)


def test_reminder_minutes_spread_deterministically_and_avoid_rush_minutes():
    day = date(2026, 11, 24)
    slots = {morning_slot(day, f"follow_up:{i}:g1", P) for i in range(300)}
    assert len({s.minute for s in slots}) > 10  # spread out
    for s in slots:
        local = s.astimezone(SHANGHAI)
        assert local.hour == 9 and local.minute not in (0, 30) and 1 <= local.minute <= P.spread_minutes
    assert morning_slot(day, "k", P) == morning_slot(day, "k", P)
    due = datetime(2026, 11, 24, 15, 0, tzinfo=SHANGHAI)
    assert follow_up_remind_at(due, "k", P).astimezone(SHANGHAI).date() == day


def test_payment_alert_waits_for_the_grace_period_and_a_morning():
    at = payment_alert_at(date(2026, 11, 20), "payment:HT1:2026-11-20", P).astimezone(SHANGHAI)
    # overdue from 11-21 00:00, grace 24 h → 11-22 00:00, the next morning slot is 11-22 09:xx
    assert at.date() == date(2026, 11, 22) and at.hour == 9 and at.minute not in (0, 30)


def test_recurring_times():
    now = datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI)
    day, at = next_daily_brief(now, P)
    assert day == date(2026, 11, 23) and at.astimezone(SHANGHAI).time() == time(8, 30)
    day2, _ = next_daily_brief(at, P)
    assert day2 == date(2026, 11, 24)
    scan = next_stale_scan(now, P)
    assert scan > now and scan - now <= timedelta(hours=1) and scan.minute == 7


def test_org_tree_walks_up_and_down_and_survives_cycles():
    assert TREE.manager_chain("rep1") == ["sup1", "rm1", "dir"]
    assert TREE.find_up("rep1", "regional_manager") == "rm1"
    assert TREE.approver_for("rep1", "finance_director") == "fin"  # org-wide role outside the tree
    assert TREE.find_up("rep1", "finance_director") is None
    assert TREE.scope("rm1") == {"rm1", "sup1", "rep1"}
    assert TREE.manager_chain("loop1") == ["loop2"]
    assert TREE.below("loop1") == {"loop2"}


def test_approval_route_skips_roles_nobody_holds_and_people_already_asked():
    chain = ("supervisor", "regional_manager", "finance_director")
    assert approval_route(TREE, rep="rep1", chain=chain, start=0, exclude=set()).approver == "sup1"
    assert approval_route(TREE, rep="rep1", chain=chain, start=1, exclude={"rm1"}).approver == "fin"
    assert approval_route(TREE, rep="rep1", chain=chain, start=3, exclude=set()) is None


def _promise(status="open", touched=False, sup="sup1"):
    return PromiseFacts(
        status=status,
        rep="rep1",
        due_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
        touched_since=touched,
        supervisor=sup,
    )


def test_follow_up_and_promise_decisions():
    due = datetime(2026, 11, 25, 1, 5, tzinfo=UTC)
    d = follow_up_next_step("remind", _promise(), timer_due=due, key="k", policy=P)
    assert isinstance(d, Remind) and d.to == ("rep1",)
    assert d.then[0].step == "overdue" and d.then[0].due_at - due >= timedelta(days=1)
    assert isinstance(follow_up_next_step("overdue", _promise(), timer_due=due, key="k", policy=P), Escalate)
    assert isinstance(
        follow_up_next_step("remind", _promise(touched=True), timer_due=due, key="k", policy=P), Cancel
    )
    assert isinstance(
        follow_up_next_step("overdue", _promise(sup=None), timer_due=due, key="k", policy=P), Done
    )
    assert isinstance(promise_next_step("before", _promise(status="done"), key="k", policy=P), Cancel)
    d = promise_next_step("due", _promise(), key="k", policy=P)
    assert isinstance(d, Remind) and d.then[0].step == "overdue"
    assert promise_next_step("overdue", _promise(), key="k", policy=P) == Escalate(("sup1",))


def test_stale_ladder_decisions():
    due = datetime(2026, 11, 25, tzinfo=UTC)
    facts = StaleFacts(active=True, owner="rep1", episode_touch=100, latest_touch=100, escalate_to="sup1")
    d0 = stale_next_step(0, facts, timer_due=due, policy=P)
    assert d0 == Remind(("rep1",), then=(d0.then[0],)) and d0.then[0].due_at == due + timedelta(hours=24)
    d2 = stale_next_step(2, facts, timer_due=due, policy=P)
    assert isinstance(d2, Escalate) and d2.then == ()
    assert isinstance(
        stale_next_step(1, StaleFacts(True, "rep1", 100, 200, "sup1"), timer_due=due, policy=P), Cancel
    )
    assert isinstance(
        stale_next_step(1, StaleFacts(False, "rep1", 100, 100, "sup1"), timer_due=due, policy=P), Cancel
    )
    assert isinstance(
        stale_next_step(1, StaleFacts(True, "rep1", 100, 100, None), timer_due=due, policy=P), Done
    )


def test_snooze_span_from_the_reason():
    assert snooze_for("客户出差 3天", P) == timedelta(days=3)
    assert snooze_for("等回电 5小时", P) == timedelta(hours=5)
    assert snooze_for("客户出差两天", P) == timedelta(days=2)
    assert snooze_for("下周再说", P) == P.stale_snooze
    assert snooze_for("30天后", P) == P.stale_snooze_max


def test_approval_and_payment_decisions():
    due = datetime(2026, 11, 25, tzinfo=UTC)
    pending = ApprovalStepFacts("pending", "pending", True, "sup1", "rm1", False)
    d = approval_next_step("remind", pending, timer_due=due, policy=P)
    assert d.to == ("sup1",) and d.then[0].step == "escalate"
    assert approval_next_step("escalate", pending, timer_due=due, policy=P) == Escalate(("rm1",))
    decided = ApprovalStepFacts("approved", "pending", False, "sup1", "rm1", False)
    assert isinstance(approval_next_step("remind", decided, timer_due=due, policy=P), Cancel)
    base = dict(
        exists=True,
        due_on=date(2026, 11, 20),
        scheduled_for=date(2026, 11, 20),
        amount=Decimal("100"),
        notify=("sup1", "fin"),
    )
    assert payment_next_step(PaymentFacts(paid=Decimal("40"), **base)) == Escalate(("sup1", "fin"))
    assert isinstance(payment_next_step(PaymentFacts(paid=Decimal("100"), **base)), Done)
    assert isinstance(
        payment_next_step(PaymentFacts(paid=Decimal("0"), **{**base, "due_on": date(2026, 12, 1)})), Cancel
    )
