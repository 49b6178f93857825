"""A deactivated person (users.active false) is never an SOP recipient, on a moved clock: no daily or weekly
brief, no catch-up digest, no reminder, no stale alert or approval step; escalation passes over them to the next
active person up the tree. Their customers stay in their managers' scope (and figures)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from core.clock import SHANGHAI
from core.org import OrgTree, Person
from handlers.sop import catch_up
from handlers.sop import stale as stale_rules
from storage.db import writer_session
from storage.models import TimerRow, UserRow
from tests.sop.conftest import (
    add_customer,
    add_promise,
    add_visit,
    messages,
    sweep,
    timers_of,
    titles,
    unit_of_work,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # the clock fixture's start, a Monday


def _deactivate(sf, *userids: str) -> None:
    with sf() as s:
        s.execute(update(UserRow).where(UserRow.userid.in_(userids)).values(active=False))
        s.commit()


def _recipients(sf, prefix: str) -> list[str]:
    return sorted(
        m.recipient
        for m in messages(sf)
        if (m.message.get("title") or m.message.get("content") or "").startswith(prefix)
    )


def test_the_tree_passes_over_deactivated_people():
    tree = OrgTree(
        [
            Person("dir", "sales_director"),
            Person("rm1", "regional_manager", "dir"),
            Person("sup1", "supervisor", "rm1", active=False),
            Person("rep1", "rep", "sup1"),
            Person("fin", "finance_director", None, active=False),
            Person("fin2", "finance_director", None),
        ]
    )
    assert tree.find_up("rep1", "supervisor") == "rm1"  # the supervisor left: the next active one up
    assert tree.approver_for("rep1", "regional_manager") == "rm1"
    assert tree.active_manager_of("rep1") == "rm1" and tree.manager_of("rep1") == "sup1"
    assert tree.approver_for("rep1", "finance_director") == "fin2"
    assert tree.with_role("finance_director", active_only=True) == ["fin2"]
    assert tree.scope("rm1") == {"rm1", "sup1", "rep1"}  # scopes keep them: their customers stay visible


def test_no_daily_brief_for_a_deactivated_supervisor_and_the_others_get_theirs(org, clock):
    add_customer(org, "c1", "rep1", name="老客户")
    add_customer(org, "c3", "rep3", name="东门便利")
    _deactivate(org, "sup1")
    sweep(org, clock, recurring=True)
    clock.set(datetime(2026, 11, 24, 8, 31, tzinfo=SHANGHAI))
    sweep(org, clock, recurring=True)
    assert _recipients(org, "今日简报") == ["sup2"]
    brief = [t for t in timers_of(org, kind="daily_brief") if t.status == "done"]
    assert len(brief) == 1 and brief[0].outcome == "brief to 1"


def test_no_weekly_brief_for_a_deactivated_manager(db_url, tmp_path, redis_server, clock):
    from tests.support.factories import org as small_org
    from tests.support.harness import Harness

    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        small_org(s, touched_at=clock.now())
        s.commit()
    _deactivate(h.session_factory, "sup01")
    h.tick()  # books the recurring timers, the Monday brief among them
    for days in range(1, 8):  # to the next Monday morning and past the fan-out
        clock.set(NOW + timedelta(days=days))
        h.tick()
        h.tick()
    people = {d.userid for d in h.wecom.all_deliveries()}
    fanned = {t.payload.get("userid") for t in _timers(h.session_factory, "weekly_brief_to")}
    assert fanned, "the Monday brief did not fan out"
    assert "sup01" not in fanned and "sup01" not in people
    assert "rm_east" in fanned and "rm_east" in people


def _timers(sf, kind: str) -> list[TimerRow]:
    return timers_of(sf, kind=kind)


def test_a_stale_ladder_passes_over_a_deactivated_owner_and_supervisor(org, clock):
    add_customer(org, "c1", "rep1", name="味源超市")
    add_visit(org, "v1", "c1", "rep1", NOW)
    with unit_of_work(org, clock, "rep1") as ctx:
        stale_rules.restart_clock(ctx, "c1")
    _deactivate(org, "rep1", "sup1")
    for hours in (72, 96, 120, 200):
        clock.set(NOW + timedelta(hours=hours, minutes=1))
        sweep(org, clock)
        sweep(org, clock)
    assert messages(org, "rep1") == [] and messages(org, "sup1") == []
    cards = titles(messages(org, "rm1", kind="card"))
    assert cards and all(t.startswith("下属客户已") for t in cards)  # as an escalation, to the next one up
    assert len(cards) == 3  # rung 0 (owner gone), 1 (supervisor gone) and 2 each reached rm1 once


def test_a_reminder_for_a_deactivated_rep_goes_to_their_active_manager(org, clock):
    add_customer(org, "c1", "rep2", name="味源超市")
    due = NOW + timedelta(days=1)
    pid = add_promise(
        org,
        kind="promise",
        visit_id=None,
        customer_id="c1",
        rep="rep2",
        text="送样品",
        due_at=due,
        created_at=NOW,
    )
    with writer_session(org) as s:
        from handlers.context import Ctx
        from handlers.sop.promises import schedule_promise_timers
        from storage.models import PromiseRow

        ctx = Ctx(session=s, now=NOW, user=None, userid="system:test", source="test")
        schedule_promise_timers(ctx, s.get(PromiseRow, pid), reason="test")
        s.commit()
    _deactivate(org, "rep2", "sup1")
    for hours in (0, 12, 24, 25, 48, 72):
        clock.set(NOW + timedelta(hours=hours, minutes=1))
        sweep(org, clock)
    assert messages(org, "rep2") == [] and messages(org, "sup1") == []
    assert messages(org, "rm1", kind="card"), "nobody active was told about the promise"


def test_no_catch_up_digest_for_deactivated_people_and_managers_get_each_item_once(org, clock):
    old = NOW - timedelta(days=30)
    add_customer(org, "c1", "rep1", name="老客户")
    add_visit(org, "v1", "c1", "rep1", old)
    add_customer(org, "c3", "rep3", name="东门便利")
    add_visit(org, "v3", "c3", "rep3", old)
    _deactivate(org, "rep1", "sup1")
    with writer_session(org) as s:
        held = catch_up.after_import(s, clock.now(), payments_loaded=False)
        s.commit()
    assert held["stale"] == 2
    sweep(org, clock)
    digests = [m for m in messages(org) if (m.message.get("content") or "").startswith("历史数据已导入")]
    to = sorted(m.recipient for m in digests)
    assert "rep1" not in to and "sup1" not in to
    assert "rep3" in to and "sup2" in to and "rm1" in to
    rm1 = next(m.message["content"] for m in digests if m.recipient == "rm1")
    assert rm1.count("老客户") == 1  # sup1's rung and rm1's own land on rm1: once


def _start_approval(sf, clock) -> None:  # noqa: ANN001
    from core.events import VisitCompleted
    from handlers.routes import ROUTER

    add_customer(sf, "c1", "rep1", name="味源超市")
    add_visit(sf, "v1", "c1", "rep1", NOW - timedelta(minutes=20), tags=("价格异议",), note="客户嫌贵")
    with unit_of_work(sf, clock, "rep1", source="inbox:1") as ctx:
        ROUTER.publish(ctx, VisitCompleted("v1"))


def test_an_approval_skips_a_deactivated_supervisor(org, clock):
    _deactivate(org, "sup1")
    _start_approval(org, clock)
    assert messages(org, "sup1") == []
    cards = titles(messages(org, "rm1", kind="card"))
    assert cards == ["价格异议审批：味源超市"]  # the next active person up decides


def test_an_approval_escalates_past_a_deactivated_manager(org, clock):
    _start_approval(org, clock)
    assert titles(messages(org, "sup1", kind="card")) == ["价格异议审批：味源超市"]
    _deactivate(org, "rm1")  # sup1 sits on it; their manager has left since
    clock.set(NOW + timedelta(hours=49))
    sweep(org, clock)
    sweep(org, clock)
    assert messages(org, "rm1") == []
    assert titles(messages(org, "dir", kind="card")) == ["审批升级：味源超市"]
