"""core/price_request.py: what the customer asked for on price, read from a rep's line (a table of phrasings)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.price_request import format_value, parse_price_request

CASES = [
    # (the rep's line, kind, value) — value None: no request in the line
    ("价格异议 要求降5%", "percent_off", "5"),
    ("客户要求单价降到12元", "unit_price", "12"),
    ("要9折", "discount", "9"),
    ("降价3块", "amount_off", "3"),
    ("嫌贵，打八五折才肯进货", "discount", "8.5"),
    ("要95折", "discount", "9.5"),
    ("打9.5折", "discount", "9.5"),
    ("九折可以考虑", "discount", "9"),
    ("便宜5个点", "percent_off", "5"),
    ("降价百分之五", "percent_off", "5"),
    ("希望优惠１０％", "percent_off", "10"),  # full-width digits and per cent sign
    ("让3个点就签", "percent_off", "3"),
    ("每箱便宜五块", "amount_off", "5"),
    ("少收3块钱", "amount_off", "3"),
    ("降5毛", "amount_off", "0.5"),
    ("降价三块半", "amount_off", "3.5"),
    ("三块五一瓶就要", "unit_price", "3.5"),
    ("要12块一箱", "unit_price", "12"),
    ("价格做到11.5元", "unit_price", "11.5"),
    ("单价12元，竞品更便宜", "unit_price", "12"),
    ("价格太高，希望降到十二元一件", "unit_price", "12"),
    ("便宜3块一箱", "amount_off", "3"),  # 3块一箱 after 便宜 is 3 off each, not 3.1
    ("要9折，不行就降5%", "discount", "9"),  # the first request wins
    ("价格异议 客户嫌贵", None, None),
    ("客户要求降价", None, None),  # no figure
    ("库存不足 补货20箱", None, None),
    ("毛利20%", None, None),  # a per cent without a word of reduction
    ("不打折", None, None),
    ("降价3天后回访", None, None),  # a number of days, not money
    ("", None, None),
]


@pytest.mark.parametrize(("line", "kind", "value"), CASES)
def test_phrasings(line, kind, value):
    found = parse_price_request(line)
    if kind is None:
        assert found is None
    else:
        assert found is not None and (found.kind, format_value(found.value)) == (kind, value)
        assert found.phrase and found.phrase in line.replace("１０％", "10%")


def test_values_print_plainly():
    assert [format_value(Decimal(v)) for v in ("10.0", "8.50", "1E+1", "0.5")] == ["10", "8.5", "10", "0.5"]
