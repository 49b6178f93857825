"""Time words and Chinese numerals (spec § Time), resolved against a fixed now in Asia/Shanghai."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import cn2an
import pytest

from core.clock import SHANGHAI
from nlq.normalize import normalize
from nlq.spec import Period, Span
from nlq.timewords import resolve, span_delta

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # Monday


def local(y, m, d, hh=0, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "kind,start,end",
    [
        ("today", local(2026, 11, 23), local(2026, 11, 24)),
        ("yesterday", local(2026, 11, 22), local(2026, 11, 23)),
        ("day_before_yesterday", local(2026, 11, 21), local(2026, 11, 22)),
        ("this_week", local(2026, 11, 23), local(2026, 11, 30)),
        ("last_week", local(2026, 11, 16), local(2026, 11, 23)),
        ("this_month", local(2026, 11, 1), local(2026, 12, 1)),
        ("last_month", local(2026, 10, 1), local(2026, 11, 1)),
        ("this_quarter", local(2026, 10, 1), local(2027, 1, 1)),
        ("last_quarter", local(2026, 7, 1), local(2026, 10, 1)),
        ("this_year", local(2026, 1, 1), local(2027, 1, 1)),
        ("last_year", local(2025, 1, 1), local(2026, 1, 1)),
    ],
)
def test_calendar_words(kind, start, end):
    w = resolve(Period(kind=kind), NOW)
    assert (w.start, w.end, w.end_inclusive) == (start, end, False)


def test_calendar_edges_across_years_and_sundays():
    jan = datetime(2026, 1, 5, 1, 0, tzinfo=SHANGHAI)
    assert resolve(Period(kind="last_month"), jan).start == local(2025, 12, 1)
    assert resolve(Period(kind="last_quarter"), jan).start == local(2025, 10, 1)
    sunday_night = datetime(2026, 11, 29, 23, 59, tzinfo=SHANGHAI)
    assert resolve(Period(kind="this_week"), sunday_night).start == local(2026, 11, 23)
    # 00:30 Monday in Shanghai is still Sunday in UTC: the week is Shanghai's
    monday_early = datetime(2026, 11, 30, 0, 30, tzinfo=SHANGHAI)
    assert resolve(Period(kind="this_week"), monday_early).start == local(2026, 11, 30)


@pytest.mark.parametrize(
    "unit,amount,delta",
    [
        ("hour", 72, timedelta(hours=72)),
        ("day", 30, timedelta(days=30)),
        ("week", 2, timedelta(days=14)),
        ("month", 1, timedelta(days=30)),
    ],
)
def test_spans(unit, amount, delta):
    assert span_delta(Span(amount=amount, unit=unit)) == delta
    w = resolve(Period(kind="rolling", span=Span(amount=amount, unit=unit)), NOW)
    assert (w.start, w.end, w.end_inclusive) == (NOW - delta, NOW, True)


def test_date_bounds_count_a_date_at_its_local_midnight():
    assert resolve(Period(kind="last_month"), NOW).date_bounds() == (date(2026, 10, 1), date(2026, 10, 31))
    seven = resolve(Period(kind="rolling", span=Span(amount=7, unit="day")), NOW)
    assert seven.date_bounds() == (date(2026, 11, 17), date(2026, 11, 23))
    at_midnight = resolve(Period(kind="rolling", span=Span(amount=7, unit="day")), local(2026, 11, 23))
    assert at_midnight.date_bounds() == (date(2026, 11, 16), date(2026, 11, 23))


@pytest.mark.parametrize(
    "cn,n", [("三十", 30), ("两", 2), ("七十", 70), ("一", 1), ("七十二", 72), ("一百", 100)]
)
def test_cn2an_counts_chinese_numerals(cn, n):
    assert cn2an.cn2an(cn, "smart") == n


@pytest.mark.parametrize(
    "text,norm",
    [
        ("三十天没跟进", "30天没跟进"),
        ("两周", "2周"),
        ("一个月", "1个月"),
        ("NPS七十以上", "nps70以上"),
        ("帮我查一下", "帮我查一下"),
        ("上一年", "上一年"),
        ("最后一次互动", "最后一次互动"),
        ("ＮＰＳ＞７０", "nps>70"),
        ("NPS ≥ 70", "nps>=70"),
        ("拜仿", "拜访"),
        ("NPS七十分以上", "nps70分以上"),
        ("NPS低于三十分", "nps低于30分"),
        ("十分重要", "十分重要"),
        ("一百分", "100分"),
    ],
)
def test_normalize(text, norm):
    assert normalize(text) == norm


def test_names_keep_their_numerals():
    assert normalize("张三的客户", ["张三"]) == "张三的客户"
    assert normalize("张三的客户") == "张3的客户"
