"""nlq.timewords v2: windows know their kind (unit) and whether they are still running; reference() is 环比 / 同比
(like for like while running) and buckets() the trend's calendar buckets — checked against the v2 oracle's own
calendar (tests/nlq/v2/oracle_v2.Clock), which was written from the spec alone."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.clock import SHANGHAI
from nlq.spec import Period, Span
from nlq.timewords import buckets, reference, resolve
from tests.nlq.v2.oracle_v2 import Clock, GoldError

NOWS = [
    datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI),  # the dataset's Monday morning
    datetime(2026, 11, 16, 15, 0, tzinfo=SHANGHAI),  # the spec's 16th
    datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI),
    datetime(2026, 1, 1, 0, 0, tzinfo=SHANGHAI),  # the first instant of a year
    datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI),
    datetime(2024, 2, 29, 12, 0, tzinfo=SHANGHAI),  # a leap day: 同比 falls on the 28th
    datetime(2026, 5, 31, 18, 30, tzinfo=SHANGHAI),
]
NAMED = {
    "today": "today",
    "yesterday": "yesterday",
    "day_before": "day_before_yesterday",
    "this_week": "this_week",
    "last_week": "last_week",
    "this_month": "this_month",
    "last_month": "last_month",
    "this_quarter": "this_quarter",
    "last_quarter": "last_quarter",
    "this_year": "this_year",
    "last_year": "last_year",
}
EXPLICIT = [
    "week_before_last",
    "month_before_last",
    "year_before_last",
    "ytd",
    "mtd",
    "month:10",
    "month:2",
    "quarter:1",
    "quarter:4",
    "half:1",
    "half:2",
    "day:11-5",
    "dom:1",
]
ROLLING = {
    "last:7d": Span(amount=7, unit="day"),
    "last:72h": Span(amount=72, unit="hour"),
    "last:1m": Span(amount=1, unit="month"),
}


def period_of(tok: str, clock: Clock) -> Period:
    if tok in NAMED:
        return Period(kind=NAMED[tok])
    if tok in ROLLING:
        return Period(kind="rolling", span=ROLLING[tok])
    s = clock.resolve(tok)
    assert s is not None
    return Period(kind="between", start=s.lo, end=s.hi, end_inclusive=s.hi_closed, unit=s.unit, label=tok)


def same(window, span) -> bool:
    return (window.start, window.end, window.end_inclusive) == (span.lo, span.hi, span.hi_closed)


@pytest.mark.parametrize("now", NOWS, ids=lambda n: n.isoformat())
def test_windows_carry_their_kind_and_whether_they_run(now):
    clock = Clock(now)
    for tok in [*NAMED, *EXPLICIT, *ROLLING]:
        span = clock.resolve(tok)
        w = resolve(period_of(tok, clock), now)
        assert same(w, span), tok
        assert w.unit == span.unit, tok
        assert w.running == span.running, tok


@pytest.mark.parametrize("now", NOWS, ids=lambda n: n.isoformat())
@pytest.mark.parametrize("compare,ref", [("previous", "prev"), ("year_ago", "yoy")])
def test_reference_periods_are_the_oracles(now, compare, ref):
    clock = Clock(now)
    checked = 0
    for tok in [*NAMED, *EXPLICIT, *ROLLING]:
        if ref == "yoy" and tok in ROLLING:
            continue  # 同比 of 最近N天 is not asked anywhere
        try:
            want_cur, want_prev = clock.compare(clock.resolve(tok), ref)
        except GoldError:
            continue
        cur, prev = reference(resolve(period_of(tok, clock), now), compare, now)
        assert same(cur, want_cur), (tok, cur, want_cur.words())
        assert same(prev, want_prev), (tok, prev, want_prev.words())
        assert cur.label and prev.label
        checked += 1
    assert checked >= 20


def test_a_running_month_is_compared_like_for_like():
    now = datetime(2026, 11, 16, 15, 0, tzinfo=SHANGHAI)
    cur, prev = reference(resolve(Period(kind="this_month"), now), "previous", now)
    assert cur.span_words == "2026-11-01 00:00～2026-11-16 15:00"
    assert prev.span_words == "2026-10-01 00:00～2026-10-16 15:00"
    cur, prev = reference(resolve(Period(kind="last_month"), now), "previous", now)  # finished: whole
    assert (cur.span_words, prev.span_words) == ("2026-10-01～2026-10-31", "2026-09-01～2026-09-30")


@pytest.mark.parametrize("now", NOWS, ids=lambda n: n.isoformat())
@pytest.mark.parametrize("unit,n", [("week", 8), ("week", 1), ("month", 6), ("month", 13)])
def test_trend_buckets_are_the_oracles(now, unit, n):
    want = Clock(now).buckets(unit, n)
    got = buckets(unit, n, now)
    assert [k for k, _ in got] == [k for k, _ in want]
    assert all(same(w, s) for (_, w), (_, s) in zip(got, want, strict=True))
