"""Scoped reads for questions about hand-offs, instalments, reconciliation and the trail (the semantic layer
calls these; nlq/ is not changed here). Every function takes the asker's `core.org.Scope` and applies it
inside the query: a contract is visible when its customer's owner is in the scope (None: everyone); a
work order also to the people of the team it was handed to (`teams`).

- overdue_work_orders  超时未响应的交付工单: open work orders past their SLA
- contracts_in_matching 哪些合同还在流水匹配中: finance view 流水匹配中
- month_difference     本月对账差异: the sales view (instalments due in the month) against the finance view
                       (bank money matched to them, paid in the month), and the month's unmatched lines
- contract_trail       这份合同谁改过: the field-level trail, or None when the contract is not visible
- instalments_due      the instalments due in a window, with what is paid
- progress_contracts   the contracts of the progress bar (the dashboard): signed through the assistant or
                       waiting for the signing, newest first; visible_contract: one of them by number
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from core.clock import ORG_ZONE
from core.org import Scope
from storage.contracts.changes import FieldChange, history
from storage.contracts.models import FinanceTodoRow, InstalmentPaymentRow, InstalmentRow, WorkOrderRow
from storage.models import ContractRow, CustomerRow, PaymentRow


def _visible(scope: Scope):  # noqa: ANN202 - a SQL condition on CustomerRow
    if scope.owners is None:
        return None
    return CustomerRow.owner_userid.in_(sorted(scope.owners))


@dataclass(frozen=True)
class WorkOrderView:
    work_order_id: int
    contract_no: str
    customer: str
    owner_userid: str
    team: str
    status: str
    due_at: datetime
    overdue_hours: float
    escalated: int


def overdue_work_orders(
    session: Session,
    scope: Scope,
    *,
    now: datetime,
    team: str | None = None,
    teams: frozenset[str] = frozenset(),
) -> list[WorkOrderView]:
    """Open work orders past their SLA (of one team, or all), oldest due first."""
    q = (
        select(WorkOrderRow, CustomerRow.name, CustomerRow.owner_userid)
        .join(ContractRow, ContractRow.contract_no == WorkOrderRow.contract_no)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .where(WorkOrderRow.status == "open", WorkOrderRow.due_at <= now)
        .order_by(WorkOrderRow.due_at, WorkOrderRow.id)
    )
    if team is not None:
        q = q.where(WorkOrderRow.team == team)
    cond = _visible(scope)
    if cond is not None:
        q = q.where(or_(cond, WorkOrderRow.team.in_(sorted(teams))) if teams else cond)
    return [
        WorkOrderView(
            wo.id,
            wo.contract_no,
            name,
            owner,
            wo.team,
            wo.status,
            wo.due_at,
            round((now - wo.due_at).total_seconds() / 3600, 1),
            wo.escalated,
        )
        for wo, name, owner in session.execute(q)
    ]


@dataclass(frozen=True)
class ContractView:
    contract_no: str
    customer: str
    owner_userid: str
    amount: Decimal
    paid: Decimal
    sales_status: str | None
    finance_status: str | None
    next_due_on: date | None


def contracts_in_matching(session: Session, scope: Scope) -> list[ContractView]:
    """Contracts whose finance view is 流水匹配中, with what their instalments were paid."""
    paid = (
        select(InstalmentRow.contract_no, func.coalesce(func.sum(InstalmentRow.paid), 0).label("paid"))
        .group_by(InstalmentRow.contract_no)
        .subquery()
    )
    q = (
        select(ContractRow, CustomerRow.name, CustomerRow.owner_userid, paid.c.paid)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .outerjoin(paid, paid.c.contract_no == ContractRow.contract_no)
        .where(ContractRow.finance_status == "matching")
        .order_by(ContractRow.due_on, ContractRow.contract_no)
    )
    cond = _visible(scope)
    if cond is not None:
        q = q.where(cond)
    return [
        ContractView(
            c.contract_no,
            name,
            owner,
            Decimal(c.amount),
            Decimal(p or 0),
            c.sales_status,
            c.finance_status,
            c.due_on,
        )
        for c, name, owner, p in session.execute(q)
    ]


@dataclass(frozen=True)
class MonthDifference:
    start: date
    end: date  # exclusive
    expected: Decimal  # 销售口径: instalments due in the month
    received: Decimal  # 财务口径: bank money matched to those instalments, paid in the month
    difference: Decimal
    rate: float | None  # difference / expected
    unmatched_lines: int  # the month's bank lines finance still has to place (whole organisation only)
    unmatched_amount: Decimal


def month_difference(session: Session, scope: Scope, month: date) -> MonthDifference:
    start = month.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    base = (
        select(InstalmentRow.id)
        .join(ContractRow, ContractRow.contract_no == InstalmentRow.contract_no)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .where(InstalmentRow.due_on >= start, InstalmentRow.due_on < end)
    )
    cond = _visible(scope)
    if cond is not None:
        base = base.where(cond)
    ids = base.subquery()
    expected = session.scalar(
        select(func.coalesce(func.sum(InstalmentRow.amount), 0)).where(InstalmentRow.id.in_(select(ids.c.id)))
    )
    received = session.scalar(
        select(func.coalesce(func.sum(InstalmentPaymentRow.amount), 0))
        .join(PaymentRow, PaymentRow.txn_id == InstalmentPaymentRow.txn_id)
        .where(
            InstalmentPaymentRow.instalment_id.in_(select(ids.c.id)),
            and_(PaymentRow.paid_on >= start, PaymentRow.paid_on < end),
        )
    )
    lines, amount = 0, Decimal(0)
    if scope.owners is None:
        for todo in session.scalars(
            select(FinanceTodoRow).where(
                FinanceTodoRow.kind == "unmatched_payment", FinanceTodoRow.status == "open"
            )
        ):
            day = date.fromisoformat(todo.payload["paid_on"])
            if start <= day < end:
                lines += 1
                amount += Decimal(todo.payload["left"])
    exp, rec = Decimal(expected or 0), Decimal(received or 0)
    diff = exp - rec
    return MonthDifference(start, end, exp, rec, diff, float(diff / exp) if exp else None, lines, amount)


def contract_trail(session: Session, scope: Scope, contract_no: str) -> list[FieldChange] | None:
    """The contract's field-level trail (storage.contracts.changes.history); None when not visible."""
    q = (
        select(CustomerRow.owner_userid)
        .join(ContractRow, ContractRow.customer_id == CustomerRow.customer_id)
        .where(ContractRow.contract_no == contract_no)
    )
    owner = session.scalar(q)
    if owner is None or not scope.sees_owner(owner):
        return None
    return history(session, contract_no)


@dataclass(frozen=True)
class InstalmentView:
    contract_no: str
    seq: int
    words: str
    amount: Decimal
    paid: Decimal
    due_on: date | None
    status: str


def instalments_due(session: Session, scope: Scope, start: date, end: date) -> list[InstalmentView]:
    """Instalments due in [start, end), earliest first."""
    q = (
        select(InstalmentRow)
        .join(ContractRow, ContractRow.contract_no == InstalmentRow.contract_no)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .where(InstalmentRow.due_on >= start, InstalmentRow.due_on < end)
        .order_by(InstalmentRow.due_on, InstalmentRow.contract_no, InstalmentRow.seq)
    )
    cond = _visible(scope)
    if cond is not None:
        q = q.where(cond)
    return [
        InstalmentView(i.contract_no, i.seq, i.words, Decimal(i.amount), Decimal(i.paid), i.due_on, i.status)
        for i in session.scalars(q)
    ]


@dataclass(frozen=True)
class TeamHealth:
    team: str
    handed: int  # work orders opened in the month
    answered: int
    average_response_hours: float | None  # opened → first answer (认领, 完成 or 受阻)
    breaches: int  # unanswered past the SLA (escalated)
    average_claim_hours: float | None = None  # opened → 认领 (the work orders that were claimed)
    average_done_hours: float | None = None  # opened → 完成 (the work orders that were finished)
    blocked: int = 0  # work orders marked 受阻


@dataclass(frozen=True)
class HandoffHealth:
    start: date
    end: date
    teams: tuple[TeamHealth, ...]
    top_blocking: tuple[tuple[str, int], ...]  # the three most frequent 受阻 reasons, with their counts
    suggestion: str  # Chinese: the step that breaches most often, from the data


def handoff_health(session: Session, scope: Scope, month: date) -> HandoffHealth:
    """The month's collaboration health (the monthly report's figures): per team the hand-offs, the average
    time to the first answer, the SLA breaches; the top blocking reasons; the step that breaches most."""
    from collections import Counter

    from core.contracts.handoff import TEAM_WORDS, TEAMS

    start = month.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    q = (
        select(WorkOrderRow)
        .join(ContractRow, ContractRow.contract_no == WorkOrderRow.contract_no)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
    )
    cond = _visible(scope)
    if cond is not None:
        q = q.where(cond)
    rows = [w for w in session.scalars(q) if start <= w.created_at.astimezone(ORG_ZONE).date() < end]
    teams = []
    for team in TEAMS:
        mine = [w for w in rows if w.team == team]
        waits = []
        claims = [_hours(w.created_at, w.claimed_at) for w in mine if w.claimed_at is not None]
        dones = [_hours(w.created_at, w.done_at) for w in mine if w.done_at is not None]
        for w in mine:
            first = min((t for t in (w.claimed_at, w.done_at, w.blocked_at) if t is not None), default=None)
            if first is not None:
                waits.append((first - w.created_at).total_seconds() / 3600)
        teams.append(
            TeamHealth(
                team,
                len(mine),
                len(waits),
                round(sum(waits) / len(waits), 1) if waits else None,
                sum(1 for w in mine if w.escalated >= 1),
                _mean(claims),
                _mean(dones),
                sum(1 for w in mine if w.blocked_at is not None),
            )
        )
    reasons = Counter(w.blocked_reason for w in rows if w.blocked_reason)
    top = tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    worst = max(teams, key=lambda t: (t.breaches, t.average_response_hours or 0))
    if worst.breaches:
        suggestion = f"{TEAM_WORDS[worst.team]}环节超时最多（{worst.breaches}次），建议核对该团队的接单人手与响应时限。"
    elif rows:
        suggestion = "本月所有交接都在时限内响应。"
    else:
        suggestion = "本月没有交接工单。"
    if top:
        suggestion += f"最常见的受阻原因：{top[0][0]}（{top[0][1]}次）。"
    return HandoffHealth(start, end, tuple(teams), top, suggestion)


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def progress_contracts(session: Session, scope: Scope, *, limit: int = 50) -> list[tuple[ContractRow, str]]:
    """(contract, customer name) of the contracts that have a progress bar — signed through the assistant
    (signed_at) or waiting for the signing (待签约) — in the scope, the latest signed first, then the waiting."""
    q = (
        select(ContractRow, CustomerRow.name)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .where(or_(ContractRow.signed_at.is_not(None), ContractRow.sales_status == "pending"))
        .order_by(ContractRow.signed_at.desc().nulls_last(), ContractRow.contract_no)
        .limit(limit)
    )
    cond = _visible(scope)
    if cond is not None:
        q = q.where(cond)
    return [(c, name) for c, name in session.execute(q)]


def visible_contract(session: Session, scope: Scope, contract_no: str) -> ContractRow | None:
    """The contract when its customer's owner is in the scope, else None."""
    q = (
        select(ContractRow)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .where(ContractRow.contract_no == contract_no)
    )
    cond = _visible(scope)
    if cond is not None:
        q = q.where(cond)
    return session.scalars(q).first()
