"""Time is a port: production reads the system clock, tests and `--now` fix it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# The organisation's zone, named once. China keeps one time zone, and the import contract and the meaning of
# managers' words both read local times in it (docs/import-format.md, docs/nlq-semantics.md § Time), so it is
# not a setting.
ORG_ZONE_NAME = "Asia/Shanghai"
ORG_ZONE = ZoneInfo(ORG_ZONE_NAME)
SHANGHAI = ORG_ZONE


class Clock(Protocol):
    def now(self) -> datetime:  # aware, UTC
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock tests move by hand. Never sleeps."""

    def __init__(self, at: datetime):
        self._at = as_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = as_utc(at)

    def advance(self, **kwargs: float) -> datetime:
        self._at = self._at + timedelta(**kwargs)
        return self._at


def as_utc(at: datetime) -> datetime:
    """Aware UTC; a naive time is Asia/Shanghai local time (the import contract's rule)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=SHANGHAI)
    return at.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """ISO 8601 → aware UTC; without an offset it is Asia/Shanghai local time."""
    return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def local(at: datetime, tz: ZoneInfo = SHANGHAI) -> datetime:
    return as_utc(at).astimezone(tz)
