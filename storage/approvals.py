"""The approval cards sent and how to reach them again; the rep's own lines of a visit.

An approval card is updated in place with `message/update_template_card`, which needs a response_code: the
click's (single use, handed in by the click) or the send's (returned by `message/send`, stored on the outbox
row by the relay, single use, 72 h). `approval_cards` records every card sent for an approval, so that a
decided or withdrawn approval finds each one, and the send's code, to put it in its final state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import ApprovalCardRow, InboxRow, OutboxRow

REP_CARD = "rep"


def new_task_id(
    session: Session, *, approval_id: int, step_id: int | None, recipient: str, now: datetime
) -> str:
    """Record a card about to be sent (to `recipient`, for `step_id`, or the rep's card when None) and return
    its task_id: `appr-<approval>-<step or rep>-<n>`, unique per app as WeCom requires."""
    n = 1 + (
        session.scalar(
            select(func.count())
            .select_from(ApprovalCardRow)
            .where(
                ApprovalCardRow.approval_id == approval_id,
                ApprovalCardRow.step_id.is_(None) if step_id is None else ApprovalCardRow.step_id == step_id,
                ApprovalCardRow.recipient == recipient,
            )
        )
        or 0
    )
    task_id = f"appr-{approval_id}-{step_id if step_id is not None else REP_CARD}-{n}"
    session.add(
        ApprovalCardRow(
            approval_id=approval_id, step_id=step_id, recipient=recipient, task_id=task_id, created_at=now
        )
    )
    session.flush()
    return task_id


def open_cards(session: Session, approval_id: int, *, step_id: int | None = None) -> list[ApprovalCardRow]:
    """The cards of an approval (of one step, when given) not yet put in a final state, oldest first."""
    q = select(ApprovalCardRow).where(
        ApprovalCardRow.approval_id == approval_id, ApprovalCardRow.final_at.is_(None)
    )
    if step_id is not None:
        q = q.where(ApprovalCardRow.step_id == step_id)
    return list(session.scalars(q.order_by(ApprovalCardRow.id)))


def send_code(session: Session, card: ApprovalCardRow) -> str | None:
    """The response_code WeCom returned when the card was sent; None while it is unsent (or was merged into a
    digest, or never reached anyone)."""
    return session.scalar(
        select(OutboxRow.response_code)
        .where(
            OutboxRow.recipient == card.recipient,
            OutboxRow.kind == "card",
            OutboxRow.status == "sent",
            OutboxRow.response_code.is_not(None),
            OutboxRow.message["task_id"].as_string() == card.task_id,
        )
        .order_by(OutboxRow.id.desc())
        .limit(1)
    )


def unsent(session: Session, card: ApprovalCardRow) -> bool:
    """The card's outbox row is still waiting to go out (pending, or being sent)."""
    return (
        session.scalar(
            select(OutboxRow.id)
            .where(
                OutboxRow.recipient == card.recipient,
                OutboxRow.kind == "card",
                OutboxRow.status.in_(("pending", "sending")),
                OutboxRow.message["task_id"].as_string() == card.task_id,
            )
            .limit(1)
        )
        is not None
    )


def rep_lines_since(session: Session, rep: str, since: datetime, *, limit: int = 50) -> list[str]:
    """The texts `rep` sent the assistant since `since` (a visit's check-in), newest first: the visit's lines
    as typed (the visit's note keeps only what no other part of the line took); a voice message by WeCom's
    recognition of it."""
    rows = session.scalars(
        select(InboxRow.event)
        .where(InboxRow.sender == rep, InboxRow.kind.in_(("text", "voice")), InboxRow.received_at >= since)
        .order_by(InboxRow.id.desc())
        .limit(limit)
    )
    return [str(e.get("content") or e.get("recognition") or "") for e in rows if isinstance(e, dict)]
