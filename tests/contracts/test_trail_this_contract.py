"""「这份合同谁改过」 through the emulator: the contract of the last contract card the asker was sent (here the
progress card after signing in chat) answered from the field-level trail, like 「HT-T1谁改过」; someone who was
sent no contract card is asked for the number; someone outside the contract's scope is refused. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from core.clock import SHANGHAI
from storage.models import ContractRow
from tests.support.factories import org
from tests.support.harness import Harness


def test_this_contract_is_the_one_on_the_last_card(db_url, tmp_path, redis_server, clock):
    clock.set(datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        for no, customer in (("HT-T1", "C001"), ("HT-T2", "C004")):
            s.add(
                ContractRow(
                    contract_no=no,
                    customer_id=customer,
                    signed_on=date(2026, 12, 1),
                    amount=Decimal("500000"),
                    due_on=date(2027, 1, 6),
                    sales_status="pending",
                )
            )
        s.commit()
    h.peer.text("rep01", "这份合同谁改过")
    h.tick()
    assert h.texts("rep01")[-1] == "是哪一份合同？请写上合同编号，例如「HT-001谁改过」。"

    h.peer.text("rep01", "合同签署完成 HT-T1")
    h.tick()
    clock.advance(minutes=5)
    h.peer.text("rep01", "改金额 HT-T1 480000")
    h.tick()
    h.peer.text("rep02", "合同签署完成 HT-T2")  # rep02's latest card is HT-T2's
    h.tick()
    h.peer.text("rep01", "这份合同谁改过")
    h.tick()
    answer = h.texts("rep01")[-1]
    assert answer.startswith("合同HT-T1的修改记录")
    assert answer.splitlines()[-1] == "12-07 10:05 张伟（企业微信）金额：500000.00 → 480000.00"
    h.peer.text("rep01", "HT-T1谁改过")
    h.tick()
    assert h.texts("rep01")[-1].rstrip("\u2060") == answer  # the relay marks a repeated text
    h.peer.text("rep02", "这份合同谁改过")
    h.tick()
    assert h.texts("rep02")[-1].startswith("合同HT-T2的修改记录")
    h.peer.text("rep02", "HT-T1谁改过")
    h.tick()
    assert h.texts("rep02")[-1] == "合同HT-T1不在你可以查看的范围内。"
