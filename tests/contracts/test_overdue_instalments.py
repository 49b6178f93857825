"""回款逾期 reads instalments where a contract has them: the alert is booked on the instalment's due date,
says what of it is owed (not the whole contract), and is cancelled once the reconciliation paid it."""

from __future__ import annotations

from datetime import date, datetime

from core.clock import SHANGHAI
from handlers.sop.payments import rematch_contracts
from storage.db import writer_session
from storage.models import PaymentRow
from tests.contracts.conftest import add_contract
from tests.sop.conftest import messages, say, sweep, timers_of


def test_overdue_alert_follows_the_first_instalment(org, clock):
    clock.set(datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI))
    add_contract(org, "HT-20", signed_on=date(2026, 11, 1), due_on=date(2027, 6, 30), sales_status=None)
    say(org, clock, "rep1", "合同签署完成 HT-20")
    with writer_session(org) as s:
        rematch_contracts(s, clock.now())
        s.commit()
    # the first instalment (签约后30天付50%) is due on 1 December, not the typed 30 June
    assert [t.business_key for t in timers_of(org, kind="payment_overdue", status="pending")] == [
        "payment:HT-20:2026-12-01"
    ]
    clock.set(datetime(2026, 12, 3, 12, 0, tzinfo=SHANGHAI))
    sweep(org, clock)
    alert = [
        m.message for m in messages(org, "sup1", kind="card") if m.message["title"].startswith("回款逾期")
    ]
    assert len(alert) == 1
    assert alert[0]["description"] == "合同HT-20已于12月1日到期，尚有¥250,000.00未回款。"
    fields = dict(map(tuple, alert[0]["fields"]))
    assert (fields["合同金额"], fields["已回款"]) == ("500,000.00", "0.00")


def test_a_paid_instalment_cancels_its_alert(org, clock):
    clock.set(datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI))
    add_contract(org, "HT-21", signed_on=date(2026, 11, 1), sales_status=None)
    say(org, clock, "rep1", "合同签署完成 HT-21")
    with writer_session(org) as s:
        rematch_contracts(s, clock.now())
        s.add(
            PaymentRow(
                txn_id="P1", paid_on=date(2026, 11, 28), amount=250000, payer="华东精密制造", memo="HT-21首付"
            )
        )
        s.commit()
    say(org, clock, "fhead", "对账")  # finance reconciles: the instalment is paid, its alert cancelled
    assert timers_of(org, kind="payment_overdue", status="pending") == []
    assert [t.outcome for t in timers_of(org, kind="payment_overdue", status="cancelled")] == ["paid in full"]
