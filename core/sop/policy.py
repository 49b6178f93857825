"""The organisation's SOP rule settings: when reminders go out, who gets an escalation, and when.

`SopPolicy()` holds the seed defaults. An organisation overrides any of them in `org_config` under the
key "sop" (read with `SopPolicy.from_config`); unknown keys are an error, so a typo never silently
falls back to a default. Every time of day is local time in `tz`.

    {"follow_up_remind_at": "09:00", "spread_minutes": 20, "follow_up_escalate_after_hours": 24,
     "promise_remind_before_hours": 24, "promise_escalate_after_hours": 24,
     "stale_after_hours": 72, "stale_ladder": [{"after_hours": 24, "role": "supervisor"},
                                              {"after_hours": 24, "role": "regional_manager"}],
     "stale_snooze_hours": 24, "stale_snooze_max_days": 7, "stale_scan_every_minutes": 60,
     "approval_chain": ["supervisor", "regional_manager", "finance_director"],
     "approval_sla_hours": 24, "approval_escalate_after_hours": 24,
     "payment_grace_hours": 24, "payment_notify_roles": ["supervisor", "finance_director"],
     "brief_at": "08:30", "brief_roles": ["supervisor"], "brief_tag_days": 7,
     "calendar_remind_before_secs": 3600, "calendar_event_minutes": 60,
     "import_backlog": "digest", "backlog_digest_items": 3,
     "target_adjust_limit_pct": 5, "target_green_pace": 0.9, "target_red_pace": 0.6, "target_red_weeks": 2,
     "target_check_weekday": 0, "target_check_at": "09:00", "target_escalate_after_hours": 48,
     "target_report_roles": ["sales_director"], "tz": "Asia/Shanghai"}

An import of history (`python main.py import`, the demo's sample data) brings items that are already due:
customers stale at import time, contracts already overdue. `import_backlog` says what happens to them:
"digest" (the default) — none gets an alert of its own; each person gets ONE catch-up message at the first
sweep (counts, the `backlog_digest_items` oldest items of each kind, 1..5, and the question that lists the
rest), and live alerts start with the items that fall due after the import; "alerts" — one alert per item,
as if each had just fallen due (the behaviour before the digest). Either way a customer younger than
`stale_after` (created_at, or the import time when the file has no 建档日期) is never stale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.clock import ORG_ZONE_NAME
from core.roles import ROLES

# WeCom's oa/schedule accepts only these reminder offsets (docs/wecom-protocol.md §4.5)
CALENDAR_REMIND_CHOICES = (0, 300, 900, 3600, 86400)
# what an import does with items already due: one catch-up digest per person, or one alert per item
IMPORT_BACKLOG_CHOICES = ("digest", "alerts")


@dataclass(frozen=True)
class LadderStep:
    """One rung of the stale-customer ladder: `after` the previous rung, alert the nearest `role` above the owner."""

    after: timedelta
    role: str


@dataclass(frozen=True)
class SopPolicy:
    tz: str = ORG_ZONE_NAME
    # follow-ups (回访): a reminder on the due day's morning, escalation a day later if still not done
    follow_up_remind_at: time = time(9, 0)
    spread_minutes: int = 20  # reminders spread deterministically over this many minutes, never at :00/:30
    follow_up_escalate_after: timedelta = timedelta(days=1)
    # promises (承诺): the day before, at the due time, then overdue → the rep's supervisor
    promise_remind_before: timedelta = timedelta(days=1)
    promise_escalate_after: timedelta = timedelta(days=1)
    # stale customers (超72小时未跟进)
    stale_after: timedelta = timedelta(hours=72)
    stale_ladder: tuple[LadderStep, ...] = (
        LadderStep(timedelta(hours=24), "supervisor"),
        LadderStep(timedelta(hours=24), "regional_manager"),
    )
    stale_snooze: timedelta = timedelta(hours=24)
    stale_snooze_max: timedelta = timedelta(days=7)
    stale_scan_every: timedelta = timedelta(hours=1)
    # approvals (价格异议审批)
    approval_chain: tuple[str, ...] = ("supervisor", "regional_manager", "finance_director")
    approval_sla: timedelta = timedelta(hours=24)  # then remind the approver
    approval_escalate_after: timedelta = timedelta(hours=24)  # after the reminder: the approver's manager
    # payments (回款逾期)
    payment_grace: timedelta = timedelta(hours=24)
    payment_notify_roles: tuple[str, ...] = ("supervisor", "finance_director")
    # the daily brief (每日简报)
    brief_at: time = time(8, 30)
    brief_roles: tuple[str, ...] = ("supervisor",)
    brief_tag_days: int = 7
    # calendar entries (企业微信日程)
    calendar_remind_before_secs: int = 3600
    calendar_event_minutes: int = 60
    # an import of history: what is already due goes into one catch-up digest per person, or alerts one by one
    import_backlog: str = "digest"
    backlog_digest_items: int = 3
    # targets (目标, docs/targets.md): how far a supervisor or regional manager may move a store's target, and
    # the health lights on pace (attainment ÷ elapsed share of the period), checked weekly
    target_adjust_limit_pct: float = 5.0
    target_green_pace: float = 0.9  # at or above: green
    target_red_pace: float = 0.6  # below: yellow, and red after `target_red_weeks` consecutive weekly checks
    target_red_weeks: int = 2
    target_check_weekday: int = 0  # Monday (0) … Sunday (6)
    target_check_at: time = time(9, 0)
    target_escalate_after: timedelta = timedelta(hours=48)  # red and still no action: the supervisor
    target_report_roles: tuple[str, ...] = ("sales_director",)  # the monthly penetration report

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @staticmethod
    def from_config(config: Mapping[str, Any] | None) -> SopPolicy:
        """Defaults overridden by an organisation's settings. Raises ValueError on a bad or unknown key."""
        policy = SopPolicy()
        if not config:
            return policy
        changes: dict[str, Any] = {}
        for key, value in config.items():
            if key not in _READERS:
                raise ValueError(f"unknown SOP setting {key!r}")
            name, read = _READERS[key]
            changes[name] = read(value)
        policy = replace(policy, **changes)
        policy.validate()
        return policy

    def validate(self) -> None:
        ZoneInfo(self.tz)
        if not 1 <= self.spread_minutes <= 29:
            raise ValueError("spread_minutes must be 1..29")
        for role in (
            *self.approval_chain,
            *self.brief_roles,
            *self.payment_notify_roles,
            *(s.role for s in self.stale_ladder),
        ):
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}")
        if self.calendar_remind_before_secs not in CALENDAR_REMIND_CHOICES:
            raise ValueError(f"calendar_remind_before_secs must be one of {CALENDAR_REMIND_CHOICES}")
        for name in (
            "follow_up_escalate_after",
            "promise_escalate_after",
            "stale_after",
            "stale_snooze",
            "stale_snooze_max",
            "stale_scan_every",
            "approval_sla",
            "approval_escalate_after",
        ):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if self.payment_grace < timedelta(0) or self.promise_remind_before < timedelta(0):
            raise ValueError("durations must not be negative")
        if self.import_backlog not in IMPORT_BACKLOG_CHOICES:
            raise ValueError(f"import_backlog must be one of {IMPORT_BACKLOG_CHOICES}")
        if not 1 <= self.backlog_digest_items <= 5:
            raise ValueError("backlog_digest_items must be 1..5")
        if not 0 < self.target_adjust_limit_pct <= 50:
            raise ValueError("target_adjust_limit_pct must be in (0, 50]")
        if not 0 < self.target_red_pace <= self.target_green_pace:
            raise ValueError("target_red_pace must be positive and not above target_green_pace")
        if not 1 <= self.target_red_weeks <= 12 or not 0 <= self.target_check_weekday <= 6:
            raise ValueError("target_red_weeks must be 1..12 and target_check_weekday 0..6")
        if self.target_escalate_after <= timedelta(0):
            raise ValueError("target_escalate_after must be positive")
        for role in self.target_report_roles:
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}")
        if not 1 <= self.brief_tag_days <= 366 or not 5 <= self.calendar_event_minutes <= 24 * 60:
            raise ValueError("brief_tag_days or calendar_event_minutes out of range")


def _clock_time(v: Any) -> time:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(v).strip())
    if not m:
        raise ValueError(f"not a time of day HH:MM: {v!r}")
    return time(int(m.group(1)), int(m.group(2)))


def _hours(v: Any) -> timedelta:
    return timedelta(hours=float(v))


def _minutes(v: Any) -> timedelta:
    return timedelta(minutes=float(v))


def _days(v: Any) -> timedelta:
    return timedelta(days=float(v))


def _roles(v: Any) -> tuple[str, ...]:
    if isinstance(v, str) or not all(isinstance(r, str) for r in v):
        raise ValueError("a list of roles is expected")
    return tuple(v)


def _ladder(v: Any) -> tuple[LadderStep, ...]:
    return tuple(LadderStep(after=_hours(s["after_hours"]), role=str(s["role"])) for s in v)


_READERS: dict[str, tuple[str, Any]] = {
    "tz": ("tz", str),
    "follow_up_remind_at": ("follow_up_remind_at", _clock_time),
    "spread_minutes": ("spread_minutes", int),
    "follow_up_escalate_after_hours": ("follow_up_escalate_after", _hours),
    "promise_remind_before_hours": ("promise_remind_before", _hours),
    "promise_escalate_after_hours": ("promise_escalate_after", _hours),
    "stale_after_hours": ("stale_after", _hours),
    "stale_ladder": ("stale_ladder", _ladder),
    "stale_snooze_hours": ("stale_snooze", _hours),
    "stale_snooze_max_days": ("stale_snooze_max", _days),
    "stale_scan_every_minutes": ("stale_scan_every", _minutes),
    "approval_chain": ("approval_chain", _roles),
    "approval_sla_hours": ("approval_sla", _hours),
    "approval_escalate_after_hours": ("approval_escalate_after", _hours),
    "payment_grace_hours": ("payment_grace", _hours),
    "payment_notify_roles": ("payment_notify_roles", _roles),
    "brief_at": ("brief_at", _clock_time),
    "brief_roles": ("brief_roles", _roles),
    "brief_tag_days": ("brief_tag_days", int),
    "calendar_remind_before_secs": ("calendar_remind_before_secs", int),
    "calendar_event_minutes": ("calendar_event_minutes", int),
    "import_backlog": ("import_backlog", str),
    "backlog_digest_items": ("backlog_digest_items", int),
    "target_adjust_limit_pct": ("target_adjust_limit_pct", float),
    "target_green_pace": ("target_green_pace", float),
    "target_red_pace": ("target_red_pace", float),
    "target_red_weeks": ("target_red_weeks", int),
    "target_check_weekday": ("target_check_weekday", int),
    "target_check_at": ("target_check_at", _clock_time),
    "target_escalate_after_hours": ("target_escalate_after", _hours),
    "target_report_roles": ("target_report_roles", _roles),
}
