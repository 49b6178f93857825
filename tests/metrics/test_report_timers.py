"""The nightly scorecard and the Monday brief are durable timer rows fired by the SOP sweep: booked once,
each firing books the next, the brief fans out one timer per manager, and each manager gets the PNG
(an Image outbox row whose file exists) and a Markdown summary."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from bot.web.brief_png import render_weekly_brief
from core.clock import SHANGHAI
from handlers.context import HandlerDeps
from handlers.routes import ROUTER
from handlers.routes import firing as default_firing
from handlers.sop.sweep import ensure_recurring, sweep_due_timers
from storage.models import OutboxRow, TimerRow
from storage.models_scorecard import CustomerScoreRow

REPORTS = {
    k: ROUTER.recurring[k] for k in ("scorecard_nightly", "weekly_brief")
}  # the reports' recurring timers


def _count(factory, model, *where) -> int:  # noqa: ANN001
    with factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_recurring_report_timers(small_org, clock, tmp_path, monkeypatch):
    firing = default_firing(HandlerDeps(render_brief=render_weekly_brief, files_root=tmp_path))
    booked = ensure_recurring(small_org, clock, REPORTS)
    assert sorted(booked) == ["scorecard_nightly:2026-11-24", "weekly_brief:2026-11-30"]
    assert ensure_recurring(small_org, clock, REPORTS) == []  # idempotent

    clock.set(datetime(2026, 11, 24, 2, 20, tzinfo=SHANGHAI))
    assert sweep_due_timers(small_org, clock, owner="t", recurring=False, firing=firing) == 1
    assert _count(small_org, CustomerScoreRow) == 4  # the active customers
    assert _count(small_org, TimerRow, TimerRow.business_key == "scorecard_nightly:2026-11-25") == 1
    assert _count(small_org, OutboxRow) == 0  # a baseline is not a change: nobody is messaged

    weekly = tmp_path / "briefs" / "weekly"
    for old in ("2026-09-28", "2026-10-05", "not-a-week"):  # 9 and 8 weeks before the brief's week
        (weekly / old).mkdir(parents=True)
        (weekly / old / "sup1.png").write_bytes(b"old")
    clock.set(datetime(2026, 11, 30, 8, 41, tzinfo=SHANGHAI))  # a week later: the overdue night fires once
    sweep_due_timers(small_org, clock, owner="t", recurring=False, firing=firing)
    clock.advance(minutes=2)
    sweep_due_timers(small_org, clock, owner="t", recurring=False, firing=firing)
    with small_org() as s:
        per = s.scalars(select(TimerRow).where(TimerRow.kind == "weekly_brief_to")).all()
        assert sorted(t.subject_id for t in per) == ["dir", "rm1", "sup1"] and {t.status for t in per} == {
            "done"
        }
        assert (
            s.scalar(
                select(func.count())
                .select_from(TimerRow)
                .where(TimerRow.kind == "scorecard_nightly", TimerRow.status == "pending")
            )
            == 1
        )
        assert (
            s.scalars(
                select(TimerRow.business_key).where(
                    TimerRow.kind == "weekly_brief", TimerRow.status == "pending"
                )
            ).one()
            == "weekly_brief:2026-12-07"
        )
        rows = s.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
    for userid in ("dir", "rm1", "sup1"):
        mine = [r for r in rows if r.recipient == userid]
        assert [r.kind for r in mine] == ["image", "markdown"], userid
        path = tmp_path / mine[0].message["path"]
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not Path(mine[0].message["path"]).is_absolute()
        assert mine[1].message["content"].startswith("**上周经营简报 · 2026-11-23～2026-11-29**")
    sup = next(r for r in rows if r.recipient == "sup1" and r.kind == "markdown").message["content"]
    assert "王主管（销售主管）及下属共3人负责的客户" in sup
    # the Monday fan-out pruned brief images more than 8 weeks old, and nothing else
    assert sorted(p.name for p in weekly.iterdir()) == ["2026-10-05", "2026-11-30", "not-a-week"]


def test_brief_without_a_renderer_is_text_only(small_org, clock, monkeypatch):
    firing = default_firing(HandlerDeps(render_brief=None))
    ensure_recurring(small_org, clock, REPORTS)
    clock.set(datetime(2026, 11, 30, 8, 45, tzinfo=SHANGHAI))
    sweep_due_timers(small_org, clock, owner="t", recurring=False, firing=firing)
    clock.advance(minutes=2)
    sweep_due_timers(small_org, clock, owner="t", recurring=False, firing=firing)
    assert _count(small_org, OutboxRow, OutboxRow.kind == "image") == 0
    assert _count(small_org, OutboxRow, OutboxRow.kind == "markdown") == 3
