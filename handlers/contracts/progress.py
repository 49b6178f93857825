"""The contract's progress card: one card per contract for the rep and their supervisor, a colour per stage
(签约, 交付, 财务, 售后, 回款), the sales and the finance view side by side, each stage's log one tap away.

WeCom updates a sent card only with the response code of a click on it, so the card is replaced in place when
its reader taps 刷新进度; when a stage changes colour (a team claims, finishes or blocks, an SLA passes) a
fresh card goes to the rep and the supervisor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import ORG_ZONE
from core.contracts import handoff as H
from core.org import scope_of
from handlers.context import Ctx
from handlers.contracts import texts as T
from handlers.messages import Button, Card, CardAction, CardClick, CardUpdate, Text, card_key
from storage import people
from storage.contracts import work_orders
from storage.contracts.instalments import rows_of
from storage.models import AuditRow, ContractRow, CustomerRow

STAGE_ORDER = ("sign", *H.TEAMS, "pay")


def _money(v: Decimal) -> str:
    return f"{Decimal(v):,.2f}"


def _at(at) -> str:  # noqa: ANN001 - an aware datetime
    local = at.astimezone(ORG_ZONE)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


@dataclass(frozen=True)
class StageView:
    """One stage of a contract's progress, as the card and the dashboard show it."""

    key: str  # sign | delivery | finance | after_sales | pay
    word: str  # 签约 / 交付 / 财务 / 售后 / 回款
    colour: str | None  # green | yellow | red; None: not started (no work order yet)
    state: str  # 客户确认签约（12月7日 10:00）, 处理中（孙工）, 到账¥0.00/¥500,000.00 …

    @property
    def mark(self) -> str:
        return H.COLOUR_MARKS[self.colour] if self.colour else "⚪"


def stages(session: Session, contract: ContractRow, now: datetime) -> list[StageView]:
    """The five stages of the contract now — the one computation behind the card and the dashboard."""
    sign_colour = H.GREEN if contract.signed_at or contract.sales_status != "pending" else H.YELLOW
    signed = T.PROGRESS_SIGNED.format(at=_at(contract.signed_at)) if contract.signed_at else "待签约"
    out = [StageView("sign", T.STAGE_SIGN, sign_colour, signed)]
    orders = {wo.team: wo for wo in work_orders.of_contract(session, contract.contract_no)}
    for team in H.TEAMS:
        wo = orders.get(team)
        if wo is None:
            out.append(StageView(team, H.TEAM_WORDS[team], None, T.PROGRESS_NOT_STARTED))
            continue
        who = people.name_of(session, wo.claimed_by) if wo.claimed_by else ""
        deadline = _at(wo.due_at)
        if wo.status == H.OPEN and now >= wo.due_at:
            state = T.PROGRESS_OVERDUE.format(deadline=deadline)
        else:
            state = T.PROGRESS_WO[wo.status].format(
                deadline=deadline, who=who, reason=wo.blocked_reason or ""
            )
        out.append(StageView(team, H.TEAM_WORDS[team], H.stage_colour(wo.status, wo.due_at, now), state))
    paid, late, all_paid, rows = _pay(session, contract, now)
    if rows:
        pay_colour = H.payment_colour(late > 0, all_paid)
    elif contract.finance_status == "received":
        pay_colour = H.GREEN
    else:
        pay_colour = H.RED if _legacy_late(contract, now) else H.YELLOW
    pay = T.PROGRESS_PAY.format(paid=_money(paid), amount=_money(contract.amount))
    if late > 0:
        pay += T.PROGRESS_PAY_LATE.format(late=_money(late))
    out.append(StageView("pay", T.STAGE_PAY, pay_colour, pay))
    return out


def colours(ctx: Ctx, contract: ContractRow) -> dict[str, str]:
    """Stage → green | yellow | red, now (stages without a work order left out)."""
    return {v.key: v.colour for v in stages(ctx.session, contract, ctx.now) if v.colour}


def _pay(session: Session, contract: ContractRow, now: datetime) -> tuple[Decimal, Decimal, bool, int]:
    """(paid, late, all paid, how many instalments) from the instalments."""
    today = now.astimezone(ORG_ZONE).date()
    rows = rows_of(session, contract.contract_no)
    paid = sum((Decimal(r.paid) for r in rows), Decimal(0))
    late = sum(
        (
            Decimal(r.amount) - Decimal(r.paid)
            for r in rows
            if r.due_on is not None and r.due_on < today and r.status != "paid"
        ),
        Decimal(0),
    )
    return paid, late, bool(rows) and all(r.status == "paid" for r in rows), len(rows)


def _legacy_late(contract: ContractRow, now: datetime) -> bool:
    today: date = now.astimezone(ORG_ZONE).date()
    return contract.due_on < today and contract.finance_status != "received"


def card(ctx: Ctx, contract: ContractRow, *, task_id: str = "") -> Card:
    s = ctx.session
    customer = s.get(CustomerRow, contract.customer_id)
    head = T.PROGRESS_HEAD.format(
        no=contract.contract_no,
        amount=_money(contract.amount),
        sales=T.SALES_STATUS.get(contract.sales_status, contract.sales_status),
        finance=T.FINANCE_STATUS.get(contract.finance_status, contract.finance_status),
    )
    # WeCom shows at most six fields of about 20 characters each; a team without a work order is left out
    fields = [(v.word, f"{v.mark}{v.state}") for v in stages(s, contract, ctx.now) if v.colour]
    return Card(
        title=T.PROGRESS_TITLE.format(customer=customer.name if customer else contract.customer_id),
        description=head,
        fields=fields,
        buttons=[
            Button(T.PROGRESS_REFRESH, card_key(CardAction.CONTRACT, "progress", contract.contract_no), 2),
            Button(T.PROGRESS_LOG, card_key(CardAction.CONTRACT, "log", contract.contract_no), 2),
        ],
        task_id=task_id,
    )


def readers(ctx: Ctx, contract: ContractRow) -> list[str]:
    """The rep who owns the customer and their direct supervisor."""
    customer = ctx.session.get(CustomerRow, contract.customer_id)
    if customer is None:
        return []
    out = [customer.owner_userid]
    tree = people.tree_above(ctx.session, customer.owner_userid)
    sup = tree.manager_of(customer.owner_userid)
    if sup:
        out.append(sup)
    return out


def push(ctx: Ctx, contract: ContractRow) -> None:
    """A fresh progress card to the rep and the supervisor."""
    c = card(ctx, contract)
    for who in readers(ctx, contract):
        ctx.send(who, c)


def push_if_changed(ctx: Ctx, contract: ContractRow, before: dict[str, str]) -> None:
    if colours(ctx, contract) != before:
        push(ctx, contract)


def may_see(ctx: Ctx, contract: ContractRow) -> bool:
    """The rep, anyone above them, the org-wide roles, and the teams the contract was handed to."""
    customer = ctx.session.get(CustomerRow, contract.customer_id)
    if customer is None:
        return False
    tree = people.whole_tree(ctx.session)
    if ctx.userid in tree.everyone() and scope_of(tree, ctx.userid).sees_owner(customer.owner_userid):
        return True
    from storage.contracts.departments import active_team, of_kind

    return any(ctx.userid in active_team(ctx.session, of_kind(ctx.session, team)) for team in H.TEAMS)


def on_refresh(ctx: Ctx, event: CardClick, contract: ContractRow) -> None:
    ctx.reply(CardUpdate(response_code=event.response_code, card=card(ctx, contract, task_id=event.task_id)))


def log_lines(session: Session, contract: ContractRow, stage: str | None = None) -> list[str]:
    """Every audited change of the contract and its work orders, oldest first; of one stage: `sign` the
    contract's own rows, a team its work order's, `pay` the instalments and what was paid."""
    s = session
    if stage == "pay":
        return _pay_lines(s, contract)
    orders = work_orders.of_contract(s, contract.contract_no)
    wo_ids = [str(w.id) for w in orders if stage in (None, w.team)]
    cond = (AuditRow.entity == "work_order") & AuditRow.entity_id.in_(wo_ids or [""])
    if stage in (None, "sign"):
        cond = cond | ((AuditRow.entity == "contracts") & (AuditRow.entity_id == contract.contract_no))
    rows = s.scalars(select(AuditRow).where(cond).order_by(AuditRow.at, AuditRow.id)).all()
    names = people.names(s, {r.actor for r in rows})
    out = []
    for r in rows:
        what = _what(r)
        if what:
            out.append(T.LOG_LINE.format(at=_at(r.at), who=names.get(r.actor, r.actor), what=what))
    return out


def _pay_lines(session: Session, contract: ContractRow) -> list[str]:
    out = []
    for r in rows_of(session, contract.contract_no):
        due = f"{r.due_on.isoformat()}到期" if r.due_on else "待定"
        paid = f"，{r.paid_on.isoformat()}付清" if r.status == "paid" and r.paid_on else ""
        out.append(
            T.PAY_LINE.format(words=r.words, amount=_money(r.amount), paid=_money(r.paid), due=due) + paid
        )
    return out


def _what(r: AuditRow) -> str:
    after = r.after or {}
    if r.entity == "work_order":
        team = H.TEAM_WORDS.get(str(after.get("team")), "")
        if r.action == "create":
            return f"{team}工单已创建"
        status = H.STATUS_WORDS.get(str(after.get("status")), "")
        if after.get("escalated") and (r.before or {}).get("escalated") != after.get("escalated"):
            return f"{team}工单超时，已升级（第{after['escalated']}级）"
        extra = (
            f"：{after['blocked_reason']}"
            if after.get("status") == "blocked" and after.get("blocked_reason")
            else ""
        )
        return f"{team}工单{status}{extra}"
    before = r.before or {}
    changed = [k for k in after if before.get(k) != after.get(k)] if before else []
    if r.action == "import" and not before:
        return "导入合同"
    return "修改" + "、".join(changed) if changed else ""


def on_log(ctx: Ctx, contract: ContractRow) -> None:
    lines = log_lines(ctx.session, contract)
    if not lines:
        ctx.reply(Text(content=T.LOG_EMPTY.format(no=contract.contract_no)))
        return
    ctx.reply(Text(content="\n".join([T.LOG_TITLE.format(no=contract.contract_no), *lines[-30:]])))
