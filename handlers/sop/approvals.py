"""Price-objection approvals (价格异议审批): the chain, the cards, the SLA reminder and escalation.

The contract is docs/approvals.md. In short:
- A visit tagged 价格异议 starts an approval; its chain is the policy's roles (supervisor → regional
  manager → finance director by default), each resolved up the rep's reporting tree; a role nobody
  holds is skipped. What the customer asked for (core/price_request.py, read from the rep's lines of the
  visit) is stored on the approval and shown on every card.
- Each step is a row (approval_steps) and a card to the approver with 通过 / 通过并附言 / 驳回. 驳回 needs a
  reason, 通过并附言 a comment: the bot asks (a question that survives any unrelated event,
  handlers/router.py), or the approver types 「驳回 原因」/「通过 意见」. The comment goes on the customer's
  record; the next approver gets a card; the rep is told each decision with its comment.
- The rep gets a card too (撤回申请 withdraws). Every card sent is recorded (storage/approvals.py); when the
  approval ends — approved, rejected or withdrawn — each card still live is updated in place to a final state
  with its buttons greyed (update_template_card: the click's response_code for the clicked card, the send's
  for the others). A card not yet sent at that moment is retried by an `approval_cards` timer.
- A decision is idempotent: a click on a step that is already decided only acknowledges it.
- SLA: `approval_sla` after a step opens its approver is reminded; `approval_escalate_after` later the
  step moves to the approver's manager (a new step row; the old one is `escalated`). Either of them may
  decide.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from core.events import TagRemoved, TagRestored, VisitCompleted
from core.price_request import PriceRequest, format_value, parse_price_request
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
from storage import approvals as cards_repo
from storage import audit, people, timers
from storage import visits as visit_repo
from storage.models import (
    ApprovalCardRow,
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
CARDS_KIND = "approval_cards"  # the final update of cards that were not yet sent when the approval ended
CARDS_RETRY = timedelta(minutes=2)
CARDS_GIVE_UP = timedelta(hours=72)  # a send's response_code is valid 72 hours
SUBJECT = "approval_step"
APPROVAL_KIND = "price_objection"
PRICE_TAG = "价格异议"
REASON_STATE = DialogState.REJECT_REASON
COMMENT_STATE = DialogState.APPROVE_COMMENT
CANCEL_WORDS = ("取消", "算了", "不驳回")
# 「通过」「同意 #12」「驳回 原因」「驳回：原因」 — the verb must stand alone (「同意送样品」 is not a decision)
DECISION_WORDS = r"^(通过|同意|驳回)(\s|#|[:：,，]|$)"  # the text command (handlers/routes.py)
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
        _set_request(approval, _request_of(ctx, visit))
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
        _set_request(approval, _request_of(ctx, visit))
        audit.add_created(
            s,
            approval,
            at=ctx.now,
            actor=ctx.userid or SOP_ACTOR,
            entity="approval",
            reason=ctx.source,
        )
        step_no = 1
    step = _open_next_step(ctx, approval, start=0, step_no=step_no)
    customer = s.get(CustomerRow, approval.customer_id)
    if step is None:
        for admin in s.scalars(select(UserRow.userid).where(UserRow.role == "admin")):
            ctx.send(admin, Text(content=T.APPROVAL_NO_APPROVER.format(customer=customer.name)))
    else:
        ctx.send(approval.rep_userid, _rep_card(ctx, approval, step, customer))
    return approval


def _request_of(ctx: Ctx, visit: VisitRow) -> PriceRequest | None:
    """What the customer asked for: the newest of the rep's lines since the check-in that names a price or a
    discount (as typed: the visit's note keeps only what the line's other parts did not take), else the note."""
    lines = cards_repo.rep_lines_since(ctx.session, visit.rep_userid, visit.checked_in_at)
    for line in [*lines, visit.note or ""]:
        found = parse_price_request(line)
        if found is not None:
            return found
    return None


def _set_request(approval: ApprovalRow, found: PriceRequest | None) -> None:
    approval.request_kind = found.kind if found else None
    approval.request_value = format_value(found.value) if found else None
    approval.request_phrase = found.phrase[:64] if found else None


def request_words(approval: ApprovalRow) -> str:
    """「降价5%」「打9折」「单价降到12元」「每件降3元」, or that the line named no figure. Built from the kind
    and the parsed number only, so no typed text reaches the card through it."""
    words = T.REQUEST_WORDS.get(approval.request_kind or "")
    if words is None or not approval.request_value:
        return T.REQUEST_UNKNOWN
    return words.format(value=format_value(Decimal(approval.request_value)))


def _rep_card(ctx: Ctx, approval: ApprovalRow, step: ApprovalStepRow, customer: CustomerRow) -> Card:
    """The rep's own card: what was asked, who decides first, and 撤回申请. (Its one update is its final
    state, so it names no "current" approver that would go stale; each step's result reaches the rep as a
    message.)"""
    s = ctx.session
    task_id = cards_repo.new_task_id(
        s, approval_id=approval.id, step_id=None, recipient=approval.rep_userid, now=ctx.now
    )
    return Card(
        title=T.REP_CARD_TITLE.format(customer=customer.name),
        description=T.REP_CARD_DESC.format(
            role=T.role_name(step.role), name=people.name_of(s, step.approver_userid)
        ),
        fields=[(T.FIELD_CUSTOMER, customer.name), (T.FIELD_REQUEST, request_words(approval))],
        buttons=[Button(text=T.BTN_WITHDRAW, key=card_key(CardAction.APPROVAL, "wd", approval.id), style=2)],
        task_id=task_id,
    )


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


def _card(
    ctx: Ctx,
    approval: ApprovalRow,
    step: ApprovalStepRow,
    title: str,
    description: str,
    *,
    recipient: str | None = None,
) -> Card:
    """An approver's card (recorded in approval_cards, so that it can be put in its final state later). At
    most six fields (WeCom's limit): the rep is named in the description."""
    policy = policy_of(ctx)
    s = ctx.session
    customer = s.get(CustomerRow, approval.customer_id)
    visit = s.get(VisitRow, approval.visit_id) if approval.visit_id else None
    fields = [(T.FIELD_CUSTOMER, customer.name), (T.FIELD_REQUEST, request_words(approval))]
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
    task_id = cards_repo.new_task_id(
        s, approval_id=approval.id, step_id=step.id, recipient=recipient or step.approver_userid, now=ctx.now
    )
    return Card(
        title=title.format(customer=customer.name),
        description=description,
        fields=fields,
        buttons=_buttons(step.id),
        task_id=task_id,
    )


def _buttons(step_id: int) -> list[Button]:
    return [
        Button(text=T.BTN_APPROVE, key=card_key(CardAction.APPROVAL, "ok", step_id), style=1),
        Button(text=T.BTN_APPROVE_WITH_COMMENT, key=card_key(CardAction.APPROVAL, "okc", step_id), style=2),
        Button(text=T.BTN_REJECT, key=card_key(CardAction.APPROVAL, "no", step_id), style=3),
    ]


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


def decide(
    ctx: Ctx,
    *,
    step_id: int,
    approve: bool,
    comment: str | None,
    response_code: str = "",
    task_id: str = "",
) -> bool:
    """Record one approver's decision (`response_code`/`task_id`: the clicked card, when it came by a click).
    False (with an acknowledgement) when the step was already decided."""
    approval, live, why_not = _live_step(ctx, step_id)
    if live is None:
        if response_code and approval is not None and why_not != T.NOT_APPROVER:
            clicked = _open_card(ctx, approval, task_id)
            if clicked is not None and approval.status != "pending":  # an ended approval: its final card
                _update_card(ctx, approval, clicked, response_code)
            else:
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
    audit.add_created(
        s,
        note,
        at=ctx.now,
        actor=ctx.userid,
        entity="customer_note",
        reason=ctx.source,
    )
    clicked = _open_card(ctx, approval, task_id) if response_code else None
    if response_code and clicked is None:  # a card this module did not record (sent before approval_cards)
        ctx.reply(CardUpdate(response_code=response_code, replace_name=verdict))
    rep_name = people.name_of(s, approval.rep_userid)
    if not approve:
        _close(ctx, approval, "rejected")
        _finalize(ctx, approval, clicked=(clicked, response_code))
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
        if clicked is not None:  # greyed for now; its final state comes when the approval ends
            ctx.reply(CardUpdate(response_code=response_code, replace_name=verdict))
        _settle_step(ctx, approval, live.step_no, skip=clicked, who=f"{T.role_name(my_role)}{me}")
        ctx.send(
            approval.rep_userid,
            Text(
                content=T.REP_STEP_APPROVED.format(
                    customer=customer.name,
                    role=T.role_name(my_role),
                    name=me,
                    comment=T.STEP_COMMENT.format(comment=comment) if comment else "",
                    next_role=T.role_name(nxt.role),
                    next_name=people.name_of(s, nxt.approver_userid),
                )
            ),
        )
        ctx.reply(
            Text(
                content=T.APPROVED_NEXT.format(
                    role=T.role_name(nxt.role), name=people.name_of(s, nxt.approver_userid)
                )
            )
        )
        return True
    _close(ctx, approval, "approved")
    _finalize(ctx, approval, clicked=(clicked, response_code))
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


def withdraw_price_approval(
    ctx: Ctx,
    visit_id: str,
    *,
    by_rep: bool = False,
    clicked: tuple[ApprovalCardRow | None, str] | None = None,
) -> ApprovalRow | None:
    """The rep took 价格异议 off the visit (or tapped 撤回申请, `by_rep`): a pending approval is withdrawn — its
    open steps closed, their SLA timers cancelled, each approver told, every card put in its final state
    (已撤回). Audited."""
    s = ctx.session
    found = s.scalars(select(ApprovalRow).where(ApprovalRow.visit_id == visit_id)).first()
    approval = _lock_approval(ctx, found.id) if found is not None else None
    if approval is None or approval.status != "pending":
        return None
    customer = s.get(CustomerRow, approval.customer_id)
    why = f"{ctx.source}: " + ("业务员撤回申请" if by_rep else "价格异议标签已撤销")
    told = T.APPROVAL_WITHDRAWN_BY_REP if by_rep else T.APPROVAL_WITHDRAWN
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
                content=told.format(
                    customer=customer.name if customer else approval.customer_id,
                    rep=people.name_of(s, approval.rep_userid),
                )
            ),
        )
    _close(ctx, approval, "cancelled" if by_rep else "withdrawn")  # cancelled: never restarts by itself
    _finalize(
        ctx, approval, why=T.WHY_REP_WITHDREW if by_rep else T.WHY_TAG_REMOVED, clicked=clicked or (None, "")
    )
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


# --- every card to its final state -------------------------------------------------------------------------


def _open_card(ctx: Ctx, approval: ApprovalRow, task_id: str) -> ApprovalCardRow | None:
    if not task_id:
        return None
    return next((c for c in cards_repo.open_cards(ctx.session, approval.id) if c.task_id == task_id), None)


def _decider(ctx: Ctx, step: ApprovalStepRow) -> str:
    """「区域经理吴经理」: the role the decider holds in that step (an escalation target has their own) and name."""
    who = step.decided_by or step.approver_userid
    role = next(
        (st.role for st in _steps(ctx, step.approval_id, step.step_no) if st.approver_userid == who),
        step.role,
    )
    return f"{T.role_name(role)}{people.name_of(ctx.session, who)}"


def _comments(ctx: Ctx, approval: ApprovalRow) -> str:
    return "；".join(
        f"{_decider(ctx, st)}：{st.comment}"
        for st in _steps(ctx, approval.id)
        if st.status in ("approved", "rejected") and st.comment
    )


def _outcome(ctx: Ctx, approval: ApprovalRow, why: str | None) -> tuple[str, str, str]:
    """(the word on the greyed buttons, the result in a few words, the result with its reason) of an ended
    approval (a card field holds 60 bytes, its description 160)."""
    steps = _steps(ctx, approval.id)
    if approval.status == "approved":
        last = [st for st in steps if st.status == "approved"][-1]
        result = T.RESULT_APPROVED.format(who=_decider(ctx, last))
        return T.APPROVED_LABEL, result, result
    if approval.status == "rejected":
        st = next(st for st in steps if st.status == "rejected")
        who = _decider(ctx, st)
        return (
            T.REJECTED_LABEL,
            T.RESULT_REJECTED.format(who=who),
            T.RESULT_REJECTED_WHY.format(who=who, reason=st.comment or ""),
        )
    label = T.APPROVAL_STATUS.get(approval.status, approval.status)
    result = T.RESULT_WITHDRAWN.format(why=why or T.WHY_TAG_REMOVED)
    return label, result, result


def _final_card(
    ctx: Ctx, approval: ApprovalRow, card: ApprovalCardRow, label: str, result: str, said: str | None = None
) -> Card:
    """The card as it stays: what was asked, the result (`said`, with its reason: the description) and the
    comments; its buttons greyed under `label`."""
    customer = ctx.session.get(CustomerRow, approval.customer_id)
    fields = [
        (T.FIELD_CUSTOMER, customer.name),
        (T.FIELD_REQUEST, request_words(approval)),
        (T.FIELD_RESULT, result),
    ]
    comments = _comments(ctx, approval)
    if comments:
        fields.append((T.FIELD_COMMENTS, comments))
    if card.step_id is None:
        title = T.REP_CARD_TITLE.format(customer=customer.name)
        buttons = [Button(text=T.BTN_WITHDRAW, key=card_key(CardAction.APPROVAL, "wd", approval.id), style=2)]
    else:
        title = T.APPROVAL_TITLE.format(customer=customer.name)
        buttons = _buttons(card.step_id)
    return Card(
        title=title,
        description=said or result,
        fields=fields,
        buttons=buttons,
        task_id=card.task_id,
        replace_text=label,
    )


def _update_card(
    ctx: Ctx, approval: ApprovalRow, card: ApprovalCardRow, code: str, *, why: str | None = None
) -> None:
    label, result, said = _outcome(ctx, approval, why)
    final = _final_card(ctx, approval, card, label, result, said)
    ctx.send(card.recipient, CardUpdate(response_code=code, card=final))
    card.final_at = ctx.now


def _settle_step(
    ctx: Ctx, approval: ApprovalRow, step_no: int, *, skip: ApprovalCardRow | None, who: str
) -> None:
    """A step decided while the approval goes on: the step's other cards (the reminder, the card of the
    approver it was escalated from) lose their buttons now, showing who decided."""
    s = ctx.session
    for st in _steps(ctx, approval.id, step_no):
        for card in cards_repo.open_cards(s, approval.id, step_id=st.id):
            code = cards_repo.send_code(s, card) if skip is None or card.id != skip.id else None
            if code is None:
                continue  # the clicked card (greyed by its click), or one not sent yet: settled at the end
            result = T.RESULT_STEP_DONE.format(who=who, verdict=T.APPROVED_LABEL)
            ctx.send(
                card.recipient,
                CardUpdate(
                    response_code=code,
                    card=_final_card(ctx, approval, card, T.APPROVED_LABEL, result),
                ),
            )
            card.final_at = ctx.now


def _finalize(
    ctx: Ctx,
    approval: ApprovalRow,
    *,
    why: str | None = None,
    clicked: tuple[ApprovalCardRow | None, str] = (None, ""),
) -> int:
    """The approval ended: every card of it still live — each approver's at every step, reminders, the rep's —
    is updated to its final state (the clicked card with the click's response_code, the others with their
    send's). A card still waiting in the outbox is retried by a CARDS_KIND timer; returns how many wait."""
    s = ctx.session
    clicked_card, click_code = clicked
    waiting = 0
    for card in cards_repo.open_cards(s, approval.id):
        code = click_code if clicked_card is not None and card.id == clicked_card.id and click_code else None
        code = code or cards_repo.send_code(s, card)
        if code is not None:
            _update_card(ctx, approval, card, code, why=why)
        elif cards_repo.unsent(s, card) and ctx.now - (approval.decided_at or ctx.now) < CARDS_GIVE_UP:
            waiting += 1
        else:  # merged into a digest, parked, or too old: nothing left to update
            card.final_at = ctx.now
    if waiting:
        key = timers.free_key(s, f"approval_cards:{approval.id}")
        timers.schedule(
            s,
            kind=CARDS_KIND,
            business_key=key,
            subject_type="approval",
            subject_id=str(approval.id),
            due_at=ctx.now + CARDS_RETRY,
            payload={"approval_id": approval.id, "why": why},
            now=ctx.now,
            actor=SOP_ACTOR,
            reason=ctx.source,
        )
    return waiting


def fire_approval_cards(ctx: Ctx, timer: TimerRow) -> FireResult:
    """Cards that were still in the outbox when their approval ended: put them in their final state now."""
    approval = ctx.session.get(ApprovalRow, int(timer.payload.get("approval_id", timer.subject_id)))
    if approval is None or approval.status == "pending":
        return "cancelled", "approval gone or pending again"
    waiting = _finalize(ctx, approval, why=timer.payload.get("why"))
    return "done", f"{waiting} card(s) still waiting" if waiting else "all cards final"


# --- input: buttons, the asked-for reason, typed decisions -----------------------------------------------


def on_approval_button(ctx: Ctx, event: Inbound) -> bool | None:
    """通过 (decide now), 通过并附言 (ask for the comment), 驳回 (ask for the reason) on an approver's card;
    撤回申请 on the rep's."""
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    if len(parts) != 2 or parts[0] not in ("ok", "okc", "no", "wd") or not parts[1].isdigit():
        return False
    if parts[0] == "wd":
        return _on_withdraw(ctx, int(parts[1]), event)
    step_id = int(parts[1])
    click = {"response_code": event.response_code, "task_id": event.task_id}
    if parts[0] == "ok":
        decide(ctx, step_id=step_id, approve=True, comment=None, **click)
        return None
    approval, live, why_not = _live_step(ctx, step_id)
    if live is None:
        decide(ctx, step_id=step_id, approve=parts[0] == "okc", comment=None, **click)
        return None
    if parts[0] == "okc":
        ask(ctx, COMMENT_STATE, {"step_id": step_id, **click}, Text(content=T.ASK_APPROVE_COMMENT))
    else:
        ask(ctx, REASON_STATE, {"step_id": step_id, **click}, Text(content=T.ASK_REJECT_REASON))
    return None


def _on_withdraw(ctx: Ctx, approval_id: int, event: CardClick) -> None:
    s = ctx.session
    approval = s.get(ApprovalRow, approval_id)
    if approval is None or approval.visit_id is None:
        ctx.reply(Text(content=T.NOT_FOUND))
        return None
    if approval.rep_userid != ctx.userid:
        ctx.reply(Text(content=T.NOT_YOUR_REQUEST))
        return None
    clicked = _open_card(ctx, approval, event.task_id)
    done = withdraw_price_approval(
        ctx, approval.visit_id, by_rep=True, clicked=(clicked, event.response_code)
    )
    customer = s.get(CustomerRow, approval.customer_id)
    if done is None:
        if clicked is not None and event.response_code:
            _update_card(ctx, approval, clicked, event.response_code)
        status = T.APPROVAL_STATUS.get(approval.status, approval.status)
        ctx.reply(Text(content=T.ALREADY_CLOSED.format(status=status)))
        return None
    ctx.reply(Text(content=T.REP_WITHDRAWN.format(customer=customer.name)))
    return None


def _question_settled(ctx: Ctx, event: Inbound) -> Any:
    """The step the question was about is no longer waiting for this person (decided by someone else,
    withdrawn, escalated away): the question ends and the text is handled as if it had not been asked."""
    _, live, _ = _live_step(ctx, int(ctx.state_data.get("step_id", 0)))
    if live is not None:
        return None
    return pass_on(ctx, event)


def _answer(ctx: Ctx, event: Inbound, *, approve: bool) -> bool | None | Any:
    """The typed answer to 驳回 (the reason, required) or 通过并附言 (the comment)."""
    said = text_of(event)
    if said is None:
        return pass_on(ctx, event)  # not an answer (the router keeps the question open for these)
    data = dict(ctx.state_data)
    if said in CANCEL_WORDS:
        resume(ctx)
        ctx.reply(Text(content=T.REJECT_CANCELLED if not approve else T.APPROVE_CANCELLED))
        return None
    settled = _question_settled(ctx, event)
    if settled is not None:
        return settled
    m = _TEXT_DECISION.match(said)
    if m and (m.group(1) in ("通过", "同意")) != approve:  # the other verb: a decision of its own
        resume(ctx)
        return on_typed_decision(ctx, event)
    text = ((m.group(3) or "") if m else said).strip(" :：,，")
    if not approve and not text:
        ctx.reply(Text(content=T.ASK_REJECT_REASON))
        return None
    resume(ctx)
    decide(
        ctx,
        step_id=int(data.get("step_id", 0)),
        approve=approve,
        comment=text or None,
        response_code=str(data.get("response_code") or ""),
        task_id=str(data.get("task_id") or ""),
    )
    return None


def on_reject_reason(ctx: Ctx, event: Inbound) -> bool | None:
    return _answer(ctx, event, approve=False)


def on_approve_comment(ctx: Ctx, event: Inbound) -> bool | None:
    return _answer(ctx, event, approve=True)


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
                {"step_id": step_id, "response_code": "", "task_id": ""},
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
    manager = tree.active_manager_of(step.approver_userid)  # a deactivated manager is passed over
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
                    ctx,
                    approval,
                    step,
                    T.APPROVAL_REMIND_TITLE,
                    T.APPROVAL_REMIND_DESC.format(hours=hours),
                    recipient=to,
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
    audit.add_created(
        s,
        new,
        at=ctx.now,
        actor=SOP_ACTOR,
        entity="approval_step",
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
