"""The field-level trail of a contract for each change path (chat, import, dashboard), finance's check of the
amount refused to sales (a request to finance instead, and an import that tries fails), terms changed in
chat read back or refused, milestones dating instalments, and 「谁改过」."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import SHANGHAI
from storage.contracts import changes
from storage.contracts.models import FinanceTodoRow, InstalmentRow
from storage.db import writer_session
from storage.importer.run import ImportFailed, import_paths
from storage.models import ContractRow
from tests.contracts.conftest import add_contract
from tests.sop.conftest import messages, say

START = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
CONTRACTS = """合同编号,客户编号,签约日期,金额,约定回款日,付款条件
HT-7,c1,2026-12-01,{amount},2026-12-31,签约后30天付50%，验收后付尾款
"""


def _texts(sf, who):
    return [m.message["content"] for m in messages(sf, who, kind="text")]


def _import(sf, clock, tmp_path: Path, amount: str):
    path = tmp_path / "contracts.csv"
    path.write_text(CONTRACTS.format(amount=amount), encoding="utf-8")
    return import_paths(sf, [path], now=clock.now(), progress=False)


def _trail(sf, no):
    with sf() as s:
        return [(c.actor, c.channel, c.field, c.before, c.after) for c in changes.history(s, no)]


def test_each_change_path_leaves_a_field_level_trail(org, clock, tmp_path):
    clock.set(START)
    _import(org, clock, tmp_path, "100000")  # created by the import
    clock.advance(minutes=5)
    say(org, clock, "rep1", "改金额 HT-7 120000")
    assert _texts(org, "rep1")[-1] == "已修改合同HT-7的金额。"
    clock.advance(minutes=5)
    _import(org, clock, tmp_path, "110000")  # the import changes it again
    clock.advance(minutes=5)
    with writer_session(org) as s:  # the dashboard's path: the storage function with its channel
        c = s.get(ContractRow, "HT-7")
        changes.change(
            s, c, "due_on", date(2027, 1, 15), actor="sup1", now=clock.now(), reason="dashboard:sup1"
        )
        s.commit()
    trail = [t for t in _trail(org, "HT-7") if t[2] in ("amount", "due_on")]
    assert trail == [
        ("system:import", "import", "amount", None, "100000.00"),
        ("system:import", "import", "due_on", None, "2026-12-31"),
        ("rep1", "chat", "amount", "100000.00", "120000.00"),
        ("system:import", "import", "amount", "120000.00", "110000.00"),
        ("sup1", "dashboard", "due_on", "2026-12-31", "2027-01-15"),
    ]
    say(org, clock, "sup1", "谁改过 HT-7")
    text = _texts(org, "sup1")[-1]
    assert text.startswith("合同HT-7的修改记录")
    assert "张三（企业微信）金额：100000.00 → 120000.00" in text
    assert "王主管（看板）约定回款日：2026-12-31 → 2027-01-15" in text
    assert "系统（导入）金额：120000.00 → 110000.00" in text and "system:" not in text
    say(org, clock, "rep1", "合同签署完成 HT-7")
    say(org, clock, "sup1", "谁改过 HT-7")
    text = _texts(org, "sup1")[-1]
    assert "签约状态：" in text and "→ 客户确认签约" in text and "财务状态：（空） → 电子签章完成" in text
    assert "signed" not in text  # the stored codes never reach a person


def test_a_verified_amount_is_refused_to_sales(org, clock, tmp_path):
    clock.set(START)
    add_contract(org, "HT-8", amount="200000")
    say(org, clock, "rep1", "核实金额 HT-8")
    assert _texts(org, "rep1")[-1] == "只有财务可以核实合同金额。"
    say(org, clock, "fin", "核实金额 HT-8")  # the finance director
    assert _texts(org, "fin")[-1].startswith("已核实合同HT-8的金额¥200,000.00")
    clock.advance(hours=1)
    say(org, clock, "rep1", "改金额 HT-8 180000")
    assert _texts(org, "rep1")[-1] == (
        "合同HT-8的金额已由财务核实，不能直接修改。已向财务提交修改申请（¥200,000.00 → ¥180,000.00），财务确认后生效。"
    )
    assert _texts(org, "fhead")[-1].startswith("金额修改申请#")  # the finance department is told
    with org() as s:
        assert s.get(ContractRow, "HT-8").amount == Decimal("200000.00")
        todo = s.scalars(select(FinanceTodoRow)).one()
        assert (todo.kind, todo.ref, todo.created_by, todo.payload) == (
            "amount_change",
            "HT-8",
            "rep1",
            {"field": "amount", "from": "200000.00", "to": "180000.00"},
        )
    with writer_session(org) as s, pytest.raises(changes.AmountLocked):  # the dashboard path refuses too
        changes.change(
            s,
            s.get(ContractRow, "HT-8"),
            "amount",
            Decimal(1),
            actor="sup1",
            now=clock.now(),
            reason="dashboard:sup1",
        )
    say(org, clock, "fhead", "改金额 HT-8 180000")  # finance may
    with org() as s:
        assert s.get(ContractRow, "HT-8").amount == Decimal("180000.00")
        amounts = s.scalars(select(InstalmentRow.amount).where(InstalmentRow.contract_no == "HT-8")).all()
        assert sorted(amounts) == [Decimal("90000.00"), Decimal("90000.00")]  # re-planned
    assert ("fhead", "chat", "amount", "200000.00", "180000.00") in _trail(org, "HT-8")


def test_an_import_cannot_change_a_verified_amount(org, clock, tmp_path):
    clock.set(START)
    _import(org, clock, tmp_path, "100000")
    say(org, clock, "fin", "核实金额 HT-7")
    with pytest.raises(ImportFailed) as err:
        _import(org, clock, tmp_path, "90000")
    assert "金额已由财务核实，不能通过导入修改" in str(err.value)
    _import(org, clock, tmp_path, "100000")  # the same amount: fine


def test_terms_in_chat_read_back_or_refused_and_milestones(org, clock):
    clock.set(START)
    add_contract(org, "HT-9", amount="100000", terms=None)
    say(org, clock, "rep1", "改付款条件 HT-9 预付30%，到货后付60%，质保金10%一年后")
    assert _texts(org, "rep1")[-1] == (
        "已修改合同HT-9的付款条件。我理解为：①签约时付30%（预付款）；②到货时付60%；③到货后1年付10%（质保金）。"
    )
    say(org, clock, "rep1", "改付款条件 HT-9 付款时间双方另行协商")
    assert _texts(org, "rep1")[-1].startswith("付款条件没有修改。这部分我读不懂：「付款时间双方另行协商」")
    say(org, clock, "rep1", "到货 HT-9 2026-12-20")
    assert _texts(org, "rep1")[-1] == (
        "已记录：合同HT-9到货（12月20日）。\n· 到货时付60%：¥60,000.00，应付日12月20日\n· 到货后1年付10%（质保金）：¥10,000.00，应付日2027年12月20日"
    )
    with org() as s:
        c = s.get(ContractRow, "HT-9")
        assert c.terms == "预付30%，到货后付60%，质保金10%一年后"
        assert c.milestones == {"delivered": "2026-12-20"}
        due = s.scalars(select(InstalmentRow.due_on).order_by(InstalmentRow.seq)).all()
        assert [d.isoformat() for d in due] == ["2026-12-07", "2026-12-20", "2027-12-20"]
