"""合同签署完成 as an event: the contract is marked signed (chat 「合同签署完成 HT-001」, the 确认签约 button,
or an import with 签约状态 已签约) and at once three work orders open, one per team, each as a card with
认领 / 完成 / 受阻; an unanswered one escalates to the department head at its SLA and then to the sales
director (core/contracts/handoff.py), each rung once.

Idempotent: the signing is recorded once (contracts.signed_at, under a row lock on PostgreSQL) and the work
orders are unique per (contract, team), so a click delivered twice, a second command or a second import open
nothing new.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from core.clock import ORG_ZONE
from core.contracts import handoff as H
from core.contracts.terms import EVENT_WORDS, Refused, parse_terms
from core.roles import Role
from handlers.context import Ctx
from handlers.contracts import progress
from handlers.contracts import texts as T
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
from handlers.sop.policy import SOP_ACTOR, FireResult
from handlers.sop.questions import ask, pass_on, resume
from storage import audit, people, timers
from storage.contracts import departments, instalments, work_orders
from storage.contracts.models import DepartmentRow, WorkOrderRow
from storage.models import ContractRow, CustomerRow, TimerRow, UserRow

SLA_KIND = "work_order_sla"
IMPORT_KIND = "contract_handoff"
SIGN_PATTERN = r"^\s*(合同签署完成|签署完成|合同已签署|已签约|签约完成|确认签约)\s*[:：#]?\s*\S+\s*$"
_LOOKS_LIKE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_/.]*\d[A-Za-z0-9\-_/.]*")
CANCEL_WORDS = ("取消", "算了")


def _money(v) -> str:  # noqa: ANN001
    return progress._money(v)


def _at(at) -> str:  # noqa: ANN001
    local = at.astimezone(ORG_ZONE)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def contract_no_of(text: str) -> str:
    return re.sub(
        r"^\s*(合同签署完成|签署完成|合同已签署|已签约|签约完成|确认签约)\s*[:：#]?\s*", "", text
    ).strip()


# --- signing -------------------------------------------------------------------------------------------


def on_sign_command(ctx: Ctx, event: Inbound) -> object:
    said = text_of(event) or ""
    no = contract_no_of(said)
    contract = ctx.session.get(ContractRow, no)
    if contract is None:
        if not _LOOKS_LIKE_NUMBER.fullmatch(no):
            return False  # 「已签约 味源超市」: a rep's line about a visit, not a contract number
        ctx.reply(Text(content=T.NO_SUCH_CONTRACT.format(no=no[:40])))
        return None
    if not may_act(ctx, contract):
        ctx.reply(Text(content=T.NOT_YOURS.format(no=no)))
        return None
    sign(ctx, contract)
    return None


def may_act(ctx: Ctx, contract: ContractRow) -> bool:
    customer = ctx.session.get(CustomerRow, contract.customer_id)
    if customer is None or ctx.user is None:
        return False
    if ctx.user.role in (Role.SALES_DIRECTOR.value, Role.ADMIN.value):
        return True
    return ctx.userid == customer.owner_userid or ctx.userid in people.tree_above(
        ctx.session, customer.owner_userid
    ).manager_chain(customer.owner_userid)


def on_contract_button(ctx: Ctx, event: Inbound) -> object:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key, maxsplit=1)
    if len(parts) != 2:
        return False
    verb, no = parts
    contract = ctx.session.get(ContractRow, no)
    if contract is None:
        ctx.reply(Text(content=T.NO_SUCH_CONTRACT.format(no=no[:40])))
        return None
    if verb == "sign":
        if not may_act(ctx, contract):
            ctx.reply(Text(content=T.NOT_YOURS.format(no=no)))
            return None
        sign(ctx, contract)
        return None
    if not progress.may_see(ctx, contract):
        ctx.reply(Text(content=T.NOT_YOURS.format(no=no)))
        return None
    if verb == "progress":
        progress.on_refresh(ctx, event, contract)
    elif verb == "log":
        progress.on_log(ctx, contract)
    else:
        return False
    return None


def sign(ctx: Ctx, contract: ContractRow) -> list[WorkOrderRow]:
    """Record the signing once and open the three work orders; tell the signer (and the rep) either way."""
    s = ctx.session
    locked = work_orders.lock_contract(s, contract.contract_no)
    assert locked is not None
    contract = locked
    if contract.signed_at is not None:
        if ctx.user is not None:
            ctx.reply(
                Text(content=T.ALREADY_SIGNED.format(no=contract.contract_no, at=_at(contract.signed_at)))
            )
        return []
    before = audit.snapshot(contract)
    if contract.sales_status == "pending":
        contract.signed_on = ctx.now.astimezone(ORG_ZONE).date()
    contract.sales_status = "signed"
    contract.finance_status = contract.finance_status or "esigned"
    contract.signed_at = ctx.now
    contract.signed_by = ctx.userid
    audit.record(
        s,
        at=ctx.now,
        actor=ctx.userid,
        action="update",
        entity="contracts",
        entity_id=contract.contract_no,
        before=before,
        after=audit.snapshot(contract),
        reason=ctx.source,
    )
    if contract.terms:
        instalments.plan(s, contract, now=ctx.now, actor=ctx.userid, reason=ctx.source)
    items = _items(ctx, contract)
    depts = {team: departments.of_kind(s, team) for team in H.TEAMS}
    created = work_orders.open_three(
        s,
        contract.contract_no,
        now=ctx.now,
        items=items,
        depts={t: d.dept_id if d else None for t, d in depts.items()},
        actor=ctx.userid,
        reason=ctx.source,
    )
    customer = s.get(CustomerRow, contract.customer_id)
    for wo in created:
        _send_to_team(ctx, contract, customer, wo, depts[wo.team])
        timers.schedule(
            s,
            kind=SLA_KIND,
            business_key=f"wo:{wo.id}:sla1",
            subject_type="work_order",
            subject_id=str(wo.id),
            due_at=wo.due_at,
            payload={"work_order_id": wo.id, "rung": 1},
            now=ctx.now,
            actor=SOP_ACTOR,
            reason=ctx.source,
        )
    told = [
        T.SIGNED_NOW.format(
            no=contract.contract_no,
            customer=customer.name if customer else contract.customer_id,
            hours=H.SLA_HOURS[H.DELIVERY],
        )
    ]
    parsed = parse_terms(contract.terms) if contract.terms else None
    if parsed is None:
        told.append(T.TERMS_MISSING.format(no=contract.contract_no))
    elif isinstance(parsed, Refused):
        told.append(T.TERMS_REFUSED.format(words=parsed.words))
    else:
        told.append(T.TERMS_UNDERSTOOD.format(words=parsed.words))
    owner = customer.owner_userid if customer else None
    message = Text(content="\n".join(told))
    if ctx.user is not None:
        ctx.reply(message)
    if owner and owner != ctx.userid:
        ctx.send(owner, message)
    progress.push(ctx, contract)
    return created


def _items(ctx: Ctx, contract: ContractRow) -> dict[str, list[str]]:
    """What each team is handed: delivery the requirements, finance the invoicing list with the terms,
    after-sales the environment checklist."""
    finance: list[str] = []
    if not contract.terms:
        finance.append(T.FINANCE_NO_TERMS)
    else:
        parsed = parse_terms(contract.terms)
        if isinstance(parsed, Refused):
            finance.append(T.FINANCE_REFUSED.format(part=parsed.part, reason=parsed.reason))
        else:
            marks = "①②③④⑤⑥⑦⑧⑨⑩"
            for i, row in enumerate(instalments.rows_of(ctx.session, contract.contract_no)):
                if row.due_on is not None:
                    due = T.FINANCE_DUE.format(day=T.day(row.due_on, ctx.now.astimezone(ORG_ZONE).date()))
                else:
                    waiting = [EVENT_WORDS[e] for e in row.events.split("+") if e != "signed"]
                    due = T.FINANCE_DUE_LATER.format(event="、".join(waiting) or "签约")
                finance.append(
                    T.FINANCE_ITEM.format(
                        mark=marks[i] if i < len(marks) else f"{i + 1}.",
                        words=row.words,
                        amount=_money(row.amount),
                        due=due,
                    )
                )
    delivery = list(H.DELIVERY_ITEMS)
    if contract.terms:
        delivery.append(f"付款条件：{contract.terms}")
    return {H.DELIVERY: delivery, H.FINANCE: finance, H.AFTER_SALES: list(H.ENVIRONMENT_ITEMS)}


def work_order_card(ctx: Ctx, contract: ContractRow, customer: CustomerRow | None, wo: WorkOrderRow) -> Card:
    team = H.TEAM_WORDS[wo.team]
    owner = customer.owner_userid if customer else None
    status = H.STATUS_WORDS[wo.status]
    if wo.claimed_by:
        status += f"（{people.name_of(ctx.session, wo.claimed_by)}）"
    buttons = []
    if wo.status in (H.OPEN, H.CLAIMED, H.BLOCKED):
        if wo.status == H.OPEN:
            buttons.append(Button(T.WO_CLAIM, card_key(CardAction.WORK_ORDER, "claim", wo.id), 1))
        buttons.append(Button(T.WO_DONE, card_key(CardAction.WORK_ORDER, "done", wo.id), 1))
        if wo.status != H.BLOCKED:
            buttons.append(Button(T.WO_BLOCK, card_key(CardAction.WORK_ORDER, "block", wo.id), 3))
    return Card(
        title=T.WO_TITLE.format(team=team, customer=customer.name if customer else contract.customer_id),
        description=T.WO_DESC.format(no=contract.contract_no, deadline=_at(wo.due_at), hours=wo.sla_hours),
        fields=list(
            zip(
                T.WO_FIELDS,
                (
                    contract.contract_no,
                    customer.name if customer else "",
                    f"¥{_money(contract.amount)}",
                    people.name_of(ctx.session, owner),
                    f"{wo.sla_hours}小时（{_at(wo.due_at)}前）",
                    status,
                ),
                strict=True,
            )
        ),
        buttons=buttons,
    )


def _send_to_team(
    ctx: Ctx,
    contract: ContractRow,
    customer: CustomerRow | None,
    wo: WorkOrderRow,
    dept: DepartmentRow | None,
) -> None:
    team = departments.active_team(ctx.session, dept)
    if not team:
        admins = ctx.session.scalars(select(UserRow.userid).where(UserRow.role == Role.ADMIN.value)).all()
        for admin in admins:
            ctx.send(
                admin, Text(content=T.NO_TEAM.format(no=contract.contract_no, team=H.TEAM_WORDS[wo.team]))
            )
        return
    c = work_order_card(ctx, contract, customer, wo)
    items = Text(  # a card shows a short description only: the list follows as a message
        content=T.WO_ITEMS.format(
            team=H.TEAM_WORDS[wo.team],
            no=contract.contract_no,
            customer=customer.name if customer else contract.customer_id,
            work=H.WORK_WORDS[wo.team],
            items="\n".join(f"· {x}" for x in wo.items) or "· （无）",
        )
    )
    for who in team:
        ctx.send(who, c)
        ctx.send(who, items)


# --- the work order's buttons ------------------------------------------------------------------------------


def on_work_order_button(ctx: Ctx, event: Inbound) -> object:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    if len(parts) != 2 or not parts[1].isdigit():
        return False
    verb, wo_id = parts[0], int(parts[1])
    wo = work_orders.lock(ctx.session, wo_id)
    if wo is None:
        ctx.reply(Text(content=T.WO_GONE))
        return None
    dept = (
        ctx.session.get(DepartmentRow, wo.dept_id)
        if wo.dept_id
        else departments.of_kind(ctx.session, wo.team)
    )
    if ctx.userid not in departments.team_of(dept) and (
        ctx.user is None or ctx.user.role != Role.ADMIN.value
    ):
        ctx.reply(Text(content=T.WO_NOT_TEAM.format(team=H.TEAM_WORDS[wo.team])))
        return None
    if verb == "claim":
        if wo.status != H.OPEN:
            return _already(ctx, wo)
        _change(ctx, wo, status=H.CLAIMED, claimed_by=ctx.userid, claimed_at=ctx.now)
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name=T.WO_CLAIMED))
    elif verb == "done":
        if wo.status == H.DONE:
            return _already(ctx, wo)
        _change(ctx, wo, status=H.DONE, done_at=ctx.now, claimed_by=wo.claimed_by or ctx.userid)
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name=T.WO_FINISHED))
    elif verb == "block":
        if wo.status in (H.DONE, H.BLOCKED):
            return _already(ctx, wo)
        ask(
            ctx,
            DialogState.BLOCK_REASON,
            {"work_order_id": wo.id, "response_code": event.response_code},
            Text(content=T.WO_ASK_REASON),
        )
    else:
        return False
    return None


def _already(ctx: Ctx, wo: WorkOrderRow) -> None:
    who = people.name_of(ctx.session, wo.claimed_by) if wo.claimed_by else ""
    ctx.reply(Text(content=T.WO_ALREADY.format(status=H.STATUS_WORDS[wo.status], who=who or "无人认领")))


def _change(ctx: Ctx, wo: WorkOrderRow, **values: object) -> None:
    s = ctx.session
    contract = s.get(ContractRow, wo.contract_no)
    assert contract is not None
    colours = progress.colours(ctx, contract)
    before = audit.snapshot(wo)
    for k, v in values.items():
        setattr(wo, k, v)
    s.flush()
    audit.record(
        s,
        at=ctx.now,
        actor=ctx.userid,
        action="update",
        entity="work_order",
        entity_id=str(wo.id),
        before=before,
        after=audit.snapshot(wo),
        reason=ctx.source,
    )
    customer = s.get(CustomerRow, contract.customer_id)
    name = customer.name if customer else contract.customer_id
    who = people.name_of(s, ctx.userid)
    team = H.TEAM_WORDS[wo.team]
    notice = None
    if wo.status == H.BLOCKED:
        notice = T.WO_BLOCKED_NOTICE.format(
            team=team, no=contract.contract_no, customer=name, reason=wo.blocked_reason, who=who
        )
    elif wo.status == H.CLAIMED:
        notice = T.WO_CLAIMED_NOTICE.format(team=team, who=who, no=contract.contract_no, customer=name)
    elif wo.status == H.DONE:
        notice = T.WO_DONE_NOTICE.format(team=team, who=who, no=contract.contract_no, customer=name)
    recipients = progress.readers(ctx, contract)
    if wo.status == H.BLOCKED:
        dept = s.get(DepartmentRow, wo.dept_id) if wo.dept_id else None
        if dept is not None and dept.head_userid and dept.head_userid != ctx.userid:
            recipients.append(dept.head_userid)
    if notice:
        for to in recipients:
            ctx.send(to, Text(content=notice))
    progress.push_if_changed(ctx, contract, colours)


def on_block_reason(ctx: Ctx, event: Inbound) -> object:
    said = text_of(event)
    if said is None:
        return pass_on(ctx, event)
    if said in CANCEL_WORDS:
        resume(ctx)
        ctx.reply(Text(content=T.WO_REASON_CANCELLED))
        return None
    data = dict(ctx.state_data)
    resume(ctx)
    wo = work_orders.lock(ctx.session, int(data.get("work_order_id", 0)))
    if wo is None:
        ctx.reply(Text(content=T.WO_GONE))
        return None
    if wo.status in (H.DONE, H.BLOCKED):
        return _already(ctx, wo)
    _change(ctx, wo, status=H.BLOCKED, blocked_reason=said[:500], blocked_at=ctx.now)
    ctx.reply(Text(content=f"{T.WO_BLOCKED}：{said[:500]}"))
    return None


# --- the SLA ladder and the import's signing -----------------------------------------------------------------


def fire_work_order_sla(ctx: Ctx, timer: TimerRow) -> FireResult:
    s = ctx.session
    rung = int(timer.payload.get("rung", 1))
    wo = work_orders.lock(s, int(timer.payload.get("work_order_id", 0)))
    if wo is None:
        return "cancelled", "work order gone"
    contract = s.get(ContractRow, wo.contract_no)
    customer = s.get(CustomerRow, contract.customer_id) if contract else None
    if contract is None or customer is None:
        return "cancelled", "contract gone"
    dept = s.get(DepartmentRow, wo.dept_id) if wo.dept_id else departments.of_kind(s, wo.team)
    tree = people.tree_above(s, customer.owner_userid)
    director = tree.approver_for(customer.owner_userid, Role.SALES_DIRECTOR.value)
    facts = H.SlaFacts(
        status=wo.status, escalated=wo.escalated, head=dept.head_userid if dept else None, director=director
    )
    step = H.sla_step(rung, facts)
    if isinstance(step, H.NoEscalation):
        return "done", step.reason
    colours = progress.colours(ctx, contract)
    before = audit.snapshot(wo)
    wo.escalated = step.rung
    audit.record(
        s,
        at=ctx.now,
        actor=SOP_ACTOR,
        action="update",
        entity="work_order",
        entity_id=str(wo.id),
        before=before,
        after=audit.snapshot(wo),
        reason=ctx.source,
    )
    team = H.TEAM_WORDS[wo.team]
    if step.rung == 1:
        desc = T.SLA_DESC.format(
            no=contract.contract_no, team=team, hours=wo.sla_hours, deadline=_at(wo.due_at)
        )
    else:
        head = people.name_of(s, facts.head) if facts.head else "（无）"
        desc = T.SLA_DESC_DIRECTOR.format(no=contract.contract_no, team=team, head=head)
    card = work_order_card(ctx, contract, customer, wo)
    ctx.send(
        step.to,
        Card(
            title=T.SLA_TITLE.format(team=team, customer=customer.name), description=desc, fields=card.fields
        ),
    )
    if step.then_after is not None:
        timers.schedule(
            s,
            kind=SLA_KIND,
            business_key=f"wo:{wo.id}:sla2",
            subject_type="work_order",
            subject_id=str(wo.id),
            due_at=wo.due_at + step.then_after,
            payload={"work_order_id": wo.id, "rung": 2},
            now=ctx.now,
            actor=SOP_ACTOR,
            reason=ctx.source,
        )
    if step.rung == 1:  # the stage turned red: a fresh progress card, once for work orders breaching together
        together = [
            w
            for w in work_orders.of_contract(s, contract.contract_no)
            if w.id != wo.id and w.due_at == wo.due_at and w.escalated >= 1
        ]
        if not together:
            progress.push(ctx, contract)
    else:
        progress.push_if_changed(ctx, contract, colours)
    return "done", f"escalate rung {step.rung} {step.to}"


def fire_contract_handoff(ctx: Ctx, timer: TimerRow) -> FireResult:
    """An import marked the contract signed: the same signing as in chat, by the importer."""
    contract = ctx.session.get(ContractRow, timer.subject_id)
    if contract is None:
        return "cancelled", "contract gone"
    if contract.signed_at is not None:
        return "done", "already signed"
    ctx.userid = str(timer.payload.get("actor") or "system:import")
    ctx.source = f"import:{timer.id}"
    created = sign(ctx, contract)
    return "done", f"{len(created)} work orders"


def book_import_signings(session, now, *, actor: str = "system:import") -> int:  # noqa: ANN001
    """After an import: contracts it marked 已签约 that have no signing recorded yet get their hand-off at
    once, through a timer (the sweep opens the work orders and sends the cards). Returns how many."""
    nos = list(
        session.scalars(
            select(ContractRow.contract_no).where(
                ContractRow.sales_status == "signed", ContractRow.signed_at.is_(None)
            )
        )
    )
    rows = [
        dict(
            kind=IMPORT_KIND,
            business_key=f"handoff:{no}",
            subject_type="contract",
            subject_id=no,
            due_at=now,
            status="pending",
            attempts=0,
            payload={"contract_no": no, "actor": actor},
            created_at=now,
        )
        for no in nos
    ]
    return timers.insert_ignoring_duplicates(session, rows)


def after_import(session, summary, now) -> None:  # noqa: ANN001 - storage.importer.run.ImportSummary
    """The import's contract step (bot/bootstrap.py on_imported), before payments are matched: the terms of
    the contracts it brought are read into instalments (terms it could not read become warnings: nothing is
    guessed), and the contracts it marked 已签约 get their hand-off."""
    from storage.models import AuditRow

    nos = sorted(
        set(
            session.scalars(
                select(AuditRow.entity_id).where(
                    AuditRow.entity == "contracts", AuditRow.action == "import", AuditRow.at == now
                )
            )
        )
    )
    for no in nos:
        contract = session.get(ContractRow, no)
        if contract is None or not contract.terms:
            continue
        got = instalments.plan(session, contract, now=now, actor="system:import", reason="import")
        if isinstance(got, Refused):
            summary.warnings.append(f"合同{no}的付款条件没有读懂，未生成分期：「{got.part}」（{got.reason}）")
    book_import_signings(session, now)
    from handlers.contracts import won

    won.after_import(session, now)  # opportunities the import made 赢单: the 确认签约 card, once each
