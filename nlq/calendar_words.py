"""Version 2's calendar words → concrete `between` periods (docs/nlq-semantics.md § More time words).

Named months and quarters without a year take this year's when it has begun, else last year's; halves,
the first N months of a year, 年初至今 / 本月至今, 上上周 / 上上个月 / 前年, single days (11月5号, 16号) and
ranges (X到Y: from the start of X to the end of Y, joined by nlq.parse). Every period made here carries its
unit (for 环比) and its words (for `understood`).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from core.clock import SHANGHAI, as_utc
from nlq.spec import Period
from nlq.timewords import local_now, resolve

_YEAR = r"(?:(\d{4})年|(今年|去年|前年))?(?:的)?"
QUARTER_RE = re.compile(_YEAR + r"(?:第([1-4一二三四])季度|([1-4])季度|q([1-4]))(?:度)?")
_CN_DIGIT = {"一": "1", "二": "2", "三": "3", "四": "4"}
HALF_RE = re.compile(_YEAR + r"(上|下)半年(?:度)?")
FIRST_MONTHS_RE = re.compile(_YEAR + r"(?:前|头)(\d{1,2})个月")
YTD_RE = re.compile(r"年初至今|年初到现在|年初以来|今年以来|今年至今|本年度至今|本年至今|今年到现在")
MTD_RE = re.compile(r"本月至今|月初以来|月初至今|本月以来|这个月以来|月初到现在")
BEFORE_LAST_RE = re.compile(r"上上周|上上个星期|上上个礼拜|上上个月|上上月|前年")
DAY_RE = re.compile(_YEAR + r"(\d{1,2})月(\d{1,2})(?:日|号)(?:那天|当天)?")
DOM_RE = re.compile(r"(?<![\d月])(\d{1,2})(?:号|日)(?:那天|当天)?")
RANGE_JOINT = re.compile(r"(?<=\x00)(?:到|至|~|-|—|－)(?=\x00)")
RANGE_FROM = re.compile(r"从(?=\x00)")

PATTERNS = (YTD_RE, MTD_RE, QUARTER_RE, HALF_RE, FIRST_MONTHS_RE, BEFORE_LAST_RE, DAY_RE, DOM_RE)


def _midnight(d: date) -> datetime:
    return as_utc(datetime.combine(d, time(0), SHANGHAI))


def _add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def _year(m: re.Match[str], today: date) -> int | None:
    if m.group(1):
        return int(m.group(1))
    rel = {"今年": 0, "去年": 1, "前年": 2}
    return today.year - rel[m.group(2)] if m.group(2) else None


def between(lo: date, hi: date, unit: str, label: str) -> Period:
    """[lo, hi) as local calendar days."""
    return Period(kind="between", start=_midnight(lo), end=_midnight(hi), unit=unit, label=label)  # type: ignore[arg-type]


def _year_words(y: int, today: date, explicit: bool) -> str:
    if not explicit:
        return ""
    return {today.year: "今年", today.year - 1: "去年"}.get(y, f"{y}年")


def match(m: re.Match[str], *, now: datetime) -> Period | None:
    """The period of a match of one of PATTERNS (None: no real period, e.g. 2月30号)."""
    today = local_now(now).date()
    rx = m.re
    try:
        if rx is YTD_RE:
            return Period(
                kind="between",
                start=_midnight(date(today.year, 1, 1)),
                end=as_utc(now),
                end_inclusive=True,
                unit="year",
                label="年初至今",
            )
        if rx is MTD_RE:
            return Period(
                kind="between",
                start=_midnight(today.replace(day=1)),
                end=as_utc(now),
                end_inclusive=True,
                unit="month",
                label="本月至今",
            )
        if rx is BEFORE_LAST_RE:
            word = m.group(0)
            if word == "前年":
                return between(date(today.year - 2, 1, 1), date(today.year - 1, 1, 1), "year", "前年")
            if "周" in word or "星期" in word or "礼拜" in word:
                monday = today - timedelta(days=today.weekday())
                return between(monday - timedelta(days=14), monday - timedelta(days=7), "week", "上上周")
            m0 = today.replace(day=1)
            return between(_add_months(m0, -2), _add_months(m0, -1), "month", "上上个月")
        if rx is QUARTER_RE:
            q = int(_CN_DIGIT.get(m.group(3) or "", m.group(3) or "") or m.group(4) or m.group(5))
            y = _year(m, today)
            explicit = y is not None
            if y is None:
                y = today.year if date(today.year, 3 * (q - 1) + 1, 1) <= today else today.year - 1
            lo = date(y, 3 * (q - 1) + 1, 1)
            return between(lo, _add_months(lo, 3), "quarter", f"{_year_words(y, today, explicit)}第{q}季度")
        if rx is HALF_RE:
            h = 1 if m.group(3) == "上" else 2
            y = _year(m, today)
            explicit = y is not None
            if y is None:
                y = today.year if h == 1 or date(today.year, 7, 1) <= today else today.year - 1
            lo = date(y, 1 if h == 1 else 7, 1)
            word = "上半年" if h == 1 else "下半年"
            return between(lo, _add_months(lo, 6), "half", f"{_year_words(y, today, explicit)}{word}")
        if rx is FIRST_MONTHS_RE:
            n = int(m.group(3))
            if not 1 <= n <= 12:
                return None
            y = _year(m, today)
            explicit = y is not None
            y = today.year if y is None else y
            lo = date(y, 1, 1)
            return between(lo, _add_months(lo, n), "custom", f"{_year_words(y, today, explicit)}前{n}个月")
        if rx is DAY_RE:
            mo, d = int(m.group(3)), int(m.group(4))
            y = _year(m, today)
            explicit = y is not None
            if y is None:
                y = today.year if date(today.year, mo, d) <= today else today.year - 1
            day = date(y, mo, d)
            return between(
                day, day + timedelta(days=1), "day", f"{_year_words(y, today, explicit)}{mo}月{d}日"
            )
        # DOM_RE: a day of this month
        day = today.replace(day=int(m.group(1)))
        return between(day, day + timedelta(days=1), "day", f"{day.month}月{day.day}日")
    except ValueError:  # 2月30号, 第0季度, a year outside what a date can hold
        return None


def join(first: Period, last: Period, *, now: datetime) -> Period:
    """X到Y: from the start of X to the end of Y (refused by the caller when Y ends before X starts)."""
    a, b = resolve(first, now), resolve(last, now)
    words = f"{_bare(a.label)}至{_bare(b.label)}"
    return Period(
        kind="between",
        start=a.start,
        end=b.end,
        end_inclusive=b.end_inclusive,
        unit="custom",
        label=words[:40],
    )


def _bare(label: str) -> str:
    return label.split("（")[0]
