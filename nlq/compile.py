"""QuerySpec + the asker's visible owners → ONE SQLAlchemy Select, with the scope inside it on every path.

Every entity is reached through its customer, and every path filters customers by owner_userid IN the
visible set (None: everything). Subqueries use their own aliases so that correlation only ever reaches the
outer customer row. No text SQL: everything is built from the models. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Select,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from core.visits import AT_STORE, MIN_PHOTOS
from nlq.spec import (
    MONEY_FIGURES,
    Period,
    QuerySpec,
    Span,
    TotalCondition,
    TouchCondition,
    default_list_order,
    effective_status,
)
from nlq.sqlfns import at, cents, days_before, exceeds_hours, haversine_exceeds, one_of, position_in
from nlq.timewords import Window, local_now, resolve
from nlq.vocab import STANDARD_TAGS
from storage.models import (
    ContractRow,
    CustomerRow,
    InteractionRow,
    OpportunityRow,
    OrderRow,
    PaymentMatchRow,
    PaymentRow,
    TicketRow,
    UserRow,
    VisitRow,
    VisitTagRow,
)

C = CustomerRow
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "=": operator.eq}
REACHED_QUOTED = ("quoted", "negotiating", "won")
ALL_STAGES = ("need_confirmed", "quoted", "negotiating", "won", "lost")
FRESH_DAYS = 30
DEFAULT_CAP = 1000
ABNORMAL_M = 300  # 异常签到: a check-in more than this far from its customer (both located)
# per-customer totals (thresholds, rankings) that are amounts of money
MONEY_TOTALS = ("sales", "outstanding", "overdue_amount", "contract_amount", "received")


@dataclass(frozen=True)
class OrgFacts:
    """What the compiler needs from the reporting tree (nlq.answer builds it from core.org.OrgTree).

    team_of: userid → the key of their team (the nearest supervisor at or above them; a rep without one goes
    under their nearest manager; anyone else is their own); teams: the team keys in the asker's scope, every
    one a group even when empty; under: customer.under expanded to userids (everyone below those managers, and
    them), None when the spec names nobody."""

    team_of: Mapping[str, str] = field(default_factory=dict)
    teams: tuple[str, ...] = ()
    under: frozenset[str] | None = None
    names: Mapping[str, str] = field(
        default_factory=dict
    )  # userid → name (a team's name is its supervisor's)


@dataclass(frozen=True)
class Plan:
    stmt: Select[Any]
    kind: str  # list | figure | groups
    fields: tuple[str, ...]  # list: the extra row fields, in select order after the fixed four
    money: bool  # the figure is an amount of money
    rate: bool  # the figure is numerator ÷ denominator
    cap: int
    # list: every matching customer counted, run only when the list has more than `cap` rows (the
    # answer then says 共N个); None: the list's rows carry the total (a window count)
    count: Select[Any] | None = None
    money_fields: tuple[str, ...] = ()  # list: the row fields that are amounts of money


def compile_spec(
    spec: QuerySpec,
    *,
    owners: frozenset[str] | None,
    now: datetime,
    dialect: str,
    cap: int = DEFAULT_CAP,
    org: OrgFacts | None = None,
    buckets: list[tuple[str, Window]] | None = None,
) -> Plan:
    """The one statement of a list, a figure or a figure per group (team included).

    buckets: a trend's calendar buckets (nlq.timewords.buckets), oldest first: the spec's figure per bucket in
    one statement, keyed by the bucket (the spec's period must span them). Comparisons, overviews and people
    answers are several statements, run by nlq.answer over derived specs."""
    return _Compiler(
        spec, owners=owners, now=now, dialect=dialect, cap=cap, org=org or OrgFacts(), buckets=buckets or []
    ).plan()


def _between(w: Window) -> Period:
    return Period(kind="between", start=w.start, end=w.end, end_inclusive=w.end_inclusive, unit=w.unit)


class _Compiler:
    def __init__(
        self,
        spec: QuerySpec,
        *,
        owners: frozenset[str] | None,
        now: datetime,
        dialect: str,
        cap: int,
        org: OrgFacts,
        buckets: list[tuple[str, Window]],
    ):
        self.s = spec
        self.buckets = buckets
        self.time_col: Any = None
        self.time_dates = False
        self.owners = owners
        self.now = now
        self.dialect = dialect
        self.cap = cap
        self.org = org
        self.today = local_now(now).date()

    # --- time ------------------------------------------------------------------------------------
    def window(self, p: Period) -> Window:
        return resolve(p, self.now)

    def in_window(self, col: Any, p: Period | None, *, open_start: bool = False) -> ColumnElement[bool]:
        if p is None:
            return true()
        w = self.window(p)
        lo = col > at(w.start) if open_start else col >= at(w.start)
        hi = col <= at(w.end) if w.end_inclusive else col < at(w.end)
        return and_(lo, hi)

    def in_dates(self, col: Any, p: Period | None) -> ColumnElement[bool]:
        if p is None:
            return true()
        lo, hi = self.window(p).date_bounds()
        return and_(col >= lo, col <= hi)

    # --- the scope and the customer's conditions ---------------------------------------------------
    def scope(self) -> list[ColumnElement[bool]]:
        if self.owners is None:
            return []
        if not self.owners:
            return [false()]
        return [one_of(C.owner_userid, sorted(self.owners), self.dialect)]

    def customer_preds(self, *, joined: bool = False) -> list[ColumnElement[bool]]:
        """The customer's conditions. joined: without the tag, ticket-timeout and overdue conditions, which a
        list reads from per-customer counts joined to the customer (list_plan)."""
        f = self.s.customer
        out = self.scope()
        status = self.status()
        if status is not None:
            out.append(C.status == status)
        if f.lost_period is not None:
            out.append(self.in_dates(C.lost_on, f.lost_period))
        if self.org.under is not None or f.under:
            out.append(one_of(C.owner_userid, sorted(self.org.under or ()), self.dialect))
        if f.created_period is not None:
            out.append(self.in_dates(C.created_on, f.created_period))
        for th in f.totals if not joined else ():  # a list outer-joins them (list_plan)
            out.append(self.total_test(th))
        if f.unhandled_ticket:
            k = aliased(TicketRow)
            out.append(exists().where(k.customer_id == C.customer_id, k.responded_at.is_(None)))
        if f.stuck is not None:
            o = aliased(OpportunityRow)
            out.append(
                exists().where(
                    o.customer_id == C.customer_id,
                    o.stage == f.stuck.stage,
                    o.entered_on < self.today - timedelta(days=f.stuck.days),
                )
            )
        out += [OPS[n.op](C.nps, n.value) for n in f.nps]
        for col, values in (
            (C.region, f.regions),
            (C.city, f.cities),
            (C.channel, f.channels),
            (C.owner_userid, f.owners),
        ):
            if values:
                out.append(col.in_(values))
        for t in f.tags if not joined else ():
            out.append(self.has_tag_visit(t.tag, t.period))
        for o in f.orders:
            e = self.has_order(o.category, o.period)
            out.append(e if o.present else ~e)
        for t in f.touches:
            e = self.touched(t)
            out.append(e if t.present else ~e)
        if f.ticket_timeout is not None and not joined:
            k = aliased(TicketRow)
            out.append(
                exists().where(
                    k.customer_id == C.customer_id,
                    self.timed_out(k),
                    self.in_window(k.opened_at, f.ticket_timeout.period),
                )
            )
        if f.overdue is not None and not joined:
            k = aliased(ContractRow)
            out.append(
                exists().where(
                    k.customer_id == C.customer_id,
                    self.overdue(k),
                    self.in_dates(k.due_on, f.overdue.period),
                    self.overdue_longer(k, f.overdue.days_gt),
                )
            )
        return out

    def status(self) -> str | None:
        """active / lost / None (both) for the customers counted: the spec's word; 新客户 counts both
        statuses and 流失客户数 the lost ones; freshness is over active customers."""
        s, f = self.s, self.s.customer
        if s.figure == "freshness":
            return "active"
        if s.entity == "customers" and s.figure == "new_count" and f.status is None and f.lost_period is None:
            return None
        if s.entity == "customers" and s.figure == "lost_count":
            return "lost"
        return effective_status(s)

    def overdue_longer(self, k: Any, days_gt: int | None) -> ColumnElement[bool]:
        """逾期超过N天: today − due_on > N whole days."""
        if days_gt is None:
            return true()
        return k.due_on < self.today - timedelta(days=days_gt)

    # --- per-customer totals (v2 thresholds and rankings) --------------------------------------------
    def total_test(self, th: TotalCondition, total: Any = None) -> ColumnElement[bool]:
        if total is None:
            total = self.total(th.measure, th.period, th.tag, th.category)
        if th.measure in MONEY_TOTALS:  # whole cents, so SQLite's floating sums compare exactly
            return OPS[th.op](cents(total), round(th.value * 100))
        return OPS[th.op](total, th.value)

    def total(
        self, measure: str, period: Period | None, tag: str | None = None, category: str | None = None
    ) -> Any:
        """The outer customer's total of `measure` over the period (all time if none), 0 without rows: a
        correlated scalar subquery (so a customer with no rows has 0, and 少于 includes it)."""
        cid = C.customer_id
        q: Any
        if measure in ("sales", "order_count"):
            o = aliased(OrderRow)
            agg = func.sum(o.amount) if measure == "sales" else func.count()
            q = select(agg).where(
                o.customer_id == cid,
                self.in_dates(o.ordered_on, period),
                o.category == category if category else true(),
            )
        elif measure in ("visit_count", "tag_visits") and tag is not None and period is None:
            t = aliased(
                VisitTagRow
            )  # visit_tags carries the visit's customer: the (tag, customer_id) index alone
            q = select(func.count()).select_from(t).where(t.customer_id == cid, t.tag == tag)
        elif measure in ("visit_count", "tag_visits"):
            v = aliased(VisitRow)
            q = (
                select(func.count())
                .select_from(v)
                .where(v.customer_id == cid, self.in_window(v.checked_in_at, period))
            )
            if tag is not None:
                t = aliased(VisitTagRow)
                q = q.join(t, and_(t.visit_id == v.visit_id, t.tag == tag))
        elif measure in ("ticket_count", "timeout_tickets"):
            k = aliased(TicketRow)
            late = self.timed_out(k) if measure == "timeout_tickets" else true()
            q = select(func.count()).where(k.customer_id == cid, late, self.in_window(k.opened_at, period))
        elif measure in ("outstanding", "overdue_amount"):
            k = aliased(ContractRow)
            paid = self.paid(k)
            if measure == "outstanding":  # every contract (signed in the period, if one is given)
                left = case((k.amount > paid, k.amount - paid), else_=0)
                q = select(func.sum(left)).where(k.customer_id == cid, self.in_dates(k.signed_on, period))
            else:
                q = select(func.sum(k.amount - paid)).where(
                    k.customer_id == cid, self.overdue(k), self.in_dates(k.due_on, period)
                )
        elif measure == "contract_amount":
            k = aliased(ContractRow)
            q = select(func.sum(k.amount)).where(k.customer_id == cid, self.in_dates(k.signed_on, period))
        elif measure == "received":
            k = aliased(ContractRow)
            pm = self.primary_matches()
            q = (
                select(func.sum(pm.c.amount))
                .select_from(pm)
                .join(k, k.contract_no == pm.c.contract_no)
                .where(k.customer_id == cid, self.in_dates(pm.c.paid_on, period))
            )
        else:
            raise ValueError(f"no per-customer total {measure}")
        return func.coalesce(q.scalar_subquery(), 0)

    def totals_by_customer(
        self, measure: str, period: Period | None, tag: str | None = None, category: str | None = None
    ) -> Any:
        """(customer_id, v): the same totals as total(), aggregated once per customer with such rows, for a list
        to outer-join (0 for the others) rather than a subquery per customer."""
        q: Any
        if measure in ("sales", "order_count"):
            o = aliased(OrderRow)
            agg = func.sum(o.amount) if measure == "sales" else func.count()
            q = select(o.customer_id.label("customer_id"), agg.label("v")).where(
                self.in_dates(o.ordered_on, period), o.category == category if category else true()
            )
            cid = o.customer_id
        elif measure in ("visit_count", "tag_visits"):
            v = aliased(VisitRow)
            q = select(v.customer_id.label("customer_id"), func.count().label("v")).where(
                self.in_window(v.checked_in_at, period)
            )
            if tag is not None:
                t = aliased(VisitTagRow)
                q = q.select_from(v).join(t, and_(t.visit_id == v.visit_id, t.tag == tag))
            cid = v.customer_id
        elif measure in ("ticket_count", "timeout_tickets"):
            k = aliased(TicketRow)
            late = self.timed_out(k) if measure == "timeout_tickets" else true()
            q = select(k.customer_id.label("customer_id"), func.count().label("v")).where(
                late, self.in_window(k.opened_at, period)
            )
            cid = k.customer_id
        elif measure in ("outstanding", "overdue_amount", "contract_amount"):
            k = aliased(ContractRow)
            paid = self.paid_by_contract()
            paid_n = func.coalesce(paid.c.paid, 0)
            if measure == "outstanding":
                agg, preds = (
                    func.sum(case((k.amount > paid_n, k.amount - paid_n), else_=0)),
                    [self.in_dates(k.signed_on, period)],
                )
            elif measure == "overdue_amount":
                agg = func.sum(k.amount - paid_n)
                preds = [
                    k.due_on < self.today,
                    cents(paid_n) < cents(k.amount),
                    self.in_dates(k.due_on, period),
                ]
            else:
                agg, preds = func.sum(k.amount), [self.in_dates(k.signed_on, period)]
            q = (
                select(k.customer_id.label("customer_id"), agg.label("v"))
                .select_from(k)
                .outerjoin(paid, paid.c.contract_no == k.contract_no)
                .where(*preds)
            )
            cid = k.customer_id
        elif measure == "received":
            k = aliased(ContractRow)
            pm = self.primary_matches()
            q = (
                select(k.customer_id.label("customer_id"), func.sum(pm.c.amount).label("v"))
                .select_from(pm)
                .join(k, k.contract_no == pm.c.contract_no)
                .where(self.in_dates(pm.c.paid_on, period))
            )
            cid = k.customer_id
        else:
            raise ValueError(f"no per-customer total {measure}")
        return q.group_by(cid)

    def overdue_days(self) -> Any:
        """The outer customer's 逾期天数: that of its longest-overdue contract (0 with none)."""
        k = aliased(ContractRow)
        oldest = select(func.min(k.due_on)).where(k.customer_id == C.customer_id, self.overdue(k))
        return func.coalesce(days_before(self.today, oldest.scalar_subquery(), self.dialect), 0)

    def primary_matches(self) -> Any:
        """(txn_id, contract_no, amount, paid_on) of each matched payment under ONE contract: the one whose
        number appears first in its memo (ties: the smaller number). A payment whose memo names several
        contracts counts once (spec v2, 回款)."""
        p, m, m2 = aliased(PaymentRow), aliased(PaymentMatchRow), aliased(PaymentMatchRow)
        pos, pos2 = (
            position_in(p.memo, m.contract_no, self.dialect),
            position_in(p.memo, m2.contract_no, self.dialect),
        )
        earlier = exists().where(
            m2.txn_id == m.txn_id,
            m2.contract_no != m.contract_no,
            or_(pos2 < pos, and_(pos2 == pos, m2.contract_no < m.contract_no)),
        )
        return (
            select(
                m.txn_id.label("txn_id"),
                m.contract_no.label("contract_no"),
                p.amount.label("amount"),
                p.paid_on.label("paid_on"),
            )
            .select_from(m)
            .join(p, p.txn_id == m.txn_id)
            .where(~earlier)
            .subquery("pm")
        )

    def has_tag_visit(self, tag: str, period: Period | None) -> ColumnElement[bool]:
        t = aliased(VisitTagRow)
        if period is None:  # visit_tags carries the visit's customer (kept by triggers): no visit needed
            return exists().where(t.customer_id == C.customer_id, t.tag == tag)
        v = aliased(VisitRow)
        return exists().where(
            v.customer_id == C.customer_id,
            t.visit_id == v.visit_id,
            t.tag == tag,
            self.in_window(v.checked_in_at, period),
        )

    def has_order(self, category: str | None, period: Period | None) -> ColumnElement[bool]:
        o = aliased(OrderRow)
        return exists().where(
            o.customer_id == C.customer_id,
            o.category == category if category else true(),
            self.in_dates(o.ordered_on, period),
        )

    def touched(self, t: TouchCondition) -> ColumnElement[bool]:
        """A touch (kind any: visit or interaction) in the condition's window.

        Read from the customer's latest touch (customers.last_touch_at / last_visit_at, kept by
        storage.triggers.touches): none at all → no; the latest inside the window → yes; the latest before
        the window → no; only a latest touch after the window's end (an earlier `now`, a past month) leaves
        the question open, and those customers alone are probed in visits (and interactions)."""
        latest = C.last_visit_at if t.kind == "visit" else C.last_touch_at
        w = self.window(t.period)
        after_end = latest > at(w.end) if w.end_inclusive else latest >= at(w.end)
        return and_(
            latest.is_not(None),
            or_(
                self.in_window(latest, t.period, open_start=t.age_inclusive),
                and_(after_end, self.touch_rows(t)),
            ),
        )

    def touch_rows(self, t: TouchCondition) -> ColumnElement[bool]:
        """The same test on the rows themselves: a visit (or, kind any, an interaction) in the window."""
        v = aliased(VisitRow)
        visits = exists().where(
            v.customer_id == C.customer_id,
            self.in_window(v.checked_in_at, t.period, open_start=t.age_inclusive),
        )
        if t.kind == "visit":
            return visits
        i = aliased(InteractionRow)
        return or_(
            visits,
            exists().where(
                i.customer_id == C.customer_id, self.in_window(i.at, t.period, open_start=t.age_inclusive)
            ),
        )

    def timed_out(self, k: Any) -> ColumnElement[bool]:
        """服务响应超时: answered later than sla_hours after opened_at, or unanswered with more than that passed."""
        return or_(
            and_(
                k.responded_at.is_not(None),
                exceeds_hours(k.responded_at, k.opened_at, k.sla_hours, self.dialect),
            ),
            and_(
                k.responded_at.is_(None), exceeds_hours(at(self.now), k.opened_at, k.sla_hours, self.dialect)
            ),
        )

    def paid(self, k: Any) -> Any:
        """The contract's matched payments (memo contains its number), from the stored matches
        (storage.payments keeps payment_matches equal to the substring test)."""
        pm = self.primary_matches()
        return func.coalesce(
            select(func.sum(pm.c.amount)).where(pm.c.contract_no == k.contract_no).scalar_subquery(), 0
        )

    def overdue(self, k: Any) -> ColumnElement[bool]:
        """回款逾期: past due_on, and the payments whose memo holds the contract number sum to less than it."""
        return and_(k.due_on < self.today, cents(self.paid(k)) < cents(k.amount))

    def paid_by_contract(self) -> Any:
        """(contract_no, paid) for the contracts with matched payments, grouped once (joined, rather than a
        subquery per contract)."""
        pm = self.primary_matches()
        return (
            select(pm.c.contract_no.label("contract_no"), func.sum(pm.c.amount).label("paid"))
            .group_by(pm.c.contract_no)
            .subquery("paid")
        )

    # --- per-customer figures for list rows ----------------------------------------------------------
    def counts_by_customer(
        self, what: str, period: Period | None = None, tag: str | None = None, days_gt: int | None = None
    ) -> Any:
        """(customer_id, n[, amount]) for the customers with at least one such row: a list joins it instead of
        an EXISTS and a count per customer (the same customers, the same figures)."""
        if what == "tag_visits":  # (visit_id, tag) is the key: one tag row per visit
            v, t = aliased(VisitRow), aliased(VisitTagRow)
            if period is None:  # read from (tag, customer_id) alone: visit_tags.customer_id is the visit's
                return (
                    select(t.customer_id.label("customer_id"), func.count().label("n"))
                    .where(t.tag == tag)
                    .group_by(t.customer_id)
                )
            return (
                select(v.customer_id.label("customer_id"), func.count().label("n"))
                .select_from(t)
                .join(v, v.visit_id == t.visit_id)
                .where(t.tag == tag, self.in_window(v.checked_in_at, period))
                .group_by(v.customer_id)
            )
        if what == "timeout_tickets":
            k = aliased(TicketRow)
            return (
                select(k.customer_id.label("customer_id"), func.count().label("n"))
                .where(self.timed_out(k), self.in_window(k.opened_at, period))
                .group_by(k.customer_id)
            )
        k = aliased(ContractRow)  # overdue contracts
        paid = self.paid_by_contract()
        left = k.amount - func.coalesce(paid.c.paid, 0)
        return (
            select(
                k.customer_id.label("customer_id"), func.count().label("n"), func.sum(left).label("amount")
            )
            .select_from(k)
            .outerjoin(paid, paid.c.contract_no == k.contract_no)
            .where(
                k.due_on < self.today,
                cents(func.coalesce(paid.c.paid, 0)) < cents(k.amount),
                self.in_dates(k.due_on, period),
                self.overdue_longer(k, days_gt),
            )
            .group_by(k.customer_id)
        )

    def last_touch(self, kind: str) -> ColumnElement[Any]:
        """The latest touch (kind any: visit or interaction) of the outer customer, NULL if never touched:
        the customer's own column, kept by storage.triggers.touches."""
        return C.last_visit_at if kind == "visit" else C.last_touch_at

    def per_customer(self, what: str, period: Period | None = None, category: str | None = None) -> Any:
        """(customer_id, v): a ranking's figure (sales, order_count, visit_count) for each customer with such
        rows, aggregated once and outer-joined (0 for the others) rather than a subquery per customer."""
        if what in ("sales", "order_count"):
            o = aliased(OrderRow)
            agg = func.sum(o.amount) if what == "sales" else func.count()
            return (
                select(o.customer_id.label("customer_id"), agg.label("v"))
                .where(self.in_dates(o.ordered_on, period), o.category == category if category else true())
                .group_by(o.customer_id)
            )
        v = aliased(VisitRow)  # visit_count
        return (
            select(v.customer_id.label("customer_id"), func.count().label("v"))
            .where(self.in_window(v.checked_in_at, period))
            .group_by(v.customer_id)
        )

    # --- the three shapes --------------------------------------------------------------------------
    def plan(self) -> Plan:
        if self.s.shape == "list":
            return self.list_plan()
        return self.figure_plan()

    def list_plan(self) -> Plan:
        s, f = self.s, self.s.customer
        fields: list[tuple[str, Any]] = []
        order: list[Any] = []  # the most relevant figure first, then the customer id
        if s.customer.status == "all" or effective_status(s) == "lost":
            fields.append(("status", C.status))
        if effective_status(s) == "lost":
            fields.append(("lost_on", C.lost_on))
        if f.nps or (s.ranking and s.ranking.by == "nps"):
            fields.append(("nps", C.nps))
        for name, col, values in (
            ("region", C.region, f.regions),
            ("city", C.city, f.cities),
            ("channel", C.channel, f.channels),
        ):
            if values:
                fields.append((name, col))
        kinds = {t.kind for t in f.touches}
        stale_visits = any(not t.present and t.kind == "visit" for t in f.touches)
        if "any" in kinds or stale_visits or (s.ranking and s.ranking.by == "last_touch"):
            fields.append(("last_touch_at", self.last_touch("any")))
        if "visit" in kinds or (s.ranking and s.ranking.by == "last_visit"):
            fields.append(("last_visit_at", self.last_touch("visit")))
        joins: list[Any] = []  # per-customer counts, inner-joined: the customer must have such rows
        for i, t in enumerate(f.tags):
            joins.append(self.counts_by_customer("tag_visits", t.period, tag=t.tag).subquery(f"tagged{i}"))
            fields.append((f"tag_visits:{i}", joins[-1].c.n))
        outer: list[Any] = []  # per-customer figures, outer-joined: 0 for a customer without such rows
        present = [o for o in f.orders if o.present]
        if present:
            outer.append(
                self.per_customer("order_count", present[0].period, present[0].category).subquery("ordered")
            )
            fields.append(("order_count", func.coalesce(outer[-1].c.v, 0)))
        if f.ticket_timeout is not None:
            joins.append(self.counts_by_customer("timeout_tickets", f.ticket_timeout.period).subquery("late"))
            fields.append(("timeout_tickets", joins[-1].c.n))
        if f.overdue is not None:
            joins.append(
                self.counts_by_customer(
                    "overdue_contracts", f.overdue.period, days_gt=f.overdue.days_gt
                ).subquery("overdue")
            )
            fields.append(("overdue_contracts", joins[-1].c.n))
            fields.append(("overdue_amount", joins[-1].c.amount))
        r = s.ranking
        if (
            r is not None
            and r.by in ("sales", "order_count", "visit_count")
            and r.by not in {n for n, _ in fields}
        ):
            outer.append(self.per_customer(r.by, r.period).subquery("ranked"))
            fields.append((r.by, func.coalesce(outer[-1].c.v, 0)))
        taken = {n for n, _ in fields}
        totals: list[str] = []  # the field of each threshold, in f.totals order
        total_preds: list[Any] = []
        for i, th in enumerate(f.totals):
            name = th.measure if th.measure not in taken else f"{th.measure}_{i + 1}"
            outer.append(
                self.totals_by_customer(th.measure, th.period, th.tag, th.category).subquery(f"total{i}")
            )
            col = func.coalesce(outer[-1].c.v, 0)
            fields.append((name, col))
            total_preds.append(self.total_test(th, col))
            taken.add(name)
            totals.append(name)
        rank_field = None
        if r is not None:
            rank_field = {"last_touch": "last_touch_at", "last_visit": "last_visit_at"}.get(r.by, r.by)
            if r.by == "tag_visits":
                rank_field = "tag_visit_count"
            if rank_field not in taken:
                if r.by == "overdue_days":
                    fields.append(("overdue_days", self.overdue_days()))
                else:
                    outer.append(self.totals_by_customer(r.by, r.period, r.tag).subquery("ranked_total"))
                    fields.append((rank_field, func.coalesce(outer[-1].c.v, 0)))
        elif not totals and f.overdue is not None and f.overdue.days_gt is not None:
            fields.append(("overdue_days", self.overdue_days()))
            rank_field = "overdue_days"
        named = {name: col.label(f"f{i}") for i, (name, col) in enumerate(fields)}
        if r is not None:
            col = named[rank_field]
            if r.by in ("last_touch", "last_visit"):  # never touched is the longest untouched
                order.append(col.asc().nulls_first() if not r.descending else col.desc().nulls_last())
            else:
                order.append(col.desc().nulls_last() if r.descending else col.asc().nulls_last())
        elif totals:  # a list filtered by a threshold: by that figure, towards the threshold's side
            col = named[totals[0]]
            order.append(col.desc() if f.totals[0].op in (">", ">=") else col.asc())
        elif rank_field is not None:
            order.append(named[rank_field].desc())
        else:
            order += self.default_order(named)
        preds = self.customer_preds(joined=True) + total_preds
        if r is not None and r.by == "nps":
            preds.append(C.nps.is_not(None))  # a customer without an NPS has no place in an NPS ranking
        limit = min(s.limit or self.cap + 1, self.cap + 1)
        source: Any = C.__table__
        for j in joins:
            source = source.join(j, j.c.customer_id == C.customer_id)
        for j in outer:
            source = source.outerjoin(j, j.c.customer_id == C.customer_id)
        # the total (共N个) matters only past the cap. A list built from joined per-customer counts is computed
        # whole anyway: its total rides along as a window count. Any other list stops at its LIMIT and is
        # counted by a second statement only when it is longer than the cap.
        whole = bool(joins or total_preds)  # a threshold on a joined total is computed whole too
        total = [func.count().over().label("total")] if whole else []
        stmt = (
            select(
                C.customer_id,
                C.name,
                C.owner_userid,
                UserRow.name.label("owner_name"),
                *named.values(),
                *total,
            )
            .select_from(source)
            .outerjoin(UserRow, UserRow.userid == C.owner_userid)
            .where(*preds)
            .order_by(*order, C.customer_id)
            .limit(limit)
        )
        count = None if whole else select(func.count()).select_from(C.__table__).where(*preds)
        money = tuple(
            n
            for n, _ in fields
            if n.split("_")[0] in ("sales", "outstanding", "received", "contract")
            or n.startswith("overdue_amount")
        )
        return Plan(
            stmt,
            "list",
            tuple(n for n, _ in fields),
            money=False,
            rate=False,
            cap=self.cap,
            count=count,
            money_fields=money,
        )

    def default_order(self, named: dict[str, Any]) -> list[Any]:
        by = default_list_order(self.s.customer, effective_status(self.s))
        if by is None:
            return []
        if by == "last_visit_at":  # not visited for a span: never touched first, then the longest untouched
            return [named["last_touch_at"].asc().nulls_first(), named[by].asc().nulls_first()]
        if by == "last_touch_at":
            return [named[by].asc().nulls_first()]
        if by == "lost_on":
            return [C.lost_on.desc().nulls_last()]
        if by == "nps":  # towards the condition's side: NPS低于30 lowest first, NPS>70 highest first
            low = all(n.op in ("<", "<=") for n in self.s.customer.nps)
            return [C.nps.asc().nulls_last() if low else C.nps.desc().nulls_last()]
        return [named[by].desc()]

    def figure_plan(self) -> Plan:
        s = self.s
        base, preds, value, num, den, key = self.entity_parts()
        money = s.figure in MONEY_FIGURES
        if s.shape == "figure":
            cols = [num.label("num"), den.label("den")] if s.is_rate else [value.label("value")]
            stmt = select(*cols).select_from(base).where(*preds)
            return Plan(stmt, "figure", (), money=money, rate=s.is_rate, cap=self.cap)
        cols = [key.label("key")] + (
            [num.label("num"), den.label("den")] if s.is_rate else [value.label("value")]
        )
        agg = select(*cols).select_from(base).where(*preds).group_by(key).cte("agg")  # computed once
        # every group with rows (a NULL key too), then the domain's groups without any, as zeros: the
        # domain's keys are never NULL, so plain equality finds them (no IS NOT DISTINCT FROM join, which
        # PostgreSQL can only run as a nested loop)
        domain = self.domain() or [select(null().label("key")).where(false())]
        dom = (union(*domain) if len(domain) > 1 else domain[0].distinct()).subquery("dom")
        a = agg.alias("agg_keys")
        empty = ~exists().where(a.c.key == dom.c.key)
        zero = [literal_column("0").label(n) for n in (("num", "den") if s.is_rate else ("value",))]
        filled = [agg.c.num, agg.c.den] if s.is_rate else [agg.c.value]
        groups = union_all(select(agg.c.key, *filled), select(dom.c.key, *zero).where(empty)).subquery(
            "groups"
        )
        if s.is_rate:
            num_c, den_c = func.coalesce(groups.c.num, 0), func.coalesce(groups.c.den, 0)
            sort = cast(num_c, Float) / func.nullif(den_c, 0)
            out = [num_c.label("num"), den_c.label("den")]
        else:
            sort = func.coalesce(groups.c.value, 0)
            out = [sort.label("value")]
        r = s.ranking
        order = [  # a group without a key (no channel, no category) is never ranked: it comes last
            case((groups.c.key.is_(None), 1), else_=0),
            sort.asc().nulls_last() if (r and not r.descending) else sort.desc().nulls_last(),
            groups.c.key.asc().nulls_last(),
        ]
        if self.buckets and r is None:  # a trend: oldest first
            order = [groups.c.key.asc()]
        if s.group_by in ("rep", "team"):
            owner = aliased(UserRow)
            source = groups.outerjoin(owner, owner.userid == groups.c.key)
            name = owner.name
        else:
            source, name = groups, null()
        stmt = (
            select(groups.c.key, name.label("name"), *out)
            .select_from(source)
            .order_by(*order)
            .limit(min(s.limit or self.cap + 1, self.cap + 1))
        )
        return Plan(stmt, "groups", (), money=money, rate=s.is_rate, cap=self.cap)

    def own_time(self, col: Any, *, dates: bool) -> ColumnElement[bool]:
        """The entity's own time in the spec's period; remembered for a trend's bucket key."""
        self.time_col, self.time_dates = col, dates
        return self.in_dates(col, self.s.period) if dates else self.in_window(col, self.s.period)

    def bucket_key(self) -> Any:
        """A trend's group key: the bucket (YYYY-MM-DD of the Monday / YYYY-MM) holding the row's own time."""
        if self.time_col is None:
            raise ValueError("this figure has no time of its own to make a trend of")
        test = self.in_dates if self.time_dates else self.in_window
        return case(*[(test(self.time_col, _between(w)), literal(k)) for k, w in self.buckets], else_=null())

    def entity_parts(self) -> tuple[Any, list[Any], Any, Any, Any, Any]:
        """(from clause, where, value, numerator, denominator, group key) of the spec's entity."""
        s = self.s
        preds = self.customer_preds()
        value = num = den = None
        owner_key = {"rep": C.owner_userid, "team": self.team_key(C.owner_userid)}
        if s.entity == "customers":
            base = C
            value = func.count()
            if s.figure == "freshness":
                # touched in the last 30 days, read from the customer's latest touch (see touched)
                period = Period(kind="rolling", span=Span(amount=FRESH_DAYS, unit="day"))
                fresh = self.touched(TouchCondition(present=True, period=period))
                num, den = func.coalesce(func.sum(case((fresh, 1), else_=0)), 0), func.count()
            elif s.figure == "new_count":  # 新客户: created in the period
                preds.append(self.own_time(C.created_on, dates=True))
            elif s.figure == "lost_count":  # 流失: status lost (status()) with lost_on in the period
                preds += [C.lost_on.is_not(None), self.own_time(C.lost_on, dates=True)]
            row_key = owner_key
        elif s.entity == "visits":
            v = VisitRow
            # the customer is joined only when something reads it (the scope, a customer condition, a
            # customer group key, the customer's location): visits.customer_id is a NOT NULL foreign key, so
            # the join drops no visit
            customer_read = (
                bool(preds) or s.group_by in ("region", "city", "channel") or s.figure == "abnormal_count"
            )
            tag_only = (
                s.tag is not None
                and not customer_read
                and s.period is None
                and not s.reps
                and s.group_by is None
                and s.figure == "count"
            )
            if tag_only:  # visits with tag X: the tag rows themselves (one per visit and tag)
                return VisitTagRow.__table__, [VisitTagRow.tag == s.tag], func.count(), None, None, None
            if (
                s.group_by == "tag"
                and s.figure == "count"
                and not s.reps
                and s.tag is None
                and not self.buckets
            ):
                # visits per tag (需求标签前3): the tag rows themselves, one per visit and tag, with their copies
                # of the visit's customer and time (kept by triggers) — no month of visits joined to every tag
                t = VisitTagRow
                tags = (
                    t.__table__.join(C.__table__, t.customer_id == C.customer_id)
                    if customer_read
                    else t.__table__
                )
                preds.append(self.own_time(t.checked_in_at, dates=False))
                return tags, preds, func.count(), None, None, t.tag
            base = (
                v.__table__.join(C.__table__, v.customer_id == C.customer_id)
                if customer_read
                else v.__table__
            )
            if s.group_by == "tag":
                base = base.join(VisitTagRow.__table__, VisitTagRow.visit_id == v.visit_id)
            preds.append(self.own_time(v.checked_in_at, dates=False))
            if s.reps:
                preds.append(v.rep_userid.in_(s.reps))
            if s.tag:  # joined: (visit_id, tag) is the key, so at most one row per visit
                t = aliased(VisitTagRow)
                base = base.join(t, and_(t.visit_id == v.visit_id, t.tag == s.tag))
            # tag_count: the visit's visit_tags rows, kept by triggers (storage.triggers.visit_tags)
            # a location AT the store: the grade, not just coordinates (core.visits.AT_STORE)
            complete = and_(v.location_grade.in_(AT_STORE), v.photo_count >= MIN_PHOTOS, v.tag_count > 0)
            complete_n = func.coalesce(func.sum(case((complete, 1), else_=0)), 0)
            if s.figure == "complete_count":
                value = complete_n
            elif s.figure == "distinct_customers":  # 跑了多少家店: customers, not visits
                value = func.count(func.distinct(v.customer_id))
            elif s.figure == "abnormal_count":  # 异常签到: both located, more than 300 m apart (haversine)
                far = and_(
                    v.lat.is_not(None),
                    v.lng.is_not(None),
                    C.lat.is_not(None),
                    C.lng.is_not(None),
                    haversine_exceeds(v.lat, v.lng, C.lat, C.lng, ABNORMAL_M),
                )
                value = func.coalesce(func.sum(case((far, 1), else_=0)), 0)
            else:
                value = func.count()
            num, den = complete_n, func.count()
            row_key = {"rep": v.rep_userid, "team": self.team_key(v.rep_userid), "tag": VisitTagRow.tag}
        elif s.entity == "orders":
            o = OrderRow
            base = o.__table__.join(C.__table__, o.customer_id == C.customer_id)
            preds.append(self.own_time(o.ordered_on, dates=True))
            if s.category:
                preds.append(o.category == s.category)
            value = func.coalesce(func.sum(o.amount), 0) if s.figure == "sales" else func.count()
            num, den = func.coalesce(func.sum(o.amount), 0), func.count()  # 客单价: sales ÷ orders
            row_key = {**owner_key, "category": o.category}
        elif s.entity == "opportunities":
            p = OpportunityRow
            base = p.__table__.join(C.__table__, p.customer_id == C.customer_id)
            preds.append(self.own_time(p.entered_on, dates=True))
            if s.stages:
                preds.append(p.stage.in_(s.stages))
            if s.stuck_days is not None:  # 卡在X阶段超过N天: the current stage entered more than N days ago
                preds.append(p.entered_on < self.today - timedelta(days=s.stuck_days))
            value = func.count() if s.figure != "amount" else func.coalesce(func.sum(p.amount), 0)
            if s.figure == "win_rate":  # won ÷ (won + lost)
                num = func.coalesce(func.sum(case((p.stage == "won", 1), else_=0)), 0)
                den = func.coalesce(func.sum(case((p.stage.in_(("won", "lost")), 1), else_=0)), 0)
            else:
                num = func.coalesce(func.sum(case((p.stage.in_(REACHED_QUOTED), 1), else_=0)), 0)
                den = func.count()
            row_key = {**owner_key, "stage": p.stage}
        elif s.entity == "tickets":
            k = TicketRow
            base = k.__table__.join(C.__table__, k.customer_id == C.customer_id)
            preds.append(self.own_time(k.opened_at, dates=False))
            if s.timeout_only:
                preds.append(self.timed_out(k))
            if s.unhandled_only:  # 未处理: not answered
                preds.append(k.responded_at.is_(None))
            value = func.count()
            row_key = owner_key
        elif s.entity == "payments":  # 回款: matched payments, each under one contract, by paid_on
            pm = self.primary_matches()
            k = ContractRow
            base = pm.join(k.__table__, k.contract_no == pm.c.contract_no).join(
                C.__table__, k.customer_id == C.customer_id
            )
            preds.append(self.own_time(pm.c.paid_on, dates=True))
            value = func.coalesce(func.sum(pm.c.amount), 0)
            row_key = owner_key
        else:  # contracts: the overdue ones (v1), or all of them (contract_scope all, by signed_on)
            k = ContractRow
            paid = self.paid_by_contract()
            base = k.__table__.join(C.__table__, k.customer_id == C.customer_id).outerjoin(
                paid, paid.c.contract_no == k.contract_no
            )
            paid_n = func.coalesce(paid.c.paid, 0)
            if s.contract_scope == "all":
                preds.append(self.own_time(k.signed_on, dates=True))
                left = case((k.amount > paid_n, k.amount - paid_n), else_=0)
            else:
                preds += [
                    k.due_on < self.today,
                    cents(paid_n) < cents(k.amount),
                    self.own_time(k.due_on, dates=True),
                    self.overdue_longer(k, s.overdue_days_gt),
                ]
                left = k.amount - paid_n
            if s.figure == "count":
                value = func.count()
            elif s.figure == "amount":
                value = func.coalesce(func.sum(k.amount), 0)
            else:
                value = func.coalesce(func.sum(left), 0)
            row_key = owner_key
        keys = {"region": C.region, "city": C.city, "channel": C.channel, **row_key}
        key = keys.get(s.group_by) if s.group_by else None
        if self.buckets:
            key = self.bucket_key()
        return base, preds, value, num, den, key

    def team_key(self, userid_col: Any) -> Any:
        """The team (a supervisor's userid) of the person in userid_col; a person the tree does not place in
        a team is their own key."""
        mapping = {u: t for u, t in self.org.team_of.items() if u != t}
        if not mapping:
            return userid_col
        return case(mapping, value=userid_col, else_=userid_col)

    def domain(self) -> list[Select[Any]]:
        """The groups that appear even with nothing in them: every rep / region / city / … in scope."""
        g = self.s.group_by
        if self.buckets:
            return [select(literal(k).label("key")) for k, _ in self.buckets]
        if g == "team":
            return [select(literal(t).label("key")) for t in self.org.teams]
        if g == "rep":
            q = select(UserRow.userid.label("key")).where(UserRow.role == "rep")
            return [
                q.where(one_of(UserRow.userid, sorted(self.owners), self.dialect))
                if self.owners is not None
                else q
            ]
        if g in ("region", "city", "channel"):
            col = {"region": C.region, "city": C.city, "channel": C.channel}[g]
            return [select(col.label("key")).where(col.is_not(None), *self.scope())]
        if g == "category":
            return [
                select(OrderRow.category.label("key"))
                .join(C, C.customer_id == OrderRow.customer_id)
                .where(OrderRow.category.is_not(None), *self.scope())
            ]
        values = STANDARD_TAGS if g == "tag" else ALL_STAGES
        return [select(literal(v).label("key")) for v in values]
