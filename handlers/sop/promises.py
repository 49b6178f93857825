"""Promise (承诺) and follow-up (回访) timers: scheduling them, firing them, and the 已完成 button.

Timer keys: `<kind>:<promise id>:g<generation>:<step>`, kind `promise` (steps before, due, overdue) or
`follow_up` (steps remind, overdue). A changed promise gets a new generation: the old timers are
cancelled and new ones scheduled, so every row keeps its history.
"""

from __future__ import annotations

from sqlalchemy import select

from core.events import PromiseCancelled, PromiseRestored, VisitCompleted
from core.roles import ACT_FOR_ANYONE
from core.sop import times as sop_times
from core.sop.rules import (
    Cancel,
    Decision,
    Done,
    Escalate,
    PromiseFacts,
    Remind,
    follow_up_next_step,
    promise_next_step,
)
from handlers.context import Ctx
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
from handlers.sop import texts as T
from handlers.sop.calendar import ensure_entry, sync_calendar
from handlers.sop.policy import SOP_ACTOR, FireResult, policy_of
from storage import audit, people, timers, touches
from storage import visits as visit_repo
from storage.models import CustomerRow, PromiseRow, TimerRow, VisitRow

KINDS = ("promise", "follow_up")
SUBJECT = "promise"


def timer_key(kind: str, promise_id: int, gen: int, step: str) -> str:
    return f"{kind}:{promise_id}:g{gen}:{step}"


def _timer_payloads(ctx: Ctx, promise_id: int) -> list[dict]:
    return list(
        ctx.session.scalars(
            select(TimerRow.payload).where(
                TimerRow.subject_type == SUBJECT,
                TimerRow.subject_id == str(promise_id),
                TimerRow.kind.in_(KINDS),
            )
        )
    )


def schedule_promise_timers(ctx: Ctx, promise: PromiseRow, *, reason: str) -> list[TimerRow]:
    """Schedule a new generation of reminders for an open promise (call after cancelling the old ones)."""
    if promise.status != "open":
        return []
    policy = policy_of(ctx)
    gen = 1 + max((int(p.get("gen", 0)) for p in _timer_payloads(ctx, promise.id)), default=0)
    base = f"{promise.kind}:{promise.id}:g{gen}"
    plan: list[tuple[str, object]] = []
    if promise.kind == "follow_up":
        remind = sop_times.follow_up_remind_at(promise.due_at, base, policy)
        if remind > ctx.now:
            plan.append(("remind", remind))
        else:  # planned for today and the morning slot has passed: only the escalation remains
            plan.append(("overdue", sop_times.follow_up_escalate_at(remind, base, policy)))
    else:
        before = sop_times.promise_before_at(promise.due_at, base, policy)
        if before is not None and before > ctx.now:
            plan.append(("before", before))
        plan.append(("due", sop_times.promise_due_at(promise.due_at, base)))
    return [
        timers.schedule(
            ctx.session,
            kind=promise.kind,
            business_key=f"{base}:{step}",
            subject_type=SUBJECT,
            subject_id=str(promise.id),
            due_at=due,
            payload={"promise_id": promise.id, "gen": gen, "step": step},
            now=ctx.now,
            actor=SOP_ACTOR,
            reason=reason,
        )
        for step, due in plan
    ]


def ensure_promise_timers(ctx: Ctx, promise: PromiseRow) -> bool:
    """First scheduling of a promise's reminders; a promise that already has timers is left alone."""
    if promise.status != "open" or _timer_payloads(ctx, promise.id):
        return False
    schedule_promise_timers(ctx, promise, reason=ctx.source)
    return True


def cancel_promise_timers(ctx: Ctx, promise_id: int, *, reason: str) -> None:
    timers.cancel(
        ctx.session,
        now=ctx.now,
        reason=reason,
        subject_type=SUBJECT,
        subject_id=str(promise_id),
        kinds=KINDS,
        actor=SOP_ACTOR,
    )


def promise_changed(ctx: Ctx, promise: PromiseRow) -> None:
    cancel_promise_timers(ctx, promise.id, reason="promise changed")
    schedule_promise_timers(ctx, promise, reason="promise changed")
    sync_calendar(ctx, promise)


def promise_closed(ctx: Ctx, promise: PromiseRow) -> None:
    """After a promise became done or cancelled: no more reminders; the calendar follows."""
    cancel_promise_timers(ctx, promise.id, reason=f"promise {promise.status}")
    sync_calendar(ctx, promise)


# --- firing ------------------------------------------------------------------------------------------


def _supervisor(ctx: Ctx, rep: str) -> str | None:
    """The rep's supervisor, or the nearest active manager above; deactivated people are passed over."""
    tree = people.tree_above(ctx.session, rep)
    return tree.find_up(rep, "supervisor") or tree.active_manager_of(rep)


def fire_promise(ctx: Ctx, timer: TimerRow) -> FireResult:
    """A promise or follow-up timer is due: re-check the promise, then remind or escalate."""
    policy = policy_of(ctx)
    s = ctx.session
    promise = s.get(PromiseRow, int(timer.payload.get("promise_id", timer.subject_id)))
    if promise is None:
        return "cancelled", "promise gone"
    step, gen = str(timer.payload.get("step")), int(timer.payload.get("gen", 1))
    base = f"{promise.kind}:{promise.id}:g{gen}"
    touched = False
    if promise.kind == "follow_up":
        last = touches.last_touch(s, promise.customer_id)
        touched = last is not None and last > promise.created_at
    escalating = step == "overdue"
    facts = PromiseFacts(
        status=promise.status,
        rep=promise.rep_userid,
        due_at=promise.due_at,
        touched_since=touched,
        supervisor=_supervisor(ctx, promise.rep_userid) if escalating else None,
    )
    decision: Decision
    if timer.kind == "follow_up":
        decision = follow_up_next_step(step, facts, timer_due=timer.due_at, key=base, policy=policy)
    else:
        decision = promise_next_step(step, facts, key=base, policy=policy)
    if isinstance(decision, Cancel):
        return "cancelled", decision.reason
    customer = s.get(CustomerRow, promise.customer_id)
    name = customer.name if customer else promise.customer_id
    if isinstance(decision, Remind):
        for to in decision.to:
            if people.is_active(s, to):
                ctx.send(to, _rep_card(promise, step, name, policy))
            elif (above := _supervisor(ctx, to)) is not None:  # the rep left: their manager is told
                ctx.send(above, _escalation_card(ctx, promise, name, policy))
    elif isinstance(decision, Escalate):
        for to in decision.to:
            ctx.send(to, _escalation_card(ctx, promise, name, policy))
    for nxt in decision.then:
        timers.schedule(
            s,
            kind=timer.kind,
            business_key=timer_key(timer.kind, promise.id, gen, nxt.step),
            subject_type=SUBJECT,
            subject_id=str(promise.id),
            due_at=nxt.due_at,
            payload={"promise_id": promise.id, "gen": gen, "step": nxt.step},
            now=ctx.now,
            actor=SOP_ACTOR,
            reason=f"timer:{timer.id}",
        )
    outcome = (
        decision.reason
        if isinstance(decision, Done)
        else f"{type(decision).__name__.lower()} {','.join(decision.to)}"
    )
    return "done", outcome


def _rep_card(promise: PromiseRow, step: str, name: str, policy) -> Card:  # noqa: ANN001
    due = T.when(promise.due_at, policy.zone)
    if promise.kind == "follow_up":
        title, desc = T.FOLLOW_UP_REMIND_TITLE.format(customer=name), T.FOLLOW_UP_REMIND_DESC
        fields = [
            (T.FIELD_CUSTOMER, name),
            (T.FIELD_ITEM, promise.text),
            (T.FIELD_PLANNED, T.day(promise.due_at.astimezone(policy.zone).date())),
        ]
    else:
        if step == "before":
            title, desc = (
                T.PROMISE_BEFORE_TITLE.format(customer=name),
                T.PROMISE_BEFORE_DESC.format(item=promise.text, due=due),
            )
        else:
            title, desc = (
                T.PROMISE_DUE_TITLE.format(customer=name),
                T.PROMISE_DUE_DESC.format(item=promise.text),
            )
        fields = [(T.FIELD_CUSTOMER, name), (T.FIELD_ITEM, promise.text), (T.FIELD_DUE, due)]
    return Card(
        title=title,
        description=desc,
        fields=fields,
        buttons=[Button(text=T.BTN_DONE, key=card_key(CardAction.PROMISE, "done", promise.id), style=1)],
    )


def _escalation_card(ctx: Ctx, promise: PromiseRow, name: str, policy) -> Card:  # noqa: ANN001
    rep = people.name_of(ctx.session, promise.rep_userid)
    if promise.kind == "follow_up":
        title = T.FOLLOW_UP_OVERDUE_TITLE.format(customer=name)
        desc = T.FOLLOW_UP_OVERDUE_DESC.format(
            rep=rep, day=T.day(promise.due_at.astimezone(policy.zone).date())
        )
    else:
        title = T.PROMISE_OVERDUE_TITLE.format(customer=name)
        desc = T.PROMISE_OVERDUE_DESC.format(
            rep=rep, item=promise.text, due=T.when(promise.due_at, policy.zone)
        )
    return Card(
        title=title,
        description=desc,
        fields=[
            (T.FIELD_CUSTOMER, name),
            (T.FIELD_REP, rep),
            (T.FIELD_ITEM, promise.text),
            (T.FIELD_DUE, T.when(promise.due_at, policy.zone)),
        ],
    )


# --- the 已完成 button -----------------------------------------------------------------------------


def may_act_for(ctx: Ctx, owner: str) -> bool:
    """The owner, anyone above them, or an org-wide manager may act on the owner's reminders."""
    if ctx.userid == owner:
        return True
    if ctx.user is not None and ctx.user.role in ACT_FOR_ANYONE:
        return True
    return ctx.userid in people.tree_above(ctx.session, owner).manager_chain(owner)


def on_promise_button(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    if len(parts) != 2 or parts[0] != "done" or not parts[1].isdigit():
        return False
    promise = ctx.session.get(PromiseRow, int(parts[1]))
    if promise is None:
        ctx.reply(Text(content=T.NOT_FOUND))
        return None
    if not may_act_for(ctx, promise.rep_userid):
        ctx.reply(Text(content=T.NOT_YOURS))
        return None
    if promise.status != "open":
        _update_card(ctx, event, T.PROMISE_STATUS.get(promise.status, promise.status))
        ctx.reply(
            Text(
                content=T.PROMISE_ALREADY.format(status=T.PROMISE_STATUS.get(promise.status, promise.status))
            )
        )
        return None
    before = audit.snapshot(promise)
    promise.status = "done"
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="update",
        entity="promise",
        entity_id=str(promise.id),
        before=before,
        after=audit.snapshot(promise),
        reason=ctx.source,
    )
    promise_closed(ctx, promise)
    customer = ctx.session.get(CustomerRow, promise.customer_id)
    _update_card(ctx, event, T.DONE_LABEL)
    ctx.reply(
        Text(
            content=T.PROMISE_MARKED_DONE.format(
                customer=customer.name if customer else promise.customer_id, item=promise.text
            )
        )
    )
    return None


def _update_card(ctx: Ctx, event: CardClick, label: str) -> None:
    if event.response_code:
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name=label))


# --- reactions to domain events (handlers/routes.py SUBSCRIBERS) -------------------------------------------


def on_visit_completed(ctx: Ctx, event: VisitCompleted) -> None:
    """The visit's open promises and follow-up get their reminder timers and calendar entries."""
    for promise in visit_repo.promises_of_visit(ctx.session, event.visit_id):
        if promise.status != "open":
            continue
        ensure_promise_timers(ctx, promise)
        ensure_entry(ctx, promise)


def on_promise_restored(ctx: Ctx, event: PromiseRestored) -> None:
    """A promise put back on a complete visit gets its reminders and calendar entry again (on an incomplete
    visit they come when it completes)."""
    promise = ctx.session.get(PromiseRow, event.promise_id)
    if promise is None or promise.status != "open" or promise.visit_id is None:
        return
    visit = ctx.session.get(VisitRow, promise.visit_id)
    if visit is not None and visit.completed_at is not None:
        ensure_promise_timers(ctx, promise)
        ensure_entry(ctx, promise)


def on_promise_cancelled(ctx: Ctx, event: PromiseCancelled) -> None:
    """Its timers are cancelled and its calendar entry deleted."""
    promise = ctx.session.get(PromiseRow, event.promise_id)
    if promise is not None:
        promise_closed(ctx, promise)
