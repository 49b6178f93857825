"""The payment-terms parser on real-world phrasings of Chinese B2B contracts: what it understood (its own
words, which name every instalment's event, offset and share), or what it refused and why; then due dates and
amounts from milestones."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.contracts.schedule import TermsDoNotFit, add_business_days, add_months, schedule
from core.contracts.terms import (
    ACCEPTED,
    DELIVERED,
    INVOICED,
    SHIPPED,
    SIGNED,
    Refused,
    Understood,
    parse_terms,
)

# (terms as written, what the parser says it understood) or (terms, ("拒", the part refused, the reason))
TABLE = [
    ("签约后30天付50%，验收后付尾款", "我理解为：①签约后30天付50%；②验收时付尾款50%。"),
    ("货到票到60天", "我理解为：①到货、开票（以晚者为准）后60天付100%。"),
    ("每月5号前结清上月货款", "我理解为：①到货当月的次月5日前付100%。"),
    (
        "预付30%，发货前付60%，质保金10%一年后",
        "我理解为：①签约时付30%（预付款）；②发货前付60%；③到货后1年付10%（质保金）。",
    ),
    (
        "合同签订后7个工作日内支付合同总额的30%作为预付款，到货验收合格后支付60%，剩余10%作为质保金，质保期满一年后无息支付",
        "我理解为：①签约后7个工作日付30%（预付款）；②到货、验收（以晚者为准）时付60%；③验收后1年付10%（质保金）。",
    ),
    ("款到发货", "我理解为：①发货前付100%。"),
    ("货到付款", "我理解为：①到货时付100%。"),
    ("票到30天付款", "我理解为：①开票后30天付100%。"),
    ("收到发票后30日内付清全部货款", "我理解为：①开票后30天付100%。"),
    (
        "合同签订之日起5个工作日内，甲方向乙方支付合同总价的30%作为预付款；货到验收合格后支付65%；余款5%作为质保金，验收合格满12个月后支付",
        "我理解为：①签约后5个工作日付30%（预付款）；②到货、验收（以晚者为准）时付65%；③验收后1年付5%（质保金）。",
    ),
    ("签约付30%，发货付40%，验收付30%", "我理解为：①签约时付30%；②发货时付40%；③验收时付30%。"),
    ("签订合同后预付50%，余款发货前付清", "我理解为：①签约时付50%（预付款）；②发货前付尾款50%。"),
    (
        "首付款20%，到货后付70%，质保金10%，质保期一年",
        "我理解为：①签约时付20%（首付款）；②到货时付70%；③到货后1年付10%（质保金）。",
    ),
    ("月结30天", "我理解为：①到货当月月底起30天内付100%。"),
    ("月结60天，票到后开始计算", "我理解为：①开票当月月底起60天内付100%。"),
    ("次月15日前付清上月货款", "我理解为：①到货当月的次月15日前付100%。"),
    ("发货后次月10日前付款", "我理解为：①发货当月的次月10日前付100%。"),
    ("验收合格后一次性付清", "我理解为：①验收时付100%。"),
    (
        "合同生效后3日内支付10万元定金，余款验收后30天内付清",
        "我理解为：①签约后3天付10万元（定金）；②验收后30天付尾款（合同金额减去其余各期）。",
    ),
    (
        "签约后支付三成，到货后支付五成，验收后支付两成",
        "我理解为：①签约时付30%；②到货时付50%；③验收时付20%。",
    ),
    ("签约后付一半，验收后付另一半", "我理解为：①签约时付50%；②验收时付50%。"),
    ("签约、发货、验收后各付三分之一", "我理解为：①签约时付33.33%；②发货时付33.33%；③验收时付33.33%。"),
    (
        "安装调试完成后15个工作日内支付合同款的90%，剩余10%质保期满后支付",
        ("拒", "剩余10%质保期满后支付", "写了质保期满，但没有写明质保期多长"),
    ),
    ("上线运行后一个月内支付尾款", ("拒", "上线运行后一个月内支付尾款", "只写了尾款，之前各期没有写明")),
    (
        "初验合格后付60%，终验合格后付30%，质保金10%两年后支付",
        "我理解为：①初验时付60%；②验收时付30%；③验收后2年付10%（质保金）。",
    ),
    ("到货后10天内付款", "我理解为：①到货后10天付100%。"),
    ("交货后45天付清", "我理解为：①到货后45天付100%。"),
    ("开票后60天内付款", "我理解为：①开票后60天付100%。"),
    ("签约当日付清全款", "我理解为：①签约时付100%。"),
    ("签约即付20%，余款于货到后30日内付清", "我理解为：①签约时付20%；②到货后30天付尾款80%。"),
    (
        "预付款30%，进度款40%于发货前支付，尾款30%验收合格后支付",
        "我理解为：①签约时付30%（预付款）；②发货前付40%（进度款）；③验收时付30%。",
    ),
    ("发货前3天付全款", "我理解为：①发货前3天付100%。"),
    ("合同签订后十五日内付百分之四十，验收合格后付百分之六十", "我理解为：①签约后15天付40%；②验收时付60%。"),
    (
        "双方签字盖章后支付20%预付款，系统上线后支付70%，剩余10%上线运行半年后支付",
        "我理解为：①签约时付20%（预付款）；②上线时付70%；③上线后6个月付10%。",
    ),
    ("验收合格并收到发票后30天内支付合同金额的100%", "我理解为：①验收、开票（以晚者为准）后30天付100%。"),
    ("甲方在收到乙方开具的增值税专用发票后15个工作日内付款", "我理解为：①开票后15个工作日付100%。"),
    (
        "到货验收后付95%，5%质保金一年后支付",
        "我理解为：①到货、验收（以晚者为准）时付95%；②验收后1年付5%（质保金）。",
    ),
    ("每月5日前支付上月货款", "我理解为：①到货当月的次月5日前付100%。"),
    ("付款方式：签约后付50%，验收后付50%", "我理解为：①签约时付50%；②验收时付50%。"),
    ("签约后30天付50%。验收后付尾款。", "我理解为：①签约后30天付50%；②验收时付尾款50%。"),
    ("签约后30天付50%;验收后付尾款", "我理解为：①签约后30天付50%；②验收时付尾款50%。"),
    ("签约后３０天付５０％，验收后付尾款", "我理解为：①签约后30天付50%；②验收时付尾款50%。"),
    (
        "验收合格后支付至合同总价的95%，余款一年后支付",
        ("拒", "余款一年后支付", "写了期限，但没有写明从哪天起算（签约、到货、开票还是验收）"),
    ),
    ("签约后付30%，到货后付至90%，验收后付尾款", "我理解为：①签约时付30%；②到货时付60%；③验收时付尾款10%。"),
    (
        "合同签订后支付人民币5万元，余款到货后付清",
        "我理解为：①签约时付5万元；②到货时付尾款（合同金额减去其余各期）。",
    ),
    ("签约后7天内付款", "我理解为：①签约后7天付100%。"),
    ("先款后货", "我理解为：①发货前付100%。"),
    ("验收后6个月支付质保金10%，签约后支付90%", "我理解为：①验收后6个月付10%（质保金）；②签约时付90%。"),
    ("账期30天", ("拒", "账期30天", "只写了账期，没有写明从哪天起算（签约、到货、开票还是验收）")),
    ("付款视资金情况而定", ("拒", "付款视资金情况而定", "没有可计算的付款时间")),
    ("付款时间双方另行协商", ("拒", "付款时间双方另行协商", "没有可计算的付款时间")),
    ("签约付30%", ("拒", "签约付30%", "各期比例合计只有30%，其余70%没有写明何时付")),
    ("签约付60%，验收付60%", ("拒", "签约付60%，验收付60%", "各期比例合计120%，超过100%")),
    ("签约后付30%，验收后付尾款，到货后付尾款", ("拒", "到货后付尾款", "写了不止一笔尾款")),
    ("以银行承兑汇票支付", ("拒", "以银行承兑汇票支付", "付款方式不是到期付现，无法算出回款日期和金额")),
    (
        "质保金10%，质保期满后支付，其余签约后付清",
        ("拒", "质保金10%，质保期满后支付", "写了质保期满，但没有写明质保期多长"),
    ),
    ("签约后付150%", ("拒", "签约后付150%", "比例150%超过100%")),
    ("签约后付3/2", ("拒", "签约后付3/2", "分数不对")),
    ("合同签订后支付10万元，验收后支付50%", "我理解为：①签约时付10万元；②验收时付50%。"),
    ("30天内付清", ("拒", "30天内付清", "写了期限，但没有写明从哪天起算（签约、到货、开票还是验收）")),
    ("尾款", ("拒", "尾款", "没有写明什么时候付")),
    ("每月40号前结清上月货款", ("拒", "每月40号前结清上月货款", "每月40日不是日历上的日子")),
    ("签约后支付30%，发货后", ("拒", "发货后", "没有写明付多少（比例或金额）")),
    ("签约后付30%，余款于验收后付清，另收取服务费", ("拒", "另收取服务费", "其中「另收取服务费」我不认识")),
    ("收到货后看情况付款", ("拒", "收到货后看情况付款", "没有可计算的付款时间")),
    (
        "验收合格后付款，具体以甲方财务流程为准",
        ("拒", "具体以甲方财务流程为准", "其中「具体以甲方财务流程为准」我不认识"),
    ),
    ("签约后付30%，余款按工程进度支付", ("拒", "余款按工程进度支付", "其中「按工程进度支付」我不认识")),
    ("下单后30天付款", ("拒", "下单后30天付款", "其中「下单后」我不认识")),
]


def test_table_is_large_and_has_refusals():
    assert len(TABLE) >= 60
    assert sum(1 for _, want in TABLE if isinstance(want, tuple)) >= 20


@pytest.mark.parametrize(("text", "want"), TABLE, ids=[t for t, _ in TABLE])
def test_phrasing(text, want):
    got = parse_terms(text)
    if isinstance(want, tuple):
        assert isinstance(got, Refused), got
        assert (got.part, got.reason) == want[1:]
        assert got.part in text.replace(";", "，").replace("；", "，").replace("。", "，") or got.part == text
        assert got.words.startswith(f"这部分我读不懂：「{got.part}」")
    else:
        assert isinstance(got, Understood), got
        assert got.words == want
        shares = [i.share for i in got.instalments if i.amount is None and i.share is not None]
        if not any(i.amount is not None for i in got.instalments):
            assert sum(shares) == 100  # shares always add up to the whole amount


def test_structure_of_the_seed_examples():
    a = parse_terms("签约后30天付50%，验收后付尾款")
    assert isinstance(a, Understood)
    first, last = a.instalments
    assert (first.events, first.offset_days, first.share) == ((SIGNED,), 30, Decimal(50))
    assert (last.events, last.offset_days, last.share, last.remainder) == ((ACCEPTED,), 0, Decimal(50), True)
    b = parse_terms("货到票到60天")
    assert isinstance(b, Understood)
    assert b.instalments[0].events == (DELIVERED, INVOICED) and b.instalments[0].offset_days == 60
    c = parse_terms("每月5号前结清上月货款")
    assert isinstance(c, Understood)
    assert (c.instalments[0].events, c.instalments[0].month_day) == ((DELIVERED,), 5)
    d = parse_terms("预付30%，发货前付60%，质保金10%一年后")
    assert isinstance(d, Understood)
    assert [(i.events, i.share, i.offset_months, i.before, i.label) for i in d.instalments] == [
        ((SIGNED,), Decimal(30), 0, False, "预付款"),
        ((SHIPPED,), Decimal(60), 0, True, ""),
        ((DELIVERED,), Decimal(10), 12, False, "质保金"),
    ]


def test_empty_and_overlong_are_refused():
    assert isinstance(parse_terms(""), Refused)
    assert isinstance(parse_terms(None), Refused)
    assert isinstance(parse_terms("签约后付50%，" * 60), Refused)


def test_due_dates_from_milestones():
    terms = parse_terms("签约后30天付50%，验收后付尾款")
    assert isinstance(terms, Understood)
    plan = schedule(terms.instalments, Decimal("500000"), {SIGNED: date(2026, 2, 18)})
    assert [(s.amount, s.due_on) for s in plan] == [
        (Decimal("250000.00"), date(2026, 3, 20)),
        (Decimal("250000.00"), None),  # not accepted yet: no due date
    ]
    plan = schedule(
        terms.instalments, Decimal("500000"), {SIGNED: date(2026, 2, 18), ACCEPTED: date(2026, 4, 1)}
    )
    assert plan[1].due_on == date(2026, 4, 1)


def test_later_of_two_events_and_monthly_rules():
    terms = parse_terms("货到票到60天")
    assert isinstance(terms, Understood)
    inst = terms.instalments[0]
    assert schedule([inst], Decimal(100), {DELIVERED: date(2026, 3, 1)})[0].due_on is None
    got = schedule([inst], Decimal(100), {DELIVERED: date(2026, 3, 1), INVOICED: date(2026, 3, 10)})
    assert got[0].due_on == date(2026, 5, 9)
    monthly = parse_terms("每月5号前结清上月货款")
    assert isinstance(monthly, Understood)
    assert schedule(monthly.instalments, Decimal(1), {DELIVERED: date(2026, 12, 20)})[0].due_on == date(
        2027, 1, 5
    )
    month_end = parse_terms("月结30天")
    assert isinstance(month_end, Understood)
    assert schedule(month_end.instalments, Decimal(1), {DELIVERED: date(2026, 2, 3)})[0].due_on == date(
        2026, 3, 30
    )


def test_business_days_months_and_before():
    t = parse_terms(
        "合同签订后7个工作日内支付合同总额的30%作为预付款，到货验收合格后支付60%，剩余10%作为质保金，质保期满一年后无息支付"
    )
    assert isinstance(t, Understood)
    ms = {SIGNED: date(2026, 12, 4), DELIVERED: date(2027, 1, 10), ACCEPTED: date(2027, 1, 31)}
    got = schedule(t.instalments, Decimal("100000"), ms)
    assert [(s.amount, s.due_on) for s in got] == [
        (Decimal("30000.00"), date(2026, 12, 15)),  # Friday 4th + 7 working days
        (Decimal("60000.00"), date(2027, 1, 31)),
        (Decimal("10000.00"), date(2028, 1, 31)),
    ]
    before = parse_terms("发货前3天付全款")
    assert isinstance(before, Understood)
    assert schedule(before.instalments, Decimal(1), {SHIPPED: date(2026, 3, 10)})[0].due_on == date(
        2026, 3, 7
    )
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_business_days(date(2026, 12, 7), -1) == date(2026, 12, 4)


def test_amounts_add_up_exactly_and_fixed_sums():
    thirds = parse_terms("签约、发货、验收后各付三分之一")
    assert isinstance(thirds, Understood)
    got = [s.amount for s in schedule(thirds.instalments, Decimal("100.00"), {})]
    assert got == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    fixed = parse_terms("合同生效后3日内支付10万元定金，余款验收后30天内付清")
    assert isinstance(fixed, Understood)
    assert [s.amount for s in schedule(fixed.instalments, Decimal("350000"), {})] == [
        Decimal("100000.00"),
        Decimal("250000.00"),
    ]
    with pytest.raises(TermsDoNotFit):
        schedule(fixed.instalments, Decimal("80000"), {})
