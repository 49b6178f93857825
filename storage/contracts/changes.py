"""Changes to a contract and its field-level trail: who, when, through which channel (chat, import,
dashboard, system), each field's value before and after — read from the audit rows (entity `contracts`),
which every path writes in the same transaction as the change (the importer, chat, the dashboard, the SOP).

Finance's check: once finance verified the amount (`verify_amount`), nobody outside finance can change it
(`AmountLocked`); the change becomes a request to finance (`request_change`, a finance to-do) instead. An import
that changes a verified amount fails on that row (storage/importer/run.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.contracts.terms import Refused
from storage import audit
from storage.contracts import instalments
from storage.contracts.departments import is_finance
from storage.contracts.models import FinanceTodoRow
from storage.models import AuditRow, ContractRow

FIELD_WORDS: dict[str, str] = {
    "amount": "金额",
    "terms": "付款条件",
    "due_on": "约定回款日",
    "signed_on": "签约日期",
    "sales_status": "签约状态",
    "finance_status": "财务状态",
    "milestones": "履约节点",
    "amount_verified_at": "金额核实",
    "customer_id": "客户",
}
CHANNELS = ("chat", "import", "dashboard", "system")
CHANNEL_WORDS = {"chat": "企业微信", "import": "导入", "dashboard": "看板", "system": "系统"}
EDITABLE = ("amount", "terms", "due_on", "signed_on")


class AmountLocked(PermissionError):
    """The amount was verified by finance: only finance may change it."""


class TermsUnread(ValueError):
    def __init__(self, refused: Refused):
        super().__init__(refused.words)
        self.refused = refused


def channel_of(reason: str | None) -> str:
    """The channel a change came through, from its audit row's reason (the unit of work's source)."""
    r = reason or ""
    if r.startswith("import"):
        return "import"
    if r.startswith(("inbox:", "chat:")):
        return "chat"
    if r.startswith("dashboard"):
        return "dashboard"
    return "system"


def change(
    session: Session,
    contract: ContractRow,
    field: str,
    value: Any,
    *,
    actor: str,
    now: datetime,
    reason: str,
) -> ContractRow:
    """Set one field (amount, terms, due_on, signed_on), audited with before and after. Raises AmountLocked
    (a verified amount, changed by someone outside finance) or TermsUnread (terms the parser refused:
    nothing changes). New terms or a new amount re-plan the instalments."""
    if field not in EDITABLE:
        raise ValueError(f"not an editable field: {field}")
    if field == "amount" and contract.amount_verified_at is not None and not is_finance(session, actor):
        raise AmountLocked(contract.contract_no)
    before = audit.snapshot(contract)
    old_terms, old_amount = contract.terms, contract.amount
    setattr(contract, field, value)
    if field in ("terms", "amount") and contract.terms:
        got = instalments.plan(session, contract, now=now, actor=actor, reason=reason)
        if isinstance(got, Refused):
            contract.terms, contract.amount = old_terms, old_amount
            raise TermsUnread(got)
    session.flush()
    after = audit.snapshot(contract)
    if after != before:
        audit.record(
            session,
            at=now,
            actor=actor,
            action="update",
            entity="contracts",
            entity_id=contract.contract_no,
            before=before,
            after=after,
            reason=reason,
        )
    return contract


def verify_amount(session: Session, contract: ContractRow, *, actor: str, now: datetime, reason: str) -> bool:
    """Finance checked the amount (audited). False when `actor` is not finance."""
    if not is_finance(session, actor):
        return False
    before = audit.snapshot(contract)
    contract.amount_verified_at = now
    contract.amount_verified_by = actor
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
    return True


def request_change(
    session: Session, contract: ContractRow, field: str, value: Any, *, actor: str, now: datetime
) -> FinanceTodoRow:
    """A request to finance to change a verified field (a finance to-do, audited)."""
    todo = FinanceTodoRow(
        business_key=f"change:{contract.contract_no}:{field}:{actor}:{now.isoformat()}"[:128],
        kind="amount_change",
        ref=contract.contract_no,
        payload={
            "field": field,
            "from": audit.jsonable(getattr(contract, field)),
            "to": audit.jsonable(value),
        },
        status="open",
        created_at=now,
        created_by=actor,
    )
    audit.add_created(
        session,
        todo,
        at=now,
        actor=actor,
        entity="finance_todo",
        reason="amount verified by finance: change requested",
    )
    return todo


@dataclass(frozen=True)
class FieldChange:
    at: datetime
    actor: str
    channel: str  # chat | import | dashboard | system
    field: str
    before: Any
    after: Any


def history(session: Session, contract_no: str) -> list[FieldChange]:
    """Every change of the contract's fields, oldest first: one entry per field changed (an import that
    created the contract shows each field it set, from nothing)."""
    out: list[FieldChange] = []
    rows = session.scalars(
        select(AuditRow)
        .where(AuditRow.entity == "contracts", AuditRow.entity_id == contract_no)
        .order_by(AuditRow.at, AuditRow.id)
    )
    for r in rows:
        before, after = r.before or {}, r.after or {}
        for field in FIELD_WORDS:
            if field in after and before.get(field) != after.get(field):
                out.append(
                    FieldChange(
                        r.at, r.actor, channel_of(r.reason), field, before.get(field), after.get(field)
                    )
                )
    return out


def parse_value(field: str, text: str) -> Any:
    """A typed value for `field` (amount: yuan, 万 allowed; dates: YYYY-MM-DD); ValueError when unreadable."""
    t = text.strip().replace(",", "").replace("，", "").replace("¥", "").replace("元", "")
    if field == "amount":
        scale = Decimal(10000) if t.endswith("万") else Decimal(1)
        try:
            v = Decimal(t.rstrip("万")) * scale
        except ArithmeticError:
            raise ValueError(f"金额“{text}”不是数字") from None
        if v <= 0:
            raise ValueError("金额必须大于0")
        return v.quantize(Decimal("0.01"))
    if field in ("due_on", "signed_on"):
        return date.fromisoformat(t)
    return text.strip()
