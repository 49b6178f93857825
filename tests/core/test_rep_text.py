"""The rep's one line, understood offline: a table of real-looking phrasings, other clocks, the tag menu,
and properties (any text never raises; generated lines in any order and punctuation parse the same)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.clock import SHANGHAI
from core.date_words import zh_number
from core.rep_line import ParsedLine, Promise, parse_line
from core.tags import DEFAULT_MENU, TagDef, TagMenu, fold

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # Monday 09:00 in Shanghai
PRICE, STOCK, NEW, CREDIT, RIVAL, SHELF = (
    "价格异议",
    "库存不足",
    "新品兴趣",
    "账期协商",
    "竞品活动",
    "陈列问题",
)


def at(local: str) -> datetime:
    """'11-27 18:00' (2026) or '2027-01-01 09:00', Shanghai local → aware UTC."""
    if local.count("-") == 1:
        local = "2026-" + local
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI).astimezone(UTC)


# (line, tags, [(promise text, due local)], follow-up local or None, note)
# Defaults: a promise is due at 18:00 local on its day, a follow-up at 09:00 (core/date_words.py).
ROWS = [
    # --- tags only: synonyms, typos, negation, punctuation, English, traditional characters
    ("价格异议", [PRICE], [], None, ""),
    ("嫌贵", [PRICE], [], None, ""),
    ("客户嫌贵", [PRICE], [], None, ""),
    ("客户嫌贵了", [PRICE], [], None, ""),
    ("老板嫌太贵", [PRICE], [], None, ""),
    ("价格高 缺货", [PRICE, STOCK], [], None, ""),
    ("缺货，嫌贵", [STOCK, PRICE], [], None, ""),
    ("缺货,嫌贵", [STOCK, PRICE], [], None, ""),
    ("缺货、嫌贵、想试新品", [STOCK, PRICE, NEW], [], None, ""),
    ("嫌贵缺货", [PRICE, STOCK], [], None, ""),
    ("断货", [STOCK], [], None, ""),
    ("没货了", [STOCK], [], None, ""),
    ("库存少", [STOCK], [], None, ""),
    ("要补货", [STOCK], [], None, ""),
    ("新品", [NEW], [], None, ""),
    ("对新品感兴趣", [NEW], [], None, ""),
    ("想试新品", [NEW], [], None, ""),
    ("试销", [NEW], [], None, ""),
    ("要账期", [CREDIT], [], None, ""),
    ("月结", [CREDIT], [], None, ""),
    ("赊账", [CREDIT], [], None, ""),
    ("竞品", [RIVAL], [], None, ""),
    ("对手促销", [RIVAL], [], None, ""),
    ("陈列", [SHELF], [], None, ""),
    ("货架位置不好", [SHELF], [], None, ""),
    ("price太高", [PRICE], [], None, ""),
    ("PRICE太高", [PRICE], [], None, ""),
    ("太贵了", [PRICE], [], None, ""),
    ("价格贵 要降价", [PRICE], [], None, ""),
    ("砍价厉害", [PRICE], [], None, ""),
    ("不缺货", [], [], None, "不缺货"),
    ("没有断货", [], [], None, "没有断货"),
    ("并不嫌贵", [], [], None, "并不嫌贵"),
    ("帐期", [CREDIT], [], None, ""),
    ("竟品活动", [RIVAL], [], None, ""),
    ("却货", [STOCK], [], None, ""),
    ("out of stock", [STOCK], [], None, ""),
    ("OOS", [STOCK], [], None, ""),
    ("expensive", [PRICE], [], None, ""),
    ("too expensive, out of stock", [PRICE, STOCK], [], None, ""),
    ("嫌贵!!!", [PRICE], [], None, ""),
    ("【嫌贵】【缺货】", [PRICE, STOCK], [], None, ""),
    ("嫌贵/缺货", [PRICE, STOCK], [], None, ""),
    ("嫌贵+缺货", [PRICE, STOCK], [], None, ""),
    ("嫌贵 and 缺货", [PRICE, STOCK], [], None, ""),
    ("價格高 缺貨", [PRICE, STOCK], [], None, ""),
    ("嫌贵 嫌贵", [PRICE], [], None, ""),
    # --- promises: weekdays, relative days, month parts, dates, clock times, markers, mixed order
    ("周五前送样品", [], [("送样品", "11-27 18:00")], None, ""),
    ("承诺周五前送样品", [], [("送样品", "11-27 18:00")], None, ""),
    ("答应周五前送样品", [], [("送样品", "11-27 18:00")], None, ""),
    ("承诺:周五前送样品", [], [("送样品", "11-27 18:00")], None, ""),
    ("承诺 周五前 送样品", [], [("送样品", "11-27 18:00")], None, ""),
    ("周五前 送样品", [], [("送样品", "11-27 18:00")], None, ""),
    ("送样品周五前", [], [("送样品", "11-27 18:00")], None, ""),
    ("送样品 周五前", [], [("送样品", "11-27 18:00")], None, ""),
    ("3天内报价", [], [("报价", "11-26 18:00")], None, ""),
    ("三天内报价", [], [("报价", "11-26 18:00")], None, ""),
    ("3天之内报价", [], [("报价", "11-26 18:00")], None, ""),
    ("3日内报价", [], [("报价", "11-26 18:00")], None, ""),
    ("3天以内报价", [], [("报价", "11-26 18:00")], None, ""),
    ("3 天内报价", [], [("报价", "11-26 18:00")], None, ""),
    ("三日内报价", [], [("报价", "11-26 18:00")], None, ""),
    ("下周一给方案", [], [("给方案", "11-30 18:00")], None, ""),
    ("下周1给方案", [], [("给方案", "11-30 18:00")], None, ""),
    ("下个周一给方案", [], [("给方案", "11-30 18:00")], None, ""),
    ("下星期一给方案", [], [("给方案", "11-30 18:00")], None, ""),
    ("下礼拜一给方案", [], [("给方案", "11-30 18:00")], None, ""),
    ("月底前回款", [], [("回款", "11-30 18:00")], None, ""),
    ("月底回款", [], [("回款", "11-30 18:00")], None, ""),
    ("本月底前回款", [], [("回款", "11-30 18:00")], None, ""),
    ("这个月底回款", [], [("回款", "11-30 18:00")], None, ""),
    ("明天下午送货", [], [("送货", "11-24 18:00")], None, ""),
    ("明天送货", [], [("送货", "11-24 18:00")], None, ""),
    ("明早送货", [], [("送货", "11-24 10:00")], None, ""),
    ("后天送货", [], [("送货", "11-25 18:00")], None, ""),
    ("大后天送货", [], [("送货", "11-26 18:00")], None, ""),
    ("本周内报价", [], [("报价", "11-27 18:00")], None, ""),
    ("这周内报价", [], [("报价", "11-27 18:00")], None, ""),
    ("12月5日前送样", [], [("送样", "12-05 18:00")], None, ""),
    ("12月5号前送样", [], [("送样", "12-05 18:00")], None, ""),
    ("12/5前送样", [], [("送样", "12-05 18:00")], None, ""),
    ("12-5前送样", [], [("送样", "12-05 18:00")], None, ""),
    ("十二月五日前送样", [], [("送样", "12-05 18:00")], None, ""),
    ("5号前送样", [], [("送样", "12-05 18:00")], None, ""),
    ("周5前送样", [], [("送样", "11-27 18:00")], None, ""),
    ("周五之前送样", [], [("送样", "11-27 18:00")], None, ""),
    ("星期五前送样", [], [("送样", "11-27 18:00")], None, ""),
    ("礼拜五前送样", [], [("送样", "11-27 18:00")], None, ""),
    ("週五前送樣品", [], [("送樣品", "11-27 18:00")], None, ""),
    ("周五钱送样", [], [("送样", "11-27 18:00")], None, ""),
    ("承若周五前送样", [], [("送样", "11-27 18:00")], None, ""),
    ("答应后天", [], [("答应后天", "11-25 18:00")], None, ""),
    ("答应客户周五前送样", [], [("送样", "11-27 18:00")], None, ""),
    ("周五前送样品，3天内报价", [], [("送样品", "11-27 18:00"), ("报价", "11-26 18:00")], None, ""),
    ("周五前送样品3天内报价", [], [("送样品", "11-27 18:00"), ("报价", "11-26 18:00")], None, ""),
    ("3天内报价周五前送样品", [], [("报价", "11-26 18:00"), ("送样品", "11-27 18:00")], None, ""),
    ("下午3点前报价", [], [("报价", "11-23 15:00")], None, ""),
    ("今天下午3点前回复", [], [("回复", "11-23 15:00")], None, ""),
    ("明天上午10点前送货", [], [("送货", "11-24 10:00")], None, ""),
    ("明天10:30送货", [], [("送货", "11-24 10:30")], None, ""),
    ("24小时内报价", [], [("报价", "11-24 09:00")], None, ""),
    ("两个小时内回复", [], [("回复", "11-23 11:00")], None, ""),
    ("三个工作日内报价", [], [("报价", "11-26 18:00")], None, ""),
    ("一周内给方案", [], [("给方案", "11-30 18:00")], None, ""),
    ("两周内给方案", [], [("给方案", "12-07 18:00")], None, ""),
    ("半个月内回款", [], [("回款", "12-08 18:00")], None, ""),
    ("一个月内回款", [], [("回款", "12-23 18:00")], None, ""),
    ("下周内给方案", [], [("给方案", "12-04 18:00")], None, ""),
    ("年底前回款", [], [("回款", "12-31 18:00")], None, ""),
    ("下月初回款", [], [("回款", "12-05 18:00")], None, ""),
    ("下月底前回款", [], [("回款", "12-31 18:00")], None, ""),
    ("promise周五前送样", [], [("送样", "11-27 18:00")], None, ""),
    ("by fri送样", [], [("送样", "11-27 18:00")], None, ""),
    ("tmr送样", [], [("送样", "11-24 18:00")], None, ""),
    ("3-5天内送货", [], [("送货", "11-28 18:00")], None, ""),
    ("两三天内送货", [], [("送货", "11-26 18:00")], None, ""),
    ("周五前补货", [STOCK], [("补货", "11-27 18:00")], None, ""),
    ("下周一补货", [STOCK], [("补货", "11-30 18:00")], None, ""),
    ("周五前给新品报价", [NEW], [("给新品报价", "11-27 18:00")], None, ""),
    # --- follow-ups: numbers in digits and Chinese, words before or after, typos, English
    ("7天后回访", [], [], "11-30 09:00", ""),
    ("15天后回访", [], [], "12-08 09:00", ""),
    ("30天后回访", [], [], "12-23 09:00", ""),
    ("十五天后回访", [], [], "12-08 09:00", ""),
    ("三十天后回访", [], [], "12-23 09:00", ""),
    ("7天回访", [], [], "11-30 09:00", ""),
    ("下周回访", [], [], "11-30 09:00", ""),
    ("下周再来", [], [], "11-30 09:00", ""),
    ("两周后再来", [], [], "12-07 09:00", ""),
    ("一个月后跟进", [], [], "12-23 09:00", ""),
    ("一个月后再跟进", [], [], "12-23 09:00", ""),
    ("1个月后跟进", [], [], "12-23 09:00", ""),
    ("下月初", [], [], "12-01 09:00", ""),
    ("下月初回访", [], [], "12-01 09:00", ""),
    ("下个月初再来", [], [], "12-01 09:00", ""),
    ("半个月后回访", [], [], "12-08 09:00", ""),
    ("过两天再来", [], [], "11-25 09:00", ""),
    ("隔一周跟进", [], [], "11-30 09:00", ""),
    ("下周三回访", [], [], "12-02 09:00", ""),
    ("下周三下午回访", [], [], "12-02 14:00", ""),
    ("回访时间下周三", [], [], "12-02 09:00", ""),
    ("回访:下周三", [], [], "12-02 09:00", ""),
    ("下次拜访 下周三", [], [], "12-02 09:00", ""),
    ("下周一电话回访", [], [], "11-30 09:00", ""),
    ("下周再来看看", [], [], "11-30 09:00", ""),
    ("两周后复访", [], [], "12-07 09:00", ""),
    ("十天后跟进", [], [], "12-03 09:00", ""),
    ("一周后再访", [], [], "11-30 09:00", ""),
    ("7天后回放", [], [], "11-30 09:00", ""),
    ("7天后会访", [], [], "11-30 09:00", ""),
    ("15天后跟近", [], [], "12-08 09:00", ""),
    ("follow up next week", [], [], "11-30 09:00", ""),
    ("revisit in 7 days", [], [], "11-30 09:00", ""),
    ("月底回访", [], [], "11-30 09:00", ""),
    ("周五回访", [], [], "11-27 09:00", ""),
    ("周五前回访", [], [], "11-27 09:00", ""),
    # --- whole lines: tags + promise + follow-up + note, any order, any punctuation
    (
        "价格异议 库存不足，承诺周五前送样品，15天后回访",
        [PRICE, STOCK],
        [("送样品", "11-27 18:00")],
        "12-08 09:00",
        "",
    ),
    ("price太高 缺货 promise周五前送样", [PRICE, STOCK], [("送样", "11-27 18:00")], None, ""),
    ("缺货,嫌贵 3天内报价 7天后回访", [STOCK, PRICE], [("报价", "11-26 18:00")], "11-30 09:00", ""),
    ("嫌贵缺货承诺周五前送样品15天后回访", [PRICE, STOCK], [("送样品", "11-27 18:00")], "12-08 09:00", ""),
    ("15天后回访，嫌贵，周五前送样品", [PRICE], [("送样品", "11-27 18:00")], "12-08 09:00", ""),
    ("嫌贵 周五前送样 下周回访 老板人不错", [PRICE], [("送样", "11-27 18:00")], "11-30 09:00", "老板人不错"),
    # a percent sign belongs to its number (the demo's record card read 「要求降5」)
    ("价格异议 要求降5%，承诺周五前送样品", [PRICE], [("送样品", "11-27 18:00")], None, "要求降5%"),
    ("库存不足，毛利只有3‰。", [STOCK], [], None, "毛利只有3‰"),
    ("客户嫌贵，答应下周一给方案，两周后再来", [PRICE], [("给方案", "11-30 18:00")], "12-07 09:00", ""),
    ("想试新品，3天内送样，一个月后跟进", [NEW], [("送样", "11-26 18:00")], "12-23 09:00", ""),
    ("要账期，月底前给答复，下月初回访", [CREDIT], [("给答复", "11-30 18:00")], "12-01 09:00", ""),
    (
        "竞品搞活动，周五前申请促销支持，15天后回访",
        [RIVAL],
        [("申请促销支持", "11-27 18:00")],
        "12-08 09:00",
        "",
    ),
    (
        "陈列位置差，明天下午调整陈列，一周后回访",
        [SHELF],
        [("调整陈列", "11-24 18:00")],
        "11-30 09:00",
        "陈列位置差",
    ),
    ("老板出差了 下周回访", [], [], "11-30 09:00", "老板出差了"),
    ("店里在装修，下月初再来", [], [], "12-01 09:00", "店里在装修"),
    ("老板说下周有活动", [], [], None, "老板说下周有活动"),
    ("上周五送过样品", [], [], None, "上周五送过样品"),
    ("昨天已经送货", [], [], None, "昨天已经送货"),
    ("3天前报过价", [], [], None, "3天前报过价"),
    ("每周三送货", [], [], None, "每周三送货"),
    ("每天都来", [], [], None, "每天都来"),
    ("记得回访", [], [], None, "记得回访"),
    ("承诺送样品", [], [], None, "承诺送样品"),
    ("送货3天", [], [], None, "送货3天"),
    ("试销3个月", [NEW], [], None, "试销3个月"),
    ("要5天账期", [CREDIT], [], None, "要5天账期"),
    ("3号货架陈列不好", [SHELF], [], None, "3号货架陈列不好"),
    ("2箱货 周五前送到", [], [("送到", "11-27 18:00")], None, "2箱货"),
    ("嫌贵 下月初", [PRICE], [], "12-01 09:00", ""),
    ("7天后回访，15天后回访", [], [], "11-30 09:00", "15天后回访"),
    ("下周回访 下月初", [], [], "11-30 09:00", "下月初"),
    ("嫌贵。答应后天送样品。下周三回访", [PRICE], [("送样品", "11-25 18:00")], "12-02 09:00", ""),
    ("缺货严重，要求3天内补货，7天后回访", [STOCK], [("补货", "11-26 18:00")], "11-30 09:00", ""),
    ("客户说价格太高了要降价", [PRICE], [], None, ""),
    ("价格异议！库存不足！", [PRICE, STOCK], [], None, ""),
    ("缺货 15天后回访 周五前送样", [STOCK], [("送样", "11-27 18:00")], "12-08 09:00", ""),
    ("承诺下周一前给报价单", [], [("给报价单", "11-30 18:00")], None, ""),
    ("答应客户月底前把货款结了", [], [("把货款结", "11-30 18:00")], None, ""),
    ("下周三下午两点回访", [], [], "12-02 14:00", ""),
    ("明天下午3点送货", [], [("送货", "11-24 15:00")], None, ""),
    ("3天报价", [], [("报价", "11-26 18:00")], None, ""),
    ("嫌贵 3天内 报价", [PRICE], [("报价", "11-26 18:00")], None, ""),
    ("本周五送样", [], [("送样", "11-27 18:00")], None, ""),
    ("这周五前送样", [], [("送样", "11-27 18:00")], None, ""),
    ("明年初回访", [], [], "2027-01-01 09:00", ""),
    ("12月中旬回访", [], [], "12-11 09:00", ""),
    ("price high, 周五前送sample", [PRICE], [("送sample", "11-27 18:00")], None, ""),
    ("OOS, 3天内restock", [STOCK], [("restock", "11-26 18:00")], None, ""),
    ("follow up 15天后", [], [], "12-08 09:00", ""),
    ("下周 follow up", [], [], "11-30 09:00", ""),
    ("next week回访", [], [], "11-30 09:00", ""),
    ("in 3 days报价", [], [("报价", "11-26 18:00")], None, ""),
    ("within 2 days送样", [], [("送样", "11-25 18:00")], None, ""),
    ("嫌贵 by friday送样", [PRICE], [("送样", "11-27 18:00")], None, ""),
    (
        "嫌贵，，，缺货。。。周五前送样品！！15天后回访～",
        [PRICE, STOCK],
        [("送样品", "11-27 18:00")],
        "12-08 09:00",
        "",
    ),
    ("   嫌贵   缺货   ", [PRICE, STOCK], [], None, ""),
    ("竞品在搞买一送一 老板犹豫 下周再来", [RIVAL], [], "11-30 09:00", "竞品在搞买一送一 老板犹豫"),
    ("新品铺货 周三前送货 下周三回访", [NEW], [("送货", "11-25 18:00")], "12-02 09:00", "新品铺货"),
]


def test_the_table_is_big_enough():
    assert len(ROWS) >= 150
    assert len({row[0] for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize(
    ("text", "tags", "promises", "follow_up", "note"), ROWS, ids=[f"row{i:03d}" for i in range(len(ROWS))]
)
def test_line(text, tags, promises, follow_up, note):
    parsed = parse_line(text, now=NOW)
    assert parsed.tags == tags, text
    assert [(p.text, p.due_at) for p in parsed.promises] == [(t, at(d)) for t, d in promises], text
    assert parsed.follow_up_at == (at(follow_up) if follow_up else None), text
    assert parsed.note == note, text
    assert (parsed.follow_up_text is None) == (parsed.follow_up_at is None)


def test_the_issue_example_in_full():
    parsed = parse_line("价格异议 库存不足，承诺周五前送样品，15天后回访", now=NOW)
    assert parsed == ParsedLine(
        tags=[PRICE, STOCK],
        promises=[Promise("送样品", datetime(2026, 11, 27, 10, 0, tzinfo=UTC), "周五前")],
        follow_up_at=datetime(2026, 12, 8, 1, 0, tzinfo=UTC),
        follow_up_text="15天后回访",
        note="",
    )
    assert parsed.promises[0].due_at.tzinfo is UTC and parsed.follow_up_at.tzinfo is UTC


def test_texts_are_the_reps_own_characters():
    parsed = parse_line("承诺週５前送樣品，１５天后回訪", now=NOW)
    assert parsed.promises == [Promise("送樣品", at("11-27 18:00"), "週５前")]
    assert parsed.follow_up_text == "１５天后回訪" and parsed.follow_up_at == at("12-08 09:00")


# --- the same words on other days ------------------------------------------------------------------
def _now(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


FRI, SAT, SUN = _now(2026, 11, 27, 10), _now(2026, 11, 28, 10), _now(2026, 11, 29, 10)
MONTH_END_EVENING = _now(2026, 11, 30, 20)
DEC_10, NEW_YEARS_EVE = _now(2026, 12, 10, 9), _now(2026, 12, 31, 9)

# (now, line, [(promise text, due local)], follow-up local or None, note)
OTHER_DAYS = [
    (FRI, "周五前送样", [("送样", "11-27 18:00")], None, ""),  # today is Friday: today
    (FRI, "下周五送样", [("送样", "12-04 18:00")], None, ""),
    (FRI, "周一给方案", [("给方案", "11-30 18:00")], None, ""),
    (FRI, "周五回访", [], "11-27 10:00", ""),  # 09:00 already gone: now
    (SAT, "周五前送样", [("送样", "12-04 18:00")], None, ""),  # this Friday is past: next week's
    (SAT, "本周内报价", [("报价", "11-28 18:00")], None, ""),  # the work week is over: today
    (SAT, "这周五送样", [], None, "这周五送样"),  # explicitly this week's, and past
    (SAT, "周末回访", [], "11-29 09:00", ""),
    (SAT, "下周回访", [], "11-30 09:00", ""),
    (SUN, "下周一给方案", [("给方案", "11-30 18:00")], None, ""),
    (SUN, "周一给方案", [("给方案", "11-30 18:00")], None, ""),
    (SUN, "周日前回款", [("回款", "11-29 18:00")], None, ""),
    (MONTH_END_EVENING, "月底前回款", [("回款", "11-30 23:59")], None, ""),  # 18:00 is gone: 23:59
    (MONTH_END_EVENING, "今天送货", [("送货", "11-30 23:59")], None, ""),
    (MONTH_END_EVENING, "今天回访", [], "11-30 20:00", ""),
    (MONTH_END_EVENING, "答应下午送货", [("送货", "12-01 18:00")], None, ""),  # this afternoon is gone
    (MONTH_END_EVENING, "月初回访", [], "12-01 09:00", ""),  # this month's 月初 is past: next month's
    (MONTH_END_EVENING, "月中回款", [("回款", "12-15 18:00")], None, ""),
    (MONTH_END_EVENING, "24小时内报价", [("报价", "12-01 20:00")], None, ""),
    (DEC_10, "12月5日前送样", [("送样", "2027-12-05 18:00")], None, ""),  # past this year: next year's
    (DEC_10, "5号前对账", [("对账", "2027-01-05 18:00")], None, ""),  # past this month: next month's
    (DEC_10, "12/25送货", [("送货", "12-25 18:00")], None, ""),
    (DEC_10, "12月回访", [], "12-11 09:00", ""),
    (NEW_YEARS_EVE, "明天送货", [("送货", "2027-01-01 18:00")], None, ""),
    (NEW_YEARS_EVE, "下周一给方案", [("给方案", "2027-01-04 18:00")], None, ""),
    (NEW_YEARS_EVE, "下月初回访", [], "2027-01-01 09:00", ""),
    (NEW_YEARS_EVE, "年底前回款", [("回款", "12-31 18:00")], None, ""),
    (_now(2026, 1, 31, 9), "一个月后回访", [], "02-28 09:00", ""),  # clamped to the month's end
    (_now(2026, 1, 31, 9), "2月30日前回款", [], None, "2月30日前回款"),  # no such day
    (_now(2028, 1, 31, 9), "一个月后回访", [], "2028-02-29 09:00", ""),
    (_now(2028, 1, 31, 9), "2月29号前回款", [("回款", "2028-02-29 18:00")], None, ""),
    # the local date decides, not the UTC one: 01:00 Monday in Shanghai is Sunday 17:00 UTC
    (datetime(2026, 11, 22, 17, 0, tzinfo=UTC), "明天送货", [("送货", "11-24 18:00")], None, ""),
    (datetime(2026, 11, 23, 1, 0), "明天送货", [("送货", "11-24 18:00")], None, ""),  # naive = Shanghai
]


@pytest.mark.parametrize(
    ("now", "text", "promises", "follow_up", "note"),
    OTHER_DAYS,
    ids=[f"day{i:02d}" for i in range(len(OTHER_DAYS))],
)
def test_other_days(now, text, promises, follow_up, note):
    parsed = parse_line(text, now=now)
    assert [(p.text, p.due_at) for p in parsed.promises] == [(t, at(d)) for t, d in promises]
    assert parsed.follow_up_at == (at(follow_up) if follow_up else None)
    assert parsed.note == note


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("15", 15),
        ("十五", 15),
        ("十", 10),
        ("二十", 20),
        ("二十五", 25),
        ("两", 2),
        ("一百零五", 105),
        ("三十一", 31),
        ("半", 0.5),
        ("几", 3),
        ("两三", 3),
        ("三四", 4),
        ("", None),
        ("一二三", None),
        ("十十", None),
        ("百", None),
        ("x", None),
    ],
)
def test_zh_number(text, value):
    assert zh_number(text) == value


# --- the tag menu ----------------------------------------------------------------------------------
def test_default_menu():
    assert DEFAULT_MENU.names == (PRICE, STOCK, NEW, CREDIT, RIVAL, SHELF)
    for word, tag in [
        ("嫌贵", PRICE),
        ("价格高", PRICE),
        ("太贵", PRICE),
        ("价格贵", PRICE),
        ("要降价", PRICE),
        ("砍价", PRICE),
        ("断货", STOCK),
        ("缺货", STOCK),
        ("没货", STOCK),
        ("库存少", STOCK),
        ("补货", STOCK),
        ("想试新品", NEW),
        ("新品", NEW),
        ("试销", NEW),
        ("对新品感兴趣", NEW),
        ("要账期", CREDIT),
        ("账期", CREDIT),
        ("赊账", CREDIT),
        ("月结", CREDIT),
        ("竞品", RIVAL),
        ("对手促销", RIVAL),
        ("陈列", SHELF),
        ("货架位置", SHELF),
        ("Price", PRICE),
        ("缺貨", STOCK),
    ]:
        assert DEFAULT_MENU.canonical(word) == tag, word
    assert DEFAULT_MENU.canonical("你好") is None


def test_longest_synonym_wins_and_negation_is_seen():
    hits = DEFAULT_MENU.find(fold("对新品感兴趣 不缺货 prices"))
    assert [(h.tag, h.negated) for h in hits] == [(NEW, False), (STOCK, True)]  # 'price' is not in 'prices'


def test_org_menu_from_config_long_form():
    menu = TagMenu.from_config(
        {
            "tags": [
                {"name": "物流问题", "synonyms": ["送货慢", "物流慢", "到货晚"]},
                {"name": "价格异议", "synonyms": ["嫌贵"]},
            ]
        }
    )
    assert menu.names == ("物流问题", "价格异议")
    parsed = parse_line("送货慢，嫌贵，缺货", now=NOW, menu=menu)
    assert parsed.tags == ["物流问题", "价格异议"]
    assert parsed.note == "缺货"  # not on this organisation's menu
    assert TagMenu.from_config(menu.to_config()) == menu


def test_org_menu_short_form_and_defaults():
    menu = TagMenu.from_config(
        {"tags": [{"name": "物流问题", "synonyms": ["送货慢", "缺货"]}], "include_defaults": True}
    )
    assert menu.names == (PRICE, STOCK, NEW, CREDIT, RIVAL, SHELF, "物流问题")
    assert menu.canonical("缺货") == "物流问题"  # the organisation's word wins
    assert menu.canonical("断货") == STOCK
    short = TagMenu.from_config({"门店装修": ["装修", "翻新"]})
    assert parse_line("店里在装修 下月初回访", now=NOW, menu=short).tags == ["门店装修"]


@pytest.mark.parametrize(
    "config",
    [
        {"tags": [{"name": "甲", "synonyms": ["同"]}, {"name": "乙", "synonyms": ["同"]}]},  # shared synonym
        {"tags": [{"name": "", "synonyms": []}]},
        {"tags": [{"name": "甲" * 40, "synonyms": []}]},
        {"tags": [{"name": "甲"}, {"name": "甲"}]},
        {"tags": "价格异议"},
        {"tags": [{"synonyms": ["x"]}]},
        {"甲": "不是列表"},
        {"甲": [1, 2]},
    ],
)
def test_bad_menu_config_is_refused(config):
    with pytest.raises(ValueError):
        TagMenu.from_config(config)


def test_empty_menu_finds_no_tags():
    parsed = parse_line("嫌贵 周五前送样", now=NOW, menu=TagMenu([]))
    assert parsed.tags == [] and parsed.note == "嫌贵"
    assert parsed.promises == [Promise("送样", at("11-27 18:00"), "周五前")]


def test_menu_built_in_code():
    menu = TagMenu([TagDef("冷链问题", ("冷柜坏了", "冷柜")), TagDef("价格异议", ("嫌贵",))])
    assert menu.names == ("冷链问题", "价格异议")
    assert parse_line("冷柜坏了 嫌贵 下周回访", now=NOW, menu=menu).tags == ["冷链问题", "价格异议"]
    assert menu == TagMenu.from_config(menu.to_config()) and hash(menu) == hash(TagMenu(menu.tags))


def test_fold_keeps_length():
    for text in ["ＡＢＣ１２３，。", "週後內價貨", "ﬁ㎡①", "İstanbul", "😀嫌贵"]:
        assert len(fold(text)) == len(text)


# --- properties ------------------------------------------------------------------------------------
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=200), minutes=st.integers(min_value=0, max_value=60 * 24 * 400))
def test_any_text_never_raises(text, minutes):
    now = NOW + timedelta(minutes=minutes)
    parsed = parse_line(text, now=now)
    assert isinstance(parsed, ParsedLine) and isinstance(parsed.note, str)
    assert len(set(parsed.tags)) == len(parsed.tags) and set(parsed.tags) <= set(DEFAULT_MENU.names)
    for p in parsed.promises:
        assert p.due_at.tzinfo is not None and p.due_at.utcoffset() == timedelta(0)
        assert p.due_at >= now and p.due_text
    if parsed.follow_up_at is not None:
        assert parsed.follow_up_at >= now and parsed.follow_up_text


_VOCAB = st.sampled_from(
    list(
        "周五前后天内下月初底号日点半两三十一2345/-.:,， 承诺答应回访跟进再来缺货嫌贵价格送样品"
        "本这上每年明今星期礼拜个工作小时早晚午aAmpfrinexto不没"
    )
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_VOCAB, max_size=60).map("".join))
def test_dense_date_words_never_raise(text):
    parse_line(text, now=NOW)


TAG_WORDS = [
    ("嫌贵", PRICE),
    ("价格高", PRICE),
    ("price太高", PRICE),
    ("缺货", STOCK),
    ("断货", STOCK),
    ("没货", STOCK),
    ("想试新品", NEW),
    ("对新品感兴趣", NEW),
    ("要账期", CREDIT),
    ("月结", CREDIT),
    ("竞品", RIVAL),
    ("对手促销", RIVAL),
    ("陈列", SHELF),
    ("货架位置", SHELF),
]
PROMISES = [
    ("周五前送样品", "送样品", "11-27 18:00"),
    ("3天内报价", "报价", "11-26 18:00"),
    ("三天内报价", "报价", "11-26 18:00"),
    ("下周一给方案", "给方案", "11-30 18:00"),
    ("月底前回款", "回款", "11-30 18:00"),
    ("明天下午送货", "送货", "11-24 18:00"),
    ("承诺周五前送样品", "送样品", "11-27 18:00"),
    ("答应后天送货", "送货", "11-25 18:00"),
    ("12月5日前送样", "送样", "12-05 18:00"),
    ("12/5前送样", "送样", "12-05 18:00"),
    ("本周内报价", "报价", "11-27 18:00"),
    ("promise周五前送样", "送样", "11-27 18:00"),
]
FOLLOW_UPS = [
    ("7天后回访", "11-30 09:00"),
    ("15天后回访", "12-08 09:00"),
    ("30天后回访", "12-23 09:00"),
    ("十五天后回访", "12-08 09:00"),
    ("下周回访", "11-30 09:00"),
    ("两周后再来", "12-07 09:00"),
    ("一个月后跟进", "12-23 09:00"),
    ("下月初回访", "12-01 09:00"),
    ("下周三回访", "12-02 09:00"),
]
SEPARATORS = ["，", ",", " ", "；", "。", "、", "　", "! ", " , "]


@settings(max_examples=400, deadline=None)
@given(
    tags=st.lists(st.sampled_from(TAG_WORDS), max_size=4, unique=True),
    promise=st.one_of(st.none(), st.sampled_from(PROMISES)),
    follow_up=st.one_of(st.none(), st.sampled_from(FOLLOW_UPS)),
    order=st.randoms(use_true_random=False),
    seps=st.lists(st.sampled_from(SEPARATORS), min_size=8, max_size=8),
    glue=st.booleans(),
)
def test_generated_lines_in_any_order(tags, promise, follow_up, order, seps, glue):
    pieces = [word for word, _ in tags]
    if promise:
        pieces.append(promise[0])
    if follow_up:
        pieces.append(follow_up[0])
    assume(pieces)
    order.shuffle(pieces)
    if glue:  # no punctuation at all, the way some reps type
        line = "".join(pieces)
    else:
        line = "".join(piece + seps[i] for i, piece in enumerate(pieces))
    parsed = parse_line(line, now=NOW)
    expected_tags = list(dict.fromkeys(tag for _, tag in sorted(tags, key=lambda t: line.index(t[0]))))
    assert parsed.tags == expected_tags, line
    assert [p.due_at for p in parsed.promises] == ([at(promise[2])] if promise else []), line
    assert parsed.follow_up_at == (at(follow_up[1]) if follow_up else None), line
    if not glue:
        assert [p.text for p in parsed.promises] == ([promise[1]] if promise else []), line
        assert parsed.note == "", line
