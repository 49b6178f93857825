"""The won opportunity's card (商机赢单): when an opportunity becomes 赢单, its owner (the customer's owner) gets
a card with 确认签约 (`contract:sign:<no>`, handled by handlers/contracts/handoff.py) for the opportunity's
contract — the customer's contract waiting for the signing (待签约); several: a button each, up to three. With
no such contract the owner is told how to bring it in and sign it. Exactly once per opportunity: a timer
`opportunity_won` with the business key `won:<opportunity id>`, booked however often the opportunity is
re-imported or flips back and forth.

Opportunity stages change only through the import (the 商机 sheet; chat has no command that moves one), so the
import's contract step (handoff.after_import) books the cards: an opportunity whose stage the import changed to
won, or a new one imported as won that entered the stage within `RECENT_DAYS` (older ones are history, not
news) — but not by the first import that brings opportunities at all: that is the team's history, which
arrives as one catch-up digest per person (handlers/sop/catch_up.py), not a card per won deal. A contract the
same import already marked 已签约 needs no card: its hand-off runs by itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import ORG_ZONE
from handlers.context import Ctx
from handlers.contracts import texts as T
from handlers.messages import Button, Card, CardAction, Text, card_key
from handlers.sop.policy import FireResult
from storage import timers
from storage.models import AuditRow, ContractRow, CustomerRow, OpportunityRow, TimerRow, UserRow

KIND = "opportunity_won"
RECENT_DAYS = 7
MAX_BUTTONS = 3


def newly_won(session: Session, now: datetime) -> list[str]:
    """The opportunities the import that ran at `now` made won (its audit rows, entity `opportunities`)."""
    today = now.astimezone(ORG_ZONE).date()
    known_before = (
        session.scalar(
            select(AuditRow.id)
            .where(AuditRow.entity.in_(("opportunities", "opportunity")), AuditRow.at < now)
            .limit(1)
        )
        is not None
    )
    out = []
    rows = session.scalars(
        select(AuditRow).where(
            AuditRow.entity == "opportunities", AuditRow.action == "import", AuditRow.at == now
        )
    )
    for r in rows:
        after, before = r.after or {}, r.before
        if after.get("stage") != "won":
            continue
        if before is not None:
            if before.get("stage") != "won":
                out.append(r.entity_id)
        elif (
            known_before
            and str(after.get("entered_on") or "") >= (today - timedelta(days=RECENT_DAYS)).isoformat()
        ):
            out.append(r.entity_id)
    return sorted(set(out))


def book(session: Session, opportunity_ids: list[str], now: datetime) -> int:
    """One `opportunity_won` timer per opportunity, due at once; an opportunity that had one gets none."""
    rows = [
        dict(
            kind=KIND,
            business_key=f"won:{oid}",
            subject_type="opportunity",
            subject_id=oid,
            due_at=now,
            status="pending",
            attempts=0,
            payload={"opportunity_id": oid},
            created_at=now,
        )
        for oid in opportunity_ids
    ]
    return timers.insert_ignoring_duplicates(session, rows)


def after_import(session: Session, now: datetime) -> int:
    return book(session, newly_won(session, now), now)


def fire_opportunity_won(ctx: Ctx, timer: TimerRow) -> FireResult:
    s = ctx.session
    opp = s.get(OpportunityRow, timer.subject_id)
    if opp is None or opp.stage != "won":
        return "cancelled", "no longer won"
    customer = s.get(CustomerRow, opp.customer_id)
    owner = s.get(UserRow, customer.owner_userid) if customer and customer.owner_userid else None
    if customer is None or owner is None or not owner.active:
        return "cancelled", "no active owner"
    contracts = list(
        s.scalars(
            select(ContractRow)
            .where(ContractRow.customer_id == customer.customer_id)
            .order_by(ContractRow.signed_on.desc(), ContractRow.contract_no)
        )
    )
    if any(c.sales_status == "signed" and c.signed_at is None for c in contracts):
        return "done", "the import marked its contract signed"  # the hand-off runs without a click
    pending = [c for c in contracts if c.sales_status == "pending" and c.signed_at is None][:MAX_BUTTONS]
    amount = f"¥{Decimal(opp.amount):,.2f}" if opp.amount is not None else "金额未填"
    if not pending:
        ctx.send(
            owner.userid,
            Text(
                content=T.WON_NO_CONTRACT.format(
                    opp=opp.opportunity_id, customer=customer.name, amount=amount, cid=customer.customer_id
                )
            ),
        )
        return "done", "no contract: told how"
    one = len(pending) == 1
    ctx.send(
        owner.userid,
        Card(
            title=T.WON_TITLE.format(customer=customer.name),
            description=T.WON_HEAD.format(opp=opp.opportunity_id, amount=amount),
            fields=[
                (
                    f"合同{c.contract_no}",
                    f"¥{Decimal(c.amount):,.2f}" + (f"｜{c.terms}" if c.terms else "｜未写付款条件"),
                )
                for c in pending
            ],
            buttons=[
                Button(
                    T.WON_SIGN if one else f"{T.WON_SIGN} {c.contract_no}",
                    card_key(CardAction.CONTRACT, "sign", c.contract_no),
                )
                for c in pending
            ],
        ),
    )
    return "done", f"card for {', '.join(c.contract_no for c in pending)}"
