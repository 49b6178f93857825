"""Price-objection approvals (价格异议审批): the chain, the 通过/驳回 cards, the SLA reminder and escalation.

- A visit tagged 价格异议 starts an approval; its chain is the policy's roles (supervisor → regional
  manager → finance director by default), each resolved up the rep's reporting tree; a role nobody
  holds is skipped.
- Each step is a row (approval_steps) and a card to the approver with 通过 / 驳回. 驳回 needs a reason:
  the bot asks for it (or the approver types 「驳回 原因」). The clicked card is updated in place
  (response_code) to 已通过 / 已驳回; the comment goes on the customer's record; the next approver gets a
  card; the rep is told the outcome.
- A decision is idempotent: a click on a step that is already decided only acknowledges it.
- SLA: `approval_sla` after a step opens its approver is reminded; `approval_escalate_after` later the
  step moves to the approver's manager (a new step row; the old one is `escalated`). Either of them may
  decide.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from core.events import TagRemoved, TagRestored, VisitCompleted
from core.sop import times as sop_times
from core.sop.rules import (
    ApprovalStepFacts,
    Cancel,
    Done,
    Escalate,
    Remind,
    approval_next_step,
    approval_route,
)
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
from handlers.sop.questions import ask, pass_on, resume
from storage import audit, people, timers
from storage import visits as visit_repo
from storage.models import (
    ApprovalRow,
    ApprovalStepRow,
    CustomerNoteRow,
    CustomerRow,
    TimerRow,
    UserRow,
    VisitRow,
    VisitTagRow,
)

KIND = "approval_sla"
SUBJECT = "approval_step"
APPROVAL_KIND = "price_objection"
PRICE_TAG = "价格异议"
REASON_STATE = DialogState.REJECT_REASON
CANCEL_WORDS = ("取消", "算了", "不驳回")
# 「通过」「同意 #12」「驳回 原因」「驳回：原因」 — the verb must stand alone (「同意送样品」 is not a decision)
_TEXT_DECISION = re.compile(r"^(通过|同意|驳回)(?:\s*#(\d+))?(?:[\s:：,，]+(.*)|$)", re.S)


def _is_pg(ctx: Ctx) -> bool:
    return ctx.session.get_bind().dialect.name == "postgresql"


def _lock_approval(ctx: Ctx, approval_id: int) -> ApprovalRow | None:
    """The approval row, locked on PostgreSQL so two approvers of one step cannot both decide it."""
    q = select(ApprovalRow).where(ApprovalRow.id == approval_id)
    if _is_pg(ctx):
        q = q.with_for_update()
    return ctx.session.scalars(q).first()


def _steps(ctx: Ctx, approval_id: int, step_no: int | None = None) -> list[ApprovalStepRow]:
    q = select(ApprovalStepRow).where(ApprovalStepRow.approval_id == approval_id)
    if step_no is not None:
        q = q.where(ApprovalStepRow.step_no == step_no)
    return list(ctx.session.scalars(q.order_by(ApprovalStepRow.step_no, ApprovalStepRow.id)))


# --- starting ------------------------------------------------------------------------------------------


def start_price_approval(ctx: Ctx, visit: VisitRow) -> ApprovalRow | None:
    """Start the approval for a visit tagged 价格异议 (once per visit)."""
    s = ctx.session
    existing = s.scalars(select(ApprovalRow).where(ApprovalRow.visit_id == visit.visit_id)).first()
    if existing is not None and existing.status != "withdrawn":
        return existing
    if existing is not None:  # the tag was removed (withdrawn) and put back: the chain starts again
        approval = existing
        before = audit.snapshot(approval)
        approval.status, approval.decided_at = "pending", None
        audit.record(
            s,
            at=ctx.now,
            actor=ctx.userid or SOP_ACTOR,
            action="update",
            entity="approval",
            entity_id=str(approval.id),
            before=before,
            after=audit.snapshot(approval),
            reason=ctx.source,
        )
        step_no = max((st.step_no for st in _steps(ctx, approval.id)), default=0) + 1
    else:
        approval = ApprovalRow(
            kind=APPROVAL_KIND,
            visit_id=visit.visit_id,
            customer_id=visit.customer_id,
            rep_userid=visit.rep_userid,
            status="pending",
            current_step=1,
            created_at=ctx.now,
        )
        s.add(approval)
        s.flush()
        audit.record(
            s,
            at=ctx.now,
            actor=ctx.userid or SOP_ACTOR,
            action="create",
            entity="approval",
            entity_id=str(approval.id),
            after=audit.snapshot(approval),
            reason=ctx.source,
        )
        step_no = 1
    step = _open_next_step(ctx, approval, start=0, step_no=step_no)
    customer = s.get(CustomerRow, approval.customer_id)
    if step is None:
        for admin in s.scalars(select(UserRow.userid).where(UserRow.role == "admin")):
            ctx.send(admin, Text(content=T.APPROVAL_NO_APPROVER.format(customer=customer.name)))
    else:
        ctx.send(
            approval.rep_userid,
            Text(
                content=T.REP_APPROVAL_STARTED.format(
                    customer=customer.name,
                    role=T.role_name(step.role),
                    name=people.name_of(s, step.approver_userid),
                )
            ),
        )
    return approval


def _open_next_step(ctx: Ctx, approval: ApprovalRow, *, start: int, step_no: int) -> ApprovalStepRow | None:
    """Create the step for the next role of the chain that has a person, send the card, arm the SLA."""
    policy = policy_of(ctx)
    s = ctx.session
    # someone who already approved an earlier step (perhaps as the escalation target) is not asked twice
    approved_by = {
        st.decided_by for st in _steps(ctx, approval.id) if st.status == "approved" and st.decided_by
    }
    tree = people.tree_above(s, approval.rep_userid)
    route = approval_route(
        tree, rep=approval.rep_userid, chain=policy.approval_chain, start=start, exclude=approved_by
    )
    if route is None:
        return None
    step = ApprovalStepRow(
        approval_id=approval.id,
        step_no=step_no,
        role=route.role,
        approver_userid=route.approver,
        status="pending",
        created_at=ctx.now,
    )
    s.add(step)
    s.flush()
    before = audit.snapshot(approval)
    approval.current_step = step_no
    audit.record(
        s,
        at=ctx.now,
        actor=SOP_ACTOR,
        action="create",
        entity="approval_step",
        entity_id=str(step.id),
        after={**audit.snapshot(step), "chain_index": route.index},
        reason=ctx.source,
    )
    if before != audit.snapshot(approval):
        audit.record(
            s,
            at=ctx.now,
            actor=SOP_ACTOR,
            action="update",
            entity="approval",
            entity_id=str(approval.id),
            before=before,
            after=audit.snapshot(approval),
            reason=ctx.source,
        )
    ctx.send(
        step.approver_userid,
        _card(
            ctx,
            approval,
            step,
            T.APPROVAL_TITLE,
            T.APPROVAL_DESC.format(rep=people.name_of(s, approval.rep_userid), role=T.role_name(step.role)),
        ),
    )
    _arm_sla(ctx, step)
    return step


def _arm_sla(ctx: Ctx, step: ApprovalStepRow) -> None:
    policy = policy_of(ctx)
    key = f"approval:{step.id}:remind"
    timers.schedule(
        ctx.session,
        kind=KIND,
        business_key=key,
        subject_type=SUBJECT,
        subject_id=str(step.id),
        due_at=sop_times.avoid_rush(ctx.now + policy.approval_sla, key),
        payload={"step_id": step.id, "stage": "remind"},
        now=ctx.now,
        actor=SOP_ACTOR,
        reason=ctx.source,
    )


def _card(ctx: Ctx, approval: ApprovalRow, step: ApprovalStepRow, title: str, description: str) -> Card:
    policy = policy_of(ctx)
    s = ctx.session
    customer = s.get(CustomerRow, approval.customer_id)
    visit = s.get(VisitRow, approval.visit_id) if approval.visit_id else None
    fields = [(T.FIELD_CUSTOMER, customer.name), (T.FIELD_REP, people.name_of(s, approval.rep_userid))]
    if visit is not None:
        tags = list(
            s.scalars(
                select(VisitTagRow.tag)
                .where(VisitTagRow.visit_id == visit.visit_id)
                .order_by(VisitTagRow.tag)
            )
        )
        fields.append((T.FIELD_VISIT_AT, T.when(visit.checked_in_at, policy.zone)))
        fields.append((T.FIELD_TAGS, "、".join(tags)))
        if visit.note:
            fields.append((T.FIELD_NOTE, visit.note))
    earlier = [
        f"{T.role_name(st.role)}：{st.comment or T.NO_COMMENT}"
        for st in _steps(ctx, approval.id)
        if st.status == "approved"
    ]
    if earlier:
        fields.append((T.FIELD_EARLIER, "；".join(earlier)))
    return Card(
        title=title.format(customer=customer.name),
        description=description,
        fields=fields,
        buttons=[
            Button(text=T.BTN_APPROVE, key=card_key(CardAction.APPROVAL, "ok", step.id), style=1),
            Button(text=T.BTN_REJECT, key=card_key(CardAction.APPROVAL, "no", step.id), style=3),
        ],
    )


# --- deciding ------------------------------------------------------------------------------------------


def _label(approval: ApprovalRow, step_no: int, steps: list[ApprovalStepRow]) -> str:
    decided = [st for st in steps if st.status in ("approved", "rejected")]
    if decided:
        return T.APPROVED_LABEL if decided[0].status == "approved" else T.REJECTED_LABEL
    return T.APPROVAL_STATUS.get(approval.status, approval.status)


def _live_step(ctx: Ctx, step_id: int) -> tuple[ApprovalRow | None, ApprovalStepRow | None, str | None]:
    """(approval, the pending row of the clicked step, why not) — locked; checks the clicker may decide."""
    clicked = ctx.session.get(ApprovalStepRow, step_id)
    if clicked is None:
        return None, None, T.NOT_FOUND
    approval = _lock_approval(ctx, clicked.approval_id)
    ctx.session.refresh(clicked)
    same_step = _steps(ctx, clicked.approval_id, clicked.step_no)
    if ctx.userid not in {st.approver_userid for st in same_step}:
        return approval, None, T.NOT_APPROVER
    live = next((st for st in same_step if st.status == "pending"), None)
    if approval.status != "pending" or approval.current_step != clicked.step_no or live is None:
        status = _label(approval, clicked.step_no, same_step)
        return approval, None, T.ALREADY_DECIDED.format(status=status)
    return approval, live, None


def decide(ctx: Ctx, *, step_id: int, approve: bool, comment: str | None, response_code: str = "") -> bool:
    """Record one approver's decision. False (with an acknowledgement) when the step was already decided."""
    approval, live, why_not = _live_step(ctx, step_id)
    if live is None:
        if response_code and approval is not None and why_not != T.NOT_APPROVER:
            step_no = ctx.session.get(ApprovalStepRow, step_id).step_no
            ctx.reply(
                CardUpdate(
                    response_code=response_code,
                    replace_name=_label(approval, step_no, _steps(ctx, approval.id, step_no)),
                )
            )
        ctx.reply(Text(content=why_not or T.NOT_FOUND))
        return False
    s = ctx.session
    policy = policy_of(ctx)
    before = audit.snapshot(live)
    live.status = "approved" if approve else "rejected"
    live.decided_by, live.decided_at, live.comment = ctx.userid, ctx.now, (comment or None)
    audit.record(
        s,
        at=ctx.now,
        actor=ctx.userid,
        action="update",
        entity="approval_step",
        entity_id=str(live.id),
        before=before,
        after=audit.snapshot(live),
        reason=ctx.source,
    )
    for st in _steps(ctx, approval.id, live.step_no):
        timers.cancel(
            s,
            now=ctx.now,
            reason="step decided",
            subject_type=SUBJECT,
            subject_id=str(st.id),
            kinds=[KIND],
            actor=ctx.userid,
        )
    customer = s.get(CustomerRow, approval.customer_id)
    me = people.name_of(s, ctx.userid)
    # the decider may hold an escalated row of this step rather than the live one: name their own role
    my_role = next(
        st.role for st in _steps(ctx, approval.id, live.step_no) if st.approver_userid == ctx.userid
    )
    verdict = T.APPROVED_LABEL if approve else T.REJECTED_LABEL
    note = CustomerNoteRow(
        customer_id=approval.customer_id,
        author_userid=ctx.userid,
        kind="approval",
        text=T.NOTE_APPROVAL.format(
            role=T.role_name(my_role), name=me, verdict=verdict, comment=comment or T.NO_COMMENT
        ),
        at=ctx.now,
    )
    s.add(note)
    s.flush()
    audit.record(
        s,
        at=ctx.now,
        actor=ctx.userid,
        action="create",
        entity="customer_note",
        entity_id=str(note.id),
        after=audit.snapshot(note),
        reason=ctx.source,
    )
    if response_code:
        ctx.reply(CardUpdate(response_code=response_code, replace_name=verdict))
    rep_name = people.name_of(s, approval.rep_userid)
    if not approve:
        _close(ctx, approval, "rejected")
        ctx.send(
            approval.rep_userid,
            Text(
                content=T.REP_REJECTED.format(
                    customer=customer.name, role=T.role_name(my_role), name=me, reason=comment
                )
            ),
        )
        ctx.reply(Text(content=T.REJECTED_DONE.format(rep=rep_name)))
        return True
    chain_index = _chain_index(ctx, live, policy)
    nxt = _open_next_step(ctx, approval, start=chain_index + 1, step_no=live.step_no + 1)
    if nxt is not None:
        ctx.reply(
            Text(
                content=T.APPROVED_NEXT.format(
                    role=T.role_name(nxt.role), name=people.name_of(s, nxt.approver_userid)
                )
            )
        )
        return True
    _close(ctx, approval, "approved")
    comments = "；".join(
        f"{T.role_name(st.role)}：{st.comment}"
        for st in _steps(ctx, approval.id)
        if st.status == "approved" and st.comment
    )
    ctx.send(
        approval.rep_userid,
        Text(
            content=T.REP_APPROVED.format(
                customer=customer.name, comments=T.COMMENTS_LINE.format(comments=comments) if comments else ""
            )
        ),
    )
    ctx.reply(Text(content=T.APPROVED_FINAL.format(rep=rep_name)))
    return True


def _chain_index(ctx: Ctx, step: ApprovalStepRow, policy) -> int:  # noqa: ANN001
    """Where a step stands in the chain: the role of its first row (an escalated row carries the manager's
    own role, the first row the chain's)."""
    first = _steps(ctx, step.approval_id, step.step_no)[0]
    chain = policy.approval_chain
    return chain.index(first.role) if first.role in chain else len(chain)


def withdraw_price_approval(ctx: Ctx, visit_id: str) -> ApprovalRow | None:
    """The rep took 价格异议 off the visit: a pending approval is withdrawn — its open steps closed, their
    SLA timers cancelled, each approver told (a later click on the card answers 已撤回). Audited."""
    s = ctx.session
    found = s.scalars(select(ApprovalRow).where(ApprovalRow.visit_id == visit_id)).first()
    approval = _lock_approval(ctx, found.id) if found is not None else None
    if approval is None or approval.status != "pending":
        return None
    customer = s.get(CustomerRow, approval.customer_id)
    why = f"{ctx.source}: 价格异议标签已撤销"
    for st in _steps(ctx, approval.id):
        if st.status != "pending":
            continue
        before = audit.snapshot(st)
        st.status, st.decided_at = "withdrawn", ctx.now
        audit.record(
            s,
            at=ctx.now,
            actor=ctx.userid or SOP_ACTOR,
            action="update",
            entity="approval_step",
            entity_id=str(st.id),
            before=before,
            after=audit.snapshot(st),
            reason=why,
        )
        timers.cancel(s, now=ctx.now, reason=why, subject_type=SUBJECT, subject_id=str(st.id), kinds=[KIND])
        ctx.send(
            st.approver_userid,
            Text(
                content=T.APPROVAL_WITHDRAWN.format(
                    customer=customer.name if customer else approval.customer_id,
                    rep=people.name_of(s, approval.rep_userid),
                )
            ),
        )
    _close(ctx, approval, "withdrawn")
    return approval


def _close(ctx: Ctx, approval: ApprovalRow, status: str) -> None:
    before = audit.snapshot(approval)
    approval.status, approval.decided_at = status, ctx.now
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="update",
        entity="approval",
        entity_id=str(approval.id),
        before=before,
        after=audit.snapshot(approval),
        reason=ctx.source,
    )


# --- input: buttons, the asked-for reason, typed decisions -----------------------------------------------


def on_approval_button(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    if len(parts) != 2 or parts[0] not in ("ok", "no") or not parts[1].isdigit():
        return False
    step_id = int(parts[1])
    if parts[0] == "ok":
        decide(ctx, step_id=step_id, approve=True, comment=None, response_code=event.response_code)
        return None
    approval, live, why_not = _live_step(ctx, step_id)
    if live is None:
        decide(ctx, step_id=step_id, approve=False, comment=None, response_code=event.response_code)
        return None
    ask(
        ctx,
        REASON_STATE,
        {"step_id": step_id, "response_code": event.response_code},
        Text(content=T.ASK_REJECT_REASON),
    )
    return None


def on_reject_reason(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event)
    if said is None:
        return pass_on(ctx, event)  # not an answer
    data = dict(ctx.state_data)
    if said in CANCEL_WORDS:
        resume(ctx)
        ctx.reply(Text(content=T.REJECT_CANCELLED))
        return None
    m = _TEXT_DECISION.match(said)
    if m and m.group(1) in ("通过", "同意"):
        resume(ctx)
        return on_typed_decision(ctx, event)
    reason = ((m.group(3) or "") if m else said.removeprefix("驳回")).strip(" :：,，")
    if not reason:
        ctx.reply(Text(content=T.ASK_REJECT_REASON))
        return None
    resume(ctx)
    decide(
        ctx,
        step_id=int(data.get("step_id", 0)),
        approve=False,
        comment=reason,
        response_code=str(data.get("response_code") or ""),
    )
    return None


def on_typed_decision(ctx: Ctx, event: Inbound) -> bool | None:
    """「通过」「通过 #12 意见」「驳回 原因」「驳回 #12 原因」 — for approvers who prefer typing."""
    said = text_of(event) or ""
    m = _TEXT_DECISION.match(said)
    if m is None:
        return False
    verb, step_text, comment = m.group(1), m.group(2), (m.group(3) or "").strip()
    approve = verb != "驳回"
    mine = _my_pending_steps(ctx)
    if step_text:
        step_id = int(step_text)
    elif len(mine) == 1:
        step_id = mine[0].id
    elif not mine:
        if ctx.user is None or ctx.user.role == "rep":
            return False  # a rep's sentence that starts with 通过 is not an approval
        ctx.reply(Text(content=T.NO_PENDING_APPROVAL))
        return None
    else:
        lines = "\n".join(_which_line(ctx, st) for st in mine)
        ctx.reply(Text(content=T.WHICH_APPROVAL.format(n=len(mine), lines=lines)))
        return None
    if not approve and not comment:
        _, live, _ = _live_step(ctx, step_id)
        if live is not None:
            ask(
                ctx,
                REASON_STATE,
                {"step_id": step_id, "response_code": ""},
                Text(content=T.ASK_REJECT_REASON),
            )
            return None
    decide(ctx, step_id=step_id, approve=approve, comment=comment or None)
    return None


def _my_pending_steps(ctx: Ctx) -> list[ApprovalStepRow]:
    """Steps I may decide now: I hold a row of the approval's current step, and that step is pending."""
    s = ctx.session
    mine = s.scalars(
        select(ApprovalStepRow)
        .join(ApprovalRow, ApprovalRow.id == ApprovalStepRow.approval_id)
        .where(
            ApprovalStepRow.approver_userid == ctx.userid,
            ApprovalRow.status == "pending",
            ApprovalStepRow.step_no == ApprovalRow.current_step,
        )
        .order_by(ApprovalStepRow.id)
    )
    out = []
    for st in mine:
        if any(x.status == "pending" for x in _steps(ctx, st.approval_id, st.step_no)):
            out.append(st)
    return out


def _which_line(ctx: Ctx, step: ApprovalStepRow) -> str:
    approval = ctx.session.get(ApprovalRow, step.approval_id)
    customer = ctx.session.get(CustomerRow, approval.customer_id)
    return T.WHICH_LINE.format(
        id=step.id, customer=customer.name, rep=people.name_of(ctx.session, approval.rep_userid)
    )


# --- the SLA -------------------------------------------------------------------------------------------


def fire_approval_sla(ctx: Ctx, timer: TimerRow) -> FireResult:
    policy = policy_of(ctx)
    s = ctx.session
    step = s.get(ApprovalStepRow, int(timer.payload.get("step_id", timer.subject_id)))
    if step is None:
        return "cancelled", "step gone"
    approval = _lock_approval(ctx, step.approval_id)
    s.refresh(step)
    same_step = _steps(ctx, step.approval_id, step.step_no)
    tree = people.tree_above(s, step.approver_userid)
    manager = tree.manager_of(step.approver_userid)
    facts = ApprovalStepFacts(
        step_status=step.status,
        approval_status=approval.status,
        is_current=approval.current_step == step.step_no,
        approver=step.approver_userid,
        approver_manager=manager,
        manager_already_asked=manager in {st.approver_userid for st in same_step},
    )
    stage = str(timer.payload.get("stage"))
    decision = approval_next_step(stage, facts, timer_due=timer.due_at, policy=policy)
    if isinstance(decision, Cancel):
        return "cancelled", decision.reason
    if isinstance(decision, Done):
        return "done", decision.reason
    hours = T.hours(policy.approval_sla)
    if isinstance(decision, Remind):
        for to in decision.to:
            ctx.send(
                to,
                _card(
                    ctx, approval, step, T.APPROVAL_REMIND_TITLE, T.APPROVAL_REMIND_DESC.format(hours=hours)
                ),
            )
        for nxt in decision.then:
            key = f"approval:{step.id}:{nxt.step}"
            timers.schedule(
                s,
                kind=KIND,
                business_key=key,
                subject_type=SUBJECT,
                subject_id=str(step.id),
                due_at=sop_times.avoid_rush(nxt.due_at, key),
                payload={**timer.payload, "stage": nxt.step},
                now=ctx.now,
                actor=SOP_ACTOR,
                reason=f"timer:{timer.id}",
            )
        return "done", f"reminded {step.approver_userid}"
    assert isinstance(decision, Escalate)
    return "done", _escalate(ctx, approval, step, decision.to[0], timer)


def _escalate(ctx: Ctx, approval: ApprovalRow, step: ApprovalStepRow, manager: str, timer: TimerRow) -> str:
    s = ctx.session
    policy = policy_of(ctx)
    before = audit.snapshot(step)
    step.status = "escalated"
    audit.record(
        s,
        at=ctx.now,
        actor=SOP_ACTOR,
        action="update",
        entity="approval_step",
        entity_id=str(step.id),
        before=before,
        after=audit.snapshot(step),
        reason=f"timer:{timer.id}",
    )
    manager_row = s.get(UserRow, manager)
    new = ApprovalStepRow(
        approval_id=approval.id,
        step_no=step.step_no,
        role=manager_row.role if manager_row else step.role,
        approver_userid=manager,
        status="pending",
        created_at=ctx.now,
    )
    s.add(new)
    s.flush()
    audit.record(
        s,
        at=ctx.now,
        actor=SOP_ACTOR,
        action="create",
        entity="approval_step",
        entity_id=str(new.id),
        after=audit.snapshot(new),
        reason=f"timer:{timer.id}",
    )
    approver_name = people.name_of(s, step.approver_userid)
    hours = T.hours(policy.approval_sla + policy.approval_escalate_after)
    ctx.send(
        manager,
        _card(
            ctx,
            approval,
            new,
            T.APPROVAL_ESCALATED_TITLE,
            T.APPROVAL_ESCALATED_DESC.format(approver=approver_name, hours=hours),
        ),
    )
    customer = s.get(CustomerRow, approval.customer_id)
    ctx.send(
        step.approver_userid,
        Text(
            content=T.APPROVAL_ESCALATED_NOTICE.format(
                customer=customer.name, manager=people.name_of(s, manager)
            )
        ),
    )
    _arm_sla(ctx, new)
    return f"escalated to {manager}"


# --- reactions to domain events (handlers/routes.py SUBSCRIBERS) -------------------------------------------


def on_visit_completed(ctx: Ctx, event: VisitCompleted) -> None:
    """A complete visit tagged 价格异议 starts the price approval."""
    visit = ctx.session.get(VisitRow, event.visit_id)
    if visit is not None and visit_repo.has_tag(ctx.session, event.visit_id, PRICE_TAG):
        start_price_approval(ctx, visit)


def on_tag_restored(ctx: Ctx, event: TagRestored) -> None:
    """价格异议 put back (撤销 of its 删除) on a complete visit: the approval its removal withdrew starts again
    (an incomplete visit starts it when it completes)."""
    visit = ctx.session.get(VisitRow, event.visit_id)
    if event.tag == PRICE_TAG and visit is not None and visit.completed_at is not None:
        start_price_approval(ctx, visit)


def on_tag_removed(ctx: Ctx, event: TagRemoved) -> None:
    """价格异议 taken off a visit withdraws its pending approval."""
    if event.tag == PRICE_TAG:
        withdraw_price_approval(ctx, event.visit_id)
