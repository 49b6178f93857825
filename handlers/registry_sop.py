"""Import the SOP engine's handler modules so their card actions, waited-for replies and text commands
register with handlers.router. The composition root imports this module once at startup.

Registered here:
- card actions: "appr:ok|no:<step>" (approvals), "stale:ok|snooze:<timer>" (stale ladder),
  "promise:done:<promise>" (promise and follow-up reminders);
- states: sop_approval_reject_reason (驳回 reason), sop_stale_snooze_reason (延后 reason);
- text: 「通过/同意/驳回 [#编号] [意见]」, 「日历订阅」.
"""
from __future__ import annotations

from handlers.links import calendar as calendar_link
from handlers.sop import (
    approvals,  # noqa: F401 - imported to register
    promises,
    stale,
)

MODULES = (approvals, calendar_link, promises, stale)
