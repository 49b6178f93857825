"""The nightly reconciliation (对账) as a recurring timer, and finance's chat commands:

- `reconcile_nightly` fires at RUN_AT local time: storage.contracts.reconcile.run (bank lines → instalments,
  finance views, to-dos), then the overdue alerts are re-matched (handlers.sop.payments.rematch_contracts:
  paid instalments cancel their alerts), and the finance team gets one summary with the open to-dos.
- 「对账」 (finance only) runs the same now; 「对账待办」 lists the open to-dos with their candidates.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select

from core.clock import ORG_ZONE
from handlers.context import Ctx
from handlers.messages import Inbound, Text
from handlers.recurring import book_org_run, next_daily
from handlers.sop import payments as overdue
from handlers.sop.policy import FireResult
from storage.contracts import departments
from storage.contracts import reconcile as books
from storage.contracts.models import FinanceTodoRow
from storage.models import TimerRow

KIND = "reconcile_nightly"
RUN_AT = time(1, 43)  # local; before the day's first alerts
RUN_PATTERN = r"^\s*(对账|立即对账|运行对账)\s*$"
TODO_PATTERN = r"^\s*(对账待办|对账差异待办|未匹配流水)\s*$"
TODOS_SHOWN = 5


def schedule_next(ctx: Ctx, *, after: datetime) -> TimerRow:
    day, at = next_daily(ctx, after, RUN_AT)
    return book_org_run(ctx, kind=KIND, day=day, at=at, actor=books.ACTOR)


def _run(ctx: Ctx) -> books.Summary:
    today = ctx.now.astimezone(ORG_ZONE).date()
    summary = books.run(ctx.session, now=ctx.now, today=today, reason=ctx.source)
    overdue.rematch_contracts(ctx.session, ctx.now)
    return summary


def _finance_team(ctx: Ctx) -> list[str]:
    team = departments.active_team(ctx.session, departments.of_kind(ctx.session, "finance"))
    if team:
        return team
    from storage import people

    return people.whole_tree(ctx.session).with_role("finance_director")


def summary_text(ctx: Ctx, s: books.Summary) -> str:
    head = (
        f"对账完成：待匹配流水{s.lines}笔，匹配{s.allocated}项共¥{s.amount:,.2f}，"
        f"{s.instalments_paid}期款项已到账；{s.unmatched}笔流水未匹配（待办）。"
    )
    return "\n".join([head, *todo_lines(ctx)])


def todo_lines(ctx: Ctx) -> list[str]:
    rows = ctx.session.scalars(
        select(FinanceTodoRow)
        .where(FinanceTodoRow.status == "open")
        .order_by(FinanceTodoRow.created_at, FinanceTodoRow.id)
        .limit(TODOS_SHOWN + 1)
    ).all()
    out = []
    for t in rows[:TODOS_SHOWN]:
        p = t.payload
        if t.kind == "unmatched_payment":
            cands = "、".join(
                f"{c['contract_no']}（{c['customer']}，未付¥{float(c['open']):,.2f}）"
                for c in p.get("candidates", [])
            )
            out.append(
                f"· 流水{p['txn_id']} {p.get('payer') or '（无付款方）'} ¥{float(p['left']):,.2f}：{p.get('why')}"
                + (f"；可能是：{cands}" if cands else "")
            )
        else:
            out.append(f"· 合同{t.ref}金额修改申请：¥{p.get('from')} → ¥{p.get('to')}（{t.created_by}）")
    if len(rows) > TODOS_SHOWN:
        out.append("……更多待办请回复「对账待办」或在看板查看")
    return out


def fire_reconcile_nightly(ctx: Ctx, timer: TimerRow) -> FireResult:
    s = _run(ctx)
    text = Text(content=summary_text(ctx, s))
    for who in _finance_team(ctx):
        ctx.send(who, text)
    schedule_next(ctx, after=ctx.now)
    return "done", f"allocated {s.allocated}, unmatched {s.unmatched}"


def on_run(ctx: Ctx, event: Inbound) -> object:
    if not departments.is_finance(ctx.session, ctx.userid):
        ctx.reply(Text(content="只有财务可以运行对账。"))
        return None
    ctx.reply(Text(content=summary_text(ctx, _run(ctx))))
    return None


def on_todos(ctx: Ctx, event: Inbound) -> object:
    if not departments.is_finance(ctx.session, ctx.userid):
        ctx.reply(Text(content="对账待办只对财务开放。"))
        return None
    lines = todo_lines(ctx)
    ctx.reply(Text(content="\n".join(["对账待办：", *lines]) if lines else "没有待处理的对账待办。"))
    return None
