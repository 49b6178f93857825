"""The nightly reconciliation on real storage: a statement imported in the evening, the timer at night
matches it to instalments (by number, mistyped number, payer and amount, split without a number), leaves an
unrelated line as a finance to-do, recomputes the finance views and tells finance — equal to a hand count."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path

from sqlalchemy import select

from bot.bootstrap import on_imported
from core.clock import SHANGHAI
from handlers.contracts import reconcile
from storage.contracts.models import FinanceTodoRow, InstalmentPaymentRow, InstalmentRow
from storage.importer.run import import_paths
from storage.models import ContractRow
from tests.sop.conftest import messages, say, sweep, timers_of, unit_of_work

CUSTOMERS = """客户编号,客户名称,负责人账号
k1,华东精密制造有限公司,rep1
k2,杭州云帆科技有限公司,rep1
k3,苏州恒通物流股份有限公司,rep2
k4,无锡新材料有限公司,rep3
"""
CONTRACTS = """合同编号,客户编号,签约日期,金额,约定回款日,付款条件
HT-A,k1,2026-11-01,300000,2026-12-31,签约后付50%，验收后付尾款
HT-B,k2,2026-11-01,30000,2026-12-31,签约后15天付清
HT-C,k2,2026-11-01,20000,2026-12-31,签约后20天付清
HT-D,k3,2026-11-01,80000,2026-12-31,签约后30天付清
HT-E,k4,2026-11-01,10000,2026-12-31,签约当日付清全款
HT-F,k3,2026-10-01,5000,2026-11-30,
"""
PAYMENTS = """流水号,到账日期,金额,付款方,摘要
T01,2026-11-02,100000,华东精密制造有限公司,HT-A 首付款
T02,2026-11-03,50000,华东精密制造有限公司,hta余款
T03,2026-11-16,50000,杭州云帆科技,HT-B，HT-C 货款
T04,2026-12-01,80000,苏州恒通物流有限公司,货款
T05,2026-12-03,4000,无锡新材料有限公司,货款
T06,2026-12-04,6000,无锡新材料有限公司,货款
T07,2026-12-05,1288.50,张三,退押金
T08,2026-11-20,5000,苏州恒通物流股份有限公司,HT-F
"""


def _import(sf, clock, tmp_path: Path, **tables: str):
    for name, text in tables.items():
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
    return import_paths(
        sf, [tmp_path / f"{n}.csv" for n in tables], now=clock.now(), progress=False, on_imported=on_imported
    )


def test_statement_imported_in_the_evening_is_matched_at_night(org, clock, tmp_path):
    clock.set(datetime(2026, 12, 7, 20, 0, tzinfo=SHANGHAI))
    _import(org, clock, tmp_path, customers=CUSTOMERS, contracts=CONTRACTS)
    with unit_of_work(org, clock) as ctx:
        timer = reconcile.schedule_next(ctx, after=ctx.now)
    assert timer.due_at == datetime(2026, 12, 8, 1, 43, tzinfo=SHANGHAI)
    clock.set(datetime(2026, 12, 7, 21, 0, tzinfo=SHANGHAI))
    _import(org, clock, tmp_path, payments=PAYMENTS)
    clock.set(datetime(2026, 12, 8, 1, 44, tzinfo=SHANGHAI))
    sweep(org, clock)

    with org() as s:
        got = sorted(
            (r.txn_id, s.get(InstalmentRow, r.instalment_id).contract_no, r.amount, r.how)
            for r in s.scalars(select(InstalmentPaymentRow))
        )
        assert got == [
            ("T01", "HT-A", D("100000.00"), "number"),
            ("T02", "HT-A", D("50000.00"), "number"),
            ("T03", "HT-B", D("30000.00"), "number"),
            ("T03", "HT-C", D("20000.00"), "number"),
            ("T04", "HT-D", D("80000.00"), "amount_payer"),
            ("T05", "HT-E", D("4000.00"), "split_payer"),
            ("T06", "HT-E", D("6000.00"), "split_payer"),
        ]
        inst = {
            (i.contract_no, i.seq): (i.status, i.paid, i.paid_on) for i in s.scalars(select(InstalmentRow))
        }
        assert inst == {
            ("HT-A", 1): ("paid", D("150000.00"), date(2026, 11, 3)),
            ("HT-A", 2): ("open", D("0.00"), None),
            ("HT-B", 1): ("paid", D("30000.00"), date(2026, 11, 16)),
            ("HT-C", 1): ("paid", D("20000.00"), date(2026, 11, 16)),
            ("HT-D", 1): ("paid", D("80000.00"), date(2026, 12, 1)),
            ("HT-E", 1): ("paid", D("10000.00"), date(2026, 12, 4)),
        }
        views = {no: v for no, v in s.execute(select(ContractRow.contract_no, ContractRow.finance_status))}
        assert views == {
            "HT-A": "matching",  # the first half paid, the rest waits for 验收
            "HT-B": "received",
            "HT-C": "received",
            "HT-D": "received",
            "HT-E": "received",
            "HT-F": "received",  # no instalments: its memo-matched payment covers it
        }
        todos = s.scalars(select(FinanceTodoRow).where(FinanceTodoRow.status == "open")).all()
        assert [(t.kind, t.ref, t.payload["left"], t.payload["candidates"]) for t in todos] == [
            ("unmatched_payment", "T07", "1288.50", [])
        ]
    summary = [m.message["content"] for m in messages(org, "fhead", kind="text")]
    assert summary[-1].startswith(
        "对账完成：待匹配流水7笔，匹配7项共¥290,000.00，5期款项已到账；1笔流水未匹配（待办）。"
    )
    assert "· 流水T07 张三 ¥1,288.50：摘要没有合同编号，付款方与客户名称对不上" in summary[-1]
    assert [t.business_key for t in timers_of(org, kind="reconcile_nightly", status="pending")] == [
        "reconcile_nightly:2026-12-09"
    ]

    # finance runs it again by hand: nothing moves twice
    say(org, clock, "fhead", "对账")
    assert (
        messages(org, "fhead", kind="text")[-1]
        .message["content"]
        .startswith("对账完成：待匹配流水1笔，匹配0项共¥0.00，0期款项已到账；1笔流水未匹配（待办）。")
    )
    say(org, clock, "rep1", "对账")
    assert messages(org, "rep1", kind="text")[-1].message["content"] == "只有财务可以运行对账。"
    with org() as s:
        assert len(s.scalars(select(InstalmentPaymentRow)).all()) == 7


def test_a_line_matched_later_closes_its_todo(org, clock, tmp_path):
    clock.set(datetime(2026, 12, 7, 20, 0, tzinfo=SHANGHAI))
    _import(
        org,
        clock,
        tmp_path,
        customers=CUSTOMERS,
        payments="流水号,到账日期,金额,付款方,摘要\nX1,2026-12-06,10000,无锡新材料有限公司,HT-E\n",
    )
    say(org, clock, "fhead", "对账")
    with org() as s:
        assert s.scalars(select(FinanceTodoRow.status)).all() == ["open"]
    _import(org, clock, tmp_path, contracts=CONTRACTS)  # the contract arrives after its payment
    say(org, clock, "fhead", "对账")
    with org() as s:
        assert s.scalars(select(FinanceTodoRow.status)).all() == ["done"]
        assert s.get(ContractRow, "HT-E").finance_status == "received"
