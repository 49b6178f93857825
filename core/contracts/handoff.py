"""The hand-off of a signed contract (合同签署完成), as pure rules: the three teams and their SLAs, the
escalation ladder of a work order nobody answered, and the colour of each stage of the contract's progress.

- Teams: 交付 (delivery: the requirements), 财务 (finance: the invoicing list with the payment terms),
  售后 (after_sales: the customer's environment checklist). Each work order must be answered (认领, 完成 or
  受阻 with a reason) within its SLA (24 h by default).
- Ladder: at the SLA, a work order still unanswered goes to the department head (rung 1); `DIRECTOR_AFTER`
  later, still unanswered, to the sales director (rung 2). Each rung once: the work order counts the rungs
  it reached, and a rung already reached is never sent again.
- Colours per stage: green done; red blocked, or unanswered past its SLA; yellow under way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DELIVERY, FINANCE, AFTER_SALES = "delivery", "finance", "after_sales"
TEAMS: tuple[str, ...] = (DELIVERY, FINANCE, AFTER_SALES)
TEAM_WORDS: dict[str, str] = {DELIVERY: "交付", FINANCE: "财务", AFTER_SALES: "售后"}
TEAM_OF_WORD: dict[str, str] = {
    **{t: t for t in TEAMS},
    "交付": DELIVERY,
    "交付部": DELIVERY,
    "实施": DELIVERY,
    "财务": FINANCE,
    "财务部": FINANCE,
    "售后": AFTER_SALES,
    "售后部": AFTER_SALES,
    "服务": AFTER_SALES,
    "after-sales": AFTER_SALES,
}
WORK_WORDS: dict[str, str] = {DELIVERY: "交付需求", FINANCE: "开票清单", AFTER_SALES: "客户环境检查"}
SLA_HOURS: dict[str, int] = {DELIVERY: 24, FINANCE: 24, AFTER_SALES: 24}
DIRECTOR_AFTER = timedelta(hours=24)

OPEN, CLAIMED, DONE, BLOCKED = "open", "claimed", "done", "blocked"
STATUS_WORDS = {OPEN: "待响应", CLAIMED: "处理中", DONE: "已完成", BLOCKED: "受阻"}

GREEN, YELLOW, RED = "green", "yellow", "red"
COLOUR_MARKS = {GREEN: "🟢", YELLOW: "🟡", RED: "🔴"}

DELIVERY_ITEMS = ("交付范围与清单", "交付时间与地点", "客户对接人及联系方式", "特殊要求（定制、培训等）")
ENVIRONMENT_ITEMS = (
    "网络环境是否满足安装要求（带宽、内外网、防火墙端口）",
    "场地、机柜与电源",
    "客户IT对接人",
    "可安装的时间窗口",
)


@dataclass(frozen=True)
class SlaFacts:
    status: str  # the work order's status now
    escalated: int  # rungs already reached
    head: str | None  # the department head
    director: str | None  # the sales director


@dataclass(frozen=True)
class Escalation:
    rung: int
    to: str
    then_after: timedelta | None  # book the next rung this much later (None: the last rung)


@dataclass(frozen=True)
class NoEscalation:
    reason: str


def sla_step(rung: int, facts: SlaFacts) -> Escalation | NoEscalation:
    """What a work order's SLA timer of `rung` (1: the head, 2: the sales director) does now."""
    if facts.status != OPEN:
        return NoEscalation(f"answered ({facts.status})")
    if facts.escalated >= rung:
        return NoEscalation(f"rung {rung} already reached")
    if rung == 1:
        to = facts.head or facts.director
        if to is None:
            return NoEscalation("nobody to escalate to")
        return Escalation(1, to, DIRECTOR_AFTER if facts.director and facts.director != to else None)
    if facts.director is None:
        return NoEscalation("no sales director")
    return Escalation(2, facts.director, None)


def stage_colour(status: str, due_at: datetime, now: datetime) -> str:
    if status == DONE:
        return GREEN
    if status == BLOCKED or (status == OPEN and now >= due_at):
        return RED
    return YELLOW


def payment_colour(owed_past_due: bool, all_paid: bool) -> str:
    """The 回款 stage: green paid in full, red an instalment past due and unpaid, else yellow."""
    if all_paid:
        return GREEN
    if owed_past_due:
        return RED
    return YELLOW
