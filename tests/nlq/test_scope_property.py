"""Property: for generated org trees and random questions, no answer row lies outside the asker's scope.

The visible set is computed here again (its own walk of the tree), never taken from nlq.scope.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from nlq.answer import ask
from storage.models import CustomerRow, OrderRow, UserRow, VisitRow, VisitTagRow
from tests.hostile.scope_org import visible  # the tree walked again, independently of nlq.scope
from tests.nlq.dataset import NOW

ROLES = ["rep", "rep", "rep", "supervisor", "regional_manager", "sales_director", "finance_director", "admin"]
REGIONS = ["华东", "华南", "华北"]
QUESTIONS = [
    "客户有哪些",
    "全部客户有哪些",
    "流失客户名单",
    "客户有多少",
    "超过3天没跟进的客户",
    "NPS>50的客户",
    "每个业务员有多少客户",
    "各大区客户数",
    "本月每个业务员的拜访次数",
    "各业务员的销售额",
    "华东的客户",
    "u0的客户",
    "u3的客户",
    "各大区的客户信息鲜度",
    "NPS最高的3个客户",
    "提过价格异议的客户",
    "本月买过饮料的客户",
    "最久没跟进的5个客户",
    "本月销售额最高的3个客户",
    "u1本月拜访了多少次",
]


@st.composite
def orgs(draw):
    n = draw(st.integers(2, 12))
    users = []
    for i in range(n):
        parent = draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None
        users.append(
            {
                "userid": f"u{i}",
                "name": f"员工{i}",
                "role": draw(st.sampled_from(ROLES)),
                "manager_userid": f"u{parent}" if parent is not None else None,
                "region": None,
                "city": None,
            }
        )
    m = draw(st.integers(0, 15))
    customers = [
        {
            "customer_id": f"c{k}",
            "name": f"客户{k}",
            "owner_userid": f"u{draw(st.integers(0, n - 1))}",
            "region": draw(st.sampled_from(REGIONS)),
            "city": None,
            "channel": None,
            "status": draw(st.sampled_from(["active", "active", "lost"])),
            "nps": draw(st.integers(0, 100)),
            "categories": [],
            "decision_roles": [],
        }
        for k in range(m)
    ]
    visits, tags, orders = [], [], []
    for k, c in enumerate(customers):
        for j in range(draw(st.integers(0, 2))):
            vid = f"v{k}_{j}"
            visits.append(
                {
                    "visit_id": vid,
                    "customer_id": c["customer_id"],
                    "rep_userid": f"u{draw(st.integers(0, n - 1))}",
                    "checked_in_at": NOW - timedelta(hours=draw(st.integers(1, 900))),
                    "photo_count": 3,
                }
            )
            if draw(st.booleans()):
                tags.append({"visit_id": vid, "tag": "价格异议"})
        if draw(st.booleans()):
            orders.append(
                {
                    "order_id": f"o{k}",
                    "customer_id": c["customer_id"],
                    "category": "饮料",
                    "ordered_on": (NOW - timedelta(days=draw(st.integers(0, 40)))).date(),
                    "amount": Decimal(draw(st.integers(1, 9999))),
                }
            )
    asker = f"u{draw(st.integers(0, n - 1))}"
    return users, customers, visits, tags, orders, asker, draw(st.sampled_from(QUESTIONS))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=orgs())
def test_no_row_outside_the_scope(session_factory, case):
    users, customers, visits, tags, orders, asker, question = case
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
    with session_factory() as s:
        answer = ask(s, asker=asker, question=question, now=NOW)
    vis = visible(users, asker)
    owner = {c["customer_id"]: c["owner_userid"] for c in customers}
    if answer["kind"] == "list" and vis is not None:
        assert all(owner[r["customer_id"]] in vis for r in answer["rows"]), (question, asker, answer["rows"])
    if answer["kind"] == "groups" and vis is not None and "客户" in question and "业务员" in question:
        assert all(r["key"] in vis for r in answer["rows"])  # customer owners
    if question == "客户有多少":
        assert answer["value"] == sum(
            1 for c in customers if c["status"] == "active" and (vis is None or c["owner_userid"] in vis)
        )
    if question == "各大区客户数" and vis is not None:
        seen = {c["region"] for c in customers if c["owner_userid"] in vis}
        assert {r["key"] for r in answer["rows"]} <= seen
    named = question[:2]
    if named in {u["userid"] for u in users} and vis is not None and named not in vis:
        # empty, and the reason speaks of the scope (an outside person may read as an unknown one: "只认得你可见范围内…")
        assert answer["rows"] == [] and answer["value"] is None and "可见范围" in answer["reason"]
