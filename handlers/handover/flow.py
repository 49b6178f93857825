"""The hand-over of a person's book (docs/handover.md), from the deactivation or move to the report.

1. `open_handover` (deactivation in chat, an import, the address-book sync through people_admin.deactivate):
   a `handovers` row, a card to the deciding manager listing the book with one button per candidate, and a
   `handover_auto` timer at the policy's deadline. Until a choice nothing moves; the departed person receives
   nothing (the SOP passes deactivated people over to the next active manager: their alerts reach the decider).
2. `on_handover_button` (the decider or an admin picks) or `fire_handover_auto` (the deadline: the fallback)
   → `complete`: the audited move (storage/handover/move.py), calendar entries re-made for the successor
   (oa/schedule/del of the old entry, oa/schedule/add of a new one, through the outbox), WeCom's own customer
   transfer when the corp connects 客户联系 (WECOM_CUSTOMER_CONTACT: an outbox row the relay turns into
   在职继承 / 离职继承 calls), and plain Chinese messages to the successor, the decider and a moved rep.
3. `record_transfer` (called by the relay with WeCom's answers): stored on the row, reported per customer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import handover as rules
from core.roles import Role
from handlers.context import Ctx
from handlers.handover import texts as T
from handlers.messages import (
    Button,
    Card,
    CardAction,
    CardClick,
    CardUpdate,
    Inbound,
    Text,
    card_key,
    parse_card_key,
)
from handlers.sop import calendar
from handlers.sop.policy import FireResult
from storage import audit, outbox, people, timers
from storage.handover.book import Book, book_of
from storage.handover.models import HandoverRow
from storage.handover.move import ACTOR, close, move_book, readdress_pending
from storage.leads.models import LeadRow
from storage.models import AuditRow, CustomerRow, OrgConfigRow, OutboxRow, PromiseRow, UserRow

log = logging.getLogger("assistant.handover")

KIND = "handover_auto"
SUBJECT = "handover"
CONFIG_KEY = "handover"
TRANSFER_KIND = "customer_transfer"  # the outbox row the relay turns into WeCom's transfer calls
SHOWN_CUSTOMERS = 5
SHOWN_WECOM = 10


def load_policy(session: Session) -> rules.HandoverPolicy:
    row = session.get(OrgConfigRow, CONFIG_KEY)
    try:
        return rules.HandoverPolicy.from_config(row.value if row else None)
    except (ValueError, TypeError) as exc:
        log.error("org_config[%s] is invalid, using the defaults: %s", CONFIG_KEY, exc)
        return rules.HandoverPolicy()


def timer_key(handover_id: int) -> str:
    return f"{KIND}:{handover_id}"


def pending_of(session: Session, userid: str) -> HandoverRow | None:
    return session.scalars(
        select(HandoverRow).where(HandoverRow.from_userid == userid, HandoverRow.status == "pending")
    ).first()


def _reps_of(session: Session, manager: str) -> list[str]:
    return list(
        session.scalars(
            select(UserRow.userid).where(
                UserRow.manager_userid == manager, UserRow.role == Role.REP.value, UserRow.active.is_(True)
            )
        )
    )


def _hours(policy: rules.HandoverPolicy) -> str:
    hours = policy.auto_after.total_seconds() / 3600
    return str(int(hours)) if hours == int(hours) else f"{hours:.1f}"


def open_handover(
    ctx: Ctx,
    userid: str,
    *,
    reason: str,
    manager_before: str | None = None,
    region_before: str | None = None,
) -> HandoverRow | None:
    """Open the hand-over of `userid`'s book (nothing when they own nothing, or one is already pending: a
    pending move that becomes a departure is marked left). Sends the decider the card."""
    s = ctx.session
    existing = pending_of(s, userid)
    if existing is not None:
        if reason == rules.LEFT and existing.reason != rules.LEFT:
            before = audit.snapshot(existing)
            existing.reason = rules.LEFT
            if existing.decider:
                readdress_pending(s, userid, existing.decider)
            s.flush()
            audit.record(
                s,
                at=ctx.now,
                actor=ctx.userid,
                action="update",
                entity="handover",
                entity_id=str(existing.id),
                before=before,
                after=audit.snapshot(existing),
                reason=ctx.source,
            )
        return existing
    book = book_of(s, userid)
    if book.is_empty():
        return None
    tree = people.whole_tree(s)
    decider = rules.decider(tree, userid, manager_before=manager_before)
    if decider is None:
        admins = tree.with_role(Role.ADMIN.value, active_only=True)
        decider = admins[0] if admins else None
    if decider is None:
        log.error("hand-over of %s: nobody active above and no admin", userid)
        return None
    policy = load_policy(s)
    redirected = readdress_pending(s, userid, decider) if reason == rules.LEFT else 0
    row = HandoverRow(
        from_userid=userid,
        reason=reason,
        decider=decider,
        status="pending",
        opened_at=ctx.now,
        due_at=ctx.now + policy.auto_after,
        book={**book.counts(s), "outbox_readdressed": redirected},
        detail={"manager": manager_before, "region": region_before} if reason == rules.MOVED else {},
    )
    audit.add_created(
        s,
        row,
        at=ctx.now,
        actor=ctx.userid,
        entity="handover",
        reason=ctx.source,
    )
    timers.schedule(
        s,
        kind=KIND,
        business_key=timer_key(row.id),
        subject_type=SUBJECT,
        subject_id=str(row.id),
        due_at=row.due_at,
        payload={"handover_id": row.id},
        now=ctx.now,
        actor=ACTOR,
        reason=f"handover:{row.id}",
    )
    candidates = rules.candidates(tree, decider, userid, _reps_of(s, decider))
    ctx.send(decider, _card(s, row, book, candidates, policy))
    return row


def _card(
    s: Session, row: HandoverRow, book: Book, candidates: list[str], policy: rules.HandoverPolicy
) -> Card:
    name = people.name_of(s, row.from_userid)
    names = people.names(s, candidates)
    counts = row.book
    shown = _customer_names(s, book.customers)
    # WeCom shows at most 6 fields: the customers, where a moved rep came from, then the kinds that are not empty
    fields = [(T.FIELD_CUSTOMERS, T.CUSTOMER_FIELD.format(n=len(book.customers), names=shown))]
    if row.reason == rules.MOVED and row.detail.get("manager"):
        fields.append((T.FIELD_MOVED_FROM, people.name_of(s, row.detail["manager"])))
    for key, label in (
        ("promises", T.FIELD_PROMISES),
        ("stale", T.FIELD_STALE),
        ("leads", T.FIELD_LEADS),
        ("work_orders", T.FIELD_WORK_ORDERS),
        ("calendar", T.FIELD_CALENDAR),
    ):
        if counts.get(key):
            fields.append((label, T.COUNT.format(n=counts[key])))
    desc = (T.CARD_DESC_MOVED if row.reason == rules.MOVED else T.CARD_DESC).format(
        hours=_hours(policy), name=name
    )
    return Card(
        title=T.CARD_TITLE.format(name=name, reason=T.REASON_WORDS[row.reason]),
        description=desc,
        fields=fields[:6],
        buttons=[
            Button(
                text=T.BUTTON_SELF if u == row.decider else names.get(u, u),
                key=card_key(CardAction.HANDOVER, "pick", row.id, u),
                style=2 if u == row.decider else 1,
            )
            for u in candidates
        ],
        task_id=f"handover-{row.id}",
    )


def _customer_names(s: Session, customer_ids: list[str]) -> str:
    if not customer_ids:
        return ""
    shown = list(
        s.scalars(
            select(CustomerRow.name)
            .where(CustomerRow.customer_id.in_(customer_ids[:SHOWN_CUSTOMERS]))
            .order_by(CustomerRow.customer_id)
        )
    )
    return "、".join(shown) + (T.AND_MORE if len(customer_ids) > len(shown) else "")


def _enqueue(ctx: Ctx, key: str) -> None:
    """Outside a handler's unit of work (people_admin.set_active, an import): what `ctx` sent, into the outbox."""
    for n, (to, reply) in enumerate(ctx.outgoing):
        outbox.enqueue(
            ctx.session, recipient=to, now=ctx.now, dedupe_key=f"{key}:{n}", message=reply.to_dict()
        )
    ctx.outgoing.clear()


def open_in(
    session: Session,
    userid: str,
    *,
    reason: str,
    now: datetime,
    actor: str,
    source: str,
    manager_before: str | None = None,
    region_before: str | None = None,
) -> HandoverRow | None:
    """`open_handover` for callers with a session only (the deactivation path, an import, the sync): the card
    goes through the outbox in the same transaction."""
    ctx = Ctx(session=session, now=now, user=None, userid=actor, source=source)
    before = pending_of(session, userid)
    row = open_handover(
        ctx, userid, reason=reason, manager_before=manager_before, region_before=region_before
    )
    if row is not None and before is None:
        _enqueue(ctx, f"handover:{row.id}:open")
    return row


def cancel_in(session: Session, userid: str, *, now: datetime, actor: str, source: str) -> bool:
    return cancel_pending(Ctx(session=session, now=now, user=None, userid=actor, source=source), userid)


def cancel_pending(ctx: Ctx, userid: str) -> bool:
    """The person was re-activated before anything moved: the pending hand-over is cancelled (audited)."""
    row = pending_of(ctx.session, userid)
    if row is None or row.reason != rules.LEFT:
        return False
    before = audit.snapshot(row)
    row.status = "cancelled"
    ctx.session.flush()
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="update",
        entity="handover",
        entity_id=str(row.id),
        before=before,
        after=audit.snapshot(row),
        reason=ctx.source,
    )
    timers.cancel(ctx.session, now=ctx.now, reason="hand-over cancelled", business_key=timer_key(row.id))
    return True


def _locked(s: Session, handover_id: int) -> HandoverRow | None:
    q = select(HandoverRow).where(HandoverRow.id == handover_id)
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return s.scalars(q).first()


def on_handover_button(ctx: Ctx, event: Inbound) -> object:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key, maxsplit=2)
    if len(parts) != 3 or parts[0] != "pick" or not parts[1].isdigit():
        return False
    s = ctx.session
    row = _locked(s, int(parts[1]))
    successor = parts[2]
    if row is None:
        ctx.reply(Text(content=T.GONE))
        return None
    if row.status == "done":
        ctx.reply(Text(content=T.ALREADY_DONE.format(name=people.name_of(s, row.successor))))
        return None
    if row.status == "cancelled":
        ctx.reply(Text(content=T.CANCELLED.format(name=people.name_of(s, row.from_userid))))
        return None
    is_admin = ctx.user is not None and ctx.user.role == Role.ADMIN.value
    if ctx.userid != row.decider and not is_admin:
        ctx.reply(Text(content=T.NOT_DECIDER.format(name=people.name_of(s, row.decider))))
        return None
    tree = people.whole_tree(s)
    allowed = rules.may_take_over(tree, row.decider or ctx.userid, successor, row.from_userid) or (
        is_admin and successor != row.from_userid and tree.is_active(successor)
    )
    if not allowed:
        ctx.reply(Text(content=T.NOT_ALLOWED.format(name=people.name_of(s, successor))))
        return None
    complete(ctx, row, successor, auto=False)
    timers.cancel(s, now=ctx.now, reason="successor chosen", business_key=timer_key(row.id), actor=ACTOR)
    ctx.reply(
        CardUpdate(
            response_code=event.response_code,
            replace_name=T.DONE_REPLACE.format(name=people.name_of(s, successor)),
        )
    )
    return None


def fire_handover_auto(ctx: Ctx, timer: Any) -> FireResult:
    """Nobody chose within the deadline: the policy's fallback (the decider, or the next active one above)."""
    s = ctx.session
    row = _locked(s, int(timer.payload.get("handover_id", timer.subject_id)))
    if row is None or row.status != "pending":
        return "cancelled", "hand-over no longer pending"
    tree = people.whole_tree(s)
    successor = rules.fallback_successor(load_policy(s), row.decider or "")
    if not tree.is_active(successor):
        successor = tree.active_manager_of(successor) or ""
    if not successor or successor == row.from_userid:
        return "cancelled", "nobody active to take over"
    complete(ctx, row, successor, auto=True)
    return "done", f"handed to {successor} (fallback)"


def complete(ctx: Ctx, row: HandoverRow, successor: str, *, auto: bool) -> dict[str, int]:
    """Move the book (audited), re-make its calendar entries, ask WeCom to transfer, tell the people."""
    s = ctx.session
    book = book_of(s, row.from_userid)
    counts = book.counts(s)
    leaving = row.reason == rules.LEFT
    actor = ACTOR if auto else ctx.userid
    moved = move_book(s, row, book, successor, now=ctx.now, actor=actor, leaving=leaving)
    moved["calendar"] = _remake_calendar(ctx, row, book, successor)
    close(s, row, successor, moved, now=ctx.now, actor=actor)
    if ctx.deps.customer_contact:
        outbox.enqueue(
            s,
            recipient=successor,
            now=ctx.now,
            dedupe_key=f"handover:{row.id}:wecom",
            message={
                "kind": TRANSFER_KIND,
                "mode": rules.wecom_mode(row.reason),
                "handover_id": row.id,
                "handover_userid": row.from_userid,
                "takeover_userid": successor,
            },
        )
    _tell(ctx, row, successor, {**counts, "calendar": moved["calendar"]}, book, auto=auto)
    return moved


def _remake_calendar(ctx: Ctx, row: HandoverRow, book: Book, successor: str) -> int:
    """Each open promise's WeCom calendar entry: the old one deleted, a new one made for the successor (both
    addressed to the successor in the outbox, delete first); an entry not yet created is re-addressed."""
    s = ctx.session
    remade = 0
    for pid in book.promises:
        promise = s.get(PromiseRow, pid)
        if promise is None or promise.status != "open":
            continue
        if promise.schedule_id:
            old = promise.schedule_id
            outbox.enqueue(
                s,
                recipient=successor,
                now=ctx.now,
                dedupe_key=f"cal:del:{pid}:handover:{row.id}",
                message={"kind": "schedule_del", "promise_id": pid, "schedule_id": old},
            )
            promise.schedule_id = None
            outbox.enqueue(
                s,
                recipient=successor,
                now=ctx.now,
                dedupe_key=f"cal:add:{pid}:handover:{row.id}",
                message={
                    "kind": "schedule_add",
                    "promise_id": pid,
                    "schedule": calendar.entry_body(ctx, promise),
                },
            )
            audit.record(
                s,
                at=ctx.now,
                actor=ACTOR,
                action="handover",
                entity="promise",
                entity_id=str(pid),
                before={"schedule_id": old},
                after={"schedule_id": None, "calendar": successor},
                reason=f"handover:{row.id}",
            )
            remade += 1
            continue
        for ob in s.scalars(
            select(OutboxRow).where(
                OutboxRow.dedupe_key == calendar.add_key(pid),
                OutboxRow.status == "pending",
                OutboxRow.recipient == row.from_userid,
            )
        ):
            ob.recipient = successor
            ob.message = {**ob.message, "schedule": calendar.entry_body(ctx, promise)}
            remade += 1
    return remade


def _summary(counts: dict[str, int]) -> str:
    parts = [text.format(n=counts[k]) for k, text in T.SUMMARY_PARTS if counts.get(k)]
    return "、".join(parts) or T.NOTHING


def _tell(
    ctx: Ctx, row: HandoverRow, successor: str, counts: dict[str, int], book: Book, *, auto: bool
) -> None:
    s = ctx.session
    name = people.name_of(s, row.from_userid)
    reason = T.REASON_WORDS[row.reason]
    summary = _summary(counts)
    shown = _customer_names(s, book.customers)
    customers = T.CUSTOMERS_LINE.format(names=shown) if shown else ""
    decider = row.decider
    if successor != decider:
        ctx.send(
            successor,
            Text(
                content=T.TO_SUCCESSOR.format(name=name, reason=reason, summary=summary, customers=customers)
            ),
        )
    if decider and people.is_active(s, decider):
        if auto and successor == decider:
            text = T.TO_DECIDER_AUTO.format(
                hours=_hours(load_policy(s)), name=name, reason=reason, summary=summary
            )
        elif successor == decider:
            text = T.TO_DECIDER_SELF.format(name=name, reason=reason, summary=summary, customers=customers)
        else:
            text = T.TO_DECIDER.format(
                name=name, reason=reason, successor=people.name_of(s, successor), summary=summary
            )
        ctx.send(decider, Text(content=text))
    if row.reason == rules.MOVED and people.is_active(s, row.from_userid):
        ctx.send(
            row.from_userid,
            Text(content=T.TO_MOVED.format(successor=people.name_of(s, successor), summary=summary)),
        )


# -- WeCom's answers, recorded by the relay -------------------------------------------------------------------


def record_transfer(session: Session, handover_id: int, answer: dict[str, Any], now: datetime) -> None:
    """WeCom's per-customer answers to the transfer (`answer`: {"mode", "customers": [{"external_userid",
    "errcode", "status"?}]}): stored on the hand-over (audited) and reported to the successor and the decider."""
    row = session.get(HandoverRow, handover_id)
    if row is None:
        return
    before = audit.snapshot(row)
    row.wecom = answer
    session.flush()
    audit.record(
        session,
        at=now,
        actor="system:relay",
        action="update",
        entity="handover",
        entity_id=str(row.id),
        before=before,
        after=audit.snapshot(row),
        reason=f"handover:{row.id}:wecom",
    )
    mode = str(answer.get("mode"))
    title = T.WECOM_TITLE.get(mode, mode)
    name = people.name_of(session, row.from_userid)
    customers = list(answer.get("customers") or [])
    if not customers:
        content = T.WECOM_NONE.format(title=title, name=name)
    else:
        ok = [c for c in customers if int(c.get("errcode", 0)) == 0]
        labels = _contact_labels(session, [str(c.get("external_userid", "")) for c in customers])
        lines = ""
        for c in customers[:SHOWN_WECOM]:
            ext = str(c.get("external_userid", ""))
            code = int(c.get("errcode", 0))
            status = c.get("status")
            what = (
                T.WECOM_ERROR.format(code=code)
                if code
                else T.WECOM_STATUS.get(int(status), T.WECOM_SUBMITTED)
                if status is not None
                else T.WECOM_SUBMITTED
            )
            lines += T.WECOM_LINE.format(who=labels.get(ext, ext), what=what)
        if len(customers) > SHOWN_WECOM:
            lines += T.WECOM_MORE.format(n=len(customers) - SHOWN_WECOM)
        content = (
            T.WECOM_REPORT.format(
                title=title,
                name=name,
                successor=people.name_of(session, row.successor),
                ok=len(ok),
                bad=len(customers) - len(ok),
                tail=T.WECOM_TAIL if ok else "",
            )
            + lines
        )
    for to in dict.fromkeys(u for u in (row.successor, row.decider) if u and people.is_active(session, u)):
        outbox.enqueue(
            session,
            recipient=to,
            now=now,
            dedupe_key=f"handover:{row.id}:wecom:report:{to}",
            message=Text(content=content).to_dict(),
        )


def _contact_labels(session: Session, external_userids: list[str]) -> dict[str, str]:
    """A WeChat contact's name as the assistant knows it: the lead its add event made (WX<external_userid>)."""
    ids = {f"WX{e}"[:64]: e for e in external_userids if e}
    if not ids:
        return {}
    rows = session.execute(
        select(LeadRow.lead_id, LeadRow.company, LeadRow.contact_name).where(LeadRow.lead_id.in_(list(ids)))
    )
    return {ids[lid]: (contact or company or ids[lid]) for lid, company, contact in rows}


# -- an import's deactivations and moves -------------------------------------------------------------------------


def after_import(session: Session, now: datetime) -> int:
    """The import's hand-overs, in its transaction: every person it deactivated (在职=否) or moved (a rep whose
    上级账号 or 大区 changed) gets one; the cards go out through the outbox. Returns hand-overs opened."""
    return opened_from_audit(session, now, entity="users", reason_like="import:%", actor="system:import")


def opened_from_audit(session: Session, now: datetime, *, entity: str, reason_like: str, actor: str) -> int:
    """Hand-overs for the people whose audited change at `now` (rows of `entity`, reason LIKE `reason_like`)
    deactivated or moved them: the import's rows, or any bulk writer that audits users the same way."""
    changes = session.scalars(
        select(AuditRow)
        .where(AuditRow.entity == entity, AuditRow.at == now, AuditRow.reason.like(reason_like))
        .order_by(AuditRow.id)
    ).all()
    opened = 0
    for change in changes:
        before, after = change.before or {}, change.after or {}
        common = dict(now=now, actor=actor, source=change.reason or actor)
        if not before:
            continue  # a new person
        if before.get("active", True) and after.get("active") is False:
            opened += open_in(session, change.entity_id, reason=rules.LEFT, **common) is not None
        elif rules.is_move(
            before, after, old_manager_active=people.is_active(session, before.get("manager_userid"))
        ):
            row = open_in(
                session,
                change.entity_id,
                reason=rules.MOVED,
                manager_before=before.get("manager_userid"),
                region_before=before.get("region"),
                **common,
            )
            opened += row is not None
    return opened
