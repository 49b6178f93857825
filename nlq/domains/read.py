"""Read a question about targets, leads, hand-offs or the finance view into a QuerySpec.

The domain's own words are taken out first (目标完成率, A类, 公海, 超过72小时没跟进, 交付工单, 流水匹配中 …, the
table below); what is left — the period, the people, regions and cities, 各X / 每个X, 排名 / 前N / 最低的N个 — is
read by the v2 parser itself (nlq.parse) with 销售额 standing where the domain's figure word stood, so every time
word, name, group and ranking reads exactly as it does for the other figures, with the same refusals for what it
cannot read. The domain's figure, filters and shape then replace the stand-in's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from nlq.normalize import normalize
from nlq.parse import Refused, parse, protected_words
from nlq.spec import CustomerFilter, HandoffFilter, LeadFilter, Period, QuerySpec, Ranking
from nlq.timewords import resolve
from nlq.vocab import Vocab

STAND_IN = "销售额"
MARK = "\x01"

# which domain a question is about (the first that matches), on normalised (lower-case) text
SUBJECTS = (
    (
        "finance",
        r"流水匹配|已到账[^,;。?]{0,4}合同|合同[^,;。?]{0,4}已到账|电子签章|已签章|对账|业财|计划回款|应回款",
    ),
    (
        "handoffs",
        r"(?:交付|财务|售后|交接)[^,;。?]{0,6}工单|交接|认领|(?:环节|部门)[^,;。?]{0,6}(?:超时|逾期)",
    ),
    ("leads", r"线索|公海|培育池"),
    # 目标客户 / 目标门店 are prospects, not targets: left to the v2 parser (which does not define them)
    ("targets", r"目标(?!客户|门店|店|市场|人群|群体)|达成率|(?<!拜访)完成率|(?:亮|是|为|显示)?红灯"),
)

COUNT_CUE = r"(?:一共|总共)?(?:有|还有)?(?:多少|几)(?:个|条|份|单|家|张)?|数量|总数|个数"
LIST_CUE = r"(?:都)?有哪些|是哪些|哪些|哪几个|名单|清单|列表|明细|有谁"
COUNT_SUFFIX = r"(?:数量|总数|个数|条数|张数|数)$"
TAIL = r"(?:是多少|是几|多少钱|怎么样|如何|咋样|情况|吗|呢|了)+$"

# --- targets ------------------------------------------------------------------------------------------
FORECAST = r"预测|预计|能不能完成|能否完成|能完成|会不会完成|完得成|完不成|来得及"
OTHER_TARGETS = r"(回款|拜访|签约|合同|线索|开发|利润|毛利|冲刺|挑战)目标"
TARGET_WORDS = (  # (pattern, figure); the figure word's place takes the stand-in
    (r"(?:目标)?(?:亮|是|为|显示|亮了)?红灯(?:了)?", "red_light"),
    (
        r"(?:销售)?目标(?:的)?(?:缺口|差距|差额|差值)(?:金额|额)?|缺口|差距"
        r"|(?:离|距离|距)?(?:销售)?目标(?:还)?(?:差|缺)(?:了)?(?:多少|几)?(?:钱)?"
        r"|(?:还)?差(?:了)?(?:多少|几)(?:钱)?(?:完成|达成|到)?(?:销售)?(?:目标)?",
        "gap",
    ),
    (
        r"(?:销售)?目标(?:的)?(?:达成率|完成率|完成度|达成度|达成情况|完成情况|完成进度|达成进度|进度)"
        r"|完成(?:了)?(?:多少|几成|百分之几)(?:的)?(?:销售)?(?:目标)?|达成率|(?<!拜访)完成率|完成度",
        "attainment",
    ),
    (r"(?:销售)?目标(?:金额|额|数)?", "target"),
)

# --- leads --------------------------------------------------------------------------------------------
SOURCES = (
    "转介绍",
    "老客户",
    "展会",
    "官网",
    "400",
    "电话咨询",
    "广告",
    "线上",
    "陌拜",
    "地推",
    "企业微信加好友",
)
LEAD_WORDS: tuple[tuple[str, str], ...] = (
    (r"(?:线索)?(?:的)?转化率", "conversion_rate"),
    (r"(?:线索)?(?:的)?激活率", "activation_rate"),
    (r"新(?:增|进|来)?(?:的)?线索(?:数量|总数|个数|条数|数)?", "new_count"),
    (r"(?:的)?线索(?:池)?(?:数量|总数|个数|条数|数)?", "noun"),
)
SOP_LATE = (
    r"超时(?:未|没有|没)跟进|跟进超时|黄金4小时(?:超时|未跟进|没跟进|没完成|未完成)?|sop(?:步骤)?超时"
    r"|(?:跟进)?步骤(?:超时|逾期)|逾期未跟进"
)
QUIET = (
    r"(?:已经|已)?(?:超过|多于|大于)?(\d{1,4})(小时|天|日)(?:以上)?(?:都|还|一直)?(?:没有|没|未)(?:有效)?"
    r"(?:跟进|联系|互动)(?:过)?"
    r"|(?:没有|没|未)(?:有效)?(?:跟进|联系|互动)(?:过)?(?:已经|已)?(?:超过|多于)?(\d{1,4})(小时|天|日)(?:以上)?(?:了)?"
)
LEAD_STAGES = (
    (
        "converted",
        r"(?:已经|已)?转化(?:成客户|为客户|成功)?(?:了)?(?:的)?(?=线索)|(?:已经|已)?成交(?:了)?(?:的)?(?=线索)",
    ),
    ("lost", r"(?:已经|已)?(?:输单|丢单|丢掉|流失)(?:了)?(?:的)?(?=线索)"),
    ("proposal", r"(?:已经|已)?出(?:过|了)?方案(?:了)?(?:的)?(?=线索)"),
    ("contacted", r"(?:已经|已)联系(?:过|了)?(?:的)?(?=线索)"),
    ("new", r"(?:待跟进|未联系|还没联系|没联系过|待分配)(?:的)?(?=线索)"),
)
LONG_QUIET = r"(?:长时间|长期|很久|好久)(?:都)?(?:没有|没|未)(?:有效)?(?:跟进|联系)(?:过)?(?:的)?"
DORMANT_HOURS = 72  # docs/leads.md: no effective follow-up for 72 hours moves a lead to the nurture pool
GRADE = r"(?:等级|评级)?(?:为|是)?(a\+|a|b|c)(?:类|级|档)?(?=的?(?:线索|转化率))"
POOL = (("public", r"公海(?:池)?(?:里面|里|中)?(?:的)?"), ("nurture", r"培育池(?:里面|里|中)?(?:的)?"))
SOURCE_RE = rf"(?:来源(?:为|是)?)?({'|'.join(SOURCES)})(?:来源|渠道|来的)?(?:的)?"
LEAD_GROUPS = (
    ("source", r"(?:各|每个|每种|按|分)(?:个)?(?:来源|渠道)(?:看|来看|统计|分)?"),
    ("grade", r"(?:各|每个|按|分)(?:个)?(?:等级|级别|评级|档)(?:看|来看|统计|分)?"),
)

# --- hand-offs ----------------------------------------------------------------------------------------
TEAMS = {"交付": "delivery", "财务": "finance", "售后": "after_sales"}
HANDOFF_TEAM = r"(交付|财务|售后)(?:部门|团队|组|那边|这边)?(?:的)?"
HANDOFF_NOUN = r"(?:(?:交接)?(?:的)?(?:工单|任务)|交接)(?:数量|总数|个数|张数|数)?"
HANDOFF_LATE = (
    r"(?:已经|已)?(?:超时|超过时限|超过sla|逾期|过了时限)(?:了)?(?:未响应|没响应|未处理|没处理|未认领|没人认领|没人接)?"
    r"|(?:未响应|没响应|没人认领|没人接)"
)
# 哪个环节最常超时: the work orders that ever passed their SLA (the head was told), by department, the most first
HANDOFF_BREACHED = r"(?:最常|最经常|经常|总是|最容易|最多|常常)(?:超时|逾期)(?:的)?|(?:超时|逾期)(?:得|的)?(?:最多|最频繁|最常见|次数最多)"
HANDOFF_WHICH = r"(?:哪个|哪一个|哪些|哪一)(?:交接)?(?:环节|部门|团队)"
HANDOFF_GROUP = r"(?:各|每个|按|分)(?:个)?(?:部门|环节|团队|阶段|交接环节)(?:看|来看|统计|分)?"

# --- finance ------------------------------------------------------------------------------------------
VIEWS = (
    ("matching", r"(?:还)?(?:在|处于)?流水匹配(?:中)?(?:的)?"),
    ("received", r"(?:财务)?(?:已经|已)到账(?:的)?"),
    ("esigned", r"电子签章(?:已)?(?:完成)?(?:的)?|已签章(?:的)?"),
)
DIFFERENCE = (
    r"对账(?:的)?(?:差异|差额|差)(?:金额|额)?|业财(?:对账)?(?:差异|差额)|对账"
    r"|(?:业务|销售)(?:口径)?(?:和|与|跟)财务(?:口径)?(?:的)?(?:差异|差额|差(?:了)?多少|差)"
)
DUE = r"计划回款(?:金额|额)?|应回款(?:金额|额)?|到期应回(?:款)?(?:金额)?"


@dataclass
class _Cut:
    """The question with the domain's words taken out: what they said, and what is left for the parser."""

    text: str
    count: bool = False
    listing: bool = False
    marked: bool = False
    said: dict[str, Any] = field(default_factory=dict)

    def take(self, pattern: str, *, mark: bool = False) -> re.Match[str] | None:
        m = re.search(pattern, self.text)
        if m is None or not m.group(0):
            return None
        put = MARK if mark and not self.marked else ""
        self.marked = self.marked or bool(put)
        self.text = self.text[: m.start()] + put + self.text[m.end() :]
        return m

    def cues(self) -> None:
        while self.take(LIST_CUE):
            self.listing = True
        while self.take(COUNT_CUE):
            self.count = True
        self.text = re.sub(TAIL, "", self.text)

    def rest(self) -> str:
        t = self.text.replace(MARK, STAND_IN, 1).replace(MARK, "")
        return t if self.marked else t + STAND_IN


def read_domain(question: str, *, now: datetime, vocab: Vocab, asker: str) -> QuerySpec | None:
    """The QuerySpec of a question about the newer domains, None when it is about none of them. Raises
    Refused for what they do not define (a forecast, another kind of target …) or the parser cannot read."""
    text = normalize(question, protected_words(vocab))
    subject = next((s for s, pat in SUBJECTS if re.search(pat, text)), None)
    if subject is None:
        return None
    cut = _Cut(text)
    reader = {"targets": _targets, "leads": _leads, "handoffs": _handoffs, "finance": _finance}[subject]
    fields = reader(cut, now)
    base = parse(cut.rest(), now=now, vocab=vocab, asker=asker)
    c = base.customer
    shape: dict[str, Any] = dict(
        customer=CustomerFilter(owners=c.owners, regions=c.regions, cities=c.cities, under=c.under)
    )
    if base.ranking is not None and base.group_by is not None:
        shape["ranking"] = Ranking(by="figure", descending=base.ranking.descending)
        shape["limit"] = base.limit
    try:
        return QuerySpec.model_validate({**shape, **fields(base)})
    except ValidationError:
        raise Refused("这些条件放在一起没有明确的定义，请换个问法或拆成几个问题。") from None


# --- per domain: take the words, then turn the stand-in's reading into the domain's ---------------------
Fields = Any  # a function of the stand-in's QuerySpec → the domain spec's fields


def _group(base: QuerySpec, allowed: dict[str, str], what: str) -> str | None:
    if base.group_by is None:
        return None
    if base.group_by not in allowed:
        raise Refused(f"{what}不能按这个维度分组。")
    return allowed[base.group_by]


def _targets(cut: _Cut, now: datetime) -> Fields:
    if re.search(FORECAST, cut.text):
        raise Refused("预测目标能否完成不在我能回答的范围里：我只回答已经发生的数字。")
    other = re.search(OTHER_TARGETS, cut.text)
    if other:
        raise Refused(f"目标只有销售目标（门店和个人的下单金额目标），没有「{other.group(0)}」。")
    if re.search(r"红灯", cut.text) and re.search(r"门店|客户|店|城市|大区|区域", cut.text):
        raise Refused(
            "目标红灯名单按业务员回答（「哪些业务员目标亮红灯」）；门店、城市和大区的健康灯见目标穿透月报。"
        )
    cut.text = re.sub(r"部门", "团队", cut.text)  # 各部门目标: the teams of the reporting tree
    figure = None
    for pat, fig in TARGET_WORDS:
        if cut.take(pat, mark=True):
            figure = figure or fig
            while cut.take(pat):
                pass
    cut.take(r"业绩|销售额|下单金额")
    cut.take(r"(?:和|与|及|以及)?(?:时间进度|进度比)")  # always in the answer
    cut.cues()

    def fields(base: QuerySpec) -> dict[str, Any]:
        if base.period is not None:
            target_period(base.period, now)  # refuse early what is not a month, quarter or year
        if figure == "red_light":
            return dict(entity="targets", figure="red_light", period=base.period, people=True)
        group = _group(base, {"region": "region", "city": "city", "rep": "rep", "team": "team"}, "目标")
        return dict(entity="targets", figure=figure or "target", period=base.period, group_by=group)

    return fields


def _leads(cut: _Cut, now: datetime) -> Fields:
    lf: dict[str, Any] = {}
    if cut.take(SOP_LATE):
        lf["sop_overdue"] = True
    m = cut.take(QUIET)
    if m:
        n, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        lf["quiet_hours"] = int(n) * (1 if unit == "小时" else 24)
    if cut.take(LONG_QUIET):
        lf["quiet_hours"] = DORMANT_HOURS
    for stage, pat in LEAD_STAGES:
        if cut.take(pat):
            lf["stage"] = stage
            break
    m = cut.take(GRADE)
    if m:
        lf["grades"] = [m.group(1).upper()]
    for pool, pat in POOL:
        if cut.take(pat):
            lf["pool"] = pool
    m = cut.take(SOURCE_RE)
    if m:
        lf["sources"] = [m.group(1)]
    group = None
    for key, pat in LEAD_GROUPS:
        if cut.take(pat):
            group = key
    figure = "list"
    for pat, fig in LEAD_WORDS:
        m = cut.take(pat, mark=True)
        if m:
            figure = fig if figure == "list" and fig != "noun" else figure
            cut.count = cut.count or bool(re.search(COUNT_SUFFIX, m.group(0)))
    cut.cues()

    def fields(base: QuerySpec) -> dict[str, Any]:
        g = group or _group(base, {"rep": "rep", "region": "region"}, "线索")
        fig = figure
        if fig == "list" and (cut.count or g) and not cut.listing:
            fig = "count"
        if fig == "list" and g:
            fig = "count"
        if base.period is not None and fig not in ("new_count", "conversion_rate", "activation_rate"):
            raise Refused(
                "线索数、公海、培育池和没跟进的线索都按现在的状态回答，不带时间；"
                "带时间的是新增线索、线索转化率和激活率（按线索创建时间），例如「本月新增线索」「本季度线索转化率」。"
            )
        if base.customer.cities:
            raise Refused("线索只记录了大区，不能按城市筛选。")
        return dict(
            entity="leads",
            figure=fig,
            period=base.period,
            group_by=g,
            leads=LeadFilter(**lf) if lf else None,
        )

    return fields


def _handoffs(cut: _Cut, now: datetime) -> Fields:
    hf: dict[str, Any] = {}
    which = False
    if cut.take(HANDOFF_BREACHED):
        hf["breached"] = True
        which = bool(cut.take(HANDOFF_WHICH))
    if cut.take(HANDOFF_LATE):
        hf["overdue"] = True
    grouped = which or bool(cut.take(HANDOFF_GROUP))
    m = cut.take(HANDOFF_TEAM)
    if m:
        hf["team"] = TEAMS[m.group(1)]
    m = cut.take(HANDOFF_NOUN, mark=True)
    if m:
        cut.count = cut.count or bool(re.search(COUNT_SUFFIX, m.group(0)))
    if cut.take(HANDOFF_LATE):
        hf["overdue"] = True
    cut.cues()

    def fields(base: QuerySpec) -> dict[str, Any]:
        if base.period is not None:
            raise Refused(
                "交接工单按现在的状态回答（还没完成的、已超时的），不带时间，例如「超时未响应的交付工单」。"
            )
        g = "department" if grouped or base.group_by == "team" else _group(base, {}, "交接工单")
        fig = "count" if (cut.count or g) and not cut.listing else "list"
        if g:
            fig = "count"
        if which:  # the one department the most work orders passed their SLA in
            return dict(
                entity="handoffs",
                figure="count",
                group_by="department",
                handoff=HandoffFilter(**hf),
                ranking=Ranking(by="figure", descending=True),
                limit=1,
            )
        return dict(entity="handoffs", figure=fig, group_by=g, handoff=HandoffFilter(**hf))

    return fields


def _finance(cut: _Cut, now: datetime) -> Fields:
    figure, view = None, None
    if cut.take(DIFFERENCE, mark=True):
        figure = "difference"
    elif cut.take(DUE, mark=True):
        figure = "due"
    else:
        for v, pat in VIEWS:
            if cut.take(pat):
                view = v
                break
        cut.take(r"(?:的)?合同", mark=True)
    cut.cues()

    def fields(base: QuerySpec) -> dict[str, Any]:
        if base.group_by is not None:
            raise Refused("对账差异、计划回款和合同的财务状态不分组回答，请按大区、城市或业务员分别问。")
        if figure is not None:
            if figure == "difference" and base.period is not None:
                month_of(base.period, now)
            return dict(entity="finance", figure=figure, period=base.period)
        if base.period is not None:
            raise Refused("合同的财务状态按现在回答，不带时间，例如「哪些合同还在流水匹配中」。")
        fig = "count" if cut.count and not cut.listing else "list"
        return dict(entity="finance", figure=fig, finance_view=view)

    return fields


# --- periods of the domains -------------------------------------------------------------------------
def target_period(p: Period, now: datetime) -> str:
    """The target period key (2026-11, 2026Q4, 2026) of a calendar month, quarter or year; else refused."""
    lo, hi = resolve(p, now).date_bounds()
    end = hi + timedelta(days=1)
    if lo.day == 1 and end.day == 1:
        months = (end.year - lo.year) * 12 + end.month - lo.month
        if months == 1:
            return f"{lo.year:04d}-{lo.month:02d}"
        if months == 3 and lo.month in (1, 4, 7, 10):
            return f"{lo.year:04d}Q{(lo.month - 1) // 3 + 1}"
        if months == 12 and lo.month == 1:
            return f"{lo.year:04d}"
    raise Refused(
        "目标按月、季度或年设定：请问某个月、某个季度或某一年（如 本月目标完成率、本季度目标缺口）。"
    )


def month_of(p: Period, now: datetime) -> date:
    """The first day of the calendar month a period is (对账差异 is by month); else refused."""
    key = target_period(p, now) if _is_month(p, now) else None
    if key is None or "Q" in key or len(key) == 4:
        raise Refused("对账差异按月计算：请问某个月（如 本月对账差异、10月对账差异）。")
    return date(int(key[:4]), int(key[5:7]), 1)


def _is_month(p: Period, now: datetime) -> bool:
    lo, hi = resolve(p, now).date_bounds()
    return lo.day == 1 and (hi + timedelta(days=1)).day == 1 and (hi - lo).days < 31
