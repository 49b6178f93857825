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
