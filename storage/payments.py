"""Matching payments to contracts, one definition for every reader (docs/nlq-semantics.md):

a payment belongs to a contract when its memo contains the contract number; a contract is 回款逾期
when it is past `due_on` and its matched payments sum to less than its amount.
The match is a plain substring test (instr / strpos, Python's `in`), not LIKE, so `_` and `%` in a contract
number are ordinary characters and case counts.

The matches are stored (payment_matches: contract_no, txn_id) by store_matches, which the import of contracts
or payments runs (handlers.sop.payments.rematch_contracts, from the importer's on_imported hook): the questions
(nlq) and the SOP read them instead of testing every memo against every contract number, which at 35k
contracts × 40k payments took seconds. Anything else that writes contracts or payments must call
store_matches in the same transaction. paid_for, the one-contract check at alert time, still tests the
memos directly.

A contract whose terms were read into instalments (storage.contracts.instalments) is judged by them instead:
it is unpaid while a dated instalment is not paid in full (the earliest such one gives the due date and the
amount owed), and "paid" when none is — the instalments' payments come from the nightly reconciliation
(storage.contracts.reconcile), which also counts the memo matches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.orm import Session

from storage.contracts.models import InstalmentRow
from storage.models import ContractRow, PaymentMatchRow, PaymentRow

_BATCH = 2000


def memo_contains(session: Session, memo_col, number_col):
    if session.get_bind().dialect.name == "postgresql":
        return func.strpos(memo_col, number_col) > 0
    return func.instr(memo_col, number_col) > 0


def by_length(numbers: Iterable[str]) -> dict[int, set[str]]:
    """Contract numbers grouped by length, for matched_numbers."""
    out: dict[int, set[str]] = defaultdict(set)
    for no in numbers:
        out[len(no)].add(no)
    return dict(out)


def matched_numbers(memo: str, by_len: dict[int, set[str]]) -> set[str]:
    """The contract numbers (grouped by length) that occur in memo as substrings: every window of each
    length looked up in a set, so the cost grows with the memo, not with the number of contracts."""
    found: set[str] = set()
    n = len(memo)
    for length, numbers in by_len.items():
        for i in range(n - length + 1):
            piece = memo[i : i + length]
            if piece in numbers:
                found.add(piece)
    return found


def store_matches(session: Session) -> dict[str, int]:
    """Make payment_matches hold exactly the (contract, payment) pairs whose memo contains the contract
    number, writing only the pairs that changed. Returns {"matches", "added", "removed"}."""
    by_len = by_length(session.scalars(select(ContractRow.contract_no)))
    want: set[tuple[str, str]] = set()
    if by_len:
        for txn_id, memo in session.execute(
            select(PaymentRow.txn_id, PaymentRow.memo).where(PaymentRow.memo.is_not(None))
        ):
            for no in matched_numbers(memo, by_len):
                want.add((no, txn_id))
    have = {
        (no, txn) for no, txn in session.execute(select(PaymentMatchRow.contract_no, PaymentMatchRow.txn_id))
    }
    gone, new = sorted(have - want), sorted(want - have)
    for i in range(0, len(gone), _BATCH):
        session.execute(
            delete(PaymentMatchRow).where(
                tuple_(PaymentMatchRow.contract_no, PaymentMatchRow.txn_id).in_(gone[i : i + _BATCH])
            )
        )
    for i in range(0, len(new), _BATCH):
        session.execute(
            insert(PaymentMatchRow), [{"contract_no": no, "txn_id": txn} for no, txn in new[i : i + _BATCH]]
        )
    return {"matches": len(want), "added": len(new), "removed": len(gone)}


def paid_subquery(session: Session):
    """(contract_no, paid) for every contract: the sum of its matched payments (0 when none), from the
    stored matches."""
    paid = func.coalesce(func.sum(PaymentRow.amount), 0).label("paid")
    return (
        select(ContractRow.contract_no.label("contract_no"), paid)
        .select_from(ContractRow)
        .outerjoin(PaymentMatchRow, PaymentMatchRow.contract_no == ContractRow.contract_no)
        .outerjoin(PaymentRow, PaymentRow.txn_id == PaymentMatchRow.txn_id)
        .group_by(ContractRow.contract_no)
        .subquery("paid")
    )


def with_instalments():
    """A SELECT of the contract numbers that have instalments."""
    return select(InstalmentRow.contract_no)


def _open_dated():
    return select(InstalmentRow.contract_no).where(
        InstalmentRow.status != "paid", InstalmentRow.due_on.is_not(None)
    )


def unpaid_contracts(session: Session) -> list[tuple[str, date, Decimal, Decimal]]:
    """Contracts whose matched payments fall short of the amount: (contract_no, due_on, amount, paid); for a
    contract with instalments, its earliest dated instalment not paid in full (its due date, amount, paid)."""
    p = paid_subquery(session)
    q = (
        select(ContractRow.contract_no, ContractRow.due_on, ContractRow.amount, p.c.paid)
        .join(p, p.c.contract_no == ContractRow.contract_no)
        .where(p.c.paid < ContractRow.amount, ContractRow.contract_no.not_in(with_instalments()))
    )
    out = [(no, due, Decimal(amount), Decimal(paid)) for no, due, amount, paid in session.execute(q)]
    seen: set[str] = set()
    for no, due, amount, paid in session.execute(
        select(InstalmentRow.contract_no, InstalmentRow.due_on, InstalmentRow.amount, InstalmentRow.paid)
        .where(InstalmentRow.status != "paid", InstalmentRow.due_on.is_not(None))
        .order_by(InstalmentRow.contract_no, InstalmentRow.due_on, InstalmentRow.seq)
    ):
        if no not in seen:
            seen.add(no)
            out.append((no, due, Decimal(amount), Decimal(paid)))
    return sorted(out)


def paid_contract_nos(session: Session):
    """A SELECT of the contract numbers paid in full (for use inside IN (...)); for a contract with
    instalments: none of its dated instalments is still owed."""
    p = paid_subquery(session)
    plain = (
        select(ContractRow.contract_no)
        .join(p, p.c.contract_no == ContractRow.contract_no)
        .where(p.c.paid >= ContractRow.amount, ContractRow.contract_no.not_in(with_instalments()))
    )
    by_instalments = select(InstalmentRow.contract_no).where(InstalmentRow.contract_no.not_in(_open_dated()))
    return plain.union(by_instalments)


def paid_for(session: Session, contract_no: str) -> Decimal:
    """One contract's matched payments, testing the memos directly (the alert's re-check when it fires)."""
    total = session.scalar(
        select(func.coalesce(func.sum(PaymentRow.amount), 0)).where(
            memo_contains(session, PaymentRow.memo, contract_no)
        )
    )
    return Decimal(total or 0)
