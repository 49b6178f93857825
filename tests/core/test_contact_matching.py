"""The pure rules of customer contacts: which customer an added WeChat contact is (core/customer_contacts/matching.py)
and what the member's WeCom figures are worth (core/customer_contacts/speed.py)."""

from __future__ import annotations

from core.customer_contacts.matching import ContactFacts, CustomerFacts, brand, phone_key, short_name, suggest
from core.customer_contacts.speed import DayFigures, WeComSpeed, combine, wecom_points

BOOK = [
    CustomerFacts("C1", "杭州华力机械有限公司", phones=("0571-88881234",), people=("王芳",)),
    CustomerFacts("C2", "宁波海达贸易有限公司", phones=("13900001111",)),
    CustomerFacts("C3", "上海市联华超市股份有限公司"),
]


def test_names_phones_and_brands_are_normalised():
    assert short_name("杭州华力机械有限公司") == "华力机械" and brand("杭州华力机械有限公司") == "华力"
    assert (
        short_name("上海市联华超市股份有限公司") == "联华超市"
        and brand("上海市联华超市股份有限公司") == "联华"
    )
    assert phone_key("+86 139-0000-1111") == phone_key("13900001111") == "13900001111"
    assert phone_key("110") == ""


def test_each_reason_and_the_order_of_suggestions():
    by_phone = suggest(ContactFacts(name="陈", mobiles=("+86 139 0000 1111",)), BOOK)
    assert [(s.customer_id, s.points, s.why) for s in by_phone] == [("C2", 100, "手机号一致")]
    by_corp = suggest(ContactFacts(name="x", corp_name="华力机械（杭州）"), BOOK)
    assert [s.customer_id for s in by_corp] == ["C1"] and by_corp[0].why == "企业名称相符"
    by_remark = suggest(ContactFacts(name="小李", remark="联华 采购"), BOOK)
    assert [(s.customer_id, s.why) for s in by_remark] == [("C3", "备注含客户名")]
    by_person = suggest(ContactFacts(name="王芳"), BOOK)
    assert [(s.customer_id, s.points) for s in by_person] == [("C1", 40)]
    several = suggest(ContactFacts(name="王芳", remark="海达", mobiles=("13900001111",)), BOOK)
    assert [s.customer_id for s in several] == ["C2", "C1"]  # the phone outranks the person
    assert suggest(ContactFacts(name="张伟", remark="健身房教练"), BOOK) == []


def test_wecom_points_mean_the_parts_present():
    days = combine([DayFigures(10, 40, 90, 20), DayFigures(0, 0, None, None), DayFigures(30, 60, 50, 750)])
    assert (days.chats, days.messages, days.reply_percentage, days.avg_reply_minutes) == (
        40,
        100,
        60.0,
        567.5,
    )
    # reply 60; first reply 567.5 min → 100 × (1440 − 567.5) / 1410 ≈ 61.9
    assert round(wecom_points(days), 1) == round((60 + 100 * (1440 - 567.5) / 1410) / 2, 1)
    assert wecom_points(WeComSpeed()) is None
    follow = WeComSpeed(first_follow_hours=(12.0, None, 96.0))  # 100, 0, 50
    assert wecom_points(follow) == 50.0


def test_a_store_named_with_its_branch_is_found_by_the_chain_name_in_the_remark():
    """FMCG customers are 「快客便利店（长宁店）」: a rep's 备注 「快客便利店 王老板」 names the chain, not the branch."""
    stores = [
        CustomerFacts("S1", "快客便利店（长宁店）"),
        CustomerFacts("S2", "快客便利店（黄浦店）"),
        CustomerFacts("S3", "味源超市"),
    ]
    assert short_name("快客便利店（长宁店）") == "快客便利"
    found = suggest(ContactFacts(name="王强", remark="快客便利店 王老板"), stores)
    assert [s.customer_id for s in found] == ["S1", "S2"] and all(s.points == 60 for s in found)
    assert suggest(ContactFacts(name="王强", remark="长宁店"), stores) == []  # a branch alone names no store
