"""A store's baseline for a target period, from its order history (docs/targets.md § Baseline).

The history is read up to the *cutoff*: the earlier of the first day of the period and the first day of the
current month (a month still running is never history). Three windows:
- R: the 3 complete months before the cutoff (the recent trend, order frequency, 客单价);
- S: the 6 complete months before the cutoff (the run rate);
- LY: the same period one year earlier, used only when it ended by the cutoff.

Methods, first that applies:
1. `same_period_last_year`: LY sales > 0 → LY × trend, trend = R ÷ (R one year earlier), clamped to
   [0.5, 2]; 1 when R one year earlier had no sales.
2. `run_rate`: S sales > 0 → S sales ÷ (months of S the store existed: from its first order's month, at least
   1) × months in the period.
3. `new_store_floor`: no sales in LY or S → the floor: half the median baseline of the stores of the same city
   that have one (else of the whole organisation; 0 when nobody has history).
Amounts are integers in fen; fractions are rounded half up once, at the end.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import NamedTuple

from core.targets.periods import TargetPeriod, add_months, month_start

TREND_MIN = Fraction(1, 2)
TREND_MAX = Fraction(2)
RECENT_MONTHS = 3
RUN_RATE_MONTHS = 6
FLOOR_SHARE = Fraction(1, 2)


@dataclass(frozen=True)
class Windows:
    cutoff: date
    recent: tuple[date, date]  # R
    recent_ly: tuple[date, date]  # R one year earlier
    six: tuple[date, date]  # S
    ly: tuple[date, date] | None  # LY, None when it had not ended by the cutoff


def windows(period: TargetPeriod, as_of: date) -> Windows:
    cutoff = min(period.start, month_start(as_of))
    recent = (add_months(cutoff, -RECENT_MONTHS), cutoff)
    ly_start, ly_end = period.shifted_years(-1)
    return Windows(
        cutoff=cutoff,
        recent=recent,
        recent_ly=(add_months(recent[0], -12), add_months(recent[1], -12)),
        six=(add_months(cutoff, -RUN_RATE_MONTHS), cutoff),
        ly=(ly_start, ly_end) if ly_end <= cutoff else None,
    )


class StoreHistory(NamedTuple):
    """A store's sales in the windows, in fen, and what else the weights need (a tuple: 500,000 are made at
    once)."""

    ly_fen: int = 0
    recent_fen: int = 0
    recent_ly_fen: int = 0
    six_fen: int = 0
    recent_orders: int = 0
    first_on: date | None = None  # first order before the cutoff


class Baseline(NamedTuple):
    fen: int
    method: str  # same_period_last_year | run_rate | new_store_floor
    trend_num: int = 1  # the trend as an exact ratio (clamped), same_period_last_year only
    trend_den: int = 0
    months_active: int | None = None

    @property
    def trend(self) -> Fraction | None:
        return Fraction(self.trend_num, self.trend_den) if self.trend_den else None

    def words(self, h: StoreHistory, period: TargetPeriod) -> str:
        from core.targets.split import yuan

        if self.method == "same_period_last_year":
            return (
                f"去年同期{yuan(h.ly_fen)} × 近{RECENT_MONTHS}月趋势{self.trend_num / self.trend_den:.2f}"
                f"（近{RECENT_MONTHS}月{yuan(h.recent_fen)}，去年同期{yuan(h.recent_ly_fen)}）"
            )
        if self.method == "run_rate":
            active = self.months_active or 1
            monthly = (2 * h.six_fen + active) // (2 * active)
            return f"近{active}个月月均{yuan(monthly)} × {period.months}个月"
        return "无历史订单，按新店保底（同城市有历史门店基数中位数的一半）"


def round_half_up(x: Fraction) -> int:
    if x < 0:
        return -round_half_up(-x)
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def clamp(x: Fraction, lo: Fraction, hi: Fraction) -> Fraction:
    return max(lo, min(hi, x))


def months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def baseline(h: StoreHistory, period: TargetPeriod, w: Windows) -> Baseline:
    """The baseline by history alone; `new_store_floor` comes back with 0 fen (the caller applies the floor).
    Integer arithmetic: the trend is the ratio recent ÷ recent a year earlier, clamped to [1/2, 2]."""
    if w.ly is not None and h.ly_fen > 0:
        num, den = h.recent_fen, h.recent_ly_fen
        if den <= 0:
            num, den = 1, 1
        elif 2 * num <= den:
            num, den = 1, 2
        elif num >= 2 * den:
            num, den = 2, 1
        fen = (2 * h.ly_fen * num + den) // (2 * den)
        return Baseline(fen, "same_period_last_year", trend_num=num, trend_den=den)
    if h.six_fen > 0:
        first = month_start(h.first_on) if h.first_on is not None else w.six[0]
        active = max(1, months_between(max(first, w.six[0]), w.cutoff))
        fen = (2 * h.six_fen * period.months + active) // (2 * active)
        return Baseline(fen, "run_rate", months_active=active)
    return Baseline(0, "new_store_floor")


def floor_of(baselines: Iterable[int]) -> int:
    """Half the (low) median of the baselines with history; 0 when there are none."""
    values = sorted(b for b in baselines if b > 0)
    if not values:
        return 0
    return round_half_up(statistics.median_low(values) * FLOOR_SHARE)
