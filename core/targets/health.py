"""Health lights of targets (docs/targets.md § Health lights): pace = attainment ÷ the elapsed share of the
period, judged at each weekly check against the organisation's thresholds (core/sop/policy.py):
- green: pace ≥ `target_green_pace` (0.9);
- yellow: below green; also a first check below `target_red_pace` (0.6);
- red: `target_red_weeks` (2) consecutive weekly checks below the red pace, and no action recorded since the
  first of them. A check more than 10 days after the one before breaks the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

GREEN, YELLOW, RED = "green", "yellow", "red"
LIGHT_WORDS = {GREEN: "绿灯", YELLOW: "黄灯", RED: "红灯"}
MAX_GAP_DAYS = 10


@dataclass(frozen=True)
class Thresholds:
    green: float = 0.9
    red: float = 0.6
    weeks: int = 2


@dataclass(frozen=True)
class Check:
    checked_on: date
    pace: float | None


def below(pace: float | None, th: Thresholds) -> bool:
    return pace is not None and pace < th.red


def light(
    pace: float | None,
    earlier: Sequence[Check],
    th: Thresholds,
    *,
    today: date,
    action_since: date | None,
) -> tuple[str, date | None]:
    """This check's light, and the first day of the run below the red pace (None when not below).
    `earlier`: the node's previous checks of the period, newest first; `action_since`: the latest day an
    action was recorded for the node in the period (None: never)."""
    if pace is None or pace >= th.green:
        return GREEN, None
    if not below(pace, th):
        return YELLOW, None
    run = [today]
    for c in earlier:
        if not below(c.pace, th) or (run[-1] - c.checked_on).days > MAX_GAP_DAYS:
            break
        run.append(c.checked_on)
    start = run[-1]
    if len(run) >= th.weeks and (action_since is None or action_since < start):
        return RED, start
    return YELLOW, start
