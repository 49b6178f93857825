"""「区域系数 1.1 竞品退出」: a regional manager calibrates their region (users.region) for a period with a reason
(竞争, 动销 …); the sales director names the region: 「区域系数 华南 2026Q2 1.1 竞品退出」. The period is the one
typed, else the next quarter (targets are planned ahead). 0.5 … 1.5; audited (storage/targets/plan.py). The
coefficient weighs the region in the next cascade of that period (docs/targets.md § Weights and coefficients).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from core.clock import ORG_ZONE
from core.roles import Role
from core.targets.periods import BadPeriod, parse_period, period_of
from handlers.context import Ctx
from handlers.messages import Inbound, Text, text_of
from storage.targets.plan import set_coefficient

PATTERN = r"^\s*区域系数"
_PARSE = re.compile(
    r"^\s*区域系数\s*(?:(?P<region>[^\d\s]\S*)\s+)?(?:(?P<period>\d{4}\s*[Qq][1-4]|\d{4}-\d{1,2}|\d{4})\s+)?"
    r"(?P<value>\d+(?:\.\d+)?)\s*(?P<reason>.*)$"
)
WHO = (Role.REGIONAL_MANAGER.value, Role.SALES_DIRECTOR.value, Role.ADMIN.value)

ONLY = "只有区域经理（或销售总监）可以设定区域系数。"
USAGE = "请这样写：区域系数 [周期] 系数 理由，例如：区域系数 2026Q3 1.1 竞品退出，动销回升（销售总监需写大区：区域系数 华南 2026Q3 1.1 理由）。"
NO_REGION = "你的人员信息里没有大区，请写明：区域系数 大区 周期 系数 理由。"
DONE = "已设定 {region} {period} 区域系数 {value}（{reason}）。下一次分解 {period} 目标时按此系数计入，并写进该大区的依据。"


def on_coefficient(ctx: Ctx, event: Inbound) -> None:
    if ctx.user is None or ctx.user.role not in WHO:
        ctx.reply(Text(content=ONLY))
        return
    m = _PARSE.match(text_of(event) or "")
    if m is None or not m.group("reason").strip():
        ctx.reply(Text(content=USAGE))
        return
    region = m.group("region")
    if ctx.user.role == Role.REGIONAL_MANAGER.value:
        region = ctx.user.region  # a regional manager calibrates their own region only
    if not region:
        ctx.reply(Text(content=NO_REGION))
        return
    today = ctx.now.astimezone(ORG_ZONE).date()
    try:
        if m.group("period"):
            period = parse_period(m.group("period").replace(" ", ""))
        else:
            period = period_of("quarter", period_of("quarter", today).end)  # the next quarter
        value = Decimal(m.group("value"))
        set_coefficient(
            ctx.session,
            period=period.key,
            region=region,
            value=value,
            reason=m.group("reason").strip(" ，,。"),
            by=ctx.userid,
            now=ctx.now,
        )
    except (BadPeriod, ValueError, InvalidOperation) as e:
        ctx.reply(Text(content=str(e) if isinstance(e, BadPeriod | ValueError) else USAGE))
        return
    ctx.reply(
        Text(
            content=DONE.format(
                region=region, period=period.key, value=value, reason=m.group("reason").strip(" ，,。")
            )
        )
    )
