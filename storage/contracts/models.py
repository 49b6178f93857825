"""Tables of the contract hand-off (docs/contracts.md): departments, instalments read from the payment terms,
the three hand-off work orders of a signed contract, bank lines matched to instalments, and finance's to-dos.

The contract's own new columns (terms, the two statuses, milestones, the finance check of the amount) are on
storage.models.ContractRow. Import this module before `Base.metadata.create_all` / Alembic autogenerate
(storage/all_models.py).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, Id, Money

Share = Numeric(9, 4)


class DepartmentRow(Base):
    """A team a hand-off goes to: 交付 (delivery), 财务 (finance), 售后 (after_sales); its head is the first
    rung of an SLA breach, its members get the work-order cards."""

    __tablename__ = "departments"
    dept_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), index=True)  # delivery | finance | after_sales
    head_userid: Mapped[str | None] = mapped_column(Id)
    members: Mapped[list[Any]] = mapped_column(JSON, default=list)  # userids


class InstalmentRow(Base):
    """One payment of a contract, read from its terms (core.contracts.terms): the rule, the amount, the due
    date once its event has happened, and what the bank lines matched to it paid."""

    __tablename__ = "contract_instalments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contract_no: Mapped[str] = mapped_column(ForeignKey("contracts.contract_no"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(String(16))
    events: Mapped[str] = mapped_column(String(128))  # "delivered+invoiced": due from the later of them
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)  # the Instalment's fields (offsets, monthly rule)
    words: Mapped[str] = mapped_column(String(256))  # 「签约后30天付50%」
    share: Mapped[Decimal | None] = mapped_column(Share)
    amount: Mapped[Decimal] = mapped_column(Money)
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    paid: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")  # open | paid
    paid_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (UniqueConstraint("contract_no", "seq"),)


class InstalmentPaymentRow(Base):
    """A bank statement line (payments) matched to an instalment, and the part of it that pays it: a split
    payment is several rows of one instalment, a combined payment one line over several instalments."""

    __tablename__ = "instalment_payments"
    instalment_id: Mapped[int] = mapped_column(
        ForeignKey("contract_instalments.id", ondelete="CASCADE"), primary_key=True
    )
    txn_id: Mapped[str] = mapped_column(ForeignKey("payments.txn_id"), primary_key=True, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    how: Mapped[str] = mapped_column(String(16))  # number | amount_payer
    matched_at: Mapped[datetime] = mapped_column()


class WorkOrderRow(Base):
    """A hand-off of a signed contract to one team, with its SLA: open → claimed → done, or blocked (with a
    reason). One per (contract, team): a second signing event finds it."""

    __tablename__ = "work_orders"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contract_no: Mapped[str] = mapped_column(ForeignKey("contracts.contract_no"), index=True)
    team: Mapped[str] = mapped_column(String(16))  # delivery | finance | after_sales
    dept_id: Mapped[str | None] = mapped_column(Id)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open|claimed|done|blocked
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)  # what the team is handed (lines of text)
    sla_hours: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(Id)
    claimed_at: Mapped[datetime | None] = mapped_column()
    done_at: Mapped[datetime | None] = mapped_column()
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    blocked_at: Mapped[datetime | None] = mapped_column()
    # SLA rungs reached: 1 the department head, 2 the sales director
    escalated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (UniqueConstraint("contract_no", "team"),)


class FinanceTodoRow(Base):
    """Something finance must look at: a bank line the nightly reconciliation could not match (with the
    candidate instalments), or a rep's request to change a verified amount. One per business key."""

    __tablename__ = "finance_todos"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    business_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # unmatched_payment | unpaid_instalment | amount_change
    ref: Mapped[str] = mapped_column(String(64), index=True)  # txn_id or contract_no
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(64))
    done_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_finance_todos_status_kind", "status", "kind"),)
