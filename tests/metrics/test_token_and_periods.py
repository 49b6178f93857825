"""Pure parts: the dashboard link token and the report periods (the spec's time rules)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.dashboard_token import TokenError, derive_key, make_token, read_token
from core.periods import SHANGHAI, resolve_period

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 Shanghai
KEY = derive_key("secret")


def test_token_round_trip_and_refusals():
    token = make_token(KEY, "sup_e2", expires_at=NOW + timedelta(hours=1))
    assert read_token(KEY, token, now=NOW)[0] == "sup_e2"
    with pytest.raises(TokenError) as e:
        read_token(KEY, token, now=NOW + timedelta(hours=1))
    assert e.value.reason == "expired"
    payload, mac = token.split(".")
    for bad in (
        None,
        "",
        "abc",
        token + "0",
        f"{payload}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}",
        make_token(derive_key("other"), "sup_e2", expires_at=NOW + timedelta(hours=1)),
        "a.b.c",
    ):
        with pytest.raises(TokenError) as e:
            read_token(KEY, bad, now=NOW)
        assert e.value.reason == "invalid"
    assert derive_key("secret") != derive_key("other") and len(KEY) == 32


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
