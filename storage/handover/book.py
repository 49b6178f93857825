"""What a person owns (their book) and what still names them after a hand-over.

The book (docs/handover.md §What moves): customers (owner), open promises and follow-ups (the rep), leads
(owner), open lead sequence steps (owner), open contract hand-off work orders they claimed, the live timers of
those rows (stale ladders, promise and follow-up reminders, lead steps and nurture, work-order SLAs) and the
calendar entries made for their open promises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.contracts.models import WorkOrderRow
from storage.leads.models import LeadRow, LeadSopStepRow
from storage.models import CustomerRow, PromiseRow, TimerRow
from storage.timers import LIVE

OPEN_WORK_ORDER = ("open", "claimed", "blocked")
STALE_KIND = "stale"


@dataclass
class Book:
    customers: list[str] = field(default_factory=list)  # customer ids
    promises: list[int] = field(default_factory=list)  # open promises and follow-ups
    leads: list[str] = field(default_factory=list)
    lead_steps: list[int] = field(default_factory=list)  # open steps of their leads' sequences
    work_orders: list[int] = field(default_factory=list)  # open hand-off work orders they claimed
    calendar: list[int] = field(default_factory=list)  # promises with a calendar entry in WeCom

    def counts(self, session: Session) -> dict[str, int]:
        """Per kind, for the card and the handovers row; timers and stale ladders counted live."""
        live = live_timers(session, self)
        return {
            "customers": len(self.customers),
            "promises": len(self.promises),
            "leads": len(self.leads),
            "lead_steps": len(self.lead_steps),
            "work_orders": len(self.work_orders),
            "calendar": len(self.calendar),
            "timers": len(live),
            "stale": len({t.subject_id for t in live if t.kind == STALE_KIND}),
        }

    def is_empty(self) -> bool:
        return not (self.customers or self.promises or self.leads or self.lead_steps or self.work_orders)


def book_of(session: Session, userid: str) -> Book:
    """Everything `userid` owns now."""
    promises = session.execute(
        select(PromiseRow.id, PromiseRow.schedule_id)
        .where(PromiseRow.rep_userid == userid, PromiseRow.status == "open")
        .order_by(PromiseRow.id)
    ).all()
    return Book(
        customers=list(
            session.scalars(
                select(CustomerRow.customer_id)
                .where(CustomerRow.owner_userid == userid)
                .order_by(CustomerRow.customer_id)
            )
        ),
        promises=[p for p, _ in promises],
        leads=list(
            session.scalars(
                select(LeadRow.lead_id).where(LeadRow.owner_userid == userid).order_by(LeadRow.lead_id)
            )
        ),
        lead_steps=list(
            session.scalars(
                select(LeadSopStepRow.id)
                .where(LeadSopStepRow.owner_userid == userid, LeadSopStepRow.status == "open")
                .order_by(LeadSopStepRow.id)
            )
        ),
        work_orders=list(
            session.scalars(
                select(WorkOrderRow.id)
                .where(WorkOrderRow.claimed_by == userid, WorkOrderRow.status.in_(OPEN_WORK_ORDER))
                .order_by(WorkOrderRow.id)
            )
        ),
        calendar=[p for p, sid in promises if sid],
    )


def _subjects(book: Book) -> dict[str, list[str]]:
    return {
        "customer": list(book.customers),
        "promise": [str(p) for p in book.promises],
        "lead": list(book.leads),  # lead_step and lead_nurture timers
        "work_order": [str(x) for x in book.work_orders],
    }


def live_timers(session: Session, book: Book, *, lock: bool = False) -> list[TimerRow]:
    """The live timers of the book's rows."""
    out: list[TimerRow] = []
    for subject_type, ids in _subjects(book).items():
        for start in range(0, len(ids), 500):
            q = select(TimerRow).where(
                TimerRow.status.in_(LIVE),
                TimerRow.subject_type == subject_type,
                TimerRow.subject_id.in_(ids[start : start + 500]),
            )
            if lock and session.get_bind().dialect.name == "postgresql":
                q = q.with_for_update()
            out += list(session.scalars(q.order_by(TimerRow.id)))
    return out


def personal_timers(session: Session, userid: str) -> list[TimerRow]:
    """Live timers about the person themself (their weekly brief, their target's escalation)."""
    return list(
        session.scalars(
            select(TimerRow).where(
                TimerRow.status.in_(LIVE), TimerRow.subject_type == "user", TimerRow.subject_id == userid
            )
        )
    )


def pending_deciders(session: Session, userids: set[str]) -> dict[str, str]:
    """userid → the deciding manager of their pending hand-over (those of `userids` that have one)."""
    from storage.handover.models import HandoverRow

    if not userids:
        return {}
    rows = session.execute(
        select(HandoverRow.from_userid, HandoverRow.decider).where(
            HandoverRow.from_userid.in_(list(userids)), HandoverRow.status == "pending"
        )
    )
    return {u: d for u, d in rows if d}


def names_user(payload: dict[str, Any] | None, userid: str) -> list[str]:
    """The payload keys whose value is `userid`."""
    return [k for k, v in (payload or {}).items() if v == userid]


def leftovers(session: Session, userid: str) -> dict[str, int]:
    """What still names `userid` as its owner (after a departure's hand-over: all zero)."""
    book = book_of(session, userid)
    live = session.scalars(select(TimerRow).where(TimerRow.status.in_(LIVE))).all()
    named = sum(
        1
        for t in live
        if names_user(t.payload, userid) or (t.subject_type == "user" and t.subject_id == userid)
    )
    return {
        "customers": len(book.customers),
        "promises": len(book.promises),
        "leads": len(book.leads),
        "lead_steps": len(book.lead_steps),
        "work_orders": len(book.work_orders),
        "timers": named,
    }
