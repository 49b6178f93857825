"""The import's side of the hand-off: a departments sheet (heads and members), contracts with 付款条件 read
into instalments (terms it cannot read are warnings), and 签约状态 已签约 opening the hand-off through the
sweep — once, however often the same file is imported."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.bootstrap import on_imported
from core.clock import SHANGHAI
from storage.contracts.models import DepartmentRow, InstalmentRow, WorkOrderRow
from storage.importer.run import ImportFailed, import_paths
from storage.models import ContractRow
from tests.sop.conftest import messages, sweep

USERS = """账号,姓名,角色,上级账号
dir,周总,销售总监,
sup1,王主管,销售主管,dir
rep1,张三,业务员,sup1
jf1,陈工,业务员,
jf2,孙工,业务员,
cw1,刘会计,业务员,
sh1,何工,业务员,
"""
DEPARTMENTS = """部门编号,部门名称,类型,负责人账号,成员账号
D1,交付部,交付,jf1,jf2
D2,财务部,财务,cw1,
D3,售后部,售后,sh1,
"""
CUSTOMERS = """客户编号,客户名称,负责人账号
C1,华东精密制造有限公司,rep1
"""
CONTRACTS = """合同编号,客户编号,签约日期,金额,约定回款日,付款条件,签约状态
HT-1,C1,2026-12-01,300000,2026-12-31,预付30%，发货前付60%，质保金10%一年后,已签约
HT-2,C1,2026-11-01,80000,2026-12-01,付款视资金情况而定,
HT-3,C1,2026-12-05,50000,2027-01-05,货到票到60天,待签约
"""


def _write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


def _import(sf, clock, folder: Path):
    return import_paths(sf, [folder], now=clock.now(), progress=False, on_imported=on_imported)


@pytest.fixture
def folder(tmp_path):
    for name, text in (
        ("users.csv", USERS),
        ("部门.csv", DEPARTMENTS),
        ("customers.csv", CUSTOMERS),
        ("contracts.csv", CONTRACTS),
    ):
        _write(tmp_path, name, text)
    return tmp_path


def test_departments_terms_and_signing_by_import(session_factory, clock, folder):
    sf = session_factory
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI))
    summary = _import(sf, clock, folder)
    assert summary.tables["departments"].created == 3
    assert any(
        w.startswith("合同HT-2的付款条件没有读懂，未生成分期：「付款视资金情况而定」")
        for w in summary.warnings
    )
    with sf() as s:
        depts = {d.kind: (d.head_userid, d.members) for d in s.scalars(select(DepartmentRow))}
        assert depts == {"delivery": ("jf1", ["jf2"]), "finance": ("cw1", []), "after_sales": ("sh1", [])}
        plan = s.execute(
            select(
                InstalmentRow.contract_no, InstalmentRow.seq, InstalmentRow.amount, InstalmentRow.due_on
            ).order_by(InstalmentRow.contract_no, InstalmentRow.seq)
        ).all()
        assert [(no, seq, int(amount), due and due.isoformat()) for no, seq, amount, due in plan] == [
            ("HT-1", 1, 90000, "2026-12-01"),  # 预付: at signing
            ("HT-1", 2, 180000, None),  # before shipping: not shipped yet
            ("HT-1", 3, 30000, None),
            ("HT-3", 1, 50000, None),
        ]
        assert s.get(ContractRow, "HT-1").due_on.isoformat() == "2026-12-01"  # follows the instalment
        assert s.get(ContractRow, "HT-2").due_on.isoformat() == "2026-12-01"  # unread terms: as typed
        assert s.scalar(select(func.count()).select_from(WorkOrderRow)) == 0  # the sweep opens them
    sweep(sf, clock)
    with sf() as s:
        assert sorted(s.scalars(select(WorkOrderRow.team).where(WorkOrderRow.contract_no == "HT-1"))) == [
            "after_sales",
            "delivery",
            "finance",
        ]
        assert s.scalar(select(func.count()).select_from(WorkOrderRow)) == 3  # HT-3 待签约, HT-2 history
        c = s.get(ContractRow, "HT-1")
        assert (c.signed_by, c.sales_status, c.finance_status) == ("system:import", "signed", "esigned")
    assert [m.message["title"] for m in messages(sf, "jf2", kind="card")] == [
        "交付工单：华东精密制造有限公司"
    ]
    assert any(
        m.message["content"].startswith("已记录：合同HT-1（华东精密制造有限公司）签署完成")
        for m in messages(sf, "rep1", kind="text")
    )
    # the same file again: nothing new
    clock.advance(hours=1)
    _import(sf, clock, folder)
    sweep(sf, clock)
    with sf() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrderRow)) == 3
    assert len(messages(sf, "jf2", kind="card")) == 1


def test_unknown_department_member_fails_the_import(session_factory, clock, folder):
    _write(folder, "部门.csv", DEPARTMENTS.replace("jf1,jf2", "jf1,nobody"))
    with pytest.raises(ImportFailed) as err:
        _import(session_factory, clock, folder)
    assert "人员“nobody”不存在" in str(err.value)
