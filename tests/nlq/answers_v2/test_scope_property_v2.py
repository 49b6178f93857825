"""Property (v2 shapes): for generated org trees, people, team groups, comparisons, overviews, trends and totals
never show a row or count a figure outside the asker's scope.

The specs are built by hand (the parser is not under test); every figure is recomputed here in Python from the
generated rows and the visible set of tests.hostile.scope_org (its own walk of the tree), so a figure that counted
one row from outside the scope would differ.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from core.clock import SHANGHAI
from nlq.answer import answer_spec
from nlq.spec import CustomerFilter, Having, Period, QuerySpec, TotalCondition
from storage.models import CustomerRow, OrderRow, UserRow, VisitRow, VisitTagRow
from tests.hostile.scope_org import visible
from tests.nlq.dataset import NOW
from tests.nlq.test_scope_property import orgs

THIS_MONTH = Period(kind="this_month")
SHAPES = [
    "people_visits",
    "people_no_visit",
    "people_sales",
    "team_customers",
    "team_visits",
    "compare_sales",
    "compare_visits_by_rep",
    "overview",
    "trend_visits",
    "totals_list",
]


def spec_of(shape: str) -> QuerySpec:
    return {
        "people_visits": QuerySpec(entity="visits", figure="count", period=THIS_MONTH, people=True),
        "people_no_visit": QuerySpec(
            entity="visits", figure="count", period=THIS_MONTH, people=True, having=Having(op="<", value=1)
        ),
        "people_sales": QuerySpec(entity="orders", figure="sales", people=True),
        "team_customers": QuerySpec(entity="customers", figure="count", group_by="team"),
        "team_visits": QuerySpec(entity="visits", figure="count", group_by="team"),
        "compare_sales": QuerySpec(entity="orders", figure="sales", period=THIS_MONTH, compare="previous"),
        "compare_visits_by_rep": QuerySpec(
            entity="visits", figure="count", period=THIS_MONTH, compare="previous", group_by="rep"
        ),
        "overview": QuerySpec(entity="visits", figure="count", overview=True),
        "trend_visits": QuerySpec(entity="visits", figure="count", group_by="week", buckets=8),
        "totals_list": QuerySpec(
            entity="customers",
            figure="list",
            customer=CustomerFilter(status="all", totals=[TotalCondition(measure="sales", op=">=", value=0)]),
        ),
    }[shape]


def local_day(at) -> date:
    return at.astimezone(SHANGHAI).date()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=orgs(), shape=st.sampled_from(SHAPES))
def test_no_row_or_figure_outside_the_scope(session_factory, case, shape):
    users, customers, visits, tags, orders, asker, _ = case
    with session_factory() as s:
        for model in (VisitTagRow, VisitRow, OrderRow, CustomerRow, UserRow):
            s.execute(delete(model))
        for model, rows in (
            (UserRow, users),
            (CustomerRow, customers),
            (VisitRow, visits),
            (VisitTagRow, tags),
            (OrderRow, orders),
        ):
            if rows:
                s.execute(insert(model), rows)
        s.commit()
    spec = spec_of(shape)
    with session_factory() as s:
        a = answer_spec(s, spec, asker=asker, now=NOW, understood="（手工）")
    vis = visible(users, asker)
    mine = {c["customer_id"] for c in customers if vis is None or c["owner_userid"] in vis}
    my_visits = [v for v in visits if v["customer_id"] in mine]
    my_orders = [o for o in orders if o["customer_id"] in mine]
    month = local_day(NOW).replace(day=1)
    reps = {u["userid"] for u in users if u["role"] == "rep" and (vis is None or u["userid"] in vis)}

    assert all(r["customer_id"] in mine for r in a["rows"] if "customer_id" in r), (shape, asker)
    if a["kind"] == "people":
        got = {r["userid"] for r in a["rows"]}
        assert got <= reps, (shape, asker, got - reps)
        by_rep = {u: 0 for u in reps}
        for v in my_visits:
            if local_day(v["checked_in_at"]) >= month and v["rep_userid"] in by_rep:
                by_rep[v["rep_userid"]] += 1
        if shape == "people_visits":
            assert {r["userid"]: r["value"] for r in a["rows"]} == by_rep
        elif shape == "people_no_visit":  # a person's own check-ins, at any customer (test_people_acts.py)
            checked_in = {
                v["rep_userid"]
                for v in visits
                if local_day(v["checked_in_at"]) >= month and v["rep_userid"] in reps
            }
            assert got == reps - checked_in
        else:
            sales = {u: Decimal(0) for u in reps}
            owner = {c["customer_id"]: c["owner_userid"] for c in customers}
            for o in my_orders:
                if owner[o["customer_id"]] in sales:
                    sales[owner[o["customer_id"]]] += o["amount"]
            assert {r["userid"]: r["value"] for r in a["rows"]} == {u: float(v) for u, v in sales.items()}
    elif shape == "team_customers":
        active = sum(1 for c in customers if c["customer_id"] in mine and c["status"] == "active")
        assert sum(r["value"] for r in a["rows"]) == active  # a partition of the scope: nothing from outside
    elif shape in ("team_visits", "trend_visits"):
        # the generated visits lie in the last ~37 days: inside the 8 weeks of the trend too
        assert sum(r["value"] for r in a["rows"]) == len(my_visits)
    elif shape == "compare_sales":
        cur = sum((o["amount"] for o in my_orders if o["ordered_on"] >= month), Decimal(0))
        assert a["value"] == float(cur)
    elif shape == "compare_visits_by_rep":
        cur = sum(1 for v in my_visits if local_day(v["checked_in_at"]) >= month)
        assert sum(r["value"] for r in a["rows"]) == cur
        assert sum(r["previous"] for r in a["rows"]) <= len(my_visits) - cur
    elif shape == "overview":
        figs = {r["figure"]: r for r in a["rows"]}
        assert figs["拜访数"]["value"] == len(my_visits)
        assert figs["销售额"]["value"] == float(sum((o["amount"] for o in my_orders), Decimal(0)))
        active = sum(1 for c in customers if c["customer_id"] in mine and c["status"] == "active")
        assert figs["客户信息鲜度"]["denominator"] == active
    elif shape == "totals_list":
        assert {r["customer_id"] for r in a["rows"]} == mine
