"""Matching payments to contracts, one definition for every reader (shared/spec/nlq-semantics.md):

a payment belongs to a contract when its memo contains the contract number; a contract is 回款逾期
when it is past `due_on` and its matched payments sum to less than its amount.
The match is a plain substring test (instr / strpos), not LIKE, so `_` and `%` in a contract number
are ordinary characters.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import ContractRow, PaymentRow


def memo_contains(session: Session, memo_col, number_col):
    if session.get_bind().dialect.name == "postgresql":
        return func.strpos(memo_col, number_col) > 0
    return func.instr(memo_col, number_col) > 0


def paid_subquery(session: Session):
    """(contract_no, paid) for every contract: the sum of its matched payments (0 when none)."""
    paid = func.coalesce(func.sum(PaymentRow.amount), 0).label("paid")
    return (select(ContractRow.contract_no.label("contract_no"), paid)
            .select_from(ContractRow)
            .outerjoin(PaymentRow, memo_contains(session, PaymentRow.memo, ContractRow.contract_no))
            .group_by(ContractRow.contract_no).subquery("paid"))


def unpaid_contracts(session: Session) -> list[tuple[str, date, Decimal, Decimal]]:
    """Contracts whose matched payments fall short of the amount: (contract_no, due_on, amount, paid)."""
    p = paid_subquery(session)
    q = (select(ContractRow.contract_no, ContractRow.due_on, ContractRow.amount, p.c.paid)
         .join(p, p.c.contract_no == ContractRow.contract_no)
         .where(p.c.paid < ContractRow.amount)
         .order_by(ContractRow.contract_no))
    return [(no, due, Decimal(amount), Decimal(paid)) for no, due, amount, paid in session.execute(q)]


def paid_contract_nos(session: Session):
    """A SELECT of the contract numbers paid in full (for use inside IN (...))."""
    p = paid_subquery(session)
    return (select(ContractRow.contract_no).join(p, p.c.contract_no == ContractRow.contract_no)
            .where(p.c.paid >= ContractRow.amount))


def paid_for(session: Session, contract_no: str) -> Decimal:
    total = session.scalar(select(func.coalesce(func.sum(PaymentRow.amount), 0))
                           .where(memo_contains(session, PaymentRow.memo, contract_no)))
    return Decimal(total or 0)
