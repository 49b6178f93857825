"""Health lights on a moved clock, through the emulator and the SOP timer engine: two weekly checks below 60% of
pace with no recorded action turn a rep red and send the diagnosis card (the same period last year, the stores
with the largest shortfall, the top tags of recent visits, overdue payments); 48 hours later with still no action
the supervisor gets it; a rep who recorded an action (目标行动) is not escalated. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

import main
from core.clock import SHANGHAI
from storage.models import TimerRow
from storage.targets.models import TargetActionRow, TargetHealthRow
from tests.support.db import import_texts
from tests.support.harness import Harness
from tests.targets import fixture as fx

VISITS = """visit_id,customer_id,rep_userid,checked_in_at,tags
V1,C01,rep01,2026-04-02 10:00,价格异议;库存不足
V2,C02,rep01,2026-04-03 10:00,价格异议
V3,C03,rep01,2026-04-08 10:00,竞品活动;价格异议
"""
CONTRACTS = """contract_no,customer_id,signed_on,amount,due_on
HT-001,C01,2026-01-10,8000,2026-03-31
HT-002,C02,2026-01-10,500,2026-06-30
"""


def at(day: str, hm: str = "09:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{hm}").replace(tzinfo=SHANGHAI)


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock, monkeypatch, capsys):
    clock.set(at("2026-03-25", "10:00"))
    h = Harness(db_url, tmp_path, redis_server, clock)
    files = fx.csv_files() | {"visits.csv": VISITS, "contracts.csv": CONTRACTS}
    import_texts(h.session_factory, tmp_path / "in", clock.now(), files)
    monkeypatch.setenv("DATABASE_URL", db_url)
    cascade = [
        "targets",
        "cascade",
        "--period",
        "2026Q2",
        "--amount",
        "120000000",
        "--now",
        "2026-03-25T10:00",
    ]
    assert main.main([*cascade, "--apply"]) == 0  # far above what the stores sell: every rep falls behind
    capsys.readouterr()
    return h


def _cards(h, user):
    return [t for t in h.texts(user) if t.startswith("**目标")]


def _run_to(h, when):
    h.clock.set(when)
    h.tick()
    h.tick()


def test_two_weeks_below_sixty_percent_turns_red_and_escalates(h):
    _run_to(h, at("2026-04-06", "08:00"))  # books the first weekly check (Monday 09:00)
    _run_to(h, at("2026-04-06", "09:01"))
    with h.session_factory() as s:
        week1 = {
            r.node_key: r.light
            for r in s.scalars(select(TargetHealthRow).where(TargetHealthRow.level == "rep"))
        }
    assert week1 == {"rep01": "yellow", "rep02": "yellow", "rep03": "yellow"}  # rep04 has no target
    with h.session_factory() as s:
        levels = {
            lv: n
            for lv, n in s.execute(
                select(TargetHealthRow.level, func.count()).group_by(TargetHealthRow.level)
            ).all()
        }
    assert levels == {"region": 3, "city": 4, "store": 10, "rep": 3}  # every node with a target, once
    assert _cards(h, "rep01") == []

    h.clock.set(at("2026-04-08", "15:00"))
    h.peer.text("rep02", "目标行动 本周把杭州三家店全部拜访一遍，推新品试吃")
    h.tick()
    assert h.texts("rep02")[-1].startswith("已记录改进行动（2026Q2）")

    _run_to(h, at("2026-04-13", "09:01"))
    with h.session_factory() as s:
        week2 = {
            r.node_key: r.light
            for r in s.scalars(
                select(TargetHealthRow).where(
                    TargetHealthRow.level == "rep", TargetHealthRow.checked_on == at("2026-04-13").date()
                )
            )
        }
    assert week2 == {"rep01": "red", "rep02": "yellow", "rep03": "red"}
    (card,) = _cards(h, "rep01")
    assert card.startswith("**目标诊断 · 2026年第2季度**")
    assert "已连续2周低于进度的60%：红灯" in card
    assert "去年同期（同样天数）：¥0.00" in card  # the fixture's history starts in 2025-10
    assert "缺口最大的门店：" in card and "味源超市" in card
    assert "近30天拜访标签TOP3：价格异议 3次、库存不足 1次、竞品活动 1次" in card
    assert "逾期回款：共¥8,000.00：HT-001 味源超市 2026-03-31到期" in card
    assert "HT-002" not in card  # not due yet
    assert "请回复「目标行动 你的改进计划」" in card
    assert _cards(h, "rep02") == []

    h.clock.set(at("2026-04-14", "10:00"))
    h.peer.text("rep03", "目标行动 约见羊城超市采购，谈端午备货")
    h.tick()

    _run_to(h, at("2026-04-15", "09:02"))  # 48 hours after the red check
    sup01 = _cards(h, "sup01")
    assert len(sup01) == 1 and sup01[0].startswith("**目标红灯升级 · 张伟 · 2026年第2季度**")
    assert "仍未记录改进行动" in sup01[0]
    assert _cards(h, "sup02") == []  # rep03 recorded an action: no escalation
    with h.session_factory() as s:
        esc = {
            t.subject_id: t.status
            for t in s.scalars(select(TimerRow).where(TimerRow.kind == "target_escalate"))
        }
        assert esc == {"rep01": "done", "rep03": "cancelled"}
        assert s.scalars(select(TargetActionRow.rep_userid).order_by(TargetActionRow.id)).all() == [
            "rep02",
            "rep03",
        ]

    _run_to(h, at("2026-04-20", "09:01"))  # still red the week after: no second card
    assert len(_cards(h, "rep01")) == 1
    with h.session_factory() as s:
        stores = {
            r.node_key: r.light
            for r in s.scalars(
                select(TargetHealthRow).where(
                    TargetHealthRow.level == "store", TargetHealthRow.checked_on == at("2026-04-20").date()
                )
            )
        }
    assert set(stores.values()) == {"red"}  # every store far behind for three weeks (no actions for stores)


def test_the_thresholds_are_the_organisations(h):
    from storage.models import OrgConfigRow

    with h.session_factory() as s:
        s.add(OrgConfigRow(key="sop", value={"target_red_pace": 0.0001, "target_green_pace": 0.5}))
        s.commit()
    _run_to(h, at("2026-04-06", "08:00"))
    _run_to(h, at("2026-04-06", "09:01"))
    _run_to(h, at("2026-04-13", "09:01"))
    with h.session_factory() as s:
        lights = {r.light for r in s.scalars(select(TargetHealthRow).where(TargetHealthRow.level == "rep"))}
    assert "red" not in lights
    assert _cards(h, "rep01") == []
