"""The 08:30 daily brief to each supervisor, computed over their scope, once per day."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from core.clock import SHANGHAI
from storage.models import PromiseRow
from tests.sop.conftest import add_customer, add_promise, add_visit, messages, sweep, timers_of

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
TUESDAY_DUE = datetime(2026, 11, 24, 15, 0, tzinfo=SHANGHAI)


def _team(sf):
    add_customer(sf, "c1", "rep1", name="老客户")
    add_visit(sf, "v1", "c1", "rep1", MONDAY - timedelta(days=4), tags=("价格异议", "库存不足"))
    add_customer(sf, "c2", "rep2", name="从未拜访")
    add_customer(sf, "c3", "rep1", name="常来客户")
    add_visit(sf, "v3", "c3", "rep1", MONDAY - timedelta(hours=2), tags=("价格异议", "新品兴趣"))
    add_visit(sf, "v3b", "c3", "rep2", MONDAY - timedelta(days=2), tags=("价格异议", "库存不足"))
    add_visit(sf, "v3old", "c3", "rep1", MONDAY - timedelta(days=20), tags=("账期协商",))
    add_customer(sf, "c4", "rep3", name="东门便利")
    add_visit(sf, "v4", "c4", "rep3", MONDAY - timedelta(days=5), tags=("账期协商",))
    for rep, cust in (("rep1", "c1"), ("rep2", "c3"), ("rep3", "c4"), ("rep1", "c3")):
        add_promise(
            sf,
            kind="follow_up",
            visit_id=None,
            customer_id=cust,
            rep=rep,
            text="回访",
            due_at=TUESDAY_DUE,
            created_at=MONDAY,
        )
    done = add_promise(
        sf,
        kind="follow_up",
        visit_id=None,
        customer_id="c1",
        rep="rep1",
        text="已完成的回访",
        due_at=TUESDAY_DUE,
        created_at=MONDAY,
    )
    add_promise(
        sf,
        kind="follow_up",
        visit_id=None,
        customer_id="c1",
        rep="rep1",
        text="周三回访",
        due_at=TUESDAY_DUE + timedelta(days=1),
        created_at=MONDAY,
    )
    with sf() as s:
        s.execute(update(PromiseRow).where(PromiseRow.id == done).values(status="done"))
        s.commit()


def _fields(row):
    return dict(tuple(f) for f in row.message["fields"])


def test_brief_at_0830_to_each_supervisor_over_their_scope(org, clock):
    _team(org)
    sweep(org, clock, recurring=True)
    assert [t.business_key for t in timers_of(org, kind="daily_brief")] == ["daily_brief:2026-11-24"]
    clock.set(datetime(2026, 11, 24, 8, 29, tzinfo=SHANGHAI))
    sweep(org, clock, recurring=True)
    assert messages(org, "sup1") == []
    clock.set(datetime(2026, 11, 24, 8, 30, 20, tzinfo=SHANGHAI))
    sweep(org, clock, recurring=True)
    sup1 = [m for m in messages(org, "sup1", kind="card") if m.message["title"].startswith("今日简报")]
    assert len(sup1) == 1
    assert sup1[0].message["title"] == "今日简报（11月24日）"
    assert _fields(sup1[0]) == {
        "今日待办拜访数": "3个",
        "超72小时未更新客户": "2家",
        "高频需求标签TOP3": "价格异议(3)、库存不足(2)、新品兴趣(1)",
    }
    assert sup1[0].message["description"] == "团队3人。最久未跟进：从未拜访、老客户。"
    nb = sup1[0].next_try_at.astimezone(SHANGHAI)
    assert nb.hour == 8 and nb.minute not in (0, 30)  # spread off the congested minute
    sup2 = [m for m in messages(org, "sup2", kind="card") if m.message["title"].startswith("今日简报")]
    assert _fields(sup2[0]) == {
        "今日待办拜访数": "1个",
        "超72小时未更新客户": "1家",
        "高频需求标签TOP3": "账期协商(1)",
    }
    others = [m.recipient for m in messages(org, kind="card") if m.message["title"].startswith("今日简报")]
    assert sorted(others) == ["sup1", "sup2"]


def test_one_brief_per_day_and_a_late_one_after_downtime(org, clock):
    _team(org)
    sweep(org, clock, recurring=True)
    for day in (24, 25):
        for hh, mm in ((8, 31), (9, 0), (12, 0), (23, 59)):
            clock.set(datetime(2026, 11, day, hh, mm, tzinfo=SHANGHAI))
            sweep(org, clock, recurring=True)
    # down from the 26th 00:00 to the 27th 10:00: the 26th's brief fires late, once; the next is the 28th
    clock.set(datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI))
    sweep(org, clock, recurring=True)
    briefs = [
        m.message["title"]
        for m in messages(org, "sup1", kind="card")
        if m.message["title"].startswith("今日简报")
    ]
    assert briefs == ["今日简报（11月24日）", "今日简报（11月25日）", "今日简报（11月27日）"]
    keys = {t.business_key: t.status for t in timers_of(org, kind="daily_brief")}
    assert keys == {
        "daily_brief:2026-11-24": "done",
        "daily_brief:2026-11-25": "done",
        "daily_brief:2026-11-26": "done",
        "daily_brief:2026-11-28": "pending",
    }


def test_org_overrides_in_org_config_apply(org, clock):
    from storage.models import OrgConfigRow

    _team(org)
    with org() as s:
        s.add(
            OrgConfigRow(
                key="sop",
                value={
                    "brief_at": "07:45",
                    "brief_roles": ["supervisor", "regional_manager"],
                    "stale_after_hours": 120,
                },
            )
        )
        s.commit()
    sweep(org, clock, recurring=True)
    assert [t.due_at.astimezone(SHANGHAI).strftime("%H:%M") for t in timers_of(org, kind="daily_brief")] == [
        "07:45"
    ]
    clock.set(datetime(2026, 11, 24, 7, 50, tzinfo=SHANGHAI))
    sweep(org, clock, recurring=True)
    rm1 = [m for m in messages(org, "rm1", kind="card") if m.message["title"].startswith("今日简报")]
    # 120 h: the never-touched customer and the one last visited 142 h ago (not the one of 118 h)
    assert _fields(rm1[0])["超120小时未更新客户"] == "2家"
    assert rm1[0].message["description"].startswith("团队6人")


def test_a_broken_policy_falls_back_to_the_defaults(org, clock):
    from handlers.sop.policy import load_policy
    from storage.models import OrgConfigRow

    with org() as s:
        s.add(OrgConfigRow(key="sop", value={"stale_after_hourz": 1}))
        s.commit()
        assert load_policy(s).stale_after == timedelta(hours=72)
