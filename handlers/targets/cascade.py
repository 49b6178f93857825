"""「目标分解 2026Q2 120000000」: the sales director (or an admin) previews a cascade in chat — the split by
region with each region's rationale on one card — and confirms it with a button (the same as
`python main.py targets cascade --apply`). The button carries a fingerprint of the preview: when the data changed
between the preview and the click, nothing is written and a fresh preview comes instead.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal, InvalidOperation

from core.clock import ORG_ZONE
from core.markup import escape_md
from core.roles import Role
from core.targets.cascade import Plan
from core.targets.periods import BadPeriod, parse_period
from core.targets.split import share, yuan
from handlers.context import Ctx
from handlers.messages import (
    Button,
    Card,
    CardAction,
    CardClick,
    CardUpdate,
    Inbound,
    Markdown,
    Text,
    card_key,
    parse_card_key,
    text_of,
)
from storage.targets.plan import NothingToSplit, apply, preview

PATTERN = r"^\s*(目标分解|分解目标)"
_PARSE = re.compile(r"^\s*(?:目标分解|分解目标)\s*(\S+)\s+([\d,，.]+)\s*(亿|万)?\s*(?:元)?\s*$")
WHO = (Role.SALES_DIRECTOR.value, Role.ADMIN.value)

ONLY_DIRECTOR = "只有销售总监（或管理员）可以分解集团目标。"
USAGE = "请这样写：目标分解 周期 金额（元），例如：目标分解 2026Q2 120000000，或 目标分解 2026Q2 1.2亿。"
CHANGED = "数据在预览后有变化（订单、客户或区域系数），未写入。这是新的预览，请重新确认。"
APPLIED = "已确认 {period} 目标分解：写入 {n} 个目标（集团、{regions}个大区、各城市、每家门店和每位业务员），每一级之和等于上级，均有审计记录。"
CANCELLED = "已取消，这次分解没有写入。"


def _amount_fen(number: str, unit: str | None) -> int:
    d = Decimal(number.replace(",", "").replace("，", ""))
    d *= {"亿": 100_000_000, "万": 10_000}.get(unit or "", 1)
    if not d.is_finite() or d <= 0:
        raise InvalidOperation
    return int((d * 100).to_integral_value())


def fingerprint(plan: Plan) -> str:
    parts = [plan.period.key, str(plan.amount_fen)]
    parts += [f"{n.id}={n.target_fen}" for n in plan.of_level("region") + plan.of_level("city")]
    parts.append(str(plan.store_count))
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def _preview(ctx: Ctx, period_key: str, amount_fen: int) -> None:
    period = parse_period(period_key)
    today = ctx.now.astimezone(ORG_ZONE).date()
    try:
        plan = preview(ctx.session, period, amount_fen, today=today)
    except NothingToSplit as e:
        ctx.reply(Text(content=str(e)))
        return
    org = plan.org
    lines = [
        f"**{period.label}（{period.key}）目标分解预览**",
        f"集团：{yuan(org.target_fen)}；{escape_md(org.rationale)}",
    ]
    for rid in org.children:
        r = plan.node(rid)
        lines.append(
            f"- {escape_md(r.name)}：{yuan(r.target_fen)}（{share(r.target_fen, org.target_fen)}）｜{escape_md(r.rationale)}"
        )
    lines.append(
        f"门店 {plan.store_count} 家、业务员 {len(plan.of_level('rep'))} 人；每一级之和都等于上级目标（精确到分）"
    )
    ctx.reply(Markdown(content="\n".join(lines)))
    fp = fingerprint(plan)
    fields = [(plan.node(rid).name, yuan(plan.node(rid).target_fen)) for rid in org.children[:6]]
    ctx.reply(
        Card(
            title=f"确认 {period.key} 目标分解",
            description=f"集团目标{yuan(amount_fen)}，分解到{len(org.children)}个大区、{plan.store_count}家门店",
            fields=fields,
            buttons=[
                Button("确认分解", card_key(CardAction.TARGET, "ok", period.key, amount_fen, fp), 1),
                Button("取消", card_key(CardAction.TARGET, "no", period.key, amount_fen, fp), 2),
            ],
            task_id=f"target-{period.key}-{fp}",
        )
    )


def on_cascade(ctx: Ctx, event: Inbound) -> None:
    if ctx.user is None or ctx.user.role not in WHO:
        ctx.reply(Text(content=ONLY_DIRECTOR))
        return
    m = _PARSE.match(text_of(event) or "")
    if m is None:
        ctx.reply(Text(content=USAGE))
        return
    try:
        period = parse_period(m.group(1))
        amount = _amount_fen(m.group(2), m.group(3))
    except BadPeriod as e:
        ctx.reply(Text(content=str(e)))
        return
    except (InvalidOperation, ValueError):
        ctx.reply(Text(content=USAGE))
        return
    _preview(ctx, period.key, amount)


def on_button(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    if len(parts) != 4:
        return False
    choice, period_key, amount, fp = parts
    if ctx.user is None or ctx.user.role not in WHO:
        ctx.reply(Text(content=ONLY_DIRECTOR))
        return None
    if choice != "ok":
        if event.response_code:
            ctx.reply(CardUpdate(response_code=event.response_code, replace_name="已取消"))
        ctx.reply(Text(content=CANCELLED))
        return None
    period = parse_period(period_key)
    plan = preview(ctx.session, period, int(amount), today=ctx.now.astimezone(ORG_ZONE).date())
    if fingerprint(plan) != fp or plan.check():
        ctx.reply(Text(content=CHANGED))
        _preview(ctx, period.key, int(amount))
        return None
    n = apply(ctx.session, plan, by=ctx.userid, now=ctx.now, reason=f"cascade {ctx.source}")
    if event.response_code:
        ctx.reply(CardUpdate(response_code=event.response_code, replace_name="已确认"))
    ctx.reply(Text(content=APPLIED.format(period=period.key, n=n, regions=len(plan.org.children))))
    return None
