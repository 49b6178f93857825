"""Report periods for metrics, briefs and the dashboard: named windows in the organisation's time zone.

The same rules as docs/nlq-semantics.md § Time, so a figure over 本周 in a brief is the figure
`ask` gives for 本周:
- calendar periods (今天, 本周, 上周, 本月, 上月, 本季度, 上季度) are half-open [start, end) in local time;
- rolling periods (最近N天) run from now minus N×24 h to now, both ends included;
- a date column (ordered_on, entered_on, …) counts date D when D 00:00 local lies in the window;
- `all` has no bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.clock import SHANGHAI

PERIOD_WORDS = {
    "this_week": "本周",
    "last_week": "上周",
    "this_month": "本月",
    "last_month": "上月",
    "this_quarter": "本季度",
    "last_quarter": "上季度",
    "today": "今天",
    "last_7_days": "最近7天",
    "last_30_days": "最近30天",
    "last_90_days": "最近90天",
    "all": "全部时间",
}
ROLLING_DAYS = {"last_7_days": 7, "last_30_days": 30, "last_90_days": 90}


@dataclass(frozen=True)
class ReportPeriod:
    key: str
    start: datetime | None  # aware UTC; None: no lower bound
    end: datetime | None  # aware UTC; None: no upper bound
    end_inclusive: bool
    label: str  # Chinese, with the dates: 本周（2026-11-23～2026-11-29）

    def contains(self, at: datetime) -> bool:
        if self.start is not None and at < self.start:
            return False
        if self.end is None:
            return True
        return at <= self.end if self.end_inclusive else at < self.end

    def date_bounds(self, tz: ZoneInfo = SHANGHAI) -> tuple[date | None, date | None]:
        """The first and last date D (inclusive) whose local midnight lies in the window."""
        lo = hi = None
        if self.start is not None:
            s = self.start.astimezone(tz)
            lo = s.date() if s.time() == time(0) else s.date() + timedelta(days=1)
        if self.end is not None:
            e = self.end.astimezone(tz)
            hi = e.date() if (e.time() != time(0) or self.end_inclusive) else e.date() - timedelta(days=1)
        return lo, hi

    def as_of(self, now: datetime) -> datetime:
        """The moment a state figure (客户信息鲜度) is read for this period: its end, or now if sooner."""
        if self.end is None or self.end >= now:
            return now
        return self.end if self.end_inclusive else self.end - timedelta(microseconds=1)


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tz).astimezone(UTC)


def week_monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def calendar_period(
    key: str, lo: date, hi: date, tz: ZoneInfo = SHANGHAI, word: str | None = None
) -> ReportPeriod:
    """[lo 00:00, hi 00:00) local."""
    last = hi - timedelta(days=1)
    word = word or PERIOD_WORDS.get(key, key)
    dates = lo.isoformat() if lo == last else f"{lo.isoformat()}～{last.isoformat()}"
    return ReportPeriod(key, _midnight(lo, tz), _midnight(hi, tz), False, f"{word}（{dates}）")


def week_period(monday: date, tz: ZoneInfo = SHANGHAI, word: str = "") -> ReportPeriod:
    return calendar_period(
        f"week:{monday.isoformat()}",
        monday,
        monday + timedelta(days=7),
        tz,
        word or f"{monday.month}月{monday.day}日当周",
    )


def resolve_period(key: str, now: datetime, tz: ZoneInfo = SHANGHAI) -> ReportPeriod:
    """A named period (PERIOD_WORDS) as of now. Raises ValueError for an unknown key."""
    now = now.astimezone(UTC)
    today = now.astimezone(tz).date()
    if key == "all":
        return ReportPeriod("all", None, None, False, "全部时间")
    if key in ROLLING_DAYS:
        start = now - timedelta(days=ROLLING_DAYS[key])
        fmt = "%Y-%m-%d %H:%M"
        return ReportPeriod(
            key,
            start,
            now,
            True,
            f"{PERIOD_WORDS[key]}（{start.astimezone(tz).strftime(fmt)}～"
            f"{now.astimezone(tz).strftime(fmt)}）",
        )
    if key == "today":
        return calendar_period(key, today, today + timedelta(days=1), tz)
    if key in ("this_week", "last_week"):
        lo = week_monday(today) - timedelta(days=7 if key == "last_week" else 0)
        return calendar_period(key, lo, lo + timedelta(days=7), tz)
    if key in ("this_month", "last_month"):
        lo = _add_months(date(today.year, today.month, 1), -1 if key == "last_month" else 0)
        return calendar_period(key, lo, _add_months(lo, 1), tz)
    if key in ("this_quarter", "last_quarter"):
        q0 = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        lo = _add_months(q0, -3 if key == "last_quarter" else 0)
        return calendar_period(key, lo, _add_months(lo, 3), tz)
    raise ValueError(f"unknown period {key!r}")
