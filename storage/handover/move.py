"""The move of a book to a successor: one transaction, one audit row per changed row (before and after of the
columns that changed), one summary row for the hand-over itself (docs/handover.md §Audit).

Timers stay booked at their times: their firers read the recipient from the row they are about (the promise's
rep, the customer's owner, the step's owner), which now names the successor; a timer whose payload names the
person (a nurture timer's "owner") is re-booked to the successor in place. Timers about the person themself
(their weekly brief, their target's escalation) are cancelled when they left, kept when they moved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from storage import audit, timers
from storage.contracts.models import WorkOrderRow
from storage.handover.book import Book, live_timers, names_user, personal_timers
from storage.handover.models import HandoverRow
from storage.leads.models import LeadRow, LeadSopStepRow
from storage.models import AuditRow, CustomerRow, OutboxRow, PromiseRow

ACTOR = "system:handover"
CHUNK = 500


def _bulk_owner(
    session: Session,
    model: Any,
    pk: Any,
    column: Any,
    ids: list[Any],
    *,
    old: str,
    new: str,
    entity: str,
    audits: list[dict[str, Any]],
    at: datetime,
    actor: str,
    reason: str,
) -> int:
    """Set `column` from `old` to `new` on the rows `ids` (still naming `old`: the WHERE re-checks, so a row
    changed since the book was read is left alone and not counted). Returns rows changed."""
    changed = 0
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        result = session.execute(
            update(model)
            .where(pk.in_(part), column == old)
            .values({column.key: new})
            .returning(pk)
            .execution_options(synchronize_session=False)
        )
        done = [r[0] for r in result]
        changed += len(done)
        audits += [
            {
                "at": at,
                "actor": actor,
                "action": "handover",
                "entity": entity,
                "entity_id": str(i),
                "before": {column.key: old},
                "after": {column.key: new},
                "reason": reason,
            }
            for i in done
        ]
    return changed


def move_book(
    session: Session,
    handover: HandoverRow,
    book: Book,
    successor: str,
    *,
    now: datetime,
    actor: str,
    leaving: bool,
) -> dict[str, int]:
    """Move every row of `book` from the hand-over's person to `successor`, audited. Returns what moved, per
    kind; `close` marks the hand-over done."""
    old = handover.from_userid
    reason = f"handover:{handover.id}"
    audits: list[dict[str, Any]] = []
    common = dict(old=old, new=successor, audits=audits, at=now, actor=actor, reason=reason)
    live = live_timers(session, book, lock=True)  # read before the owners change (the same rows either way)
    moved = {
        "customers": _bulk_owner(
            session,
            CustomerRow,
            CustomerRow.customer_id,
            CustomerRow.owner_userid,
            book.customers,
            entity="customer",
            **common,
        ),
        "promises": _bulk_owner(
            session,
            PromiseRow,
            PromiseRow.id,
            PromiseRow.rep_userid,
            book.promises,
            entity="promise",
            **common,
        ),
        "leads": _bulk_owner(
            session, LeadRow, LeadRow.lead_id, LeadRow.owner_userid, book.leads, entity="lead", **common
        ),
        "lead_steps": _bulk_owner(
            session,
            LeadSopStepRow,
            LeadSopStepRow.id,
            LeadSopStepRow.owner_userid,
            book.lead_steps,
            entity="lead_step",
            **common,
        ),
        "work_orders": _bulk_owner(
            session,
            WorkOrderRow,
            WorkOrderRow.id,
            WorkOrderRow.claimed_by,
            book.work_orders,
            entity="work_order",
            **common,
        ),
    }
    rebooked = 0
    for t in live:
        keys = names_user(t.payload, old)
        before = {"payload": audit.jsonable(t.payload)}
        t.payload = {**t.payload, **{k: successor for k in keys}, "handed_to": successor}
        rebooked += 1
        audits.append(
            {
                "at": now,
                "actor": actor,
                "action": "handover",
                "entity": "timer",
                "entity_id": str(t.id),
                "before": before,
                "after": {"payload": audit.jsonable(t.payload)},
                "reason": reason,
            }
        )
    moved["timers"] = rebooked
    cancelled = 0
    if leaving:
        for t in personal_timers(session, old):
            cancelled += len(
                timers.cancel(
                    session,
                    now=now,
                    reason=f"{reason}: the person left",
                    business_key=t.business_key,
                    actor=actor,
                )
            )
    moved["personal_timers_cancelled"] = cancelled
    if audits:
        for start in range(0, len(audits), CHUNK):
            session.execute(insert(AuditRow), audits[start : start + CHUNK])
    return moved


MESSAGE_KINDS = ("text", "markdown", "card", "image")


def readdress_pending(session: Session, old: str, new: str) -> int:
    """Messages still waiting in the outbox for a person who left (not yet rendered for them): to `new` instead,
    so nothing queued before the departure is sent to them. Returns rows re-addressed."""
    result = session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.recipient == old,
            OutboxRow.status == "pending",
            OutboxRow.payload.is_(None),
            OutboxRow.kind.in_(MESSAGE_KINDS),
        )
        .values(recipient=new)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def close(
    session: Session,
    handover: HandoverRow,
    successor: str,
    moved: dict[str, int],
    *,
    now: datetime,
    actor: str,
) -> None:
    """The hand-over done: its successor, who decided, what moved; audited with before and after."""
    before = audit.snapshot(handover)
    handover.status, handover.successor, handover.done_at = "done", successor, now
    handover.decided_by, handover.moved = actor, moved
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="handover",
        entity="handover",
        entity_id=str(handover.id),
        before=before,
        after=audit.snapshot(handover),
        reason=f"handover:{handover.id}",
    )
