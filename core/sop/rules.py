"""What a due SOP timer does, decided from facts. Pure: no database, no clock, no framework.

Each rule takes the step the timer stands for and the facts re-read at firing time, and answers
Remind (the responsible person), Escalate (someone above), Cancel (the condition no longer holds) or
Done (nothing to send), with the timers that follow (`then`).

Rules, by name:
- follow_up_next_step  回访提醒: due-day morning → rep; +1 day still not followed up → supervisor
- promise_next_step    承诺提醒: the day before and at the due time → rep; overdue → supervisor
- stale_next_step      72小时未跟进: owner, then +24 h supervisor, +24 h regional manager
- approval_next_step   审批时限: SLA passed → remind the approver; then → the approver's manager
- payment_next_step    回款逾期: after the grace period, unpaid → owner's supervisor + finance director
- approval_route       审批链: the next role in the chain that has a person, skipping earlier approvers
- snooze_for           延后时长: the duration a snooze reason asks for, within the policy's bounds
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from core.org import OrgTree
from core.sop.policy import SopPolicy
from core.sop.times import follow_up_escalate_at, promise_escalate_at


@dataclass(frozen=True)
class Next:
    """A timer that follows this one: the step it stands for and when it is due."""

    step: str
    due_at: datetime


@dataclass(frozen=True)
class Remind:
    to: tuple[str, ...]
    then: tuple[Next, ...] = ()


@dataclass(frozen=True)
class Escalate:
    to: tuple[str, ...]
    then: tuple[Next, ...] = ()


@dataclass(frozen=True)
class Cancel:
    reason: str


@dataclass(frozen=True)
class Done:
    reason: str
    then: tuple[Next, ...] = ()


Decision = Remind | Escalate | Cancel | Done


# --- promises and follow-ups ---------------------------------------------------------------------


@dataclass(frozen=True)
class PromiseFacts:
    status: str  # open | done | cancelled
    rep: str
    due_at: datetime
    touched_since: bool  # a visit or interaction with the customer after the promise was made
    supervisor: str | None


def follow_up_next_step(
    step: str, facts: PromiseFacts, *, timer_due: datetime, key: str, policy: SopPolicy
) -> Decision:
    if facts.status != "open":
        return Cancel(f"follow-up {facts.status}")
    if facts.touched_since:
        return Cancel("customer touched since the follow-up was planned")
    if step == "remind":
        return Remind((facts.rep,), then=(Next("overdue", follow_up_escalate_at(timer_due, key, policy)),))
    if step == "overdue":
        if facts.supervisor is None:
            return Done("no supervisor above the rep")
        return Escalate((facts.supervisor,))
    return Cancel(f"unknown step {step}")


def promise_next_step(step: str, facts: PromiseFacts, *, key: str, policy: SopPolicy) -> Decision:
    if facts.status != "open":
        return Cancel(f"promise {facts.status}")
    if step == "before":
        return Remind((facts.rep,))
    if step == "due":
        return Remind((facts.rep,), then=(Next("overdue", promise_escalate_at(facts.due_at, key, policy)),))
    if step == "overdue":
        if facts.supervisor is None:
            return Done("no supervisor above the rep")
        return Escalate((facts.supervisor,))
    return Cancel(f"unknown step {step}")


# --- stale customers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StaleFacts:
    active: bool
    owner: str
    episode_touch: int  # the last touch (epoch seconds, 0 = never) this ladder was started for
    latest_touch: int  # the last touch now
    escalate_to: str | None  # the person with this rung's role above the owner (rungs ≥ 1)


def stale_next_step(step: int, facts: StaleFacts, *, timer_due: datetime, policy: SopPolicy) -> Decision:
    if not facts.active:
        return Cancel("customer is no longer active")
    if facts.latest_touch > facts.episode_touch:
        return Cancel("customer touched since")
    ladder = policy.stale_ladder
    then = (Next(str(step + 1), timer_due + ladder[step].after),) if step < len(ladder) else ()
    if step == 0:
        return Remind((facts.owner,), then=then)
    if facts.escalate_to is None or facts.escalate_to == facts.owner:
        return Done(f"nobody with role {ladder[step - 1].role} above the owner", then=then)
    return Escalate((facts.escalate_to,), then=then)


def stale_role(step: int, policy: SopPolicy) -> str | None:
    """The role a rung escalates to (rung 0 is the owner)."""
    if 1 <= step <= len(policy.stale_ladder):
        return policy.stale_ladder[step - 1].role
    return None


_CN_DIGITS = {
    "一": 1,
    "两": 2,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}


def snooze_for(reason: str, policy: SopPolicy) -> timedelta:
    """`客户出差 3天` → 3 days, `等回电 5小时` → 5 hours; otherwise the policy's default; never above the max."""
    m = re.search(r"(\d+|[一两二三四五六七八九十])\s*(天|日|小时|个小时|h|d)", reason)
    if not m:
        return policy.stale_snooze
    n = int(m.group(1)) if m.group(1).isdigit() else _CN_DIGITS[m.group(1)]
    unit = m.group(2)
    span = timedelta(days=n) if unit in ("天", "日", "d") else timedelta(hours=n)
    return max(timedelta(hours=1), min(span, policy.stale_snooze_max))


# --- approvals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalStepFacts:
    step_status: str  # pending | approved | rejected | escalated
    approval_status: str  # pending | approved | rejected
    is_current: bool  # the step is the approval's current step
    approver: str
    approver_manager: str | None
    manager_already_asked: bool  # the manager already holds this step


def approval_next_step(
    stage: str, facts: ApprovalStepFacts, *, timer_due: datetime, policy: SopPolicy
) -> Decision:
    if facts.approval_status != "pending" or facts.step_status != "pending" or not facts.is_current:
        return Cancel("already decided")
    if stage == "remind":
        return Remind((facts.approver,), then=(Next("escalate", timer_due + policy.approval_escalate_after),))
    if stage == "escalate":
        if facts.approver_manager is None or facts.manager_already_asked:
            return Done("nobody above the approver")
        return Escalate((facts.approver_manager,))
    return Cancel(f"unknown step {stage}")


@dataclass(frozen=True)
class RouteStep:
    index: int  # position in the policy's chain (0-based)
    role: str
    approver: str


def approval_route(
    tree: OrgTree, *, rep: str, chain: tuple[str, ...], start: int, exclude: set[str]
) -> RouteStep | None:
    """The next step of the chain from `start`: a role with a person who is neither the rep nor in `exclude`
    (people who already approved an earlier step)."""
    for index in range(start, len(chain)):
        who = tree.approver_for(rep, chain[index])
        if who is not None and who != rep and who not in exclude:
            return RouteStep(index=index, role=chain[index], approver=who)
    return None


# --- payments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFacts:
    exists: bool
    due_on: date | None  # the contract's due date now
    scheduled_for: date  # the due date the timer was set for
    amount: Decimal
    paid: Decimal  # matched payments (memo contains the contract number)
    notify: tuple[str, ...]


def payment_next_step(facts: PaymentFacts) -> Decision:
    if not facts.exists:
        return Cancel("contract no longer exists")
    if facts.due_on != facts.scheduled_for:
        return Cancel("contract due date changed")
    if facts.paid >= facts.amount:
        return Done("paid in full")
    if not facts.notify:
        return Done("nobody to notify")
    return Escalate(facts.notify)
