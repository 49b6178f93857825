"""QuerySpec: the closed vocabulary of docs/nlq-semantics.md, and the Answer (`ask --json`) shape.

A QuerySpec carries no SQL and no absolute times: periods are named (上月, 最近7天 …) and resolved
against `now` by nlq.timewords. The offline parser and the LLM both produce one; both go through
`check` (structure) here and `nlq.validate` (names against the organisation) before compiling.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Entity = Literal[
    "customers",
    "visits",
    "orders",
    "opportunities",
    "tickets",
    "contracts",
    "payments",
    # the newer domains (docs/nlq-semantics.md § How nlq/ implements this page, "Targets, leads, hand-offs"):
    # targets: store/rep targets of a target period (docs/targets.md); leads (docs/leads.md); handoffs: the
    # work orders of signed contracts (docs/contracts.md); finance: instalments, the finance view, 对账差异
    "targets",
    "leads",
    "handoffs",
    "finance",
]
DOMAIN_ENTITIES = ("targets", "leads", "handoffs", "finance")
# list: customers one per row; count: rows of the entity; complete_count/complete_rate: 完整拜访;
# freshness: 客户信息鲜度; sales: 销售额; funnel_rate: 商机转化漏斗完整率; outstanding: 未回款金额 (of the
# contracts in contract_scope: the overdue ones by default, v1's 逾期未回款金额).
# v2: distinct_customers (跑了多少家店), abnormal_count (异常签到), new_count / lost_count (customers created /
# lost in the period), amount (合同金额 / 签约额), received (回款), win_rate (赢单率), avg_order_value (客单价)
Figure = Literal[
    "list",
    "count",
    "complete_count",
    "complete_rate",
    "freshness",
    "sales",
    "funnel_rate",
    "outstanding",
    "distinct_customers",
    "abnormal_count",
    "new_count",
    "lost_count",
    "amount",
    "received",
    "win_rate",
    "avg_order_value",
    # the newer domains: target (目标), attainment (达成率/完成率 = sales ÷ target), gap (差多少/缺口),
    # red_light (reps red at the latest health check: a people answer); conversion_rate (线索转化率),
    # activation_rate (激活率: leads with an effective follow-up);
    # difference (对账差异: the sales view's instalments due in a month − the bank money matched to them),
    # due (计划回款: instalments due in the period)
    "target",
    "attainment",
    "gap",
    "red_light",
    "conversion_rate",
    "activation_rate",
    "difference",
    "due",
]
# team: each supervisor in scope with everyone below them; week / month: a trend (calendar buckets)
GroupKey = Literal[
    "region",
    "city",
    "channel",
    "rep",
    "tag",
    "category",
    "stage",
    "team",
    "week",
    "month",
    # leads: 等级 and 来源; hand-offs: the department (交付 / 财务 / 售后) a work order went to
    "grade",
    "source",
    "department",
]
Stage = Literal["need_confirmed", "quoted", "negotiating", "won", "lost"]
PeriodKind = Literal[
    "today",
    "yesterday",
    "day_before_yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_quarter",
    "last_quarter",
    "this_year",
    "last_year",
    "month",
    "year",
    "rolling",
    "between",  # v2: an explicit window (quarters, halves, days, ranges, 年初至今 …), made concrete by the parser
]
# the kind of a period, for 环比 (the previous period of the same kind) and trends
PeriodUnit = Literal["day", "week", "month", "quarter", "half", "year", "rolling", "custom"]
Unit = Literal["hour", "day", "week", "month"]
RankBy = Literal[
    "figure",
    "nps",
    "sales",
    "order_count",
    "visit_count",
    "last_touch",
    "last_visit",
    # v2 list rankings
    "ticket_count",
    "received",
    "outstanding",
    "overdue_amount",
    "overdue_days",
    "contract_amount",
    "tag_visits",
    # v2 comparison rankings (groups)
    "change",
    "change_rate",
]
# v2 per-customer (and per-person) totals a threshold can filter on
TotalMeasure = Literal[
    "sales",
    "order_count",
    "visit_count",
    "ticket_count",
    "timeout_tickets",
    "outstanding",
    "overdue_amount",
    "contract_amount",
    "received",
]

FIGURES_OF: dict[str, tuple[str, ...]] = {
    "customers": ("list", "count", "freshness", "new_count", "lost_count"),
    "visits": ("count", "complete_count", "complete_rate", "distinct_customers", "abnormal_count"),
    "orders": ("count", "sales", "avg_order_value"),
    "opportunities": ("count", "funnel_rate", "win_rate", "amount"),
    "tickets": ("count",),
    "contracts": ("count", "outstanding", "amount"),
    "payments": ("received",),
    "targets": ("target", "attainment", "gap", "red_light"),
    "leads": ("list", "count", "new_count", "conversion_rate", "activation_rate"),
    "handoffs": ("list", "count"),
    "finance": ("list", "count", "difference", "due"),
}
_COMMON = ("region", "city", "channel", "rep", "team", "week", "month")
GROUPS_OF: dict[str, tuple[str, ...]] = {
    "customers": _COMMON,
    "visits": (*_COMMON, "tag"),
    "orders": (*_COMMON, "category"),
    "opportunities": (*_COMMON, "stage"),
    "tickets": _COMMON,
    "contracts": _COMMON,
    "payments": _COMMON,
    "targets": ("region", "city", "rep", "team"),
    "leads": ("rep", "region", "grade", "source"),
    "handoffs": ("department",),
    "finance": (),
}
TREND_KEYS = ("week", "month")
RATE_FIGURES = (
    "complete_rate",
    "freshness",
    "funnel_rate",
    "win_rate",
    "avg_order_value",
    "attainment",
    "conversion_rate",
    "activation_rate",
)
MONEY_FIGURES = (
    "sales",
    "outstanding",
    "amount",
    "received",
    "avg_order_value",
    "target",
    "gap",
    "difference",
    "due",
)
LIST_RANKS = (
    "nps",
    "sales",
    "order_count",
    "visit_count",
    "last_touch",
    "last_visit",
    "ticket_count",
    "received",
    "outstanding",
    "overdue_amount",
    "overdue_days",
    "contract_amount",
    "tag_visits",
)
PERIOD_RANKS = (
    "sales",
    "order_count",
    "visit_count",
    "ticket_count",
    "received",
    "contract_amount",
    "tag_visits",
)
MAX_LIMIT = 1000


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Span(_Closed):
    """An age or a rolling window: N hours / days / weeks / months (a month is 30 days, a week 7)."""

    amount: int = Field(ge=1, le=3650)
    unit: Unit


class Period(_Closed):
    """A named period; resolved against `now` in Asia/Shanghai by nlq.timewords.resolve."""

    kind: PeriodKind
    span: Span | None = None  # rolling: from now minus span to now
    year: int | None = Field(default=None, ge=2000, le=2100)  # month, year
    month: int | None = Field(default=None, ge=1, le=12)  # month
    # between: [start, end) or [start, end], aware datetimes; unit: its kind (for 环比); label: its words
    start: datetime | None = None
    end: datetime | None = None
    end_inclusive: bool = False
    unit: PeriodUnit | None = None
    label: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Period:
        between = self.kind == "between"
        if between != (self.start is not None and self.end is not None):
            raise ValueError("a between period has a start and an end, and only it")
        if between and (self.start is None or self.end is None or self.end < self.start):
            raise ValueError("a between period ends after it starts")
        if between and (self.start is None or self.start.tzinfo is None or self.end.tzinfo is None):
            raise ValueError("a between period's ends are aware datetimes")
        need_span = self.kind == "rolling"
        need_year = self.kind in ("month", "year")
        need_month = self.kind == "month"
        if (
            need_span != (self.span is not None)
            or need_year != (self.year is not None)
            or need_month != (self.month is not None)
        ):
            raise ValueError(f"period {self.kind}: span/year/month do not match the kind")
        return self


class NpsCondition(_Closed):
    op: Literal[">", ">=", "<", "<=", "="]
    value: int = Field(ge=0, le=1000)


class TouchCondition(_Closed):
    """A touch (visit or interaction; kind=visit: visits only) in the period, or none in it.

    present=False with a rolling period is the 'X未更新 / 没跟进 超过 X' rule: no touch in the span, customers
    never touched included. age_inclusive reads '72小时以上没跟进' (age ≥ span) rather than 超过 (age > span).
    """

    present: bool
    kind: Literal["any", "visit"] = "any"
    period: Period
    age_inclusive: bool = False

    @model_validator(mode="after")
    def _inclusive_only_for_ages(self) -> TouchCondition:
        if self.age_inclusive and (self.present or self.period.kind != "rolling"):
            raise ValueError("age_inclusive is for 'no touch for N' only")
        return self


class TagCondition(_Closed):
    """Customers with a visit carrying this tag (in the period if given)."""

    tag: str = Field(min_length=1, max_length=32)
    period: Period | None = None


class OrderCondition(_Closed):
    """Customers with (present) or without an order (of the category) in the period."""

    present: bool = True
    category: str | None = Field(default=None, max_length=32)
    period: Period | None = None


class EventCondition(_Closed):
    """Customers with a timed-out ticket (opened in the period) / an overdue contract (due in the period).

    v2: days_gt on overdue — one of the customer's overdue contracts is more than N days past due_on."""

    period: Period | None = None
    days_gt: int | None = Field(default=None, ge=0, le=36500)


class TotalCondition(_Closed):
    """v2: a threshold on a per-customer total over the period (all time if none): 上月下单金额超过5万的客户.
    A customer without such rows has a total of 0 (so 少于 includes it; 超过 does not)."""

    measure: TotalMeasure
    op: Literal[">", ">=", "<", "<=", "="]
    value: float = Field(ge=0, le=1e13)
    period: Period | None = None
    tag: str | None = Field(default=None, max_length=32)  # visit_count of visits carrying this tag
    category: str | None = Field(
        default=None, max_length=32
    )  # sales / order_count of orders of this category


class StuckCondition(_Closed):
    """v2: an opportunity whose current stage is `stage`, entered more than `days` days ago."""

    stage: Literal["need_confirmed", "quoted", "negotiating", "won", "lost"]
    days: int = Field(ge=0, le=36500)


class CustomerFilter(_Closed):
    status: Literal["active", "lost", "all"] | None = None  # None: the default of the entity
    lost_period: Period | None = None  # 流失 in a period: status lost with lost_on in it
    nps: list[NpsCondition] = Field(default_factory=list, max_length=4)
    regions: list[str] = Field(default_factory=list, max_length=20)
    cities: list[str] = Field(default_factory=list, max_length=20)
    channels: list[str] = Field(default_factory=list, max_length=20)
    owners: list[str] = Field(default_factory=list, max_length=20)  # userids (names are resolved)
    tags: list[TagCondition] = Field(default_factory=list, max_length=4)
    orders: list[OrderCondition] = Field(default_factory=list, max_length=4)
    touches: list[TouchCondition] = Field(default_factory=list, max_length=4)
    ticket_timeout: EventCondition | None = None
    overdue: EventCondition | None = None
    # v2
    under: list[str] = Field(default_factory=list, max_length=20)  # 某主管手下: owners below these managers
    created_period: Period | None = None  # 新客户 in a period (created_on)
    totals: list[TotalCondition] = Field(default_factory=list, max_length=4)
    unhandled_ticket: bool = False  # a ticket with no responded_at
    stuck: StuckCondition | None = None

    @model_validator(mode="after")
    def _lost_period_means_lost(self) -> CustomerFilter:
        if self.lost_period is not None and self.status not in (None, "lost"):
            raise ValueError("lost_period needs status lost")
        return self


class LeadFilter(_Closed):
    """Leads (docs/leads.md): of a grade (None in `grades` = ungraded), in a pool (hand: in their owner's hands,
    nurture: 培育池, public: 公海), from a source; quiet_hours: open leads held by an owner with no effective
    follow-up for more than N hours (超过72小时没跟进); sop_overdue: a step of the lead's sequence past due and
    not done (超时未跟进, the golden 4 hours)."""

    grades: list[Literal["A+", "A", "B", "C"]] = Field(default_factory=list, max_length=4)
    pool: Literal["hand", "nurture", "public"] | None = None
    sources: list[str] = Field(default_factory=list, max_length=8)
    quiet_hours: int | None = Field(default=None, ge=1, le=24 * 3650)
    sop_overdue: bool = False
    # one stage instead of the open ones: new 待跟进, contacted 已联系, proposal 已出方案, converted 已转化, lost 已输单
    stage: Literal["new", "contacted", "proposal", "converted", "lost"] | None = None


class HandoffFilter(_Closed):
    """Hand-off work orders (docs/contracts.md): of one team; overdue: still open (nobody claimed, finished or
    blocked it) past its SLA (due_at <= now); otherwise every work order not done."""

    team: Literal["delivery", "finance", "after_sales"] | None = None
    overdue: bool = False
    breached: bool = False  # ever passed its SLA while open (the head was told: escalated ≥ 1), in any state


class Ranking(_Closed):
    by: RankBy
    descending: bool = True
    period: Period | None = None  # for sales / order_count / visit_count … in a customer list
    tag: str | None = Field(default=None, max_length=32)  # tag_visits: visits carrying this tag


class Having(_Closed):
    """v2, people answers: keep the people whose figure satisfies this (本月拜访不到20次的业务员)."""

    op: Literal[">", ">=", "<", "<=", "="]
    value: float = Field(ge=0, le=1e13)


class QuerySpec(_Closed):
    """One question, read: what to count or list, over which rows, grouped and ranked how."""

    entity: Entity
    figure: Figure
    period: Period | None = None  # the entity's own time: visit check-in, order date, opportunity entered_on,
    #                               ticket opened_at, contract due_on; none for customers
    customer: CustomerFilter = Field(default_factory=CustomerFilter)
    reps: list[str] = Field(default_factory=list, max_length=20)  # visits: the visit's rep
    tag: str | None = Field(default=None, max_length=32)  # visits: carrying this tag
    category: str | None = Field(default=None, max_length=32)  # orders: of this category
    stages: list[Stage] = Field(default_factory=list, max_length=5)  # opportunities in these stages
    timeout_only: bool = False  # tickets: only those with a response timeout
    group_by: GroupKey | None = None
    ranking: Ranking | None = None
    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    # v2
    unhandled_only: bool = False  # tickets: only those with no responded_at
    stuck_days: int | None = Field(
        default=None, ge=0, le=36500
    )  # opportunities: current stage entered > N days ago
    contract_scope: Literal["overdue", "all"] = "overdue"  # contracts: v1 counts the overdue ones
    overdue_days_gt: int | None = Field(
        default=None, ge=0, le=36500
    )  # overdue contracts more than N days past due
    compare: Literal["previous", "year_ago"] | None = None  # 环比 / 同比: kind comparison
    buckets: int | None = Field(default=None, ge=1, le=120)  # trends: how many weeks / months, ending now
    overview: bool = False  # 情况 / 概况: kind overview (拜访数, 拜访完整率, 客户信息鲜度, 销售额)
    people: bool = False  # the reps as the answer (谁 / 哪些人 / 业务员): kind people
    having: Having | None = None  # people: the condition on each person's figure
    # the newer domains
    leads: LeadFilter | None = None  # leads only
    handoff: HandoffFilter | None = None  # handoffs only
    finance_view: Literal["esigned", "matching", "received"] | None = (
        None  # finance lists: 财务口径 of a contract
    )

    @model_validator(mode="after")
    def _consistent(self) -> QuerySpec:
        problems = structure_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def kind(self) -> Literal["list", "figure", "groups", "comparison", "overview", "people"]:
        if self.overview:
            return "overview"
        if self.compare is not None:
            return "comparison"
        if self.people:
            return "people"
        if self.group_by is not None:
            return "groups"
        return "list" if self.figure == "list" else "figure"

    @property
    def shape(self) -> Literal["list", "figure", "groups"]:
        """The shape of the one statement under the answer (a comparison or an overview runs several)."""
        if self.group_by is not None or self.people:
            return "groups"
        return "list" if self.figure == "list" else "figure"

    @property
    def is_rate(self) -> bool:
        return self.figure in RATE_FIGURES


def structure_problems(s: QuerySpec) -> list[str]:
    """What makes a spec meaningless under the semantics (empty when it is fine)."""
    out: list[str] = []
    if s.leads is not None and s.entity != "leads":
        out.append("leads filters are for leads")
    if s.handoff is not None and s.entity != "handoffs":
        out.append("handoff filters are for hand-offs")
    if s.finance_view is not None and (s.entity != "finance" or s.figure not in ("list", "count")):
        out.append("finance_view is for lists and counts of contracts by the finance view")
    if s.entity in DOMAIN_ENTITIES:
        out += _domain_problems(s)
    if s.figure not in FIGURES_OF[s.entity]:
        out.append(f"figure {s.figure} is not defined for {s.entity}")
    if s.entity == "customers" and s.period is not None and s.figure not in ("new_count", "lost_count"):
        out.append("customers have no period of their own; put it on a condition")
    if s.reps and s.entity != "visits":
        out.append("reps filter is for visits; use customer.owners")
    if s.tag is not None and s.entity != "visits":
        out.append("tag is for visits; use customer.tags")
    if s.category is not None and s.entity != "orders":
        out.append("category is for orders; use customer.orders")
    if s.stages and s.entity != "opportunities":
        out.append("stages are for opportunities")
    if s.timeout_only and s.entity != "tickets":
        out.append("timeout_only is for tickets")
    if s.unhandled_only and s.entity != "tickets":
        out.append("unhandled_only is for tickets")
    if s.stuck_days is not None and (s.entity != "opportunities" or len(s.stages) != 1):
        out.append("stuck_days is for opportunities in one stage")
    if s.overdue_days_gt is not None and (s.entity != "contracts" or s.contract_scope != "overdue"):
        out.append("overdue_days_gt is for overdue contracts")
    if s.contract_scope == "all" and s.entity != "contracts":
        out.append("contract_scope is for contracts")
    if s.group_by is not None:
        if s.figure == "list":
            out.append("a list is not grouped; count instead")
        elif s.group_by not in GROUPS_OF[s.entity]:
            out.append(f"{s.entity} cannot be grouped by {s.group_by}")
    if s.buckets is not None and s.group_by not in TREND_KEYS:
        out.append("buckets are for trends (group_by week or month)")
    if s.group_by in TREND_KEYS and (s.period is not None or s.compare is not None):
        out.append("a trend runs over its own buckets: no period, no comparison")
    if s.figure == "freshness":
        c = s.customer
        if c.status not in (None, "active") or c.lost_period is not None:
            out.append("freshness is over active customers")
    if s.people:
        if s.figure == "list" or s.group_by not in (None, "rep"):
            out.append("a people answer is a figure per rep")
        if s.compare is not None or s.overview:
            out.append("a people answer is not a comparison or an overview")
    elif s.having is not None:
        out.append("having is for people answers")
    if s.overview and (s.group_by is not None or s.compare is not None or s.figure == "list"):
        out.append("an overview is one scope and one period")
    if s.compare is not None and s.figure == "list":
        out.append("a list is not compared; compare a figure")
    if s.ranking is not None:
        shape = s.shape
        if shape == "figure":
            out.append("a single figure has no ranking")
        elif shape == "groups" and s.ranking.by not in ("figure", "change", "change_rate"):
            out.append("groups rank by their figure")
        elif shape == "groups" and s.ranking.by != "figure" and s.compare is None:
            out.append("change rankings are for comparisons")
        elif shape == "list" and s.ranking.by not in LIST_RANKS:
            out.append("a customer list ranks by " + ", ".join(LIST_RANKS))
        if s.ranking.period is not None and s.ranking.by not in PERIOD_RANKS:
            out.append("only " + ", ".join(PERIOD_RANKS) + " rankings take a period")
        if (s.ranking.tag is not None) != (s.ranking.by == "tag_visits"):
            out.append("a tag_visits ranking names its tag, and only it")
    if s.limit is not None and s.shape == "figure":
        out.append("a single figure has no limit")
    return out


def _domain_problems(s: QuerySpec) -> list[str]:
    out: list[str] = []
    if s.compare is not None or s.overview or s.buckets is not None:
        out.append(f"{s.entity} questions are not compared, trended or summarised")
    if s.having is not None or s.reps or s.tag or s.category or s.stages or s.timeout_only:
        out.append(f"{s.entity} questions take no visit, order, opportunity or ticket filter")
    c = s.customer
    if c != CustomerFilter(owners=c.owners, regions=c.regions, cities=c.cities, under=c.under):
        out.append(f"{s.entity} questions filter only by owner, region and city")
    if s.people and (s.entity, s.figure) != ("targets", "red_light"):
        out.append("the people answer of the newer domains is targets red_light")
    if s.figure == "red_light" and not s.people:
        out.append("red_light is a people answer")
    if s.entity == "finance" and s.figure in ("list", "count") and s.finance_view is None:
        out.append("a finance list or count names the finance view")
    if s.entity == "finance" and s.figure in ("list", "count") and s.period is not None:
        out.append("the finance view of a contract is as of now: no period")
    if s.entity == "handoffs" and s.period is not None:
        out.append("hand-offs are as of now: no period")
    if (
        s.entity == "leads"
        and s.period is not None
        and s.figure not in ("new_count", "conversion_rate", "activation_rate")
    ):
        out.append("a period of leads is their creation: new leads or the conversion rate")
    if s.ranking is not None and s.ranking.by != "figure":
        out.append("the newer domains rank groups by their figure")
    return out


def default_list_order(f: CustomerFilter, status: str | None) -> str | None:
    """The most relevant figure of a customer list without an asked ranking (None: by customer id)."""
    stale = [t for t in f.touches if not t.present]
    if stale:
        return "last_visit_at" if stale[0].kind == "visit" else "last_touch_at"
    if f.nps:  # the figure the question names: NPS低于30 → lowest first (nlq.compile default_order)
        return "nps"
    if f.lost_period is not None or status == "lost":
        return "lost_on"
    if f.overdue is not None:
        return "overdue_amount"
    if f.ticket_timeout is not None:
        return "timeout_tickets"
    if any(o.present for o in f.orders):
        return "order_count"
    if f.tags:
        return "tag_visits:0"
    return None


def effective_status(spec: QuerySpec) -> str | None:
    """active / lost / None (both): the spec's own word, else 流失 → lost, else the entity's default."""
    f = spec.customer
    if f.status in ("active", "lost"):
        return f.status
    if f.status == "all":
        return None
    if f.lost_period is not None:
        return "lost"
    if spec.entity == "customers":
        return "active"
    return None


AnswerKind = Literal["list", "figure", "groups", "refusal", "comparison", "overview", "people"]


class Answer(BaseModel):
    """Exactly the `ask --json` object of the spec, plus a machine-usable `action` for the suggestion."""

    model_config = ConfigDict(extra="forbid")

    question: str
    asked_by: str
    scope: str
    understood: str
    kind: AnswerKind
    rows: list[dict[str, Any]] = Field(default_factory=list)
    value: float | int | None = None
    numerator: float | int | None = None
    denominator: float | int | None = None
    suggestion: str | None = None
    reason: str | None = None
    action: dict[str, Any] | None = None
    # v2: comparison (value is this period's figure)
    previous: float | int | None = None
    change: float | int | None = None
    change_rate: float | None = None
    alternatives: list[dict[str, Any]] = Field(default_factory=list)
