"""The matching rule on a fixture statement against a hand computation: by number (exact, mistyped
punctuation, split over two lines, combined over two contracts, overpaid), by payer and amount (a mistyped
company name, a combined payment), split without a number, an ambiguous payer, and unrelated lines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from rapidfuzz import fuzz

from core.contracts.reconcile import Line, Receivable, company_key, reconcile

R = [  # key, contract, customer, open, due
    Receivable(1, "HT-2026-001", "华东精密制造有限公司", D("150000"), date(2026, 11, 1), 1),
    Receivable(2, "HT-2026-001", "华东精密制造有限公司", D("150000"), None, 2),
    Receivable(3, "HT-2026-002", "杭州云帆科技有限公司", D("30000"), date(2026, 11, 15), 1),
    Receivable(4, "HT-2026-003", "杭州云帆科技有限公司", D("20000"), date(2026, 11, 20), 1),
    Receivable(5, "HT-2026-004", "苏州恒通物流股份有限公司", D("80000"), date(2026, 11, 30), 1),
    Receivable(6, "HT-2026-005", "宁波海岳贸易有限公司", D("45000"), date(2026, 12, 1), 1),
    Receivable(7, "HT-2026-006", "宁波海岳贸易有限公司", D("55000"), date(2026, 12, 5), 1),
    Receivable(8, "HT-2026-007", "上海立信医疗器械有限公司", D("60000"), date(2026, 12, 1), 1),
    Receivable(9, "HT-2026-008", "上海立信医疗设备有限公司", D("60000"), date(2026, 12, 1), 1),
    Receivable(10, "HT-2026-009", "无锡新材料有限公司", D("10000"), date(2026, 12, 1), 1),
]
L = [  # txn, day, amount, payer, memo
    Line(
        "T01", date(2026, 11, 2), D("100000"), "华东精密制造有限公司", "HT-2026-001 首付款"
    ),  # split 1/2 of key 1
    Line(
        "T02", date(2026, 11, 3), D("50000"), "华东精密制造有限公司", "ht2026 001 余款"
    ),  # split 2/2, mistyped
    Line(
        "T03", date(2026, 11, 16), D("50000"), "杭州云帆科技", "HT-2026-002,HT-2026-003货款"
    ),  # combined by no
    Line("T04", date(2026, 12, 1), D("80000"), "苏州恒通物流有限公司", "货款"),  # payer + amount
    Line(
        "T05", date(2026, 12, 2), D("100000"), "宁波海越贸易有限公司", "11月货款"
    ),  # mistyped name, combined
    Line("T06", date(2026, 12, 2), D("60000"), "上海立信医疗有限公司", "货款"),  # two customers equally close
    Line("T07", date(2026, 12, 3), D("4000"), "无锡新材料有限公司", "货款"),  # split without a number …
    Line("T08", date(2026, 12, 4), D("6000"), "无锡新材料有限公司", "货款"),  # … together = key 10
    Line("T09", date(2026, 12, 5), D("1288.50"), "张三", "退押金"),  # unrelated
    Line("T10", date(2026, 12, 6), D("160000"), "华东精密制造有限公司", "HT-2026-001"),  # overpays key 2
]


def _similarity(a: str, b: str) -> float:
    return fuzz.ratio(a, b)


def test_fixture_statement_equals_the_hand_computation():
    got = reconcile(R, L, similarity=_similarity)
    allocated = sorted((a.txn_id, a.key, a.amount, a.how) for a in got.allocations)
    assert allocated == [
        ("T01", 1, D("100000"), "number"),
        ("T02", 1, D("50000"), "number"),
        ("T03", 3, D("30000"), "number"),
        ("T03", 4, D("20000"), "number"),
        ("T04", 5, D("80000"), "amount_payer"),
        ("T05", 6, D("45000"), "amount_payer"),
        ("T05", 7, D("55000"), "amount_payer"),
        ("T07", 10, D("4000"), "split_payer"),
        ("T08", 10, D("6000"), "split_payer"),
        ("T10", 2, D("150000"), "number"),
    ]
    unmatched = {u.txn_id: (u.left, u.why, [c.key for c in u.candidates]) for u in got.unmatched}
    assert unmatched == {
        "T06": (D("60000"), "摘要没有合同编号，付款方与客户名称对不上", [8, 9]),
        "T09": (D("1288.50"), "摘要没有合同编号，付款方与客户名称对不上", []),
        "T10": (D("10000"), "超出摘要所列合同的未付金额", [1, 2]),
    }
    # every yuan of the statement is either allocated or left for finance
    total_in = sum(ln.amount for ln in L)
    assert sum(a.amount for a in got.allocations) + sum(u.left for u in got.unmatched) == total_in


def test_company_key_drops_suffixes():
    assert company_key("苏州恒通物流股份有限公司") == company_key("苏州恒通物流有限公司") == "苏州恒通物流"
    assert company_key("（中国）华为技术有限公司") == "华为技术"


def test_deterministic_and_idempotent_on_what_is_left():
    a = reconcile(R, L, similarity=_similarity)
    b = reconcile(R, list(reversed(L)), similarity=_similarity)
    assert a.allocations == b.allocations
    # a second run on what is left matches nothing new
    opened = {r.key: r.open for r in R}
    for al in a.allocations:
        opened[al.key] -= al.amount
    rest = [Receivable(r.key, r.contract_no, r.customer, opened[r.key], r.due_on, r.seq) for r in R]
    lines = [Line(u.txn_id, date(2026, 12, 7), u.left, None, None) for u in a.unmatched]
    assert reconcile(rest, lines, similarity=_similarity).allocations == []
