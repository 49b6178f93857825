"""Stale customers (超72小时未跟进): the periodic scan, the escalation ladder, and its buttons.

A customer is stale `stale_after` (72 h) after its last touch (a visit or an interaction; never-touched
customers count too). Each stale episode is identified by the last touch it follows:
`stale:<customer>:<touch epoch>` is rung 0 (the owner); rung n is `…:<n>`; after the k-th snooze the
rungs are `…:z<k>:<n>`. Rungs chain: each one fired schedules the next (+24 h supervisor, +24 h
regional manager by default). A touch ends the episode (the next rung re-checks and cancels) and
restarts the clock; 已处理 by a manager ends it too; 延后 with a reason pushes the pending rungs.

Episodes start two ways, with the same keys so they never double: `on_touch` schedules rung 0 at
touch + 72 h, and an hourly `stale_scan` timer finds every stale customer in one INSERT … SELECT
(touches that came in by import, customers never touched).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.events import VisitCompleted
from core.sop import times as sop_times
from core.sop.rules import Cancel, Done, Escalate, Remind, StaleFacts, snooze_for, stale_next_step, stale_role
from handlers.context import Ctx
from handlers.dialog import DialogState
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
    text_of,
)
from handlers.sop import texts as T
from handlers.sop.policy import SOP_ACTOR, FireResult, policy_of
from handlers.sop.promises import may_act_for
from handlers.sop.questions import ask, pass_on, resume
from storage import audit, people, timers, touches
from storage.models import CustomerNoteRow, CustomerRow, InteractionRow, TimerRow, VisitRow

KIND = "stale"
SCAN_KIND = "stale_scan"
SUBJECT = "customer"
SNOOZE_STATE = DialogState.SNOOZE_REASON
FOLLOWED_STATE = DialogState.FOLLOWED_REASON
CANCEL_WORDS = ("取消", "算了", "不延后")


def rung_key(customer_id: str, touch: int, step: int, snooze: int = 0) -> str:
    root = f"stale:{customer_id}:{touch}"
    if step == 0 and snooze == 0:
        return root
    return root + (f":z{snooze}" if snooze else "") + f":{step}"


def _episode_timers(ctx: Ctx, customer_id: str, touch: int, *, live_only: bool) -> list[TimerRow]:
    q = select(TimerRow).where(
        TimerRow.kind == KIND, TimerRow.subject_type == SUBJECT, TimerRow.subject_id == customer_id
    )
    if live_only:
        q = q.where(TimerRow.status.in_(timers.LIVE))
    return [
        t
        for t in ctx.session.scalars(q.order_by(TimerRow.due_at, TimerRow.id))
        if int(t.payload.get("touch", -1)) == touch
    ]


# --- touches restart the clock -------------------------------------------------------------------


def restart_clock(ctx: Ctx, customer_id: str) -> TimerRow | None:
    """A touch: end the customer's earlier stale episodes and start the 72 h clock from the last touch."""
    policy = policy_of(ctx)
    s = ctx.session
    last = touches.last_touch(s, customer_id)
    touch = sop_times.epoch_seconds(last)
    live = timers.live_for_subject(s, subject_type=SUBJECT, subject_id=customer_id, kinds=[KIND])
    for t in live:
        if int(t.payload.get("touch", -1)) != touch:
            timers.cancel(
                s,
                now=ctx.now,
                reason="customer touched",
                business_key=t.business_key,
                actor=ctx.userid or SOP_ACTOR,
            )
    customer = s.get(CustomerRow, customer_id)
    if customer is None or customer.status != "active" or last is None:
        return None
    due = max(last + policy.stale_after, ctx.now)
    return timers.schedule(
        s,
        kind=KIND,
        business_key=rung_key(customer_id, touch, 0),
        subject_type=SUBJECT,
        subject_id=customer_id,
        due_at=due,
        payload={"step": 0, "touch": touch, "snooze": 0},
        now=ctx.now,
        actor=SOP_ACTOR,
        reason=ctx.source,
    )


# --- the scan ------------------------------------------------------------------------------------------


def fire_stale_scan(ctx: Ctx, timer: TimerRow) -> FireResult:
    """Start a ladder for every stale customer without one (set-based), and book the next scan."""
    policy = policy_of(ctx)
    cutoff = ctx.now - policy.stale_after
    added = touches.insert_stale_ladders(
        ctx.session, now=ctx.now, cutoff=cutoff, cutoff_day=sop_times.local_day(cutoff, policy)
    )
    schedule_next_scan(ctx, after=ctx.now)
    return "done", f"{added} stale ladders started"


def schedule_next_scan(ctx: Ctx, *, after) -> TimerRow:  # noqa: ANN001
    at = sop_times.next_stale_scan(after, policy_of(ctx))
    return timers.schedule(
        ctx.session,
        kind=SCAN_KIND,
        business_key=f"stale_scan:{int(at.timestamp())}",
        subject_type="org",
        subject_id="org",
        due_at=at,
        payload={},
        now=ctx.now,
        actor=SOP_ACTOR,
        reason="recurring",
    )


# --- the ladder ------------------------------------------------------------------------------------------


def fire_stale(ctx: Ctx, timer: TimerRow) -> FireResult:
    policy = policy_of(ctx)
    s = ctx.session
    customer_id = timer.subject_id
    step, touch, snooze = (int(timer.payload.get(k, 0)) for k in ("step", "touch", "snooze"))
    customer = s.get(CustomerRow, customer_id)
    if customer is None:
        return "cancelled", "customer gone"
    last = touches.last_touch(s, customer_id)
    role = stale_role(step, policy)
    escalate_to = None
    if role is not None:
        escalate_to = people.tree_above(s, customer.owner_userid).approver_for(customer.owner_userid, role)
    facts = StaleFacts(
        active=customer.status == "active",
        owner=customer.owner_userid,
        episode_touch=touch,
        latest_touch=sop_times.epoch_seconds(last),
        escalate_to=escalate_to,
    )
    decision = stale_next_step(step, facts, timer_due=timer.due_at, policy=policy)
    if isinstance(decision, Cancel):
        return "cancelled", decision.reason
    if isinstance(decision, Remind | Escalate):
        tree = people.tree_above(s, customer.owner_userid)
        for to in dict.fromkeys(decision.to):
            if tree.is_active(to):
                ctx.send(to, _card(ctx, timer, customer, last, step))
            elif (above := tree.active_manager_of(to)) is not None and above not in decision.to:
                # the owner (or a rung) was deactivated: the next active person up is told, as an escalation
                ctx.send(above, _card(ctx, timer, customer, last, max(step, 1)))
    for nxt in decision.then:
        n = int(nxt.step)
        timers.schedule(
            s,
            kind=KIND,
            business_key=rung_key(customer_id, touch, n, snooze),
            subject_type=SUBJECT,
            subject_id=customer_id,
            due_at=nxt.due_at,
            payload={"step": n, "touch": touch, "snooze": snooze},
            now=ctx.now,
            actor=SOP_ACTOR,
            reason=f"timer:{timer.id}",
        )
    if isinstance(decision, Done):
        return "done", decision.reason
    return "done", f"{type(decision).__name__.lower()} {','.join(decision.to)}"


def _card(ctx: Ctx, timer: TimerRow, customer: CustomerRow, last, step: int) -> Card:  # noqa: ANN001
    policy = policy_of(ctx)
    age = T.age(ctx.now - last) if last is not None else None
    last_text = T.when(last, policy.zone)
    buttons = [
        Button(
            text=T.BTN_FOLLOWED if step == 0 else T.BTN_HANDLED,
            key=card_key(CardAction.STALE, "ok", timer.id),
            style=1,
        ),
        Button(text=T.BTN_SNOOZE, key=card_key(CardAction.STALE, "snooze", timer.id), style=2),
    ]
    if step == 0:
        return Card(
            title=(
                T.STALE_OWNER_TITLE.format(age=age, customer=customer.name)
                if age is not None
                else T.STALE_OWNER_NEVER_TITLE.format(customer=customer.name)
            ),
            description=T.STALE_OWNER_DESC.format(last=last_text),
            fields=[(T.FIELD_CUSTOMER, customer.name), (T.FIELD_LAST_TOUCH, last_text)],
            buttons=buttons,
        )
    owner = people.name_of(ctx.session, customer.owner_userid)
    return Card(
        title=(
            T.STALE_ESCALATE_TITLE.format(age=age, customer=customer.name)
            if age is not None
            else T.STALE_ESCALATE_NEVER_TITLE.format(customer=customer.name)
        ),
        description=T.STALE_ESCALATE_DESC.format(owner=owner, last=last_text),
        fields=[(T.FIELD_CUSTOMER, customer.name), (T.FIELD_OWNER, owner), (T.FIELD_LAST_TOUCH, last_text)],
        buttons=buttons,
    )


# --- buttons: 已跟进 / 已处理 / 延后 ----------------------------------------------------------------------


def _clicked(ctx: Ctx, key: str) -> tuple[TimerRow, CustomerRow] | None:
    _, parts = parse_card_key(key)
    if len(parts) != 2 or not parts[1].isdigit():
        return None
    timer = ctx.session.get(TimerRow, int(parts[1]))
    if timer is None or timer.kind != KIND:
        return None
    customer = ctx.session.get(CustomerRow, timer.subject_id)
    return (timer, customer) if customer is not None else None


def _episode_over(ctx: Ctx, timer: TimerRow) -> bool:
    touch = int(timer.payload.get("touch", 0))
    latest = sop_times.epoch_seconds(touches.last_touch(ctx.session, timer.subject_id))
    return latest > touch


def on_stale_button(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    action = parts[0] if len(parts) >= 2 else ""
    if action not in ("ok", "snooze"):
        return False
    found = _clicked(ctx, event.key)
    if found is None:
        ctx.reply(Text(content=T.NOT_FOUND))
        return None
    timer, customer = found
    if not may_act_for(ctx, customer.owner_userid):
        ctx.reply(Text(content=T.NOT_YOURS))
        return None
    owner_followed = action == "ok" and ctx.userid == customer.owner_userid
    if _episode_over(ctx, timer):
        _update_card(ctx, event, T.FOLLOWED_LABEL)
        if owner_followed:  # the evidence is there: the touch recorded since the alert
            _followed_by_touch(ctx, timer, customer)
        else:
            ctx.reply(Text(content=T.STALE_ALREADY))
        return None
    if owner_followed:  # no touch since the alert: ask how it was followed up before restarting the clock
        ask(
            ctx,
            FOLLOWED_STATE,
            {"timer_id": timer.id, "response_code": event.response_code},
            Text(content=T.ASK_FOLLOWED_HOW.format(customer=customer.name)),
        )
        return None
    if action == "snooze":
        ask(
            ctx,
            SNOOZE_STATE,
            {"timer_id": timer.id, "response_code": event.response_code},
            Text(content=T.ASK_SNOOZE_REASON),
        )
        return None
    _manager_handled(ctx, timer, customer)
    _update_card(ctx, event, T.HANDLED_LABEL)
    ctx.reply(Text(content=T.MANAGER_HANDLED.format(customer=customer.name)))
    return None


def _followed_by_touch(ctx: Ctx, timer: TimerRow, customer: CustomerRow) -> None:
    """已跟进 after a visit or an interaction was recorded since the alert: that touch is the evidence. The
    episode is over; the clock runs from that touch (restart_clock is idempotent). Audited."""
    policy = policy_of(ctx)
    last = touches.last_touch(ctx.session, customer.customer_id)
    restart_clock(ctx, customer.customer_id)
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="acknowledge",
        entity="customer",
        entity_id=customer.customer_id,
        before={"stale_episode": int(timer.payload.get("touch", 0)), "timer": timer.id},
        after={"followed": "touch", "touch_at": last.isoformat() if last else None, "timer": timer.id},
        reason=ctx.source,
    )
    ctx.reply(
        Text(
            content=T.OWNER_FOLLOWED_SEEN.format(
                customer=customer.name, when=T.when(last, policy.zone), hours=T.hours(policy.stale_after)
            )
        )
    )


def _typed_answer(
    ctx: Ctx, said: str, *, prefix: str, cancelled: str, empty: str
) -> tuple[TimerRow, CustomerRow, str] | None:
    """The owner's typed answer to a question about a stale card (怎么跟进的 / 延后原因): the card's timer, its
    customer and the answer; None when the answer cancels, is empty (asked again) or the card is gone."""
    if said in CANCEL_WORDS:
        resume(ctx)
        ctx.reply(Text(content=cancelled))
        return None
    answer = said.removeprefix(prefix).strip(" :：,，")
    if not answer:
        ctx.reply(Text(content=empty))
        return None
    data = dict(ctx.state_data)
    resume(ctx)
    timer = ctx.session.get(TimerRow, int(data.get("timer_id", 0)))
    customer = ctx.session.get(CustomerRow, timer.subject_id) if timer is not None else None
    if timer is None or customer is None:
        ctx.reply(Text(content=T.NOT_FOUND))
        return None
    return timer, customer, answer


def on_followed_reason(ctx: Ctx, event: Inbound) -> bool | None:
    """The owner's answer to 「怎么跟进的」 after 已跟进 without a recorded touch."""
    said = text_of(event)
    if said is None:
        return pass_on(ctx, event)  # a photo or a location: not an answer (a check-in is a touch anyway)
    data = dict(ctx.state_data)
    answered = _typed_answer(
        ctx, said, prefix="已跟进", cancelled=T.FOLLOWED_HOW_CANCELLED, empty=T.FOLLOWED_HOW_EMPTY
    )
    if answered is None:
        return None
    timer, customer, how = answered
    code = data.get("response_code")
    if code:
        ctx.reply(CardUpdate(response_code=code, replace_name=T.FOLLOWED_LABEL))
    _note(ctx, customer, "followed", T.NOTE_FOLLOWED.format(how=how))
    if _episode_over(ctx, timer):  # a visit came in while we asked: that touch is the evidence
        _followed_by_touch(ctx, timer, customer)
        return None
    _owner_followed(ctx, timer, customer)
    ctx.reply(
        Text(
            content=T.OWNER_FOLLOWED.format(customer=customer.name, hours=T.hours(policy_of(ctx).stale_after))
        )
    )
    return None


def _note(ctx: Ctx, customer: CustomerRow, kind: str, text: str) -> None:
    """A note on the customer's record (a snooze reason, how a follow-up was done). Audited."""
    note = CustomerNoteRow(
        customer_id=customer.customer_id, author_userid=ctx.userid, kind=kind, text=text, at=ctx.now
    )
    ctx.session.add(note)
    ctx.session.flush()
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="create",
        entity="customer_note",
        entity_id=str(note.id),
        after=audit.snapshot(note),
        reason=ctx.source,
    )


def _owner_followed(ctx: Ctx, timer: TimerRow, customer: CustomerRow) -> None:
    """The owner told how they followed up: that is a touch (an interaction reported from the card, its
    account in the customer's notes), and the 72-hour clock restarts from it."""
    row = InteractionRow(
        interaction_id=f"card:{timer.id}:{int(ctx.now.timestamp())}",
        customer_id=customer.customer_id,
        rep_userid=ctx.userid,
        at=ctx.now,
        channel="card",
    )
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="create",
        entity="interaction",
        entity_id=row.interaction_id,
        after=audit.snapshot(row),
        reason=ctx.source,
    )
    restart_clock(ctx, customer.customer_id)


def _manager_handled(ctx: Ctx, timer: TimerRow, customer: CustomerRow) -> None:
    touch = int(timer.payload.get("touch", 0))
    for t in _episode_timers(ctx, customer.customer_id, touch, live_only=True):
        timers.cancel(
            ctx.session,
            now=ctx.now,
            reason=f"acknowledged by {ctx.userid}",
            business_key=t.business_key,
            actor=ctx.userid,
        )
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="acknowledge",
        entity="customer",
        entity_id=customer.customer_id,
        after={"stale_episode": touch, "timer": timer.id},
        reason=ctx.source,
    )


def on_snooze_reason(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event)
    if said is None:
        return pass_on(ctx, event)  # a photo or a location: not an answer
    data = dict(ctx.state_data)
    answered = _typed_answer(
        ctx, said, prefix="延后", cancelled=T.SNOOZE_CANCELLED, empty=T.SNOOZE_REASON_EMPTY
    )
    if answered is None:
        return None
    timer, customer, reason = answered
    if _episode_over(ctx, timer):
        ctx.reply(Text(content=T.STALE_ALREADY))
        return None
    span = snooze(ctx, timer, customer, reason)
    code = data.get("response_code")
    if code:
        ctx.reply(CardUpdate(response_code=code, replace_name=T.SNOOZED_LABEL))
    ctx.reply(Text(content=T.SNOOZED.format(span=T.span(span), customer=customer.name)))
    return None


def snooze(ctx: Ctx, timer: TimerRow, customer: CustomerRow, reason: str) -> timedelta:
    """Push the episode's pending rungs by the asked span (re-alert the clicked rung if none is pending).
    The reason goes on the customer's record; every moved timer is audited."""
    policy = policy_of(ctx)
    s = ctx.session
    span = snooze_for(reason, policy)
    touch = int(timer.payload.get("touch", 0))
    episode = _episode_timers(ctx, customer.customer_id, touch, live_only=False)
    n = 1 + max((int(t.payload.get("snooze", 0)) for t in episode), default=0)
    live = [t for t in episode if t.status in timers.LIVE]
    moves = [(int(t.payload.get("step", 0)), max(t.due_at, ctx.now) + span) for t in live]
    if not moves:
        moves = [(int(timer.payload.get("step", 0)), ctx.now + span)]
    for t in live:
        timers.cancel(
            s, now=ctx.now, reason=f"snoozed by {ctx.userid}", business_key=t.business_key, actor=ctx.userid
        )
    for step, due in moves:
        timers.schedule(
            s,
            kind=KIND,
            business_key=rung_key(customer.customer_id, touch, step, n),
            subject_type=SUBJECT,
            subject_id=customer.customer_id,
            due_at=due,
            payload={"step": step, "touch": touch, "snooze": n},
            now=ctx.now,
            actor=ctx.userid,
            reason=f"snoozed: {reason}"[:256],
        )
    _note(ctx, customer, "snooze", T.NOTE_SNOOZE.format(span=T.span(span), reason=reason))
    return span


def _update_card(ctx: Ctx, event: CardClick, label: str) -> None:
    if event.response_code:
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name=label))


def on_visit_completed(ctx: Ctx, event: VisitCompleted) -> None:
    """A complete visit is a touch: the customer's stale ladder ends and the 72-hour clock restarts."""
    visit = ctx.session.get(VisitRow, event.visit_id)
    if visit is not None:
        restart_clock(ctx, visit.customer_id)
