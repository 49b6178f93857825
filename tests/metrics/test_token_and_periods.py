"""Pure parts: the report periods (the spec's time rules) and what a sign-in may return to."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.periods import SHANGHAI, resolve_period
from core.web_session import in_wecom, safe_next, same_state

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 Shanghai


def test_sign_in_returns_only_to_a_local_path_and_compares_states():
    assert safe_next("/dashboard/customers?tier=red") == "/dashboard/customers?tier=red"
    for bad in (
        None,
        "",
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "dashboard",
        "/看板",
        "/x\r\nSet-Cookie: a=b",
        "/" + "a" * 2000,
    ):
        assert safe_next(bad) == "/dashboard", bad
    assert same_state("abc123", "abc123") and not same_state("abc123", "abc124")
    assert not same_state(None, None) and not same_state("", "") and not same_state("状态", "状态")
    assert in_wecom("Mozilla/5.0 ... wxwork/4.1.22 MicroMessenger/7.0.1") and not in_wecom(
        "Mozilla/5.0 Chrome/120"
    )


def test_periods_follow_the_spec():
    week = resolve_period("this_week", NOW)
    assert week.start == datetime(2026, 11, 23, tzinfo=SHANGHAI) and not week.end_inclusive
    assert week.label == "本周（2026-11-23～2026-11-29）"
    last = resolve_period("last_week", NOW)
    assert last.date_bounds() == (date(2026, 11, 16), date(2026, 11, 22))
    rolling = resolve_period("last_7_days", NOW)
    assert rolling.end == NOW and rolling.end_inclusive and rolling.contains(NOW)
    assert rolling.contains(NOW - timedelta(days=7)) and not rolling.contains(
        NOW - timedelta(days=7, seconds=1)
    )
    assert rolling.date_bounds() == (
        date(2026, 11, 17),
        date(2026, 11, 23),
    )  # 11-16 00:00 is before the start
    assert resolve_period("last_quarter", NOW).label == "上季度（2026-07-01～2026-09-30）"
    assert resolve_period("all", NOW).date_bounds() == (None, None)
    assert last.as_of(NOW) == datetime(2026, 11, 23, tzinfo=SHANGHAI) - timedelta(microseconds=1)
    assert week.as_of(NOW) == NOW
    with pytest.raises(ValueError):
        resolve_period("next_week", NOW)
