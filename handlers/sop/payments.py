"""Overdue payments (回款逾期): matching after each payments import, and the overdue alert.

`rematch_contracts(session, now)` runs after contracts or payments were imported. It stores the matches
(storage.payments.store_matches), then in two set-based queries (1) books an overdue timer
`payment:<contract>:<due_on>` for every contract not paid in full (idempotent; a changed due date gives a
new key, and the old timer cancels itself when it fires) and (2) cancels the pending timers of contracts
now paid in full. When a timer fires it re-checks the contract; if still short it alerts the owner's
supervisor and the finance director.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.sop import times as sop_times
from core.sop.policy import SopPolicy
from core.sop.rules import Cancel, Done, Escalate, PaymentFacts, payment_next_step
from handlers.context import Ctx
from handlers.messages import Card
from handlers.sop import texts as T
from handlers.sop.policy import SOP_ACTOR, FireResult, load_policy, policy_of
from storage import audit, people, timers
from storage import payments as contract_match
from storage.contracts import instalments
from storage.models import ContractRow, CustomerRow, TimerRow

KIND = "payment_overdue"
SUBJECT = "contract"


def timer_key(contract_no: str, due_on: date) -> str:
    return f"payment:{contract_no}:{due_on.isoformat()}"


def rematch_contracts(
    session: Session, now: datetime, *, policy: SopPolicy | None = None, held: str | None = None
) -> dict[str, int]:
    """Re-run contract matching (call after a payments or contracts import, in its transaction or a new one).
    Returns {"unpaid": n, "scheduled": added timers, "cancelled": timers of contracts now paid, "held": …}.

    `held` (an import's backlog, handlers/sop/catch_up.py): a contract already overdue (past its due day)
    when it first comes in gets its timer already done with `held` as the outcome — the catch-up digest
    lists it, no alert of its own. Contracts that fall due later are booked as usual."""
    policy = policy or load_policy(session)
    contract_match.store_matches(session)  # the stored payment → contract pairs, read below and by questions
    unpaid = contract_match.unpaid_contracts(session)
    today = sop_times.local_day(now, policy)
    rows = []
    for no, due_on, _amount, _paid in unpaid:
        key = timer_key(no, due_on)
        due_at = sop_times.payment_alert_at(due_on, key, policy)
        backlog = held is not None and due_on < today  # overdue already (回款逾期, as questions read it)
        rows.append(
            dict(
                kind=KIND,
                business_key=key,
                subject_type=SUBJECT,
                subject_id=no,
                due_at=due_at,
                status="done" if backlog else "pending",
                attempts=0,
                payload={"contract_no": no, "due_on": due_on.isoformat()},
                created_at=now,
                fired_at=now if backlog else None,
                outcome=held if backlog else None,
            )
        )
    added = timers.insert_ignoring_duplicates(session, rows)
    held_rows = 0
    if held is not None and added:
        held_rows = (
            session.scalar(
                select(func.count())
                .select_from(TimerRow)
                .where(TimerRow.kind == KIND, TimerRow.status == "done", TimerRow.outcome == held)
            )
            or 0
        )
    paid = list(
        session.scalars(
            select(TimerRow.business_key).where(
                TimerRow.kind == KIND,
                TimerRow.status == "pending",
                TimerRow.subject_id.in_(contract_match.paid_contract_nos(session)),
            )
        )
    )
    for key in paid:
        timers.cancel(session, now=now, reason="paid in full", business_key=key, actor=SOP_ACTOR)
    summary = {"unpaid": len(unpaid), "scheduled": added - held_rows, "cancelled": len(paid)}
    if held is not None:
        summary["held"] = held_rows
    audit.record(
        session,
        at=now,
        actor=SOP_ACTOR,
        action="update",
        entity="contract_match",
        entity_id="all",
        after=summary,
        reason="payments rematched",
    )
    return summary


def on_payments_loaded(session: Session, now: datetime | None = None) -> dict[str, int]:
    """The importer's hook `on_payments_loaded(session)`: rematch_contracts as of now."""
    return rematch_contracts(session, now or datetime.now(UTC))


def fire_payment_overdue(ctx: Ctx, timer: TimerRow) -> FireResult:
    policy = policy_of(ctx)
    s = ctx.session
    contract = s.get(ContractRow, timer.subject_id)
    customer = s.get(CustomerRow, contract.customer_id) if contract else None
    notify: list[str] = []
    paid = Decimal(0)
    amount = Decimal(contract.amount) if contract else Decimal(0)
    if contract is not None and customer is not None:
        paid = contract_match.paid_for(s, contract.contract_no)
        owed = instalments.due_and_paid(s, contract.contract_no, contract.due_on)
        if owed is not None:  # a contract with instalments: what is due by now, and what was paid of it
            amount, paid = owed
        owner = customer.owner_userid
        tree = people.tree_above(s, owner)
        for role in policy.payment_notify_roles:
            who = tree.approver_for(owner, role)
            if who and who not in notify:
                notify.append(who)
    facts = PaymentFacts(
        exists=contract is not None and customer is not None,
        due_on=contract.due_on if contract else None,
        scheduled_for=date.fromisoformat(str(timer.payload.get("due_on"))),
        amount=amount,
        paid=paid,
        notify=tuple(notify),
    )
    decision = payment_next_step(facts)
    if isinstance(decision, Cancel):
        return "cancelled", decision.reason
    if isinstance(decision, Done):
        return "done", decision.reason
    assert isinstance(decision, Escalate)
    left = facts.amount - paid
    owner_name = people.name_of(s, customer.owner_userid)
    card = Card(
        title=T.PAYMENT_TITLE.format(customer=customer.name),
        description=T.PAYMENT_DESC.format(
            no=contract.contract_no, due=T.day(contract.due_on), left=T.money(left)
        ),
        fields=[
            (T.FIELD_CONTRACT, contract.contract_no),
            (T.FIELD_AMOUNT, T.money(Decimal(contract.amount))),
            (T.FIELD_PAID, T.money(paid)),
            (T.FIELD_LEFT, T.money(left)),
            (T.FIELD_DUE_ON, T.day(contract.due_on)),
            (T.FIELD_OWNER, owner_name),
        ],
    )
    for to in decision.to:
        ctx.send(to, card)
    return "done", f"escalate {','.join(decision.to)}"
