"""The won opportunity's card through the import and the emulator: an opportunity the import makes 赢单 gives
its owner a card whose 确认签约 signs the customer's waiting contract (three teams get their work orders, a
click delivered twice opens nothing more); without a contract the owner is told how to bring it in; history
(won long ago, or anything in the first import of opportunities) and opportunities not won give nothing; each opportunity at most once, however often it is
re-imported or flips back and forth. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from bot.bootstrap import on_imported
from core.clock import SHANGHAI
from storage.contracts.models import DepartmentRow, WorkOrderRow
from storage.importer.run import import_paths
from storage.models import ContractRow, UserRow
from tests.support.factories import org
from tests.support.harness import Harness

TEAM = [("jf_head", "陈工"), ("cw_head", "刘会计"), ("sh_head", "何工")]
HEADER = "商机编号,客户编号,阶段,进入阶段日期,金额\n"


def _import(h: Harness, folder: Path, opportunities: str) -> None:
    h.clock.advance(minutes=10)  # each import its own moment (a later export)
    folder.mkdir(exist_ok=True)
    (folder / "opportunities.csv").write_text(HEADER + opportunities, encoding="utf-8")
    import_paths(h.session_factory, [folder], now=h.clock.now(), progress=False, on_imported=on_imported)
    h.tick()
    h.tick()


def _won_cards(h: Harness, who: str) -> list[dict]:
    return [c for c in h.cards(who) if c["main_title"]["title"].startswith("商机赢单")]


def _told_how(h: Harness, who: str) -> list[str]:
    return [t for t in h.texts(who) if "已赢单，但助手里还没有这份合同" in t]


def test_won_opportunity_card_once_and_its_signing(db_url, tmp_path, redis_server, clock):
    clock.set(datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        s.add_all(UserRow(userid=u, name=n, role="rep") for u, n in TEAM)
        for dept, kind, head in (
            ("JF", "delivery", "jf_head"),
            ("CW", "finance", "cw_head"),
            ("SH", "after_sales", "sh_head"),
        ):
            s.add(DepartmentRow(dept_id=dept, name=dept, kind=kind, head_userid=head, members=[]))
        s.add(
            ContractRow(
                contract_no="HT-W1",
                customer_id="C001",
                signed_on=date(2026, 12, 7),
                amount=Decimal("500000"),
                due_on=date(2027, 1, 6),
                terms="签约后30天付50%，验收后付尾款",
                sales_status="pending",
            )
        )
        s.commit()
    folder = tmp_path / "in"
    _import(h, folder, "O-0,C001,赢单,2026-12-05,10000\n")  # the first import of opportunities: history
    assert not _won_cards(h, "rep01") and not _told_how(h, "rep01")
    rows = (
        "O-0,C001,赢单,2026-12-05,10000\n"
        "O-1,C001,赢单,2026-12-06,500000\n"  # the waiting contract HT-W1: a card
        "O-2,C004,赢单,2026-12-07,80000\n"  # rep02's customer, no contract: told how
        "O-3,C002,赢单,2026-01-10,30000\n"  # won long ago: history
        "O-4,C003,商务谈判,2026-11-20,60000\n"  # not won
    )
    _import(h, folder, rows)
    cards = _won_cards(h, "rep01")
    assert [c["main_title"]["title"] for c in cards] == ["商机赢单：味源超市"]
    assert [(b["text"], b["key"]) for b in cards[0]["button_list"]] == [("确认签约", "contract:sign:HT-W1")]
    assert cards[0]["horizontal_content_list"][0]["keyname"] == "合同HT-W1"
    told = _told_how(h, "rep02")
    assert len(told) == 1 and "O-2" in told[0] and "客户编号 C004" in told[0] and "合同签署完成" in told[0]
    assert not _told_how(h, "rep01") and not _won_cards(h, "rep02")

    _import(h, folder, rows)  # the same file again
    assert len(_won_cards(h, "rep01")) == 1 and len(_told_how(h, "rep02")) == 1
    _import(
        h,
        folder,
        rows.replace("O-1,C001,赢单", "O-1,C001,输单").replace("O-4,C003,商务谈判", "O-4,C003,赢单"),
    )
    _import(h, folder, rows.replace("O-4,C003,商务谈判", "O-4,C003,赢单"))  # O-1 won again
    assert len(_won_cards(h, "rep01")) == 1  # O-1: once
    assert (
        len(_told_how(h, "rep01")) == 1
    )  # O-4 became won (an update, whatever its date): C003 has no contract

    card = _won_cards(h, "rep01")[0]
    h.peer.card_click("rep01", card["task_id"], "contract:sign:HT-W1")
    h.peer.resend()  # WeCom delivers the click twice
    h.tick()
    with h.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrderRow)) == 3
        assert s.get(ContractRow, "HT-W1").sales_status == "signed"
    assert [c["main_title"]["title"] for c in h.cards("jf_head")] == ["交付工单：味源超市"]
    assert any(t.startswith("已记录：合同HT-W1（味源超市）签署完成") for t in h.texts("rep01"))
