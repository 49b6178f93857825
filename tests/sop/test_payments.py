"""Overdue payments: matching by memo, the grace period, the alert to the owner's supervisor and finance."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from core.clock import SHANGHAI
from handlers.sop.payments import rematch_contracts
from storage.models import ContractRow, PaymentRow
from tests.sop.conftest import add_customer, messages, sweep, timers_of


def _contracts(sf):
    add_customer(sf, "c1", "rep1", name="味源超市")
    add_customer(sf, "c3", "rep3", name="东门便利")
    with sf() as s:
        s.add_all(
            [
                ContractRow(
                    contract_no="HT-001",
                    customer_id="c1",
                    signed_on=date(2026, 10, 1),
                    amount=Decimal("10000"),
                    due_on=date(2026, 11, 20),
                ),
                ContractRow(
                    contract_no="HT_2",
                    customer_id="c1",
                    signed_on=date(2026, 10, 1),
                    amount=Decimal("5000"),
                    due_on=date(2026, 11, 20),
                ),
                ContractRow(
                    contract_no="HT-003",
                    customer_id="c3",
                    signed_on=date(2026, 10, 1),
                    amount=Decimal("3000"),
                    due_on=date(2026, 11, 20),
                ),
                ContractRow(
                    contract_no="HT-004",
                    customer_id="c3",
                    signed_on=date(2026, 10, 1),
                    amount=Decimal("800"),
                    due_on=date(2026, 12, 31),
                ),
                PaymentRow(
                    txn_id="t1", paid_on=date(2026, 11, 1), amount=Decimal("4000"), memo="货款 HT-001 首付"
                ),
                PaymentRow(
                    txn_id="t2", paid_on=date(2026, 11, 2), amount=Decimal("5000"), memo="HTX2 另一笔"
                ),  # not HT_2
                PaymentRow(
                    txn_id="t3", paid_on=date(2026, 11, 3), amount=Decimal("3000"), memo="合同HT-003全款"
                ),
            ]
        )
        s.commit()


def test_unpaid_contracts_alert_supervisor_and_finance_after_the_grace_period(org, clock):
    _contracts(org)
    with org() as s:
        summary = rematch_contracts(s, clock.now())
        s.commit()
    assert summary == {"unpaid": 3, "scheduled": 3, "cancelled": 0}
    with org() as s:
        assert rematch_contracts(s, clock.now()) == {"unpaid": 3, "scheduled": 0, "cancelled": 0}
        s.commit()
    assert sorted(t.subject_id for t in timers_of(org, kind="payment_overdue")) == [
        "HT-001",
        "HT-004",
        "HT_2",
    ]

    clock.set(datetime(2026, 11, 21, 23, 0, tzinfo=SHANGHAI))  # overdue, but inside the 24 h grace
    sweep(org, clock)
    assert messages(org) == []
    clock.set(datetime(2026, 11, 22, 9, 45, tzinfo=SHANGHAI))
    sweep(org, clock)
    sweep(org, clock)
    for who in ("sup1", "fin"):
        cards = [m.message for m in messages(org, who, kind="card")]
        assert [c["title"] for c in cards] == ["回款逾期：味源超市", "回款逾期：味源超市"]
        assert sorted(dict(map(tuple, c["fields"]))["合同号"] for c in cards) == ["HT-001", "HT_2"]
    first = next(m.message for m in messages(org, "fin", kind="card") if "HT-001" in m.message["description"])
    fields = dict(map(tuple, first["fields"]))
    assert (fields["已回款"], fields["未回款"], fields["负责人"]) == ("4,000.00", "6,000.00", "张三")
    assert first["description"] == "合同HT-001已于11月20日到期，尚有¥6,000.00未回款。"
    assert messages(org, "rep1") == [] and messages(org, "sup2") == []


def test_payment_after_import_cancels_the_alert(org, clock):
    _contracts(org)
    with org() as s:
        rematch_contracts(s, clock.now())
        s.add(PaymentRow(txn_id="t9", paid_on=date(2026, 12, 1), amount=Decimal("800"), memo="HT-004"))
        s.add(
            PaymentRow(txn_id="t10", paid_on=date(2026, 11, 21), amount=Decimal("6000"), memo="HT-001 尾款")
        )
        s.commit()
    with org() as s:
        assert rematch_contracts(s, clock.now()) == {"unpaid": 1, "scheduled": 0, "cancelled": 2}
        s.commit()
    clock.set(datetime(2027, 1, 5, tzinfo=SHANGHAI))
    sweep(org, clock)
    alerts = [dict(map(tuple, m.message["fields"]))["合同号"] for m in messages(org, "fin", kind="card")]
    assert alerts == ["HT_2"]
    assert {t.subject_id: t.status for t in timers_of(org, kind="payment_overdue")} == {
        "HT-001": "cancelled",
        "HT_2": "done",
        "HT-004": "cancelled",
    }
