"""The nightly reconciliation on the database: open instalments vs the unallocated parts of bank lines
(core.contracts.reconcile decides), written back in one transaction:

- each allocation is an instalment_payments row; the instalment's `paid` grows, it is `paid` (with the day of
  the line that completed it) once paid in full;
- each contract's finance view is recomputed: 已到账 (received) when every instalment is paid,
  流水匹配中 (matching) when an instalment is due or partly paid, else 电子签章完成 (esigned) for a signed
  contract; contracts without instalments are judged by their matched payments against their amount;
- a line left unmatched is a finance to-do `unmatched:<txn>` holding the candidates (updated while it stays
  unmatched, done once the line is allocated); audited as one row per run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from core.contracts import reconcile as rule
from storage import audit
from storage import payments as memo_match
from storage.contracts.models import FinanceTodoRow, InstalmentPaymentRow, InstalmentRow
from storage.models import AuditRow, ContractRow, CustomerRow, PaymentMatchRow, PaymentRow

ACTOR = "system:reconcile"
_BATCH = 2000


@dataclass(frozen=True)
class Summary:
    lines: int  # lines with something unallocated, before the run
    allocated: int  # allocations written
    amount: Decimal  # yuan allocated
    unmatched: int  # lines left for finance
    todos_opened: int
    todos_closed: int
    instalments_paid: int

    def as_dict(self) -> dict[str, Any]:
        return {k: audit.jsonable(v) for k, v in self.__dict__.items()}


def _similarity(a: str, b: str) -> float:
    return float(fuzz.ratio(a, b))


def _receivables(session: Session) -> tuple[list[rule.Receivable], dict[int, tuple[Decimal, Decimal]]]:
    q = (
        select(
            InstalmentRow.id,
            InstalmentRow.contract_no,
            CustomerRow.name,
            InstalmentRow.amount,
            InstalmentRow.paid,
            InstalmentRow.due_on,
            InstalmentRow.seq,
        )
        .join(ContractRow, ContractRow.contract_no == InstalmentRow.contract_no)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .where(InstalmentRow.status != "paid")
    )
    out, amounts = [], {}
    for key, no, name, amount, paid, due, seq in session.execute(q):
        amount, paid = Decimal(amount), Decimal(paid)
        amounts[key] = (amount, paid)
        out.append(rule.Receivable(key, no, name, amount - paid, due, seq))
    return out, amounts


def _lines(session: Session) -> list[rule.Line]:
    used = (
        select(InstalmentPaymentRow.txn_id, func.sum(InstalmentPaymentRow.amount).label("used"))
        .group_by(InstalmentPaymentRow.txn_id)
        .subquery()
    )
    q = (
        select(
            PaymentRow.txn_id,
            PaymentRow.paid_on,
            PaymentRow.amount,
            used.c.used,
            PaymentRow.payer,
            PaymentRow.memo,
        )
        .outerjoin(used, used.c.txn_id == PaymentRow.txn_id)
        .where((used.c.used.is_(None)) | (used.c.used < PaymentRow.amount))
        .where(PaymentRow.txn_id.not_in(_matched_to_plain_contracts()))
    )
    return [
        rule.Line(txn, day, Decimal(amount) - Decimal(spent or 0), payer, memo)
        for txn, day, amount, spent, payer, memo in session.execute(q)
    ]


def _matched_to_plain_contracts():
    """Lines whose memo names a contract without instalments: paid to it by the memo rule (storage.payments),
    not receivables of the reconciliation."""
    return select(PaymentMatchRow.txn_id).where(
        PaymentMatchRow.contract_no.not_in(memo_match.with_instalments())
    )


def run(
    session: Session, *, now: datetime, today: date, actor: str = ACTOR, reason: str | None = None
) -> Summary:
    receivables, amounts = _receivables(session)
    lines = _lines(session)
    result = rule.reconcile(receivables, lines, similarity=_similarity)
    by_key: dict[int, Decimal] = defaultdict(Decimal)
    rows = []
    for a in result.allocations:
        by_key[a.key] += a.amount
        rows.append(
            {"instalment_id": a.key, "txn_id": a.txn_id, "amount": a.amount, "how": a.how, "matched_at": now}
        )
    merged: dict[tuple[int, str], dict[str, Any]] = {}
    for r in rows:  # one row per (instalment, line): a line allocated twice to one instalment adds up
        k = (r["instalment_id"], r["txn_id"])
        if k in merged:
            merged[k]["amount"] += r["amount"]
        else:
            merged[k] = dict(r)
    existing = set()
    if merged:
        keys = list(merged)
        for i in range(0, len(keys), _BATCH):
            chunk = keys[i : i + _BATCH]
            existing |= set(
                session.execute(
                    select(InstalmentPaymentRow.instalment_id, InstalmentPaymentRow.txn_id).where(
                        InstalmentPaymentRow.instalment_id.in_({k[0] for k in chunk}),
                        InstalmentPaymentRow.txn_id.in_({k[1] for k in chunk}),
                    )
                )
            )
    fresh = [v for k, v in merged.items() if k not in existing]
    for k in existing & set(merged):
        row = session.get(InstalmentPaymentRow, k)
        assert row is not None
        row.amount = Decimal(row.amount) + merged[k]["amount"]
    for i in range(0, len(fresh), _BATCH):
        session.execute(insert(InstalmentPaymentRow.__table__), fresh[i : i + _BATCH])
    paid_days = _paid_days(session, result.allocations, lines)
    newly_paid = 0
    ups = []
    for key, add in by_key.items():
        amount, paid = amounts[key]
        done = paid + add >= amount
        ups.append(
            {
                "id": key,
                "paid": paid + add,
                "status": "paid" if done else "open",
                "paid_on": paid_days.get(key) if done else None,
            }
        )
        newly_paid += done
    for i in range(0, len(ups), _BATCH):
        session.execute(update(InstalmentRow), ups[i : i + _BATCH])  # by primary key
    opened, closed = _todos(session, result, lines, now=now)
    _finance_status(session, today=today, now=now, actor=actor, reason=reason)
    session.expire_all()  # rows written by bulk statements: what the session holds is read again
    summary = Summary(
        lines=len(lines),
        allocated=len(result.allocations),
        amount=sum((a.amount for a in result.allocations), Decimal(0)),
        unmatched=len(result.unmatched),
        todos_opened=opened,
        todos_closed=closed,
        instalments_paid=newly_paid,
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="update",
        entity="reconciliation",
        entity_id=today.isoformat(),
        after=summary.as_dict(),
        reason=reason,
    )
    return summary


def _paid_days(
    session: Session, allocations: list[rule.Allocation], lines: list[rule.Line]
) -> dict[int, date]:
    day = {ln.txn_id: ln.paid_on for ln in lines}
    out: dict[int, date] = {}
    for a in allocations:
        d = day[a.txn_id]
        if a.key not in out or d > out[a.key]:
            out[a.key] = d
    return out


def _todos(
    session: Session, result: rule.Result, lines: list[rule.Line], *, now: datetime
) -> tuple[int, int]:
    by_txn = {ln.txn_id: ln for ln in lines}
    open_rows = {
        t.business_key: t
        for t in session.scalars(
            select(FinanceTodoRow).where(
                FinanceTodoRow.kind == "unmatched_payment", FinanceTodoRow.status == "open"
            )
        )
    }
    done_keys = set(
        session.scalars(
            select(FinanceTodoRow.business_key).where(
                FinanceTodoRow.kind == "unmatched_payment", FinanceTodoRow.status != "open"
            )
        )
    )
    fresh: list[dict[str, Any]] = []
    opened = 0
    still = set()
    for u in result.unmatched:
        key = f"unmatched:{u.txn_id}"
        still.add(key)
        ln = by_txn[u.txn_id]
        payload = {
            "txn_id": u.txn_id,
            "paid_on": ln.paid_on.isoformat(),
            "payer": ln.payer,
            "memo": ln.memo,
            "left": str(u.left),
            "why": u.why,
            "candidates": [
                {
                    "instalment_id": c.key,
                    "contract_no": c.contract_no,
                    "customer": c.customer,
                    "open": str(c.open),
                    "due_on": c.due_on.isoformat() if c.due_on else None,
                }
                for c in u.candidates
            ],
        }
        row = open_rows.get(key)
        if row is not None:
            if row.payload != payload:
                row.payload = payload
            continue
        if key in done_keys:
            session.execute(
                update(FinanceTodoRow)
                .where(FinanceTodoRow.business_key == key)
                .values(status="open", payload=payload, done_at=None)
            )
        else:
            fresh.append(
                dict(
                    business_key=key,
                    kind="unmatched_payment",
                    ref=u.txn_id,
                    payload=payload,
                    status="open",
                    created_at=now,
                    created_by=ACTOR,
                )
            )
        opened += 1
    for i in range(0, len(fresh), _BATCH):
        session.execute(insert(FinanceTodoRow.__table__), fresh[i : i + _BATCH])
    closed = 0
    for key, row in open_rows.items():
        if key not in still:
            row.status, row.done_at = "done", now
            closed += 1
    return opened, closed


def _finance_status(session: Session, *, today: date, now: datetime, actor: str, reason: str | None) -> None:
    """Recompute the finance view of every contract, and a contract's due date from its next unpaid
    instalment (bulk statements; audited only where something changes)."""
    inst: dict[str, list[tuple[str, Decimal, date | None, int]]] = defaultdict(list)
    for no, status, paid, due, seq in session.execute(
        select(
            InstalmentRow.contract_no,
            InstalmentRow.status,
            InstalmentRow.paid,
            InstalmentRow.due_on,
            InstalmentRow.seq,
        )
    ):
        inst[no].append((status, Decimal(paid), due, seq))
    p = memo_match.paid_subquery(session)
    paid = {no: v for no, v in session.execute(select(p.c.contract_no, p.c.paid))}
    ups: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    for no, status_now, due_now, amount in session.execute(
        select(ContractRow.contract_no, ContractRow.finance_status, ContractRow.due_on, ContractRow.amount)
    ):
        rows = inst.get(no)
        change: dict[str, Any] = {}
        if rows:
            if all(r[0] == "paid" for r in rows):
                want = "received"
            elif any(r[1] > 0 or (r[2] is not None and r[2] <= today) for r in rows):
                want = "matching"
            else:
                want = "esigned"
            unpaid = sorted((r[2], r[3]) for r in rows if r[0] != "paid" and r[2] is not None)
            if unpaid and unpaid[0][0] != due_now:  # the next unpaid instalment's date
                change["due_on"] = unpaid[0][0]
        else:
            got = Decimal(paid.get(no, 0) or 0)
            if got >= Decimal(amount):
                want = "received"
            elif got > 0 or due_now <= today:
                want = "matching"
            else:
                want = "esigned"
        if status_now != want:
            change["finance_status"] = want
        if not change:
            continue
        ups.append({"contract_no": no, **change})
        before = {"finance_status": status_now, "due_on": audit.jsonable(due_now)}
        audits.append(
            dict(
                at=now,
                actor=actor,
                action="update",
                entity="contracts",
                entity_id=no,
                before={k: before[k] for k in change},
                after={k: audit.jsonable(v) for k, v in change.items()},
                reason=reason,
            )
        )
    for i in range(0, len(ups), _BATCH):
        session.execute(update(ContractRow), ups[i : i + _BATCH])
    for i in range(0, len(audits), _BATCH):
        session.execute(insert(AuditRow.__table__), audits[i : i + _BATCH])
