"""Target periods: a month (2026-05), a quarter (2026Q2) or a year (2026), as half-open date ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})\s*[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


class BadPeriod(ValueError):
    """The period is not 2026-05, 2026Q2 or 2026; the message is Chinese."""


def add_months(d: date, months: int) -> date:
    """The first of the month `months` after d's month (d's day is ignored)."""
    n = d.year * 12 + (d.month - 1) + months
    return date(n // 12, n % 12 + 1, 1)


def month_start(d: date) -> date:
    return date(d.year, d.month, 1)


@dataclass(frozen=True)
class TargetPeriod:
    key: str  # canonical: 2026-05 | 2026Q2 | 2026
    kind: str  # month | quarter | year
    start: date  # first day
    end: date  # first day after

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        """Chinese: 2026年5月, 2026年第2季度, 2026年."""
        if self.kind == "month":
            return f"{self.start.year}年{self.start.month}月"
        if self.kind == "quarter":
            return f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        return f"{self.start.year}年"

    def shifted_years(self, years: int) -> tuple[date, date]:
        """The same period `years` earlier (negative) or later."""
        return add_months(self.start, 12 * years), add_months(self.end, 12 * years)

    def elapsed_share(self, today: date) -> float:
        """How much of the period has passed by the end of `today` (0..1)."""
        if today < self.start:
            return 0.0
        if today >= self.end:
            return 1.0
        return ((today - self.start).days + 1) / self.days

    def contains(self, d: date) -> bool:
        return self.start <= d < self.end


def parse_period(text: str) -> TargetPeriod:
    s = text.strip()
    m = _MONTH.match(s)
    if m and 1 <= int(m.group(2)) <= 12:
        y, mo = int(m.group(1)), int(m.group(2))
        start = date(y, mo, 1)
        return TargetPeriod(f"{y:04d}-{mo:02d}", "month", start, add_months(start, 1))
    m = _QUARTER.match(s)
    if m:
        y, q = int(m.group(1)), int(m.group(2))
        start = date(y, 3 * (q - 1) + 1, 1)
        return TargetPeriod(f"{y:04d}Q{q}", "quarter", start, add_months(start, 3))
    m = _YEAR.match(s)
    if m:
        y = int(m.group(1))
        return TargetPeriod(f"{y:04d}", "year", date(y, 1, 1), date(y + 1, 1, 1))
    raise BadPeriod(f"周期应为月（2026-05）、季度（2026Q2）或年（2026），实际为“{text}”")


def period_of(kind: str, today: date) -> TargetPeriod:
    """The month, quarter or year that contains `today`."""
    if kind == "month":
        return parse_period(f"{today.year}-{today.month:02d}")
    if kind == "quarter":
        return parse_period(f"{today.year}Q{(today.month - 1) // 3 + 1}")
    return parse_period(str(today.year))
