"""A departed rep's book is handed over with nothing left unowned (a property over generated small books); until
a successor is chosen, alerts for those customers reach the manager and nothing is addressed to the departed
rep; without a choice the manager takes the book after the configured hours. Every moved row audited."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.handover import HandoverPolicy
from handlers.context import Ctx
from handlers.handover import flow
from handlers.sop.promises import schedule_promise_timers
from storage import outbox, timers
from storage.db import writer_session
from storage.handover.book import book_of, leftovers
from storage.handover.models import HandoverRow
from storage.leads.models import LeadRow, LeadSopStepRow
from storage.models import AuditRow, CustomerRow, OrgConfigRow, PromiseRow, TimerRow, UserRow
from tests.sop.conftest import add_customer, add_promise, messages, say, sweep

_runs = itertools.count(1)
EMPTY = {"customers": 0, "promises": 0, "leads": 0, "lead_steps": 0, "work_orders": 0, "timers": 0}


def test_the_policy_reads_its_settings_and_refuses_typos():
    assert HandoverPolicy.from_config({"auto_after_hours": 48}).auto_after == timedelta(hours=48)
    for bad in ({"auto_after": 4}, {"auto_after_hours": 0}, {"fallback": "director"}):
        try:
            HandoverPolicy.from_config(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")


def test_until_a_choice_alerts_go_to_the_manager_then_the_manager_takes_the_book(org, clock):
    with writer_session(org) as s:
        s.add(OrgConfigRow(key="handover", value={"auto_after_hours": 48}))
        s.commit()
    now = clock.now()
    add_customer(org, "c1", "rep1", name="味源超市")
    add_customer(org, "c2", "rep1", name="好邻居")
    pid = add_promise(
        org,
        kind="promise",
        visit_id=None,
        customer_id="c1",
        rep="rep1",
        text="送样品",
        due_at=now + timedelta(days=1),
        created_at=now,
    )
    with writer_session(org) as s:
        ctx = Ctx(session=s, now=now, user=None, userid="system:test", source="test")
        schedule_promise_timers(ctx, s.get(PromiseRow, pid), reason="test")
        s.commit()

    with writer_session(org) as s:  # queued for rep1 before they left, not sent yet
        outbox.enqueue(
            s, recipient="rep1", message={"kind": "text", "content": "待发"}, dedupe_key="q1", now=now
        )
        s.commit()
    say(org, clock, "adm", "停用 rep1")
    assert "已请王主管选择接手人" in messages(org, "adm")[-1].message["content"]
    assert [m.message["content"] for m in messages(org, "sup1", kind="text")] == ["待发"]
    card = messages(org, "sup1", kind="card")[-1].message
    assert card["title"] == "客户交接：张三（离职）"
    assert [b["text"] for b in card["buttons"]] == ["李四", "我来接手"]  # the team's active reps, then self
    assert "48小时" in card["description"]

    for hours in (12, 24, 25):  # the promise falls due while nobody has chosen
        clock.set(now + timedelta(hours=hours, minutes=1))
        sweep(org, clock)
    assert messages(org, "rep1") == []  # nothing addressed to the departed rep
    assert any("送样品" in str(m.message) for m in messages(org, "sup1") if m.message.get("kind") == "card")
    with org() as s:
        assert s.get(CustomerRow, "c1").owner_userid == "rep1"  # nothing moved yet
        assert s.scalars(select(HandoverRow)).one().status == "pending"

    clock.set(now + timedelta(hours=48, minutes=1))
    sweep(org, clock)
    with org() as s:
        row = s.scalars(select(HandoverRow)).one()
        assert (row.status, row.successor, row.decided_by) == ("done", "sup1", "system:handover")
        assert leftovers(s, "rep1") == EMPTY
        assert s.get(PromiseRow, pid).rep_userid == "sup1"
        audits = s.scalars(select(AuditRow).where(AuditRow.action == "handover")).all()
        moved = {(a.entity, a.entity_id): (a.before, a.after) for a in audits}
        assert moved[("customer", "c1")] == ({"owner_userid": "rep1"}, {"owner_userid": "sup1"})
        assert ("promise", str(pid)) in moved and ("handover", str(row.id)) in moved
    told = messages(org, "sup1")[-1].message["content"]
    assert (
        told.startswith("【客户交接】48小时内未选择接手人，按规则由你接手张三（离职）") and "客户2家" in told
    )
    assert messages(org, "rep1") == []


def test_reactivating_before_a_choice_cancels_the_hand_over(org, clock):
    add_customer(org, "c1", "rep1")
    say(org, clock, "adm", "停用 rep1")
    say(org, clock, "adm", "启用 rep1")
    clock.set(clock.now() + timedelta(days=3))
    sweep(org, clock)
    with org() as s:
        assert s.scalars(select(HandoverRow)).one().status == "cancelled"
        assert s.get(CustomerRow, "c1").owner_userid == "rep1"


@st.composite
def books(draw):
    n_customers = draw(st.integers(0, 4))
    customers = [draw(st.sampled_from(["leaver", "leaver", "rep2"])) for _ in range(n_customers)]
    promises = [
        (
            draw(st.integers(0, n_customers - 1)),
            draw(st.sampled_from(["promise", "follow_up"])),
            draw(st.sampled_from(["open", "open", "done"])),
            draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 4) if n_customers else st.just(0)))
    ]
    leads = [
        (draw(st.sampled_from(["leaver", "rep2", None])), draw(st.booleans()))
        for _ in range(draw(st.integers(0, 3)))
    ]
    return customers, promises, leads, draw(st.sampled_from(["rep2", "sup1"]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(book=books())
def test_nothing_references_the_departed_rep_after_the_hand_over(org, clock, book):
    customers, promises, leads, successor = book
    run = next(_runs)
    leaver = f"gone{run}"
    now = clock.now()
    with writer_session(org) as s:
        s.add(UserRow(userid=leaver, name=f"离职{run}", role="rep", manager_userid="sup1"))
        owners = {}
        for i, owner in enumerate(customers):
            cid = f"r{run}c{i}"
            owners[cid] = leaver if owner == "leaver" else owner
            s.add(CustomerRow(customer_id=cid, name=f"客户{i}", owner_userid=owners[cid]))
        s.flush()
        ctx = Ctx(session=s, now=now, user=None, userid="system:test", source="test")
        for i, (c, kind, status, stale) in enumerate(promises):
            cid = f"r{run}c{c}"
            p = PromiseRow(
                kind=kind,
                customer_id=cid,
                rep_userid=owners[cid],
                text=f"事项{i}",
                due_at=now + timedelta(days=2),
                status=status,
                created_at=now,
                schedule_id=f"sched-{run}-{i}" if i % 2 else None,
            )
            s.add(p)
            s.flush()
            if status == "open":
                schedule_promise_timers(ctx, p, reason="test")
            if stale:
                timers.schedule(
                    s,
                    kind="stale",
                    business_key=f"stale:{cid}:{run}:{i}",
                    subject_type="customer",
                    subject_id=cid,
                    due_at=now + timedelta(hours=30),
                    payload={"step": 0, "touch": 0},
                    now=now,
                )
        for i, (owner, nurtured) in enumerate(leads):
            lid = f"r{run}l{i}"
            owner_id = leaver if owner == "leaver" else owner
            s.add(
                LeadRow(
                    lead_id=lid,
                    company=f"公司{i}",
                    owner_userid=owner_id,
                    created_at=now,
                    quiet_since=now,
                    stage_since=now,
                    stage="new",
                    pool="nurture" if nurtured and owner_id else None,
                )
            )
            s.flush()
            if owner_id:
                s.add(
                    LeadSopStepRow(
                        lead_id=lid,
                        gen=1,
                        seq=1,
                        step="first_call",
                        label="首次电话",
                        grade="A",
                        owner_userid=owner_id,
                        due_at=now + timedelta(days=1),
                        status="open",
                    )
                )
                if nurtured:
                    timers.schedule(
                        s,
                        kind="lead_nurture",
                        business_key=f"nurture:{lid}",
                        subject_type="lead",
                        subject_id=lid,
                        due_at=now + timedelta(days=3),
                        payload={"n": 0, "owner": owner_id, "since": 0},
                        now=now,
                    )
        s.commit()
    with writer_session(org) as s:
        others_before = book_of(s, "rep2")
        ctx = Ctx(session=s, now=now, user=s.get(UserRow, "adm"), userid="adm", source="test")
        s.get(UserRow, leaver).active = False
        s.flush()
        row = flow.open_handover(ctx, leaver, reason="left")
        had_book = row is not None
        if had_book:
            flow.complete(ctx, row, successor, auto=False)
        s.commit()
    with org() as s:
        assert leftovers(s, leaver) == EMPTY
        live = s.scalars(select(TimerRow).where(TimerRow.status.in_(("pending", "running")))).all()
        assert not [t for t in live if leaver in t.payload.values()]
        mine = book_of(s, successor if successor == "rep2" else "sup1")
        assert set(others_before.customers) <= set(book_of(s, "rep2").customers)  # the other rep keeps theirs
        gone = {cid for cid, o in owners.items() if o == leaver}
        assert gone <= set(mine.customers)
        if had_book:
            handed = s.scalars(
                select(AuditRow).where(AuditRow.reason == f"handover:{row.id}", AuditRow.entity == "customer")
            ).all()
            assert {a.entity_id for a in handed} == gone
        else:
            assert not gone


def test_a_card_addressed_to_the_departed_rep_goes_to_the_deciding_manager_while_waiting(org, clock):
    """The fence of the sweep: a firer that addresses the departed owner (a nurture reminder of their lead) is
    redirected to the hand-over's manager instead of being dropped."""
    now = clock.now()
    add_customer(org, "c1", "rep1")
    with writer_session(org) as s:
        s.add(
            LeadRow(
                lead_id="L1",
                company="远方贸易",
                owner_userid="rep1",
                created_at=now,
                quiet_since=now,
                stage_since=now,
                stage="new",
                pool="nurture",
                pool_since=now,
            )
        )
        timers.schedule(
            s,
            kind="lead_nurture",
            business_key="nurture:L1",
            subject_type="lead",
            subject_id="L1",
            due_at=now + timedelta(hours=2),
            payload={"n": 0, "owner": "rep1", "since": int(now.timestamp())},
            now=now,
        )
        s.commit()
    say(org, clock, "adm", "停用 rep1")
    clock.set(now + timedelta(hours=3))
    sweep(org, clock)
    assert messages(org, "rep1") == []
    nurture = [m for m in messages(org, "sup1", kind="card") if "远方贸易" in m.message.get("title", "")]
    assert len(nurture) == 1
    with org() as s:
        [timer] = s.scalars(select(TimerRow).where(TimerRow.kind == "lead_nurture")).all()
        assert "to the hand-over's manager: sup1" in timer.outcome
