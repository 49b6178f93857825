"""Chinese (and a little English) date words in a rep's line, found and resolved offline.

`find_time_phrases(folded, now_local)` scans text already folded by `core.tags.fold` and returns every
time phrase with its span and a *window* of local calendar days; `resolve(phrase, now_local, role)` turns
a phrase into one aware UTC instant. All reasoning is in Asia/Shanghai local time (the caller passes
`now` in that zone); weeks start on Monday.

Day words (the window is [first, last] local day)
- 今天/明天/后天/大后天 → that day; 今早/明早 add the morning, 今晚/明晚 the evening.
  昨天/前天/N天前/上周X/上个月 are *past*: found (so they are not misread) but never scheduled.
- 周X/星期X/礼拜X (X = 一..六, 日/天, 1..7): this week's X if it is today or later, else next week's.
  这周X/本周X: this week's X (past if already gone). 下周X: X of next week. 下下周X: the week after.
- 这周/本周/本周内 → [today, Friday]; 下周/下周内 → [next Monday, next Friday]: as a deadline a week is the
  work week (on a weekend 本周内 is today). 下周初 → Monday–Tuesday; 下周中 → Wednesday;
  周末 → this Saturday–Sunday (today if it is Sunday); 下周末 → next Saturday–Sunday.
- 月初 → days 1–5, 上旬 1–10, 月中 the 15th, 中旬 11–20, 下旬 21–end, 月底/月末 the last day, 本月/月内
  [today, last day]. A bare 月初/月中 already past this month means next month's; with 本/这 it is past.
  下月/下个月 alone → the whole next month; 下月初, 下月底... as above in next month.
- 年底/年末 → 31 December; 年内 → [today, 31 December]; 明年 → next year, 明年初 → 1–10 January.
- M月D日/M月D号/M/D/M-D (also YYYY-M-D, YYYY年M月D日): that date; without a year, this year's if not
  past, else next year's. M月 alone → the whole month (next year's if the month is past). M.D needs 号/日/前.
- D号 alone: this month's D if not past, else next month's (clamped to the month's last day). A bare
  D号 followed by a thing with a number (3号货架, 5号仓) is not a date. D日 alone needs 前 or a time of day.
- N天/日/个工作日/周/个星期/个月/年 + 后/之后/以后/左右 (or 过N天, 再过N天, 隔N天): day today + N
  (working days skip Saturday and Sunday; months keep the day of month, clamped). + 内/之内/以内:
  the window [today, today + N]. N is digits or Chinese numerals (十五, 两, 二十), 半 (半个月 = 15 days,
  半年 = 6 months, 半小时 = 30 minutes), 几 = 3, a range takes its upper end (3-5天, 两三天).
  N个月 needs 个: `3月` is March, except `N月后` which means N months later. N天前 is past.
  N without any suffix (`7天回访`) is *weak*: it only counts next to an action, a follow-up word or a
  promise word (so `试销3个月` is not a date). N小时内 is now + N hours, exactly.
- English: today, tonight, tomorrow/tmr, mon..sun (next/this), next week, this week, eow, next month,
  eom, in/within/after N days|weeks|months|hours, N days later. Latin words match whole words only.
- 每周三/每天/每个月 (recurring) are not dates.

Time of day (after a day word, or alone)
- Windows: 早上/一早 8–10, 上午 9–12, 中午 12–13, 下午 14–18, 傍晚 17–19, 晚上/晚 19–21, 下班前 17–18.
  Clock times: 3点, 3点半, 15:30, 3pm. A bare hour 1–7 is afternoon (15:00 for 3点): reps do not
  promise deliveries at 3 a.m.; with 下午/晚上 an hour below 12 gets +12, 中午1点 is 13:00.
- A time of day alone means today, or tomorrow if that time has already passed. Alone it is weak
  unless it carries a deadline (下午3点前): `下午店里人多` is not a date.

Deadlines: 前/之前/以前/为止/截止/内 after the phrase, or 最晚/最迟/截止到/by before it, mark a deadline.

Resolution (`resolve`): a promise is due at the END of its window — the last day, at the end of the
time-of-day window, or 18:00 local when no time is given (end of a business day). A follow-up is an
appointment: the FIRST day of its window at the start of the time-of-day window, 09:00 local by
default — except for a deadline (`3天内回访`, `周五前回访`), which takes the last day, and for a
window that starts today (`本周回访`, `本月回访`), which takes tomorrow. A result that falls earlier
than `now` on today is moved: a promise to 23:59 today, a follow-up to now.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

Role = Literal["promise", "follow_up"]

PROMISE_DEFAULT = time(18, 0)
FOLLOW_UP_DEFAULT = time(9, 0)
END_OF_TODAY = time(23, 59)

# --- numbers -----------------------------------------------------------------------------------------
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN = "零〇一二两三四五六七八九十百"


def zh_number(text: str) -> float | None:
    """'15' → 15, '十五' → 15, '两' → 2, '二十' → 20, '一百零五' → 105, '半' → 0.5, '几' → 3,
    '两三' → 3 (a loose range takes its upper end). None when it is not a number."""
    if not text:
        return None
    if text.isascii():
        return int(text) if text.isdigit() else None
    if text == "半":
        return 0.5
    if text == "几":
        return 3
    value, cur, ranged = 0, None, False
    for ch in text:
        if ch in "零〇":  # a placeholder: 一百零五
            if cur is not None:
                return None
            continue
        if ch in _CN_DIGITS:
            d = _CN_DIGITS[ch]
            if cur is not None:
                if ranged or not (d == cur + 1 and value == 0):
                    return None
                ranged = True  # 两三天: two or three, take three
            cur = d
        elif ch == "十":
            if value % 100 >= 10 or (cur is None and value):
                return None
            value += (1 if cur is None else cur) * 10
            cur = None
        elif ch == "百":
            if cur is None or value:
                return None
            value += cur * 100
            cur = None
        else:
            return None
    return value + (cur or 0)


# --- phrases -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimePhrase:
    start: int
    end: int
    first: date | None = None  # window of local days
    last: date | None = None
    exact: datetime | None = None  # N小时内: an exact local instant
    tod: tuple[time, time] | None = None  # time-of-day window
    clock: time | None = None
    deadline: bool = False
    past: bool = False
    weak: Literal["", "action", "marker"] = ""  # "" strong; "action": needs an adjacent action, a
    #                                          follow-up word or a promise word; "marker": only the last two
    roll_if_past: bool = False  # a time of day alone: tomorrow if already gone today


@dataclass(frozen=True)
class _Day:
    first: date | None
    last: date | None
    past: bool = False
    weak: Literal["", "action", "marker"] = ""
    deadline: bool = False
    exact: datetime | None = None
    tod: tuple[time, time] | None = None


_PAST = _Day(None, None, past=True)

_NUM = r"(?:(?<![0-9])[0-9]{1,3}(?![0-9])|[零〇一二两三四五六七八九十百]{1,5}|几|半)"
_WD_CHARS = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "七": 6,
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
}
_EN_WD = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_PRE = r"(?P<pre>下下个?|下个?|这个?|本|当|上上个?|上个?)"

_TODS: dict[str, tuple[time, time]] = {
    "早上": (time(8), time(10)),
    "早晨": (time(8), time(10)),
    "一早": (time(8), time(10)),
    "清早": (time(8), time(10)),
    "大早": (time(8), time(10)),
    "早": (time(8), time(10)),
    "上午": (time(9), time(12)),
    "am": (time(9), time(12)),
    "中午": (time(12), time(13)),
    "午饭前": (time(11), time(12)),
    "下午": (time(14), time(18)),
    "pm": (time(14), time(18)),
    "傍晚": (time(17), time(19)),
    "下班前": (time(17), time(18)),
    "下班后": (time(18), time(20)),
    "晚上": (time(19), time(21)),
    "夜里": (time(19), time(22)),
    "晚": (time(19), time(21)),
    "tonight": (time(19), time(21)),
}
_PM_TODS = {"下午", "傍晚", "晚上", "夜里", "晚", "下班后", "pm", "tonight"}


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _add_workdays(d: date, n: int) -> date:
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def _num(text: str | None) -> float | None:
    return zh_number(text) if text else None


def _week_offset(pre: str | None) -> int | None:
    """None: no prefix; 0 this week; 1 next; 2 the week after; -1 past."""
    if not pre:
        return None
    if pre.startswith("上"):
        return -1
    if pre.startswith("下下"):
        return 2
    if pre.startswith("下"):
        return 1
    return 0


# --- day builders (match, today, now_local, folded text) → _Day | None ------------------------------
Builder = Callable[[re.Match[str], date, datetime, str], "_Day | None"]


def _weekday(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    wd = _WD_CHARS[m.group("wd")]
    return _weekday_day(_week_offset(m.group("pre")), wd, today)


def _weekday_day(offset: int | None, wd: int, today: date) -> _Day:
    monday = today - timedelta(days=today.weekday())
    if offset is None:
        d = monday + timedelta(days=wd)
        if d < today:
            d += timedelta(days=7)
        return _Day(d, d)
    if offset < 0:
        return _PAST
    d = monday + timedelta(days=7 * offset + wd)
    return _PAST if d < today else _Day(d, d)


def _week(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    offset, part = _week_offset(m.group("pre")), m.group("part")
    if offset is None and part != "末":
        return None
    if offset is not None and offset < 0:
        return _PAST
    monday = today - timedelta(days=today.weekday()) + timedelta(days=7 * (offset or 0))
    if part == "初":
        first, last = monday, monday + timedelta(days=1)
    elif part == "中":
        first = last = monday + timedelta(days=2)
    elif part == "末":
        first, last = monday + timedelta(days=5), monday + timedelta(days=6)
    else:  # the work week: a deadline of 本周/下周 ends on Friday (today, on a weekend)
        first, last = monday, max(monday + timedelta(days=4), today)
    if last < today:
        return _PAST
    return _Day(max(first, today), last, deadline=part == "内")


def _month_window(start: date, part: str | None, today: date) -> tuple[date, date]:
    end = _month_end(start)
    if part == "初":
        return start, start.replace(day=5)
    if part == "上旬":
        return start, start.replace(day=10)
    if part == "中":
        return start.replace(day=15), start.replace(day=15)
    if part == "中旬":
        return start.replace(day=11), start.replace(day=20)
    if part == "下旬":
        return start.replace(day=21), end
    if part in ("底", "末"):
        return end, end
    return start, end


def _month_rel(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    pre, part = m.group("pre"), m.group("part")
    if pre is None and part is None:
        return None
    offset = 0 if pre is None else _week_offset(pre)
    if offset is None or offset < 0:
        return _PAST
    start = _add_months(today.replace(day=1), offset)
    first, last = _month_window(start, part, today)
    if last < today:
        if pre is not None:
            return _PAST
        first, last = _month_window(_add_months(start, 1), part, today)
    return _Day(max(first, today), last, deadline=part == "内")


def _year_part(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    word = m.group(0)
    if word.startswith("明年"):
        part = m.group("part2")
        y = today.year + 1
        if part == "初":
            return _Day(date(y, 1, 1), date(y, 1, 10))
        if part in ("底", "末"):
            return _Day(date(y, 12, 31), date(y, 12, 31))
        return _Day(date(y, 1, 1), date(y, 12, 31))
    y = int(m.group("y")) if m.group("y") else today.year
    part = m.group("part")
    if y < today.year:
        return _PAST
    if part in ("底", "末"):
        return _Day(date(y, 12, 31), date(y, 12, 31))
    return _Day(max(today, date(y, 1, 1)), date(y, 12, 31), deadline=True)


_RELATIVE_AFTER = {"后", "之后", "以后", "过后", "左右"}
_RELATIVE_WITHIN = {"内", "之内", "以内"}
_RELATIVE_AGO = {"前", "之前", "以前"}


def _relative(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    n = _num(m.group("n"))
    n2 = _num(m.group("n2"))
    if n is None or (m.group("n2") and n2 is None):
        return None
    if n2 is not None:
        if n2 < n:
            return None
        n = n2
    unit, suffix, pre = m.group("unit").lstrip("个"), m.group("suf"), m.group("pre")
    bare_month = m.group("unit") == "月"
    if suffix in _RELATIVE_AGO:
        if unit == "日" or bare_month:
            return None  # 5日前 is a day of the month, 3月前 March
        return _PAST
    if bare_month and suffix not in _RELATIVE_AFTER:
        return None  # 3月 is March; 一月后 is one month later
    if unit in ("日", "年") and suffix is None and pre is None:
        return None
    within = suffix in _RELATIVE_WITHIN
    weak: Literal["", "action"] = "action" if suffix is None and pre is None else ""
    if n == 0.5:
        if unit == "月":
            days, months = 15, 0
        elif unit == "年":
            days, months = 0, 6
        elif unit in ("小时", "钟头"):
            return _Day(today, today, exact=now + timedelta(minutes=30), weak=weak, deadline=within)
        else:
            return None
    elif n != int(n) or n <= 0:
        return None
    else:
        k = int(n)
        days, months = 0, 0
        if unit in ("天", "日"):
            days = k
        elif unit in ("周", "星期", "礼拜"):
            days = 7 * k
        elif unit == "月":
            months = k
        elif unit == "年":
            months = 12 * k
        elif unit in ("工作日", "交易日"):
            target = _add_workdays(today, k)
            return _Day(today if within else target, target, weak=weak, deadline=within)
        elif unit in ("小时", "钟头"):
            at = (now + timedelta(hours=k)).replace(second=0, microsecond=0)
            return _Day(at.date(), at.date(), exact=at, weak=weak, deadline=within)
        else:
            return None
    target = _add_months(today, months) + timedelta(days=days)
    return _Day(today if within else target, target, weak=weak, deadline=within)


_NAMED = {
    "今天": (0, None),
    "今日": (0, None),
    "今儿": (0, None),
    "today": (0, None),
    "今早": (0, "早上"),
    "今晚": (0, "晚上"),
    "tonight": (0, "tonight"),
    "明天": (1, None),
    "明日": (1, None),
    "明儿": (1, None),
    "tomorrow": (1, None),
    "tmr": (1, None),
    "tmrw": (1, None),
    "tmw": (1, None),
    "明早": (1, "早上"),
    "明晚": (1, "晚上"),
    "后天": (2, None),
    "大后天": (3, None),
}


def _named(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    word = m.group(0)
    if word not in _NAMED:
        return _PAST  # 昨天, 前天, yesterday...
    days, tod = _NAMED[word]
    d = today + timedelta(days=days)
    return _Day(d, d, tod=_TODS[tod] if tod else None)


def _cn_or_int(text: str | None) -> int | None:
    v = _num(text)
    return int(v) if v is not None and v == int(v) and v >= 1 else None


_NOT_A_DAY_AFTER = re.compile(
    r"\s?(?:货架|架|仓|库|店|楼|线|门|柜|台|位|窗|口|车|机|品|款|包|瓶|箱|件|盒|袋|院|房|室|区|厅|桌|批|码|号|色|元|块)"
)


def _absolute_cn(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    month = _cn_or_int(m.group("m"))
    if month is None or month > 12:
        return None
    year = int(m.group("y")) if m.group("y") else None
    day_text, part = m.group("d"), m.group("part")
    if day_text:
        day = _cn_or_int(day_text)
        if day is None:
            return None
        return _date_day(year, month, day, today)
    y = year if year is not None else today.year
    if year is None and month < today.month:
        y += 1
    start = date(y, month, 1)
    first, last = _month_window(start, part, today)
    if last < today:
        return _PAST
    return _Day(max(first, today), last, deadline=part == "内")


def _date_day(year: int | None, month: int, day: int, today: date) -> _Day | None:
    try:
        d = date(year if year is not None else today.year, month, day)
    except ValueError:
        return None
    if d < today:
        if year is not None:
            return _PAST
        try:
            d = date(today.year + 1, month, day)
        except ValueError:
            return None
    return _Day(d, d)


def _absolute_num(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    after = text[m.end() : m.end() + 2]
    if m.group("sep") == "." and not m.group("y") and not m.group("tail") and not after.startswith("前"):
        return None
    if _NOT_A_DAY_AFTER.match(text, m.end()) or re.match(r"\s?[天周月个%折斤]", after):
        return None
    year = int(m.group("y")) if m.group("y") else None
    return _date_day(year, int(m.group("m")), int(m.group("d")), today)


def _day_only(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    day = _cn_or_int(m.group("d"))
    if day is None or day > 31:
        return None
    rest = text[m.end() :]
    if _NOT_A_DAY_AFTER.match(rest):
        return None
    if m.group("u") == "日" and not re.match(
        r"\s?(?:前|之前|以前|早上|上午|中午|下午|晚上|[0-9一二两三四五六七八九十]+点)", rest
    ):
        return None
    month = today.replace(day=1)
    if day <= calendar.monthrange(month.year, month.month)[1] and month.replace(day=day) >= today:
        d = month.replace(day=day)
    else:
        month = _add_months(month, 1)
        d = month.replace(day=min(day, calendar.monthrange(month.year, month.month)[1]))
    return _Day(d, d)


def _en_weekday(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    pre = m.group("pre")
    offset = None if pre is None else (1 if pre == "next" else 0)
    return _weekday_day(offset, _EN_WD[m.group("wd")[:3]], today)


def _en_misc(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    w = " ".join(m.group(0).split())
    monday = today - timedelta(days=today.weekday())
    if w == "next week":
        return _Day(monday + timedelta(days=7), monday + timedelta(days=11))
    if w == "this week":
        return _Day(today, max(today, monday + timedelta(days=4)))
    if w == "eow" or w.startswith("end of") and w.endswith("week"):
        return _Day(max(today, monday + timedelta(days=5)), monday + timedelta(days=6))
    if w.startswith("end of"):
        end = _month_end(today)
        return _Day(end, end)
    if w == "next month":
        start = _add_months(today.replace(day=1), 1)
        return _Day(start, _month_end(start))
    if w == "eom":
        end = _month_end(today)
        return _Day(end, end)
    return None


def _en_relative(m: re.Match[str], today: date, now: datetime, text: str) -> _Day | None:
    n = int(m.group("n"))
    if n <= 0:
        return None
    unit = m.group("unit")[0]
    pre, suffix = m.group("pre"), m.group("suf")
    within = pre == "within"
    weak: Literal["", "action"] = "" if (pre or suffix) else "action"
    if unit == "h":
        at = (now + timedelta(hours=n)).replace(second=0, microsecond=0)
        return _Day(at.date(), at.date(), exact=at, weak=weak, deadline=within)
    if unit == "m":
        target = _add_months(today, n)
    else:
        target = today + timedelta(days=n * (7 if unit == "w" else 1))
    return _Day(today if within else target, target, weak=weak, deadline=within)


_D_CN = r"[12][0-9]|3[01]|0?[1-9]|[一二]?十[一二三四五六七八九]?|三十一?|[一二三四五六七八九]"
_M_CN = r"1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九]"

_DAY_MATCHERS: list[tuple[re.Pattern[str], Builder]] = [
    (re.compile(r"(?<!每)" + _PRE + r"?\s?(?:星期|礼拜|周)(?P<wd>[一二三四五六日天七1-7])"), _weekday),
    (re.compile(r"(?<!每)" + _PRE + r"?\s?(?:星期|礼拜|周)(?P<part>初|中|末|内)?"), _week),
    (
        re.compile(
            r"(?:"
            + _PRE
            + r"|(?<![0-9零〇一二两三四五六七八九十个每]))月份?(?P<part>初|上旬|中旬|下旬|中|底|末|内)?"
        ),
        _month_rel,
    ),
    (
        re.compile(
            r"(?:(?P<y>\d{4})\s?|今|本|(?<![0-9零〇一二两三四五六七八九十个每]))年(?P<part>底|末|内)"
            r"|明年(?P<part2>初|底|末)?"
        ),
        _year_part,
    ),
    (
        re.compile(
            r"(?<!每)(?P<pre>再过|过了?|隔|等)?\s?(?P<n>"
            + _NUM
            + r")(?:\s?[-~到至]\s?(?P<n2>"
            + _NUM
            + r"))?\s?"
            r"(?P<unit>个?工作日|个?交易日|个?小时|个?钟头|个?星期|个?礼拜|个?月|周|天|日|年)"
            r"(?P<suf>之内|以内|之后|以后|过后|之前|以前|左右|内|后|前)?"
        ),
        _relative,
    ),
    (
        re.compile(
            r"大后天|后天|明天|明日|明儿|明早|明晚|今天|今日|今儿|今早|今晚|大前天|前天|昨天|昨日|昨晚"
            r"|(?<![a-z])(?:today|tonight|tomorrow|tmrw|tmr|tmw|yesterday)(?![a-z])"
        ),
        _named,
    ),
    (
        re.compile(
            r"(?:(?P<y>\d{4})\s?年\s?|(?<![0-9]))(?P<m>" + _M_CN + r")\s?月份?"
            r"(?:\s?(?P<d>" + _D_CN + r")(?![0-9])\s?(?:日|号)?|(?P<part>初|上旬|中旬|下旬|中|底|末|内))?"
        ),
        _absolute_cn,
    ),
    (
        re.compile(
            r"(?<![0-9./\-])(?:(?P<y>\d{4})[-/.])?(?P<m>\d{1,2})(?P<sep>[/\-.])(?P<d>\d{1,2})(?![0-9])"
            r"(?![/\-.][0-9])(?P<tail>号|日)?"
        ),
        _absolute_num,
    ),
    (
        re.compile(
            r"(?<![0-9月./\-零〇一二两三四五六七八九十])(?P<d>" + _D_CN + r")(?![0-9])\s?(?P<u>号|日)"
        ),
        _day_only,
    ),
    (
        re.compile(
            r"(?<![a-z])(?:(?P<pre>next|this)\s+)?(?P<wd>monday|mon|tuesday|tues|tue|wednesday|weds|wed|thursday"
            r"|thurs|thur|thu|friday|fri|saturday|sat|sunday|sun)(?![a-z])"
        ),
        _en_weekday,
    ),
    (
        re.compile(
            r"(?<![a-z])(?:next\s+week|this\s+week|end\s+of\s+(?:the\s+)?(?:week|month)|eow|next\s+month|eom)"
            r"(?![a-z])"
        ),
        _en_misc,
    ),
    (
        re.compile(
            r"(?<![a-z0-9])(?:(?P<pre>in|within|after)\s*)?(?P<n>\d{1,3})\s*(?P<unit>days?|d|weeks?|wks?|w"
            r"|months?|mos?|hours?|hrs?|h)(?:\s+(?P<suf>later|after))?(?![a-z])"
        ),
        _en_relative,
    ),
]

_PREFIX = re.compile(r"(?:最晚|最迟|截止到|截止|截至|务必|赶在|(?<![a-z])(?:by|before)(?![a-z]))\s?")
_TOD = re.compile(
    r"\s?(?:的)?(?P<tod>早上|早晨|一早|清早|大早|上午|中午|午饭前|下午|傍晚|晚上|夜里|下班前|下班后|早|晚"
    r"|(?<![a-z])(?:am|pm)(?![a-z]))"
)
_TOD_ALONE = re.compile(r"(?P<tod>早上|早晨|一早|上午|中午|下午|傍晚|晚上|下班前)")
_CLOCK = re.compile(
    r"\s?(?:(?P<h>[01]?[0-9]|2[0-4]|[零一二两三四五六七八九十]{1,3})\s?(?:点钟?|时)"
    r"(?P<mm>半|一刻|三刻|[0-5]?[0-9]分?|[零一二三四五六七八九十]{1,3}分)?"
    r"|(?P<h2>[01]?[0-9]|2[0-3]):(?P<m2>[0-5][0-9])"
    r"|(?P<h3>1[0-2]|0?[1-9])\s?(?P<ap>am|pm)(?![a-z]))"
)
_SUFFIX = re.compile(r"\s?(?P<suf>之前|以前|为止|截止|截至|之内|以内|前|内|钱)")  # 钱: a common typo of 前
_TRIGGER = re.compile(
    r"[0-9零〇一二两三四五六七八九十百几半今明后大昨前周星礼下这本当上月年过再隔等早中晚傍午清夜最截务赶每]"
    r"|(?<![a-z])[a-z]"
)


def _clock(m: re.Match[str], tod: str | None) -> time | None:
    if m.group("h2") is not None:
        h, minute = int(m.group("h2")), int(m.group("m2"))
    elif m.group("h3") is not None:
        h, minute = int(m.group("h3")) % 12, 0
        if m.group("ap") == "pm":
            h += 12
        return time(h, minute)
    else:
        hv = _num(m.group("h"))
        if hv is None or hv != int(hv) or hv > 24:
            return None
        h = int(hv)
        mm = m.group("mm")
        if not mm:
            minute = 0
        elif mm == "半":
            minute = 30
        elif mm == "一刻":
            minute = 15
        elif mm == "三刻":
            minute = 45
        else:
            mv = _num(mm.rstrip("分"))
            if mv is None or mv != int(mv) or mv > 59:
                return None
            minute = int(mv)
        if h == 24:
            h, minute = 23, 59
    if tod in _PM_TODS and h < 12:
        h += 12
    elif tod == "中午" and 1 <= h <= 2:
        h += 12
    elif tod is None and 1 <= h <= 7:
        h += 12
    if h > 23:
        return None
    return time(h, minute)


def _tail(
    text: str, pos: int, tod_word: str | None
) -> tuple[int, tuple[time, time] | None, time | None, bool]:
    """Time of day, clock and deadline suffix after a day word: (end, tod, clock, deadline)."""
    tod = None
    m = _TOD.match(text, pos)
    if m and not (m.group("tod") in ("早", "晚") and text[m.end() : m.end() + 1] in ("了", "点", "的")):
        tod_word = m.group("tod")
        tod = _TODS[tod_word]
        pos = m.end()
    elif tod_word:
        tod = _TODS[tod_word]
    clock = None
    c = _CLOCK.match(text, pos)
    if c:
        at = _clock(c, tod_word)
        if at is not None:
            clock, pos = at, c.end()
    deadline = False
    s = _SUFFIX.match(text, pos)
    if s:
        deadline, pos = True, s.end()
    return pos, tod, clock, deadline


def _match_day(text: str, pos: int, today: date, now: datetime) -> tuple[int, _Day] | None:
    best: tuple[int, _Day] | None = None
    for pattern, build in _DAY_MATCHERS:
        m = pattern.match(text, pos)
        if not m or m.end() == pos:
            continue
        if best is not None and m.end() <= best[0]:
            continue
        try:
            day = build(m, today, now, text)
        except (ValueError, OverflowError):
            day = None
        if day is not None:
            best = (m.end(), day)
    return best


def find_time_phrases(folded: str, now_local: datetime) -> list[TimePhrase]:
    """Every time phrase in folded text, left to right, not overlapping (see the module docstring)."""
    today = now_local.date()
    phrases: list[TimePhrase] = []
    pos, n = 0, len(folded)
    while pos < n:
        trig = _TRIGGER.search(folded, pos)
        if trig is None:
            break
        i = trig.start()
        phrase = _phrase_at(folded, i, today, now_local)
        if phrase is None:
            pos = i + 1
            continue
        phrases.append(phrase)
        pos = max(phrase.end, i + 1)
    return phrases


def _phrase_at(text: str, i: int, today: date, now: datetime) -> TimePhrase | None:
    start, j, prefixed = i, i, False
    p = _PREFIX.match(text, i)
    if p:
        j, prefixed = p.end(), True
    found = _match_day(text, j, today, now)
    if found is None and prefixed:
        j, prefixed = i, False
        found = _match_day(text, j, today, now)
    if found is not None:
        end, day = found
        if day.past:
            return TimePhrase(start, end, past=True)
        implied = next((w for w, win in _TODS.items() if win == day.tod), None) if day.tod else None
        end, tod, clock, deadline = _tail(text, end, implied)
        if day.exact is not None:
            tod, clock = None, None
        return TimePhrase(
            start,
            end,
            day.first,
            day.last,
            day.exact,
            tod,
            clock,
            deadline or day.deadline or prefixed,
            False,
            day.weak,
        )
    # a time of day or a clock time alone
    end, tod, clock = j, None, None
    t = _TOD_ALONE.match(text, j)
    tod_word = None
    if t:
        tod_word, tod, end = t.group("tod"), _TODS[t.group("tod")], t.end()
    c = _CLOCK.match(text, end)
    if c:
        at = _clock(c, tod_word)
        if at is not None:
            clock, end = at, c.end()
    if tod is None and clock is None:
        return None
    s = _SUFFIX.match(text, end)
    deadline = prefixed
    if s:
        deadline, end = True, s.end()
    weak: Literal["", "marker"] = "" if deadline else "marker"
    return TimePhrase(start, end, today, today, None, tod, clock, deadline, False, weak, roll_if_past=True)


def resolve(phrase: TimePhrase, now_local: datetime, role: Role) -> datetime:
    """The instant a phrase means for a promise (deadline) or a follow-up (appointment), aware UTC."""
    tz = now_local.tzinfo
    if phrase.exact is not None:
        return phrase.exact.astimezone(UTC)
    assert phrase.first is not None and phrase.last is not None
    use_end = role == "promise" or phrase.deadline
    day = phrase.last if use_end else phrase.first
    if not use_end and day == now_local.date() and phrase.last > day and phrase.clock is None:
        day += timedelta(days=1)  # 本周回访 on Monday: Tuesday, not "now"
    if phrase.clock is not None:
        at = phrase.clock
    elif phrase.tod is not None:
        at = phrase.tod[1] if role == "promise" else phrase.tod[0]
    else:
        at = PROMISE_DEFAULT if role == "promise" else FOLLOW_UP_DEFAULT
    result = datetime.combine(day, at, tzinfo=tz)
    if result < now_local and phrase.roll_if_past:
        result = datetime.combine(day + timedelta(days=1), at, tzinfo=tz)
    if result < now_local:
        if role == "promise":
            result = max(datetime.combine(now_local.date(), END_OF_TODAY, tzinfo=tz), now_local)
        else:
            result = now_local
    return result.astimezone(UTC)
