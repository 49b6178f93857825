"""A contract's instalments: read from its terms (core.contracts.terms), dated from its milestones
(core.contracts.schedule), and the contract's due date kept equal to its next unpaid instalment's.

- `plan(session, contract, …)` parses `contract.terms` and replaces the contract's instalment rows (audited).
  Refused terms change nothing and come back as the parser's Refused (its words say what was not read).
- `record_milestone(session, contract, event, day, …)` stores the date an event happened (发货, 到货, 开票,
  验收 …) and dates the instalments that waited for it.
- `contracts.due_on` of a contract with instalments follows its earliest unpaid dated instalment (`sync_due_on`),
  so every reader of due_on (回款逾期 in questions, the overdue alert) sees the instalment that is due; while
  no unpaid instalment has a date yet, due_on keeps its last value.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.contracts.schedule import TermsDoNotFit, schedule
from core.contracts.schedule import due_on as due_on_of
from core.contracts.terms import EVENTS, SIGNED, Instalment, Refused, Understood, parse_terms
from storage import audit
from storage.contracts.models import InstalmentPaymentRow, InstalmentRow
from storage.models import ContractRow


def milestones_of(contract: ContractRow) -> dict[str, date | None]:
    """The dates the contract's events happened: 签约 is signed_on; the rest as recorded."""
    out: dict[str, date | None] = {e: None for e in EVENTS}
    for event, iso in (contract.milestones or {}).items():
        if event in out and iso:
            out[event] = date.fromisoformat(str(iso))
    out[SIGNED] = contract.signed_on
    return out


def instalment_of(row: InstalmentRow) -> Instalment:
    rule = dict(row.rule)
    rule["events"] = tuple(rule["events"])
    for key in ("share", "amount"):
        if rule.get(key) is not None:
            rule[key] = Decimal(str(rule[key]))
    return Instalment(**rule)


def rows_of(session: Session, contract_no: str) -> list[InstalmentRow]:
    return list(
        session.scalars(
            select(InstalmentRow).where(InstalmentRow.contract_no == contract_no).order_by(InstalmentRow.seq)
        )
    )


def _snap(rows: list[InstalmentRow]) -> list[dict[str, Any]]:
    return [
        {
            "seq": r.seq,
            "words": r.words,
            "amount": audit.jsonable(r.amount),
            "due_on": audit.jsonable(r.due_on),
        }
        for r in rows
    ]


def plan(
    session: Session, contract: ContractRow, *, now: datetime, actor: str, reason: str | None
) -> Understood | Refused:
    """Read the contract's terms into instalment rows (replacing the ones there). Refused: nothing changes."""
    parsed = parse_terms(contract.terms)
    if isinstance(parsed, Refused):
        return parsed
    try:
        planned = schedule(parsed.instalments, Decimal(contract.amount), milestones_of(contract))
    except TermsDoNotFit as exc:
        return Refused(contract.terms or "", str(exc))
    old = rows_of(session, contract.contract_no)
    same = [(r.seq, r.words, Decimal(r.amount)) for r in old] == [
        (p.instalment.seq, p.instalment.words()[:256], p.amount) for p in planned
    ]
    if old and same:  # the same plan (signing re-reads the terms): keep the rows and what was paid on them
        for row, p in zip(old, planned, strict=True):
            row.due_on = p.due_on
        sync_due_on(session, contract, now=now, actor=actor, reason=reason)
        return parsed
    # a new plan: the old rows go, with their matched payments (those bank lines are unallocated again and
    # the next reconciliation places them on the new instalments)
    before = _snap(old)
    if old:
        ids = [r.id for r in old]
        session.execute(delete(InstalmentPaymentRow).where(InstalmentPaymentRow.instalment_id.in_(ids)))
        session.execute(delete(InstalmentRow).where(InstalmentRow.contract_no == contract.contract_no))
        session.flush()
    new = []
    for p in planned:
        inst = p.instalment
        rule = audit.jsonable(asdict(inst))
        row = InstalmentRow(
            contract_no=contract.contract_no,
            seq=inst.seq,
            label=inst.label or None,
            events="+".join(inst.events),
            rule=rule,
            words=inst.words()[:256],
            share=inst.share,
            amount=p.amount,
            due_on=p.due_on,
            paid=Decimal(0),
            status="open",
        )
        session.add(row)
        new.append(row)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="update" if old else "create",
        entity="contract_instalments",
        entity_id=contract.contract_no,
        before={"instalments": before} if old else None,
        after={"terms": contract.terms, "instalments": _snap(new)},
        reason=reason,
    )
    sync_due_on(session, contract, now=now, actor=actor, reason=reason)
    return parsed


def redate(session: Session, contract: ContractRow) -> list[InstalmentRow]:
    """Recompute the due dates of the contract's instalments from its milestones (after one was recorded)."""
    ms = milestones_of(contract)
    rows = rows_of(session, contract.contract_no)
    for row in rows:
        row.due_on = due_on_of(instalment_of(row), ms)
    return rows


def record_milestone(
    session: Session,
    contract: ContractRow,
    event: str,
    day: date,
    *,
    now: datetime,
    actor: str,
    reason: str | None,
) -> None:
    """The contract's `event` happened on `day`: stored (audited), and the instalments waiting for it dated."""
    if event not in EVENTS or event == SIGNED:
        raise ValueError(f"not a milestone: {event}")
    before = audit.snapshot(contract)
    contract.milestones = {**(contract.milestones or {}), event: day.isoformat()}
    redate(session, contract)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="update",
        entity="contracts",
        entity_id=contract.contract_no,
        before=before,
        after=audit.snapshot(contract),
        reason=reason,
    )
    sync_due_on(session, contract, now=now, actor=actor, reason=reason)


def next_due(rows: list[InstalmentRow]) -> InstalmentRow | None:
    """The earliest dated instalment not paid in full."""
    dated = [r for r in rows if r.due_on is not None and r.status != "paid"]
    return min(dated, key=lambda r: (r.due_on, r.seq)) if dated else None


def sync_due_on(
    session: Session, contract: ContractRow, *, now: datetime, actor: str, reason: str | None
) -> None:
    """contracts.due_on := the next unpaid instalment's due date (audited when it moves)."""
    nxt = next_due(rows_of(session, contract.contract_no))
    if nxt is None or nxt.due_on == contract.due_on:
        return
    before = audit.snapshot(contract)
    contract.due_on = nxt.due_on  # type: ignore[assignment]
    audit.record(
        session,
        at=now,
        actor=actor,
        action="update",
        entity="contracts",
        entity_id=contract.contract_no,
        before=before,
        after=audit.snapshot(contract),
        reason=reason,
    )


def due_and_paid(session: Session, contract_no: str, on: date) -> tuple[Decimal, Decimal] | None:
    """What the contract's instalments ask by `on` and what was paid of those; None without instalments."""
    rows = rows_of(session, contract_no)
    if not rows:
        return None
    due = [r for r in rows if r.due_on is not None and r.due_on <= on]
    return (
        sum((Decimal(r.amount) for r in due), Decimal(0)),
        sum((Decimal(r.paid) for r in due), Decimal(0)),
    )
