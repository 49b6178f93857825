"""The grade-driven sequence of a lead on the durable timer engine (docs/leads.md § The golden 4 hours).

When a lead is graded (new, claimed, handed over, or re-graded) its grade's sequence starts: one
`lead_sop_steps` row per step, due `within` after the start (A+: 首次电话 15 min, 定制方案 2 h, 同类客户案例
24 h), and one `lead_step` timer per step at its due time (key `lead_step:<lead>:g<gen>:<seq>`). The owner
gets a countdown card for the first open step (its deadline and the time left when sent), with a button that
marks it done; a matching interaction (跟进线索 … 电话) marks it done too. Each done step sends the card of the
next open one. When a step's timer fires and the step is still open, the step turns `late`, the owner gets a
late card and the supervisor above the owner (the policy's `escalate_role`) an escalation — exactly once: the
timer fires once and the step remembers `escalated_at`. A new grade cancels the open steps (and their timers)
and starts the new grade's sequence without the steps already done.
"""

from __future__ import annotations

from sqlalchemy import select

from handlers.context import Ctx
from handlers.leads import recommend
from handlers.leads import texts as T
from handlers.leads.policy import LEADS_ACTOR, FireResult, policy_of
from handlers.messages import Button, Card, CardAction, card_key
from storage import audit, people, timers
from storage.leads.models import LeadRow, LeadSopStepRow
from storage.leads.store import OPEN_STAGES
from storage.models import TimerRow

KIND = "lead_step"
SUBJECT = "lead"
KIND_HINT = {"first_call": "电话", "proposal": "方案", "case": "案例"}


def step_key(lead_id: str, gen: int, seq: int) -> str:
    return f"{KIND}:{lead_id}:g{gen}:{seq}"


def _steps(ctx: Ctx, lead: LeadRow, *, gen: int | None = None) -> list[LeadSopStepRow]:
    q = select(LeadSopStepRow).where(LeadSopStepRow.lead_id == lead.lead_id)
    if gen is not None:
        q = q.where(LeadSopStepRow.gen == gen)
    return list(ctx.session.scalars(q.order_by(LeadSopStepRow.gen, LeadSopStepRow.seq)))


def cancel_open(ctx: Ctx, lead: LeadRow, *, reason: str) -> int:
    """End the lead's open steps and their timers (a new grade, a new owner, conversion, loss)."""
    n = 0
    for step in _steps(ctx, lead):
        if step.status == "open":
            before = audit.snapshot(step)
            step.status = "cancelled"
            _audit(ctx, step, before, reason)
            n += 1
    timers.cancel(
        ctx.session,
        now=ctx.now,
        reason=reason,
        subject_type=SUBJECT,
        subject_id=lead.lead_id,
        kinds=[KIND],
        actor=LEADS_ACTOR,
    )
    return n


def start_sequence(ctx: Ctx, lead: LeadRow, *, reason: str) -> LeadSopStepRow | None:
    """Start (or restart) the sequence of the lead's grade for its owner. Returns the first open step."""
    if lead.owner_userid is None or lead.stage not in OPEN_STAGES:
        return None
    policy = policy_of(ctx)
    done = {s.step for s in _steps(ctx, lead) if s.status == "done"}
    cancel_open(ctx, lead, reason=reason)
    plan = [s for s in policy.sequence(lead.grade) if s.step not in done]
    if not plan:
        return None
    before = audit.snapshot(lead)
    lead.sop_gen = int(lead.sop_gen or 0) + 1
    _audit_lead(ctx, lead, before, reason)
    rows = []
    for seq, s in enumerate(plan, start=1):
        row = LeadSopStepRow(
            lead_id=lead.lead_id,
            gen=lead.sop_gen,
            seq=seq,
            step=s.step,
            label=s.label,
            grade=lead.grade or "C",
            owner_userid=lead.owner_userid,
            due_at=ctx.now + s.within,
            status="open",
        )
        ctx.session.add(row)
        ctx.session.flush()
        audit.record(
            ctx.session,
            at=ctx.now,
            actor=ctx.userid or LEADS_ACTOR,
            action="create",
            entity="lead_sop_step",
            entity_id=str(row.id),
            after=audit.snapshot(row),
            reason=reason,
        )
        timers.schedule(
            ctx.session,
            kind=KIND,
            business_key=step_key(lead.lead_id, row.gen, seq),
            subject_type=SUBJECT,
            subject_id=lead.lead_id,
            due_at=row.due_at,
            payload={"step_id": row.id},
            now=ctx.now,
            actor=LEADS_ACTOR,
            reason=reason,
        )
        rows.append(row)
    send_step(ctx, lead, rows[0], done=None)
    return rows[0]


def send_step(ctx: Ctx, lead: LeadRow, step: LeadSopStepRow, *, done: str | None) -> None:
    """The countdown card of a step to the owner; a proposal step also gets the three recommended products
    with their pitch and comparison (handlers/leads/recommend.py)."""
    assert lead.owner_userid is not None
    ctx.send(lead.owner_userid, step_card(ctx, lead, step, done=done))
    if step.step == "proposal":
        matches = recommend.for_lead(ctx, lead)
        if matches:
            ctx.send(lead.owner_userid, recommend.render(lead.company, matches))


def step_card(ctx: Ctx, lead: LeadRow, step: LeadSopStepRow, *, done: str | None) -> Card:
    grade = T.GRADE_WORDS.get(step.grade, step.grade)
    left = T.span(step.due_at - ctx.now)
    if done is None:
        desc = T.SEQ_DESC_FIRST.format(
            grade=grade,
            due=T.when(step.due_at),
            step=step.label,
            left=left,
            company=lead.company,
            kind=KIND_HINT.get(step.step, "电话"),
        )
    else:
        desc = T.SEQ_DESC_NEXT.format(done=done, due=T.when(step.due_at), step=step.label, left=left)
    fields = [
        (T.FIELD_STEP, f"{step.seq}. {step.label}"),
        (T.FIELD_DUE, T.when(step.due_at)),
        (T.FIELD_LEFT, left),
        (
            T.FIELD_CONTACT,
            " ".join(x for x in (lead.contact_name, lead.contact_role, lead.phone) if x) or T.NONE,
        ),
    ]
    return Card(
        title=T.SEQ_TITLE.format(grade=grade, step=step.label, company=lead.company),
        description=desc,
        fields=fields,
        buttons=[
            Button(
                text=T.BTN_STEP_DONE.format(step=step.label), key=card_key(CardAction.LEAD, "done", step.id)
            )
        ],
    )


def complete_step(ctx: Ctx, step: LeadSopStepRow, *, by: str) -> LeadSopStepRow | None:
    """Mark a step done (open or late), cancel its timer, send the next open step's card. Returns the next."""
    lead = ctx.session.get(LeadRow, step.lead_id)
    before = audit.snapshot(step)
    step.status, step.done_at, step.done_by = "done", ctx.now, by[:64]
    _audit(ctx, step, before, ctx.source)
    timers.cancel(
        ctx.session,
        now=ctx.now,
        reason="step done",
        business_key=step_key(step.lead_id, step.gen, step.seq),
        actor=LEADS_ACTOR,
    )
    nxt = (
        next(
            (s for s in _steps(ctx, lead, gen=step.gen) if s.status in ("open", "late") and s.seq > step.seq),
            None,
        )
        if lead is not None
        else None
    )
    if lead is not None and lead.owner_userid:
        if nxt is not None:
            send_step(ctx, lead, nxt, done=step.label)
        elif not any(s.status in ("open", "late") for s in _steps(ctx, lead, gen=step.gen)):
            ctx.send(lead.owner_userid, Card(title=T.ALL_STEPS_DONE.format(company=lead.company)))
    return nxt


def match_interaction(ctx: Ctx, lead: LeadRow, kind: str, *, interaction_id: int) -> LeadSopStepRow | None:
    """An interaction of `kind`: the first not-done step of the current sequence it satisfies is done."""
    policy = policy_of(ctx)
    kinds = {s.step: s.kinds for seq in policy.sequences.values() for s in seq}
    for step in _steps(ctx, lead, gen=lead.sop_gen):
        if step.status in ("open", "late") and kind in kinds.get(step.step, ()):
            complete_step(ctx, step, by=f"interaction:{interaction_id}")
            return step
    return None


def fire_lead_step(ctx: Ctx, timer: TimerRow) -> FireResult:
    """A step's time is up: if it is still open, it is late — the owner is told and the supervisor alerted."""
    step = ctx.session.get(LeadSopStepRow, int(timer.payload.get("step_id", 0)))
    if step is None:
        return "cancelled", "step gone"
    if step.status != "open":
        return "cancelled", f"step {step.status}"
    lead = ctx.session.get(LeadRow, step.lead_id)
    if lead is None or lead.stage not in OPEN_STAGES or lead.owner_userid != step.owner_userid:
        before = audit.snapshot(step)
        step.status = "cancelled"  # the public pool (or a closed lead): the owner's sequence is over
        _audit(ctx, step, before, f"timer:{timer.id}")
        return "cancelled", "lead closed or moved"
    policy = policy_of(ctx)
    tree = people.tree_above(ctx.session, step.owner_userid)
    boss = tree.find_up(step.owner_userid, policy.escalate_role) or tree.manager_of(step.owner_userid)
    before = audit.snapshot(step)
    step.status, step.escalated_at, step.escalated_to = "late", ctx.now, boss
    _audit(ctx, step, before, f"timer:{timer.id}")
    grade = T.GRADE_WORDS.get(step.grade, step.grade)
    boss_name = people.name_of(ctx.session, boss) if boss else "主管"
    ctx.send(
        step.owner_userid,
        Card(
            title=T.STEP_LATE_OWNER_TITLE.format(company=lead.company, step=step.label),
            description=T.STEP_LATE_OWNER_DESC.format(due=T.when(step.due_at), boss=boss_name),
            fields=[(T.FIELD_STEP, step.label), (T.FIELD_DUE, T.when(step.due_at))],
            buttons=[
                Button(
                    text=T.BTN_STEP_DONE.format(step=step.label),
                    key=card_key(CardAction.LEAD, "done", step.id),
                )
            ],
        ),
    )
    if boss:
        rep = people.name_of(ctx.session, step.owner_userid)
        ctx.send(
            boss,
            Card(
                title=T.STEP_LATE_BOSS_TITLE.format(company=lead.company, step=step.label),
                description=T.STEP_LATE_BOSS_DESC.format(
                    rep=rep, grade=grade, step=step.label, due=T.when(step.due_at)
                ),
                fields=[
                    (T.FIELD_OWNER, rep),
                    (T.FIELD_GRADE, grade),
                    (T.FIELD_STEP, step.label),
                    (T.FIELD_DUE, T.when(step.due_at)),
                ],
            ),
        )
    return "done", f"late, escalated to {boss or 'nobody'}"


def _audit(ctx: Ctx, step: LeadSopStepRow, before, reason: str) -> None:  # noqa: ANN001
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid or LEADS_ACTOR,
        action="update",
        entity="lead_sop_step",
        entity_id=str(step.id),
        before=before,
        after=audit.snapshot(step),
        reason=reason,
    )


def _audit_lead(ctx: Ctx, lead: LeadRow, before, reason: str) -> None:  # noqa: ANN001
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid or LEADS_ACTOR,
        action="update",
        entity="lead",
        entity_id=lead.lead_id,
        before=before,
        after=audit.snapshot(lead),
        reason=reason,
    )
