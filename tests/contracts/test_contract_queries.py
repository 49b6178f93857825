"""The scoped reads behind the questions (超时未响应的交付工单, 本月对账差异, 哪些合同还在流水匹配中,
这份合同谁改过): each answers within the asker's scope, with figures equal to a hand count."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D

from core.clock import SHANGHAI
from core.org import scope_of
from storage import people
from storage.contracts import queries
from tests.contracts.test_reconcile_nightly import CONTRACTS, CUSTOMERS, PAYMENTS, _import
from tests.sop.conftest import say


def _scope(s, who):
    return scope_of(people.whole_tree(s), who)


def test_scoped_questions(org, clock, tmp_path):
    clock.set(datetime(2026, 12, 7, 20, 0, tzinfo=SHANGHAI))
    _import(org, clock, tmp_path, customers=CUSTOMERS, contracts=CONTRACTS, payments=PAYMENTS)
    say(org, clock, "fhead", "对账")
    say(org, clock, "rep1", "合同签署完成 HT-A")
    now = clock.now()
    with org() as s:
        # 哪些合同还在流水匹配中
        assert [c.contract_no for c in queries.contracts_in_matching(s, _scope(s, "dir"))] == ["HT-A"]
        assert [c.paid for c in queries.contracts_in_matching(s, _scope(s, "sup1"))] == [D("150000.00")]
        assert queries.contracts_in_matching(s, _scope(s, "rep2")) == []
        # 本月对账差异 (November: due 210,000 — HT-A 150,000, HT-B 30,000, HT-C 20,000, HT-E 10,000 —
        # received in November 200,000; HT-E's 10,000 came in December)
        nov = queries.month_difference(s, _scope(s, "dir"), date(2026, 11, 1))
        assert (nov.expected, nov.received, nov.difference) == (D("210000.00"), D("200000.00"), D("10000.00"))
        assert round(nov.rate, 4) == round(10000 / 210000, 4)
        dec = queries.month_difference(s, _scope(s, "dir"), date(2026, 12, 15))
        assert (dec.expected, dec.received, dec.unmatched_lines, dec.unmatched_amount) == (
            D("80000.00"),
            D("80000.00"),
            1,
            D("1288.50"),
        )
        mine = queries.month_difference(s, _scope(s, "rep1"), date(2026, 11, 1))
        assert (mine.expected, mine.received, mine.unmatched_lines) == (D("200000.00"), D("200000.00"), 0)
        # 这份合同谁改过
        assert queries.contract_trail(s, _scope(s, "rep2"), "HT-A") is None
        trail = queries.contract_trail(s, _scope(s, "rep1"), "HT-A")
        assert ("system:import", "import", "amount") in [(c.actor, c.channel, c.field) for c in trail]
        assert ("rep1", "chat", "sales_status") in [(c.actor, c.channel, c.field) for c in trail]
        # instalments due
        due = queries.instalments_due(s, _scope(s, "rep1"), date(2026, 11, 1), date(2026, 12, 1))
        assert [(i.contract_no, i.status) for i in due] == [
            ("HT-A", "paid"),
            ("HT-B", "paid"),
            ("HT-C", "paid"),
        ]
    # 超时未响应的交付工单
    later = now + timedelta(hours=25)
    with org() as s:
        assert queries.overdue_work_orders(s, _scope(s, "dir"), now=now) == []
        late = queries.overdue_work_orders(s, _scope(s, "dir"), now=later, team="delivery")
        assert [(w.contract_no, w.team, w.overdue_hours) for w in late] == [("HT-A", "delivery", 1.0)]
        assert len(queries.overdue_work_orders(s, _scope(s, "sup1"), now=later)) == 3
        assert queries.overdue_work_orders(s, _scope(s, "rep2"), now=later) == []
        team = queries.overdue_work_orders(s, _scope(s, "d1"), now=later, teams=frozenset({"delivery"}))
        assert [w.team for w in team] == ["delivery"]


def test_handoff_health_of_the_month(org, clock):
    from sqlalchemy import select

    from handlers.messages import CardAction, card_key
    from storage.contracts.models import WorkOrderRow
    from tests.contracts.conftest import add_contract
    from tests.sop.conftest import click, sweep

    clock.set(datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))
    for no in ("HT-H1", "HT-H2"):
        add_contract(org, no)
        say(org, clock, "rep1", f"合同签署完成 {no}")
    with org() as s:
        wos = {(w.contract_no, w.team): w.id for w in s.scalars(select(WorkOrderRow))}
    clock.advance(hours=2)
    click(org, clock, "d1", card_key(CardAction.WORK_ORDER, "claim", wos[("HT-H1", "delivery")]))
    click(org, clock, "f1", card_key(CardAction.WORK_ORDER, "done", wos[("HT-H1", "finance")]))
    clock.advance(hours=2)
    click(org, clock, "f1", card_key(CardAction.WORK_ORDER, "claim", wos[("HT-H2", "finance")]))
    for no in ("HT-H1", "HT-H2"):
        click(org, clock, "a1", card_key(CardAction.WORK_ORDER, "block", wos[(no, "after_sales")]))
        say(org, clock, "a1", "客户网络不满足安装条件")
    clock.advance(hours=24)
    sweep(org, clock)  # HT-H2's delivery order was never answered
    with org() as s:
        h = queries.handoff_health(s, _scope(s, "dir"), date(2026, 12, 1))
        assert [(t.team, t.handed, t.answered, t.average_response_hours, t.breaches) for t in h.teams] == [
            ("delivery", 2, 1, 2.0, 1),
            ("finance", 2, 2, 3.0, 0),
            ("after_sales", 2, 2, 4.0, 0),
        ]
        assert h.top_blocking == (("客户网络不满足安装条件", 2),)
        assert h.suggestion == (
            "交付环节超时最多（1次），建议核对该团队的接单人手与响应时限。最常见的受阻原因：客户网络不满足安装条件（2次）。"
        )
        assert (
            queries.handoff_health(s, _scope(s, "rep2"), date(2026, 12, 1)).suggestion == "本月没有交接工单。"
        )
