"""Instalments → amounts and due dates, from the contract's amount and the dates its milestones happened.

An instalment whose event has not happened yet has no due date (it is not overdue, and no figure counts it as
due); once the milestone is recorded (签约 is the contract's signing day; 发货, 到货, 开票, 验收 … are recorded
on the contract as they happen) its date follows from the rule.
Amounts: a share of the contract amount in cents, rounded half up; the last instalment paid by share (the
remainder, when there is one) takes the cents rounding left, so the instalments always add up to the amount.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from core.contracts.terms import Instalment

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Scheduled:
    instalment: Instalment
    amount: Decimal
    due_on: date | None  # None: its event has not happened yet


class TermsDoNotFit(ValueError):
    """The instalments' fixed amounts exceed the contract amount (or leave nothing for the remainder)."""


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (1月31日 + 1个月 = 2月28日)."""
    m = day.month - 1 + months
    y, m = day.year + m // 12, m % 12 + 1
    return date(y, m, min(day.day, calendar.monthrange(y, m)[1]))


def add_business_days(day: date, n: int) -> date:
    """`n` working days (Monday to Friday) after `day`; negative: before. Public holidays are not known."""
    step = 1 if n >= 0 else -1
    left = abs(n)
    while left:
        day += timedelta(days=step)
        if day.weekday() < 5:
            left -= 1
    return day


def due_on(inst: Instalment, milestones: Mapping[str, date | None]) -> date | None:
    """The instalment's due date, or None while one of its events has no date."""
    dates = [milestones.get(e) for e in inst.events]
    if not dates or any(d is None for d in dates):
        return None
    base = max(d for d in dates if d is not None)
    if inst.month_day is not None:
        nxt = add_months(base.replace(day=1), 1)
        return nxt.replace(day=min(inst.month_day, calendar.monthrange(nxt.year, nxt.month)[1]))
    if inst.month_end:
        base = base.replace(day=calendar.monthrange(base.year, base.month)[1])
    day = add_months(base, inst.offset_months)
    if inst.business_days:
        return add_business_days(day, inst.offset_days)
    return day + timedelta(days=inst.offset_days)


def amounts(instalments: tuple[Instalment, ...] | list[Instalment], total: Decimal) -> list[Decimal]:
    """What each instalment asks of `total`, adding up to it exactly."""
    total = Decimal(total).quantize(CENT)
    out: list[Decimal | None] = []
    for inst in instalments:
        if inst.amount is not None:
            out.append(Decimal(inst.amount).quantize(CENT))
        elif inst.remainder and inst.share is None:
            out.append(None)  # what is left, below
        else:
            share = inst.share if inst.share is not None else Decimal(0)
            out.append((total * share / 100).quantize(CENT, rounding=ROUND_HALF_UP))
    fixed = sum((a for a in out if a is not None), Decimal(0))
    if None in out:
        left = total - fixed
        if left <= 0:
            raise TermsDoNotFit(f"固定金额合计{fixed}元，不少于合同金额{total}元，没有尾款可付")
        out = [left if a is None else a for a in out]
    elif fixed != total:
        by_share = [i for i, inst in enumerate(instalments) if inst.amount is None]
        if not by_share:
            raise TermsDoNotFit(f"各期金额合计{fixed}元，与合同金额{total}元不符")
        last = by_share[-1]
        adjusted = out[last]
        assert adjusted is not None
        out[last] = adjusted + (total - fixed)
        if out[last] <= 0:  # type: ignore[operator]
            raise TermsDoNotFit(f"各期金额合计{fixed}元，超过合同金额{total}元")
    return [a for a in out if a is not None]


def schedule(
    instalments: tuple[Instalment, ...] | list[Instalment],
    total: Decimal,
    milestones: Mapping[str, date | None],
) -> list[Scheduled]:
    return [
        Scheduled(inst, amount, due_on(inst, milestones))
        for inst, amount in zip(instalments, amounts(instalments, total), strict=True)
    ]
