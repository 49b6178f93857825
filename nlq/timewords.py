"""Time words → named periods, and named periods → concrete windows in Asia/Shanghai (spec § Time).

Calendar words (今天, 上周, 本季度, …) are half-open windows [start, end). Rolling windows (最近N天) run
from now minus N×24 h to now, both ends included. A month as a span is 30 days, a week 7.
Date columns (ordered_on, lost_on, …) count a date D as its local midnight: D is in a window when
D 00:00 Asia/Shanghai is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from core.clock import SHANGHAI, as_utc
from nlq.spec import Period, Span

UNIT_WORDS = {
    "小时": "hour",
    "个小时": "hour",
    "天": "day",
    "日": "day",
    "周": "week",
    "个星期": "week",
    "星期": "week",
    "个礼拜": "week",
    "礼拜": "week",
    "个月": "month",
    "月": "month",
}
UNIT_RE = "|".join(sorted(UNIT_WORDS, key=len, reverse=True))
SPAN_RE = rf"(\d{{1,4}})(?:{UNIT_RE})"
UNIT_CN = {"hour": "小时", "day": "天", "week": "周", "month": "个月"}

_NAMED = [
    (r"今天|今日", "today"),
    (r"昨天|昨日", "yesterday"),
    (r"前天", "day_before_yesterday"),
    (r"本周|这周|这一周|这个星期|本星期|这星期|这礼拜|这个礼拜", "this_week"),
    (r"上周|上一周|上个星期|上星期|上礼拜|上个礼拜", "last_week"),
    (r"本月|这个月份|这个月|这月|当月|本月份", "this_month"),
    (r"上月|上个月份|上个月|上一个月|上月份", "last_month"),
    (r"本季度|这个季度|这季度|本季|当季", "this_quarter"),
    (r"上季度|上个季度|上一季度|上一个季度|上季", "last_quarter"),
    (r"今年|本年度|本年|这一年", "this_year"),
    (r"去年|上一年|上年度", "last_year"),
]
NAMED_RE = "|".join(f"(?:{pat})" for pat, _ in _NAMED)
_SUFFIX = r"(?:以来|至今|到现在|为止|内|之内|以内|里|中|期间|全年度|全年|整年)?"
ROLLING_RE = re.compile(rf"(?:最近|近|过去|过往)的?{SPAN_RE}{_SUFFIX}|{SPAN_RE}(?:之内|以内|内)")
MONTH_RE = re.compile(r"(?:(\d{4})年|(今年|去年))?(\d{1,2})月份?" + _SUFFIX)
YEAR_RE = re.compile(r"(\d{4})年(?:全年|度)?" + _SUFFIX)
NAMED_FULL_RE = re.compile(rf"(?:{NAMED_RE}){_SUFFIX}")


def span_of(amount: str | int, unit_word: str) -> Span:
    return Span(amount=int(amount), unit=UNIT_WORDS[unit_word])


def split_span(text: str) -> Span:
    """'72小时' → Span(72, hour)."""
    m = re.fullmatch(SPAN_RE, text)
    if not m:
        raise ValueError(text)
    return span_of(m.group(1), text[len(m.group(1)) :])


def named_period(word: str) -> Period:
    for pat, kind in _NAMED:
        if re.fullmatch(pat, word):
            return Period(kind=kind)
    raise ValueError(word)


def match_period(m: re.Match[str], *, now: datetime) -> Period | None:
    """The Period of a match of one of the PERIOD_PATTERNS (None if it names no real period)."""
    text = m.group(0)
    if m.re is ROLLING_RE:
        amount = m.group(1) or m.group(2)  # 最近7天 / 7天内
        return Period(kind="rolling", span=span_of(amount, _unit_after(text, amount)))
    if m.re is MONTH_RE:
        ln = local_now(now)
        year = ln.year
        month = int(m.group(3))
        if m.group(1):
            year = int(m.group(1))
        elif m.group(2) == "去年":
            year -= 1
        elif m.group(2) is None and month > ln.month:  # v2: a month without a year that has not begun yet
            year -= 1
        return Period(kind="month", year=year, month=month) if 1 <= month <= 12 else None
    if m.re is YEAR_RE:
        return Period(kind="year", year=int(m.group(1)))
    word = re.sub(_SUFFIX + "$", "", text) or text
    return named_period(word)


def _unit_after(text: str, digits: str) -> str:
    rest = text[text.index(digits) + len(digits) :]
    for unit in sorted(UNIT_WORDS, key=len, reverse=True):
        if rest.startswith(unit):
            return unit
    raise ValueError(text)


PERIOD_PATTERNS = (ROLLING_RE, MONTH_RE, YEAR_RE, NAMED_FULL_RE)


# --- resolution -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: datetime  # aware UTC
    end: datetime  # aware UTC
    end_inclusive: bool
    label: str
    # the kind of period (day, week, month, quarter, half, year, rolling, custom): 环比's previous period of the
    # same kind; running: now lies inside it (本月 on the 16th), so a comparison is like for like
    unit: str = "custom"
    running: bool = False

    def date_bounds(self) -> tuple[date, date]:
        """The first and last date D whose local midnight lies in the window (inclusive both)."""
        s, e = self.start.astimezone(SHANGHAI), self.end.astimezone(SHANGHAI)
        lo = s.date() if s.time() == time(0) else s.date() + timedelta(days=1)
        hi = e.date() if (e.time() != time(0) or self.end_inclusive) else e.date() - timedelta(days=1)
        return lo, hi

    @property
    def span_words(self) -> str:
        """The window as local times, for `understood` (both ends of a comparison)."""
        lo, hi = local_now(self.start), local_now(self.end)
        if lo.time() == time(0) and hi.time() == time(0) and not self.end_inclusive:
            last = (hi - timedelta(days=1)).date()
            return (
                lo.date().isoformat() if last == lo.date() else f"{lo.date().isoformat()}～{last.isoformat()}"
            )
        return f"{_fmt_dt(self.start)}～{_fmt_dt(self.end)}"


def span_delta(span: Span) -> timedelta:
    return {
        "hour": timedelta(hours=span.amount),
        "day": timedelta(days=span.amount),
        "week": timedelta(days=7 * span.amount),
        "month": timedelta(days=30 * span.amount),
    }[span.unit]


def span_words(span: Span) -> str:
    return f"{span.amount}{UNIT_CN[span.unit]}"


def local_now(now: datetime) -> datetime:
    return as_utc(now).astimezone(SHANGHAI)


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), SHANGHAI)


def _month_start(y: int, m: int) -> date:
    return date(y, m, 1)


def _add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


_WORDS = {
    "today": "今天",
    "yesterday": "昨天",
    "day_before_yesterday": "前天",
    "this_week": "本周",
    "last_week": "上周",
    "this_month": "本月",
    "last_month": "上月",
    "this_quarter": "本季度",
    "last_quarter": "上季度",
    "this_year": "今年",
    "last_year": "去年",
}


_UNITS = {
    "today": "day",
    "yesterday": "day",
    "day_before_yesterday": "day",
    "this_week": "week",
    "last_week": "week",
    "this_month": "month",
    "last_month": "month",
    "this_quarter": "quarter",
    "last_quarter": "quarter",
    "this_year": "year",
    "last_year": "year",
    "month": "month",
    "year": "year",
}


def _running(start: datetime, end: datetime, end_inclusive: bool, now: datetime) -> bool:
    n = as_utc(now)
    return start <= n and (n < end or (end_inclusive and n <= end))


def resolve(p: Period, now: datetime) -> Window:
    """The concrete window of a named period, given now."""
    ln = local_now(now)
    today = ln.date()
    if p.kind == "rolling":
        assert p.span is not None
        start = as_utc(now) - span_delta(p.span)
        label = f"最近{span_words(p.span)}（{_fmt_dt(start)}～{_fmt_dt(now)}）"
        return Window(start, as_utc(now), True, label, unit="rolling", running=False)
    if p.kind == "between":
        assert p.start is not None and p.end is not None
        # as given, with its kind (for 环比) and whether now lies inside it (a like-for-like comparison)
        start, end = as_utc(p.start), as_utc(p.end)
        lo_d = local_now(p.start).date()
        last_d = (
            local_now(p.end).date() if p.end_inclusive else (local_now(p.end) - timedelta(seconds=1)).date()
        )
        dates = lo_d.isoformat() if lo_d == last_d else f"{lo_d.isoformat()}～{last_d.isoformat()}"
        running = p.unit != "rolling" and _running(start, end, p.end_inclusive, now)
        return Window(
            start,
            end,
            p.end_inclusive,
            f"{p.label or ''}（{dates}）",
            unit=p.unit or "custom",
            running=running,
        )
    if p.kind in ("today", "yesterday", "day_before_yesterday"):
        d = today - timedelta(days={"today": 0, "yesterday": 1, "day_before_yesterday": 2}[p.kind])
        lo, hi = d, d + timedelta(days=1)
    elif p.kind in ("this_week", "last_week"):
        monday = today - timedelta(days=today.weekday())
        lo = monday - timedelta(days=7 if p.kind == "last_week" else 0)
        hi = lo + timedelta(days=7)
    elif p.kind in ("this_month", "last_month"):
        lo = _add_months(_month_start(today.year, today.month), -1 if p.kind == "last_month" else 0)
        hi = _add_months(lo, 1)
    elif p.kind in ("this_quarter", "last_quarter"):
        q0 = _month_start(today.year, 3 * ((today.month - 1) // 3) + 1)
        lo = _add_months(q0, -3 if p.kind == "last_quarter" else 0)
        hi = _add_months(lo, 3)
    elif p.kind in ("this_year", "last_year"):
        y = today.year - (1 if p.kind == "last_year" else 0)
        lo, hi = date(y, 1, 1), date(y + 1, 1, 1)
    elif p.kind == "month":
        assert p.year is not None and p.month is not None
        lo = date(p.year, p.month, 1)
        hi = _add_months(lo, 1)
    else:  # year
        assert p.year is not None
        lo, hi = date(p.year, 1, 1), date(p.year + 1, 1, 1)
    word = _WORDS.get(p.kind) or (f"{p.year}年{p.month}月" if p.kind == "month" else f"{p.year}年")
    last = hi - timedelta(days=1)
    label = f"{word}（{lo.isoformat()}）" if lo == last else f"{word}（{lo.isoformat()}～{last.isoformat()}）"
    start, end = as_utc(_midnight(lo)), as_utc(_midnight(hi))
    return Window(start, end, False, label, unit=_UNITS[p.kind], running=_running(start, end, False, now))


def _minus_year(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


_STEP_DAYS = {"day": 1, "week": 7}
_STEP_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}


def _reference_start(w: Window, compare: str) -> datetime:
    lo = local_now(w.start).date()
    if compare == "year_ago":
        return as_utc(_midnight(_minus_year(lo)))
    if w.unit in _STEP_DAYS:
        return as_utc(_midnight(lo - timedelta(days=_STEP_DAYS[w.unit])))
    if w.unit in _STEP_MONTHS:
        return as_utc(_midnight(_add_months(lo, -_STEP_MONTHS[w.unit])))
    return w.start - (
        w.end - w.start
    )  # rolling (最近N天 → the N days before it), custom: the same length before


def reference(w: Window, compare: str, now: datetime) -> tuple[Window, Window]:
    """(this period, the reference period) of a comparison (spec § Comparisons over time).

    compare: previous (环比: the previous period of the same kind; 最近N天 → the N days before it) or year_ago
    (同比: the same period one year earlier). A period still running is compared like for like: this period up
    to now with the reference period up to the same elapsed time. A finished period is compared whole."""
    n = as_utc(now)
    ref_start = _reference_start(w, compare)
    if w.running:
        cur = Window(w.start, n, True, "", unit=w.unit, running=True)
        prev = Window(ref_start, ref_start + (n - w.start), True, "", unit=w.unit)
    elif w.unit == "rolling" and compare != "year_ago":
        cur, prev = w, Window(ref_start, w.start, False, "", unit="rolling")
    elif compare == "year_ago":
        hi = local_now(w.end).date()
        end = (
            as_utc(_midnight(_minus_year(hi)))
            if local_now(w.end).time() == time(0)
            else w.end - (w.start - ref_start)
        )
        cur, prev = w, Window(ref_start, end, w.end_inclusive, "", unit=w.unit)
    else:
        cur, prev = w, Window(ref_start, w.start, False, "", unit=w.unit)
    return _labelled(cur), _labelled(prev)


def _labelled(w: Window) -> Window:
    return Window(w.start, w.end, w.end_inclusive, w.label or w.span_words, unit=w.unit, running=w.running)


def buckets(unit: str, n: int, now: datetime) -> list[tuple[str, Window]]:
    """The trend's calendar buckets, oldest first, ending with the current one: weeks keyed by their Monday
    (YYYY-MM-DD), months by YYYY-MM."""
    today = local_now(now).date()
    out: list[tuple[str, Window]] = []
    for i in range(n - 1, -1, -1):
        if unit == "week":
            lo = today - timedelta(days=today.weekday() + 7 * i)
            hi, key = lo + timedelta(days=7), lo.isoformat()
        else:
            lo = _add_months(today.replace(day=1), -i)
            hi, key = _add_months(lo, 1), f"{lo:%Y-%m}"
        start, end = as_utc(_midnight(lo)), as_utc(_midnight(hi))
        w = Window(start, end, False, "", unit=unit, running=_running(start, end, False, now))
        out.append((key, _labelled(w)))
    return out


def _fmt_dt(at: datetime) -> str:
    return local_now(at).strftime("%Y-%m-%d %H:%M")
