"""The director previews a cascade in chat (目标分解 2026Q2 1.2亿: the split by region with rationales, one card)
and confirms it with the button; a rep may not; when the data changes between preview and click nothing is
written and a fresh preview comes. Through the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from core.clock import SHANGHAI
from storage.targets.models import TargetRow
from tests.support.db import import_texts
from tests.support.harness import Harness
from tests.targets import fixture as fx


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    clock.set(datetime(2026, 3, 25, 10, 0, tzinfo=SHANGHAI))
    h = Harness(db_url, tmp_path, redis_server, clock)
    import_texts(h.session_factory, tmp_path / "in", clock.now(), fx.csv_files())
    return h


def _count(h) -> int:
    with h.session_factory() as s:
        return s.scalar(select(func.count()).select_from(TargetRow))


def test_preview_then_confirm_with_the_button(h):
    h.peer.text("rep01", "目标分解 2026Q2 1.2亿")
    h.peer.text("director", "目标分解 2026Q2 1.2亿")
    h.tick()
    assert h.texts("rep01")[-1] == "只有销售总监（或管理员）可以分解集团目标。"
    said = h.texts("director")
    assert said[-2].startswith("**2026年第2季度（2026Q2）目标分解预览**")
    assert "- 华东：" in said[-2] and "区域系数1.00（未设定）" in said[-2]
    (card,) = h.cards("director")
    assert card["main_title"]["title"] == "确认 2026Q2 目标分解"
    assert _count(h) == 0  # a preview writes nothing
    ok = next(b for b in card["button_list"] if b["text"] == "确认分解")
    h.peer.card_click("director", card["task_id"], ok["key"])
    h.tick()
    assert h.texts("director")[-1].startswith("已确认 2026Q2 目标分解：写入 ")
    with h.session_factory() as s:
        org = s.get(TargetRow, "2026Q2|org|org")
        assert org.amount_fen == 12_000_000_000 and org.set_by == "director"
        regions = s.scalars(select(TargetRow).where(TargetRow.level == "region")).all()
        assert sum(r.amount_fen for r in regions) == org.amount_fen


def test_a_change_after_the_preview_writes_nothing(h, tmp_path):
    h.peer.text("director", "目标分解 2026Q2 120000000")
    h.tick()
    (card,) = h.cards("director")
    import_texts(  # a new order lands between the preview and the click
        h.session_factory,
        tmp_path / "more",
        h.clock.now(),
        {"orders.csv": "order_id,customer_id,ordered_on,amount\nNEW1,C06,2026-02-10,88888\n"},
    )
    ok = next(b for b in card["button_list"] if b["text"] == "确认分解")
    h.peer.card_click("director", card["task_id"], ok["key"])
    h.tick()
    assert any(t.startswith("数据在预览后有变化") for t in h.texts("director"))
    assert _count(h) == 0
    assert len(h.cards("director")) == 2  # a fresh preview to confirm


def test_a_regional_manager_sets_the_coefficient_in_chat(h):
    h.peer.text("rep01", "区域系数 1.2 我想")
    h.peer.text("rm_south", "区域系数 2026Q2 1.6 竞品退出")
    h.peer.text("rm_south", "区域系数 2026Q2 1.2 竞品退出，动销回升")
    h.tick()
    assert h.texts("rep01")[-1] == "只有区域经理（或销售总监）可以设定区域系数。"
    assert h.texts("rm_south")[-2] == "区域系数应在0.5到1.5之间"
    assert h.texts("rm_south")[-1].startswith("已设定 华南 2026Q2 区域系数 1.2（竞品退出，动销回升）")
    h.peer.text("rm_east", "区域系数 0.9 竞品开业")  # no period: the next quarter
    h.tick()
    assert h.texts("rm_east")[-1].startswith("已设定 华东 2026Q2 区域系数 0.9")  # planned on 2026-03-25
    h.peer.text("director", "目标分解 2026Q2 1000000")
    h.tick()
    preview = next(t for t in reversed(h.texts("director")) if t.startswith("**2026年第2季度"))
    assert "区域系数1.20（竞品退出，动销回升，rm_south设定）" in preview
    assert "区域系数0.90（竞品开业，rm_east设定）" in preview
