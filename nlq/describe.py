"""How a QuerySpec was read, in Chinese words (the answer's `understood`), with every period made concrete."""

from __future__ import annotations

from datetime import datetime

from nlq.spec import Period, QuerySpec, TouchCondition, default_list_order, effective_status
from nlq.timewords import resolve, span_words
from nlq.vocab import Vocab

GROUP_WORDS = {
    "region": "大区",
    "city": "城市",
    "channel": "渠道",
    "rep": "业务员",
    "tag": "需求标签",
    "category": "品类",
    "stage": "商机阶段",
    "team": "主管团队",
    "week": "周",
    "month": "月",
}
STAGE_WORDS = {
    "need_confirmed": "需求确认",
    "quoted": "方案报价",
    "negotiating": "商务谈判",
    "won": "赢单",
    "lost": "输单",
}
RANK_WORDS = {
    "nps": "NPS",
    "sales": "销售额",
    "order_count": "下单次数",
    "visit_count": "拜访次数",
    "last_touch": "最后一次跟进时间",
    "last_visit": "最后一次拜访时间",
    "ticket_count": "工单数",
    "received": "回款金额",
    "outstanding": "欠款（未回款）金额",
    "overdue_amount": "逾期未回款金额",
    "overdue_days": "逾期天数",
    "contract_amount": "合同金额",
    "tag_visits": "带该标签的拜访次数",
    "change": "变化量",
    "change_rate": "变化率",
}
TOTAL_WORDS = {
    "sales": "下单金额",
    "order_count": "下单次数",
    "visit_count": "拜访次数",
    "ticket_count": "工单数",
    "timeout_tickets": "服务响应超时的工单数",
    "outstanding": "欠款（未回款）",
    "overdue_amount": "逾期未回款金额",
    "contract_amount": "合同金额",
    "received": "回款金额",
}
OP_WORDS = {">": "超过", ">=": "不少于", "<": "少于", "<=": "不超过", "=": "等于"}
FIGURE_WORDS = {
    ("customers", "count"): "客户数",
    ("customers", "freshness"): "客户信息鲜度（近30天有跟进的正常客户 ÷ 正常客户）",
    ("visits", "count"): "拜访次数",
    ("visits", "complete_count"): "完整拜访次数（在门店定位、3张以上照片、至少1个标签）",
    ("visits", "complete_rate"): "拜访完整率（完整拜访 ÷ 拜访）",
    ("orders", "sales"): "销售额（订单金额合计）",
    ("orders", "count"): "下单次数",
    ("opportunities", "count"): "商机数",
    ("opportunities", "funnel_rate"): "商机转化漏斗完整率（到达方案报价及以后的商机 ÷ 全部商机）",
    ("tickets", "count"): "工单数",
    ("contracts", "count"): "回款逾期的合同数",
    ("contracts", "outstanding"): "回款逾期合同的未回款金额",
    ("customers", "new_count"): "新客户数（建档日期在期内）",
    ("customers", "lost_count"): "流失客户数（流失日期在期内）",
    ("visits", "distinct_customers"): "拜访过的客户数（去重的门店数，不是拜访次数）",
    ("visits", "abnormal_count"): "异常签到次数（签到位置距门店超过300米）",
    ("orders", "avg_order_value"): "客单价（销售额 ÷ 订单数）",
    ("opportunities", "win_rate"): "赢单率（赢单 ÷（赢单+输单））",
    ("contracts", "amount"): "合同金额（签约额）",
    ("payments", "received"): "回款金额（已匹配到合同的到账）",
    ("opportunities", "amount"): "商机金额合计",
}
ALL_CONTRACT_WORDS = {
    "count": "合同数",
    "outstanding": "欠款（合同金额减已回款，不为负）",
    "amount": "合同金额（签约额）",
}
DEFAULT_ORDER_WORDS = {
    "last_touch_at": "最后一次跟进时间从早到晚",
    "last_visit_at": "最后一次拜访时间从早到晚",
    "lost_on": "流失日期从近到远",
    "nps": "NPS从高到低",
    "overdue_amount": "逾期未回款金额从高到低",
    "timeout_tickets": "超时工单数从多到少",
    "order_count": "下单次数从多到少",
    "tag_visits:0": "带该标签的拜访次数从多到少",
}
OWN_TIME = {
    "visits": "签到",
    "orders": "下单",
    "opportunities": "进入阶段",
    "tickets": "创建",
    "contracts": "约定回款日",
    "payments": "到账",
    "customers": "建档",
}


def describe(spec: QuerySpec, *, vocab: Vocab, now: datetime) -> str:
    head = _head(spec, vocab, now)
    if not has_period(spec):
        head += "（全部时间）"
    return head


def has_period(s: QuerySpec) -> bool:
    """Whether any part of the question names a time (else the answer says 全部时间)."""
    f = s.customer
    if s.period or s.group_by in ("week", "month") or f.lost_period or f.created_period:
        return True
    if s.ranking is not None and s.ranking.period is not None:
        return True
    parts = [*f.tags, *f.orders, *f.touches, *f.totals, f.ticket_timeout, f.overdue]
    return any(getattr(x, "period", None) is not None for x in parts if x is not None)


def _head(spec: QuerySpec, vocab: Vocab, now: datetime) -> str:
    d = _Describer(vocab, now)
    s = spec
    conds = d.conditions(s)
    status = effective_status(s)
    who = {"active": "客户（不含流失）", "lost": "流失客户", None: "全部客户（含流失）"}[status]
    if s.customer.lost_period is not None:
        who = "客户"
    if s.overview:
        own = [d.label(s.period)] if s.period else []
        scope = "、".join(own + conds)
        return f"{scope + '的' if scope else ''}概况：拜访数、拜访完整率、客户信息鲜度（截至现在）、销售额"
    if s.entity == "customers" and s.figure == "list":
        head = f"{_join(conds)}的{who}名单" if conds else f"{who}名单"
    else:
        own = []
        if s.period is not None:
            when = "签约" if s.entity == "contracts" and s.contract_scope == "all" else OWN_TIME[s.entity]
            if s.entity == "customers":
                when = "建档" if s.figure == "new_count" else "流失"
            own.append(f"{when}在{d.label(s.period)}")
        if s.reps:
            own.append("拜访人为" + "、".join(vocab.person_label(r) for r in s.reps))
        if s.tag:
            own.append(f"带「{s.tag}」标签")
        if s.category:
            own.append(f"品类为{s.category}")
        if s.stages:
            own.append(
                ("当前阶段为" if s.stuck_days is not None else "阶段为")
                + "、".join(STAGE_WORDS[x] for x in s.stages)
            )
        if s.stuck_days is not None:
            own.append(f"进入该阶段超过{s.stuck_days}天")
        if s.timeout_only:
            own.append("服务响应超时")
        if s.unhandled_only:
            own.append("未处理（还没有响应）")
        if s.overdue_days_gt is not None:
            own.append(f"逾期超过{s.overdue_days_gt}天")
        figure = FIGURE_WORDS[(s.entity, s.figure)]
        if s.entity == "contracts" and s.contract_scope == "all":
            figure = ALL_CONTRACT_WORDS[s.figure]
        if s.entity == "customers" and s.figure == "count":
            figure = f"{who}数"
        if s.entity == "customers":
            head = ("、".join(own + conds) + "的" if own or conds else "") + figure
        else:
            head = ("、".join(own) + "的" if own else "") + figure
            if status is not None and s.customer.lost_period is None:
                conds.insert(0, {"lost": "已流失", "active": "未流失"}[status])
            if conds:
                head += "，只算" + "、".join(conds) + "的客户"
    if s.compare is not None:
        head += "，与上一个同类周期比较（环比）" if s.compare == "previous" else "，与去年同期比较（同比）"
    if s.people:
        h = s.having
        when = d.label(s.period) if s.period else "全部时间"
        rest = "、".join(conds)
        scope = f"（只算{rest}的客户）" if rest and s.entity != "visits" else (f"（{rest}）" if rest else "")
        if s.entity == "visits" and s.figure == "count" and h is not None and (h.op, h.value) == ("<", 1):
            return f"{when}没有签到（没有拜访）的业务员{scope}"
        if s.entity == "visits" and s.figure == "count" and h is not None and (h.op, h.value) == (">", 0):
            return f"{when}有签到（拜访）的业务员{scope}"
        head += "，按业务员列出"
        if h is not None:
            value = f"{h.value:.0%}" if s.is_rate and h.value <= 1 else _num(h.value)
            head += f"（只列这个数{OP_WORDS[h.op]}{value}的业务员）"
    elif s.group_by in ("week", "month"):
        n = s.buckets or (8 if s.group_by == "week" else 6)
        head += f"，按{'周（周一开始）' if s.group_by == 'week' else '月'}看最近{n}{'周' if s.group_by == 'week' else '个月'}的走势"
    elif s.group_by:
        head += f"，按{GROUP_WORDS[s.group_by]}分组"
    if s.ranking is not None:
        by = "统计值" if s.ranking.by == "figure" else RANK_WORDS[s.ranking.by]
        if s.ranking.by == "tag_visits" and s.ranking.tag:
            by = f"带「{s.ranking.tag}」标签的拜访次数"
        if s.ranking.by in ("last_touch", "last_visit"):
            direction = "从早到晚（从未有过的排最前）" if not s.ranking.descending else "从晚到早"
        else:
            direction = "从高到低" if s.ranking.descending else "从低到高"
        when = f"（{d.label(s.ranking.period)}）" if s.ranking.period else ""
        head += f"，按{by}{when}{direction}排"
    if s.limit:
        if s.kind == "list" and s.ranking is None:
            by = default_list_order(s.customer, status)
            words = DEFAULT_ORDER_WORDS.get(by or "", "客户编号")
            if by == "nps" and all(n.op in ("<", "<=") for n in s.customer.nps):
                words = "NPS从低到高"
            head += f"，按{words}排"
        head += f"，取前{s.limit}"
    return head


def _num(v: float) -> str:
    if v == int(v):
        return str(int(v))
    return f"{v:g}"


def _join(parts: list[str]) -> str:
    return "、".join(parts)


class _Describer:
    def __init__(self, vocab: Vocab, now: datetime):
        self.vocab = vocab
        self.now = now

    def label(self, p: Period) -> str:
        return resolve(p, self.now).label

    def conditions(self, s: QuerySpec) -> list[str]:
        f = s.customer
        out: list[str] = []
        if f.lost_period is not None:
            out.append(f"{self.label(f.lost_period)}流失")
        out += [f"NPS{n.op}{n.value}" for n in f.nps]
        if f.regions:
            out.append("大区为" + "、".join(f.regions))
        if f.cities:
            out.append("城市为" + "、".join(f.cities))
        if f.channels:
            out.append("渠道为" + "、".join(f.channels))
        if f.owners:
            out.append("负责人为" + "、".join(self.vocab.person_label(u) for u in f.owners))
        if f.under:
            out.append("负责人在" + "、".join(self.vocab.person_label(u) for u in f.under) + "手下")
        if f.created_period is not None:
            out.append(f"建档在{self.label(f.created_period)}")
        for t in f.totals:
            when = self.label(t.period) if t.period else "全部时间"
            what = f"带「{t.tag}」标签的拜访次数" if t.tag else TOTAL_WORDS[t.measure]
            if t.category:
                what = f"{t.category}的{what}"
            out.append(f"{when}{what}{OP_WORDS[t.op]}{_num(t.value)}")
        if f.unhandled_ticket:
            out.append("有未处理的工单")
        if f.stuck is not None:
            out.append(f"有商机卡在{STAGE_WORDS[f.stuck.stage]}阶段超过{f.stuck.days}天")
        for t in f.tags:
            when = f"{self.label(t.period)}" if t.period else ""
            out.append(f"{when}拜访中提过「{t.tag}」")
        for o in f.orders:
            when = self.label(o.period) if o.period else ""
            what = f"{o.category}品类" if o.category else ""
            out.append(f"{when}{'下过单' if o.present else '没有下单'}{'（' + what + '）' if what else ''}")
        out += [self.touch(t) for t in f.touches]
        if f.ticket_timeout is not None:
            when = f"（{self.label(f.ticket_timeout.period)}创建）" if f.ticket_timeout.period else ""
            out.append(f"有服务响应超时的工单{when}")
        if f.overdue is not None:
            when = f"（约定回款日在{self.label(f.overdue.period)}）" if f.overdue.period else ""
            days = f"（逾期超过{f.overdue.days_gt}天）" if f.overdue.days_gt is not None else ""
            out.append(f"有回款逾期的合同{when}{days}")
        return out

    def touch(self, t: TouchCondition) -> str:
        what = "拜访" if t.kind == "visit" else "跟进"
        how = "（只算拜访" if t.kind == "visit" else "（拜访或互动"
        p = t.period
        if not t.present and p.kind == "rolling" and p.span is not None:
            more = "以上" if t.age_inclusive else ""
            lead = "" if t.age_inclusive else "超过"
            return f"{lead}{span_words(p.span)}{more}没有{what}{how}，从未{what}过的也算）"
        return f"{self.label(p)}{'有' if t.present else '没有'}{what}{how}）"
