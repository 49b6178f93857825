"""QuerySpec: the closed vocabulary of docs/nlq-semantics.md, and the Answer (`ask --json`) shape.

A QuerySpec carries no SQL and no absolute times: periods are named (上月, 最近7天 …) and resolved
against `now` by nlq.timewords. The offline parser and the LLM both produce one; both go through
`check` (structure) here and `nlq.validate` (names against the organisation) before compiling.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Entity = Literal["customers", "visits", "orders", "opportunities", "tickets", "contracts"]
# list: customers one per row; count: rows of the entity; complete_count/complete_rate: 完整拜访;
# freshness: 客户信息鲜度; sales: 销售额; funnel_rate: 商机转化漏斗完整率; outstanding: 逾期未回款金额
Figure = Literal[
    "list", "count", "complete_count", "complete_rate", "freshness", "sales", "funnel_rate", "outstanding"
]
GroupKey = Literal["region", "city", "channel", "rep", "tag", "category", "stage"]
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
]
Unit = Literal["hour", "day", "week", "month"]
RankBy = Literal["figure", "nps", "sales", "order_count", "visit_count", "last_touch", "last_visit"]

FIGURES_OF: dict[str, tuple[str, ...]] = {
    "customers": ("list", "count", "freshness"),
    "visits": ("count", "complete_count", "complete_rate"),
    "orders": ("count", "sales"),
    "opportunities": ("count", "funnel_rate"),
    "tickets": ("count",),
    "contracts": ("count", "outstanding"),
}
GROUPS_OF: dict[str, tuple[str, ...]] = {
    "customers": ("region", "city", "channel", "rep"),
    "visits": ("region", "city", "channel", "rep", "tag"),
    "orders": ("region", "city", "channel", "rep", "category"),
    "opportunities": ("region", "city", "channel", "rep", "stage"),
    "tickets": ("region", "city", "channel", "rep"),
    "contracts": ("region", "city", "channel", "rep"),
}
RATE_FIGURES = ("complete_rate", "freshness", "funnel_rate")
LIST_RANKS = ("nps", "sales", "order_count", "visit_count", "last_touch", "last_visit")
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

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Period:
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
    """Customers with a timed-out ticket (opened in the period) / an overdue contract (due in the period)."""

    period: Period | None = None


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

    @model_validator(mode="after")
    def _lost_period_means_lost(self) -> CustomerFilter:
        if self.lost_period is not None and self.status not in (None, "lost"):
            raise ValueError("lost_period needs status lost")
        return self


class Ranking(_Closed):
    by: RankBy
    descending: bool = True
    period: Period | None = None  # for sales / order_count / visit_count in a customer list


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

    @model_validator(mode="after")
    def _consistent(self) -> QuerySpec:
        problems = structure_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def kind(self) -> Literal["list", "figure", "groups"]:
        if self.group_by is not None:
            return "groups"
        return "list" if self.figure == "list" else "figure"

    @property
    def is_rate(self) -> bool:
        return self.figure in RATE_FIGURES


def structure_problems(s: QuerySpec) -> list[str]:
    """What makes a spec meaningless under the semantics (empty when it is fine)."""
    out: list[str] = []
    if s.figure not in FIGURES_OF[s.entity]:
        out.append(f"figure {s.figure} is not defined for {s.entity}")
    if s.entity == "customers" and s.period is not None:
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
    if s.group_by is not None:
        if s.figure == "list":
            out.append("a list is not grouped; count instead")
        elif s.group_by not in GROUPS_OF[s.entity]:
            out.append(f"{s.entity} cannot be grouped by {s.group_by}")
    if s.figure == "freshness":
        c = s.customer
        if c.status not in (None, "active") or c.lost_period is not None:
            out.append("freshness is over active customers")
    if s.ranking is not None:
        if s.kind == "figure":
            out.append("a single figure has no ranking")
        elif s.kind == "groups" and s.ranking.by != "figure":
            out.append("groups rank by their figure")
        elif s.kind == "list" and s.ranking.by not in LIST_RANKS:
            out.append(
                "a customer list ranks by nps, sales, order_count, visit_count, last_touch or last_visit"
            )
        if s.ranking.period is not None and s.ranking.by not in ("sales", "order_count", "visit_count"):
            out.append("only sales, order_count and visit_count rankings take a period")
    if s.limit is not None and s.kind == "figure":
        out.append("a single figure has no limit")
    return out


def default_list_order(f: CustomerFilter, status: str | None) -> str | None:
    """The most relevant figure of a customer list without an asked ranking (None: by customer id)."""
    stale = [t for t in f.touches if not t.present]
    if stale:
        return "last_visit_at" if stale[0].kind == "visit" else "last_touch_at"
    if f.lost_period is not None or status == "lost":
        return "lost_on"
    if f.nps:
        return "nps"
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


AnswerKind = Literal["list", "figure", "groups", "refusal"]


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
