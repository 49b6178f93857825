"""A promise or follow-up as a WeCom calendar entry (oa/schedule/add|update, current schema,
docs/wecom-protocol.md §4.5). Pure: the caller gives names and times; nothing is sent from here."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from core.sop.policy import CALENDAR_REMIND_CHOICES, SopPolicy

SUMMARY_MAX = 128
DESCRIPTION_MAX = 1000


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_start(due_at: datetime, policy: SopPolicy) -> datetime:
    """The entry starts at the due time; a due date without a time of day (local midnight) starts at the
    policy's morning hour, so the phone does not ring at night."""
    local = due_at.astimezone(policy.zone)
    if local.time() == time(0, 0):
        local = datetime.combine(local.date(), policy.follow_up_remind_at, tzinfo=policy.zone)
    return local


def schedule_body(
    *,
    summary: str,
    description: str,
    start: datetime,
    attendee: str,
    policy: SopPolicy,
    schedule_id: str | None = None,
) -> dict[str, Any]:
    """The `schedule` object of oa/schedule/add (or /update when `schedule_id` is given)."""
    remind = policy.calendar_remind_before_secs
    if remind not in CALENDAR_REMIND_CHOICES:
        raise ValueError(f"remind_before_event_secs must be one of {CALENDAR_REMIND_CHOICES}")
    offset = start.utcoffset() or timedelta(0)
    begin = int(start.timestamp())
    body: dict[str, Any] = {
        "start_time": begin,
        "end_time": begin + policy.calendar_event_minutes * 60,
        "is_whole_day": 0,
        "attendees": [{"userid": attendee}],
        "summary": clip(summary, SUMMARY_MAX),
        "description": clip(description, DESCRIPTION_MAX),
        "reminders": {
            "is_remind": 1,
            "remind_before_event_secs": remind,
            "is_repeat": 0,
            "timezone": int(offset.total_seconds() // 3600),
        },
    }
    if schedule_id:
        body = {"schedule_id": schedule_id, **body}
    return body
