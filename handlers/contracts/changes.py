"""Changing a contract in chat, finance's check, milestones, and 「谁改过」:

- 「改金额 HT-001 480000」「改付款条件 HT-001 签约后30天付50%，验收后付尾款」「改回款日 HT-001 2027-01-31」: the rep
  (or anyone above them) changes a field; the trail records it (channel chat). New terms are read back in
  the parser's words, or refused (nothing changes). A verified amount is refused to sales: the change
  becomes a request to finance, and finance is told.
- 「核实金额 HT-001」: finance verifies the amount (from then on only finance changes it).
- 「到货 HT-001」「验收 HT-001 2026-12-20」: a milestone happened (today, or the date given): the instalments
  waiting for it get their due dates.
- 「谁改过 HT-001」「HT-001谁改过」: the field-level trail; 「这份合同谁改过」: of the contract whose card (progress,
  确认签约, a work order) the asker was sent last, else they are asked for the number.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from core.clock import ORG_ZONE
from core.contracts.terms import EVENT_WORDS
from core.roles import Role
from handlers.context import Ctx
from handlers.contracts import progress
from handlers.contracts import texts as T
from handlers.contracts.handoff import may_act
from handlers.messages import Inbound, Text, text_of
from storage import people
from storage.contracts import changes, departments, instalments
from storage.contracts.models import WorkOrderRow
from storage.models import ContractRow, OutboxRow

RECENT_CARDS = timedelta(days=7)

CHANGE_PATTERN = r"^\s*(改|修改)(金额|合同金额|付款条件|回款日|约定回款日|签约日期)\s*[:：]?\s*\S+"
VERIFY_PATTERN = r"^\s*(核实金额|金额核实|核对金额)\s*[:：]?\s*\S+\s*$"
MILESTONE_PATTERN = (
    r"^\s*(发货|到货|开票|安装完成|初验|验收|上线)\s*[:：]?\s*[A-Za-z0-9][\w\-/]*(\s+\d{4}-\d{2}-\d{2})?\s*$"
)
HISTORY_PATTERN = r"^\s*(这份)?(合同)?\s*\S*\s*谁改过|^\s*谁改过(合同)?\s*\S+"

_FIELDS = {
    "金额": "amount",
    "合同金额": "amount",
    "付款条件": "terms",
    "回款日": "due_on",
    "约定回款日": "due_on",
    "签约日期": "signed_on",
}
_MILESTONES = {
    "发货": "shipped",
    "到货": "delivered",
    "开票": "invoiced",
    "安装完成": "installed",
    "初验": "initial_accepted",
    "验收": "accepted",
    "上线": "live",
}


def _contract(ctx: Ctx, no: str) -> ContractRow | None:
    contract = ctx.session.get(ContractRow, no)
    if contract is None:
        ctx.reply(Text(content=f"没有找到合同「{no[:40]}」。"))
    return contract


def on_change(ctx: Ctx, event: Inbound) -> object:
    said = text_of(event) or ""
    m = re.match(
        r"^\s*(?:改|修改)(金额|合同金额|付款条件|回款日|约定回款日|签约日期)\s*[:：]?\s*(\S+)\s*(.*)$",
        said,
        re.S,
    )
    if m is None:
        return False
    field, no, value = _FIELDS[m.group(1)], m.group(2), m.group(3).strip()
    contract = _contract(ctx, no)
    if contract is None:
        return None
    finance = departments.is_finance(ctx.session, ctx.userid)
    if not (finance or may_act(ctx, contract)):
        ctx.reply(Text(content=f"合同{no}不在你负责的客户范围内，无法修改。"))
        return None
    if not value:
        ctx.reply(Text(content=f"请写上新的{changes.FIELD_WORDS[field]}，例如：改{m.group(1)} {no} …"))
        return None
    try:
        typed = changes.parse_value(field, value)
    except ValueError as exc:
        ctx.reply(Text(content=f"没有读懂「{value[:40]}」：{exc}"))
        return None
    before = progress.colours(ctx, contract) if contract.signed_at else None
    try:
        changes.change(ctx.session, contract, field, typed, actor=ctx.userid, now=ctx.now, reason=ctx.source)
    except changes.AmountLocked:
        todo = changes.request_change(ctx.session, contract, field, typed, actor=ctx.userid, now=ctx.now)
        ctx.reply(
            Text(
                content=f"合同{no}的金额已由财务核实，不能直接修改。已向财务提交修改申请（¥{contract.amount:,.2f} → ¥{typed:,.2f}），财务确认后生效。"
            )
        )
        for who in _finance_people(ctx):
            ctx.send(
                who,
                Text(
                    content=f"金额修改申请#{todo.id}：{people.name_of(ctx.session, ctx.userid)}申请把合同{no}的金额从¥{contract.amount:,.2f}改为¥{typed:,.2f}。核实后回复「改金额 {no} {typed}」。"
                ),
            )
        return None
    except changes.TermsUnread as exc:
        ctx.reply(Text(content=f"付款条件没有修改。{exc.refused.words}"))
        return None
    word = changes.FIELD_WORDS[field]
    reply = f"已修改合同{no}的{word}。"
    if field == "terms":
        from core.contracts.terms import Understood, parse_terms

        parsed = parse_terms(contract.terms)
        if isinstance(parsed, Understood):
            reply += parsed.words
    ctx.reply(Text(content=reply))
    if before is not None:
        progress.push_if_changed(ctx, contract, before)
    return None


def _finance_people(ctx: Ctx) -> list[str]:
    dept = departments.of_kind(ctx.session, "finance")
    team = departments.active_team(ctx.session, dept)
    if team:
        return team[:1] + [u for u in team[1:]]
    tree = people.whole_tree(ctx.session)
    return tree.with_role(Role.FINANCE_DIRECTOR.value)


def on_verify(ctx: Ctx, event: Inbound) -> object:
    said = text_of(event) or ""
    no = re.sub(r"^\s*(核实金额|金额核实|核对金额)\s*[:：]?\s*", "", said).strip()
    contract = _contract(ctx, no)
    if contract is None:
        return None
    if not changes.verify_amount(ctx.session, contract, actor=ctx.userid, now=ctx.now, reason=ctx.source):
        ctx.reply(Text(content="只有财务可以核实合同金额。"))
        return None
    ctx.reply(
        Text(
            content=f"已核实合同{no}的金额¥{contract.amount:,.2f}。此后业务员不能直接修改金额（改动需向财务申请）。"
        )
    )
    return None


def on_milestone(ctx: Ctx, event: Inbound) -> object:
    said = text_of(event) or ""
    m = re.match(
        r"^\s*(发货|到货|开票|安装完成|初验|验收|上线)\s*[:：]?\s*(\S+?)(?:\s+(\d{4}-\d{2}-\d{2}))?\s*$", said
    )
    if m is None:
        return False
    contract = ctx.session.get(ContractRow, m.group(2))
    if contract is None:
        return False  # not a contract number: perhaps a rep's line, for the next handler
    if not (may_act(ctx, contract) or departments.kinds_of(ctx.session, ctx.userid)):
        ctx.reply(Text(content=f"合同{contract.contract_no}不在你负责的客户范围内，无法操作。"))
        return None
    day = date.fromisoformat(m.group(3)) if m.group(3) else ctx.now.astimezone(ORG_ZONE).date()
    event_key = _MILESTONES[m.group(1)]
    before = progress.colours(ctx, contract) if contract.signed_at else None
    instalments.record_milestone(
        ctx.session, contract, event_key, day, now=ctx.now, actor=ctx.userid, reason=ctx.source
    )
    dated = [
        r
        for r in instalments.rows_of(ctx.session, contract.contract_no)
        if event_key in r.events.split("+") and r.due_on
    ]
    lines = [f"已记录：合同{contract.contract_no}{EVENT_WORDS[event_key]}（{day.month}月{day.day}日）。"]
    today = ctx.now.astimezone(ORG_ZONE).date()
    lines += [f"· {r.words}：¥{r.amount:,.2f}，应付日{T.day(r.due_on, today)}" for r in dated if r.due_on]
    ctx.reply(Text(content="\n".join(lines)))
    if before is not None:
        progress.push_if_changed(ctx, contract, before)
    return None


def on_history(ctx: Ctx, event: Inbound) -> object:
    said = text_of(event) or ""
    m = re.search(r"([A-Za-z0-9][\w\-/]*)", said.replace("谁改过", " "))
    if m is None:
        if not re.search(r"(这份|这个|该)合同|合同", said):
            return False
        no = last_contract_shown(ctx)  # 「这份合同谁改过」: the contract of the last card sent to the asker
        if no is None:
            ctx.reply(Text(content=T.WHICH_CONTRACT))
            return None
        contract = ctx.session.get(ContractRow, no)
    else:
        contract = ctx.session.get(ContractRow, m.group(1))
    if contract is None:
        return False
    if not (progress.may_see(ctx, contract) or departments.is_finance(ctx.session, ctx.userid)):
        ctx.reply(Text(content=f"合同{contract.contract_no}不在你可以查看的范围内。"))
        return None
    trail = changes.history(ctx.session, contract.contract_no)
    if not trail:
        ctx.reply(Text(content=f"合同{contract.contract_no}没有修改记录。"))
        return None
    names = people.names(ctx.session, {c.actor for c in trail})
    lines = [f"合同{contract.contract_no}的修改记录（共{len(trail)}项）："]
    for c in trail[-20:]:
        local = c.at.astimezone(ORG_ZONE)
        lines.append(
            f"{local:%m-%d %H:%M} {_who(c.actor, names)}（{changes.CHANNEL_WORDS[c.channel]}）"
            f"{changes.FIELD_WORDS[c.field]}：{_shown(c.before, c.field)} → {_shown(c.after, c.field)}"
        )
    ctx.reply(Text(content="\n".join(lines)))
    return None


def last_contract_shown(ctx: Ctx) -> str | None:
    """The contract of the latest contract card (progress, 确认签约, a work order) sent to the asker in the last
    `RECENT_CARDS` days: what 「这份合同」 points at in chat."""
    since = ctx.now - RECENT_CARDS
    rows = ctx.session.scalars(
        select(OutboxRow.message)
        .where(OutboxRow.recipient == ctx.userid, OutboxRow.kind == "card", OutboxRow.created_at >= since)
        .order_by(OutboxRow.id.desc())
        .limit(50)
    )
    for message in rows:
        for button in (message or {}).get("buttons") or ():
            key = str(button.get("key") or "")
            hit = re.fullmatch(r"contract:(?:progress|log|sign):(.+)", key)
            if hit:
                return hit.group(1)
            wo = re.fullmatch(r"wo:\w+:(\d+)", key)
            if wo:
                row = ctx.session.get(WorkOrderRow, int(wo.group(1)))
                if row is not None:
                    return row.contract_no
    return None


def _who(actor: str, names: dict[str, str]) -> str:
    """A person's name; the assistant's own writes (system:import, system:reconcile …) as 系统."""
    return "系统" if actor.startswith("system:") else names.get(actor, actor)


# status values in words (the stored codes never reach a person)
_STATUS_WORDS = {"sales_status": T.SALES_STATUS, "finance_status": T.FINANCE_STATUS}


def _shown(v: object, field: str = "") -> str:
    if v is None or v == "":
        return "（空）"
    words = _STATUS_WORDS.get(field)
    if words is not None and isinstance(v, str):
        return words.get(v, v)
    if isinstance(v, dict):
        return "；".join(f"{EVENT_WORDS.get(k, k)}{x}" for k, x in v.items())
    text = str(v)
    return text if len(text) <= 40 else text[:40] + "…"
