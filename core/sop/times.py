"""When each SOP timer is due. Pure functions of the policy, a fact's time and a business key.

WeCom asks senders to avoid minute :00 and :30 (congestion delays delivery), so reminders are spread
deterministically over a few minutes: the same business key always gets the same minute, different
keys spread out, and no result lands on :00 or :30.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta

from core.sop.policy import SopPolicy


def key_number(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def spread_offset(key: str, spread_minutes: int) -> timedelta:
    """1..spread_minutes minutes plus a few seconds, the same for the same key."""
    n = key_number(key)
    return timedelta(minutes=1 + n % max(1, spread_minutes), seconds=(n >> 16) % 50)


def avoid_rush(at: datetime, key: str, *, earlier: bool = False, spread_minutes: int = 9) -> datetime:
    """Move a time that falls in minute :00 or :30 by a few minutes (earlier for a reminder before a
    deadline, later otherwise). Other times are kept as they are."""
    if at.minute not in (0, 30):
        return at
    offset = spread_offset(key, min(spread_minutes, 9))
    return at - offset if earlier else at + offset


def local_day(at: datetime, policy: SopPolicy) -> date:
    return at.astimezone(policy.zone).date()


def at_local(day: date, clock_time: time, policy: SopPolicy) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=policy.zone).astimezone(UTC)


def morning_slot(day: date, key: str, policy: SopPolicy) -> datetime:
    """The reminder time on a day: the policy's morning hour plus the key's spread minutes."""
    base = at_local(day, policy.follow_up_remind_at, policy)
    return avoid_rush(base + spread_offset(key, policy.spread_minutes), key)


def follow_up_remind_at(due_at: datetime, key: str, policy: SopPolicy) -> datetime:
    """A follow-up is reminded on the morning of its due day."""
    return morning_slot(local_day(due_at, policy), key, policy)


def follow_up_escalate_at(remind_at: datetime, key: str, policy: SopPolicy) -> datetime:
    return avoid_rush(remind_at + policy.follow_up_escalate_after, key)


def promise_before_at(due_at: datetime, key: str, policy: SopPolicy) -> datetime | None:
    if policy.promise_remind_before <= timedelta(0):
        return None
    return avoid_rush(due_at - policy.promise_remind_before, key, earlier=True)


def promise_due_at(due_at: datetime, key: str) -> datetime:
    return avoid_rush(due_at, key, earlier=True)


def promise_escalate_at(due_at: datetime, key: str, policy: SopPolicy) -> datetime:
    return avoid_rush(due_at + policy.promise_escalate_after, key)


def payment_alert_at(due_on: date, key: str, policy: SopPolicy) -> datetime:
    """A contract is overdue from the day after `due_on`; after the grace period the alert goes out at the
    next morning slot (never in the night)."""
    overdue_from = at_local(due_on + timedelta(days=1), time(0, 0), policy)
    earliest = overdue_from + policy.payment_grace
    day = local_day(earliest, policy)
    slot = morning_slot(day, key, policy)
    return slot if slot >= earliest else morning_slot(day + timedelta(days=1), key, policy)


def next_daily_brief(after: datetime, policy: SopPolicy) -> tuple[date, datetime]:
    """The first brief strictly after `after`: (its local date, its time)."""
    day = local_day(after, policy)
    at = at_local(day, policy.brief_at, policy)
    if at <= after:
        day = day + timedelta(days=1)
        at = at_local(day, policy.brief_at, policy)
    return day, at


def next_stale_scan(after: datetime, policy: SopPolicy) -> datetime:
    """Scans run on a fixed grid (every `stale_scan_every`, offset 7 minutes off the hour)."""
    step = int(policy.stale_scan_every.total_seconds())
    offset = 7 * 60
    epoch = int(after.timestamp())
    n = (epoch - offset) // step + 1
    return datetime.fromtimestamp(n * step + offset, tz=UTC)


def epoch_seconds(at: datetime | None) -> int:
    """Whole seconds since the epoch (floor), the form a touch time takes in a business key; 0 = never."""
    if at is None:
        return 0
    return int(at.timestamp() // 1)
