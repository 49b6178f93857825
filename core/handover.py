"""Hand-over when someone leaves or moves: who decides, who may take over, what happens without a choice.

Pure rules (docs/handover.md). A person's book is handed over when they are deactivated (they left: 离职) or
moved (import or sync changed their manager or region while they stay: 调岗). The manager who decides is the
person's manager before the move (the nearest active one above); the candidates are the active reps that
manager leads (direct reports, the leaving person excluded), and the manager themself. Without a choice within
`auto_after` the book goes to `fallback`: "manager" (the default: the deciding manager takes it).

The organisation overrides the defaults in `org_config` under the key "handover":
    {"auto_after_hours": 24, "fallback": "manager"}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.org import OrgTree

LEFT = "left"  # deactivated: 离职继承 in WeCom
MOVED = "moved"  # manager or region changed: 在职继承 in WeCom
REASONS = (LEFT, MOVED)
FALLBACKS = ("manager",)
MAX_CANDIDATES = 6  # buttons on one card (WeCom's button_interaction card shows at most 6)


@dataclass(frozen=True)
class HandoverPolicy:
    auto_after: timedelta = timedelta(hours=24)
    fallback: str = "manager"

    @classmethod
    def from_config(cls, value: Mapping[str, Any] | None) -> HandoverPolicy:
        """The stored overrides; an unknown key or a bad value raises ValueError (never a silent default)."""
        if not value:
            return cls()
        unknown = set(value) - {"auto_after_hours", "fallback"}
        if unknown:
            raise ValueError(f"unknown handover settings: {sorted(unknown)}")
        hours = value.get("auto_after_hours", 24)
        if not isinstance(hours, int | float) or isinstance(hours, bool) or not 1 <= hours <= 24 * 14:
            raise ValueError("auto_after_hours must be a number of hours between 1 and 336")
        fallback = value.get("fallback", "manager")
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}")
        return cls(auto_after=timedelta(hours=float(hours)), fallback=str(fallback))


def decider(tree: OrgTree, userid: str, *, manager_before: str | None = None) -> str | None:
    """Who chooses the successor: the manager before the change when active, else the next active one above
    (the person's manager chain as it stands). None: nobody above (an admin must hand over by hand)."""
    if manager_before and tree.is_active(manager_before):
        return manager_before
    if manager_before and tree.person(manager_before) is not None:
        above = tree.active_manager_of(manager_before)
        if above is not None:
            return above
    return tree.active_manager_of(userid)


def candidates(tree: OrgTree, decider_id: str, leaving: str, reps_of_decider: list[str]) -> list[str]:
    """Who may take the book: the decider's active reps (the leaving person excluded), at most
    MAX_CANDIDATES - 1 of them, then the decider themself."""
    reps = [u for u in sorted(set(reps_of_decider)) if u != leaving and tree.is_active(u)]
    return reps[: MAX_CANDIDATES - 1] + [decider_id]


def fallback_successor(policy: HandoverPolicy, decider_id: str) -> str:
    """The successor when nobody chose within `auto_after`."""
    return decider_id  # "manager": the only fallback so far


def may_take_over(tree: OrgTree, decider_id: str, successor: str, leaving: str) -> bool:
    """A successor the decider may pick: active, not the leaving person, the decider or someone they lead."""
    if successor == leaving or not tree.is_active(successor):
        return False
    return successor == decider_id or decider_id in tree.manager_chain(successor)


def is_move(
    before: Mapping[str, Any], after: Mapping[str, Any], *, old_manager_active: bool, rep_role: str = "rep"
) -> bool:
    """A rep moved (their book is handed over by their old manager): still active, and their region changed, or
    their manager changed while the old manager stays (a manager who left, or a reshuffle above the team that
    re-attaches it, leaves the rep with their customers)."""
    if not after.get("active", True) or after.get("role") != rep_role:
        return False
    if before.get("region") != after.get("region"):
        return True
    old = before.get("manager_userid")
    return bool(old) and old != after.get("manager_userid") and old_manager_active


def wecom_mode(reason: str) -> str:
    """WeCom's own transfer: 离职继承 (resigned) for a departure, 在职继承 (on_job) for a move."""
    return "resigned" if reason == LEFT else "on_job"
