"""v2 figures the evaluation dataset cannot reach, on a small hand-built organisation (SQLite and PostgreSQL):
异常签到 by the haversine distance on both sides of 300 m, a payment whose memo names two contracts (counted
once, under the number that comes first), teams with a nested supervisor and a rep without one, 手下 (under),
people narrowed to a manager's reps, and per-customer totals that are 0 for a customer without rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from core.geo import distance_m
from nlq.answer import answer_spec
from nlq.spec import CustomerFilter, Having, Period, QuerySpec, TotalCondition
from storage.models import CustomerRow, VisitRow
from tests.nlq.dataset import Dataset, insert_dataset

NOW = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
LAT, LNG = 31.2, 121.4
METRE = 1 / 111_195  # degrees of latitude per metre, near enough: the test measures each offset itself


def _user(uid, role, manager=None, name=None):
    return {
        "userid": uid,
        "name": name or uid,
        "role": role,
        "manager_userid": manager,
        "region": None,
        "city": None,
    }


def _customer(cid, owner, lat=None, lng=None):
    return {
        "customer_id": cid,
        "name": f"店{cid}",
        "channel": None,
        "region": "华东",
        "city": "上海",
        "owner_userid": owner,
        "status": "active",
        "lost_on": None,
        "nps": None,
        "categories": [],
        "decision_roles": [],
        "created_on": date(2025, 1, 1),
        "lat": lat,
        "lng": lng,
    }


OFFSETS_M = [0, 120, 299.0, 299.9, 300.2, 301, 450, 5000]


def build() -> Dataset:
    ds = Dataset()
    ds.users = [
        _user("dir", "sales_director"),
        _user("rm", "regional_manager", "dir"),
        _user("sup1", "supervisor", "rm", "周一"),
        _user("sup2", "supervisor", "sup1", "周二"),  # a supervisor below a supervisor
        _user("r1", "rep", "sup1", "甲"),
        _user("r2", "rep", "sup2", "乙"),
        _user("r3", "rep", "rm", "丙"),  # no supervisor above: grouped under rm
        _user("r4", "rep", "sup2", "丁"),  # owns nothing, visits nothing
    ]
    ds.customers = [
        _customer("c1", "r1", LAT, LNG),
        _customer("c2", "r2", LAT, LNG),
        _customer("c3", "r3"),  # no location: never an abnormal check-in
        _customer("c4", "rm", LAT, LNG),
    ]
    at = NOW - timedelta(days=1)
    for i, off in enumerate(OFFSETS_M):
        ds.visits.append(
            {
                "visit_id": f"v{i}",
                "customer_id": "c1" if i % 2 else "c2",
                "rep_userid": "r1" if i % 2 else "r2",
                "checked_in_at": at,
                "lat": LAT + off * METRE,
                "lng": LNG,
                "photo_count": 0,
            }
        )
    ds.visits.append(  # far away, but the customer has no location
        {
            "visit_id": "vx",
            "customer_id": "c3",
            "rep_userid": "r3",
            "checked_in_at": at,
            "lat": 0.0,
            "lng": 0.0,
        }
    )
    ds.visits.append(  # no location of its own
        {
            "visit_id": "vy",
            "customer_id": "c1",
            "rep_userid": "r1",
            "checked_in_at": at,
            "lat": None,
            "lng": None,
        }
    )
    for no, cid, amount in (("HT-1", "c1", "1000"), ("HT-12", "c2", "800"), ("HT-2", "c3", "600")):
        ds.contracts.append(
            {
                "contract_no": no,
                "customer_id": cid,
                "signed_on": date(2026, 11, 2),
                "amount": Decimal(amount),
                "due_on": date(2026, 11, 10),
            }
        )
    pays = [
        ("P1", "300", "合付 HT-2 与 HT-1"),  # HT-2 comes first: counts once, under HT-2 (c3)
        ("P2", "200", "HT-12 尾款"),  # HT-1 is a prefix at the same place: the smaller number, HT-1 (c1)
        ("P3", "50", "HT-12"),  # the same
        ("P4", "70", "无合同号"),
    ]
    for txn, amount, memo in pays:
        ds.payments.append(
            {
                "txn_id": txn,
                "paid_on": date(2026, 11, 20),
                "amount": Decimal(amount),
                "payer": None,
                "memo": memo,
            }
        )
    return ds.index()


@pytest.fixture
def org(session_factory):
    with session_factory() as s:
        insert_dataset(s, build())
    return session_factory


def ask_spec(factory, asker, **fields):
    with factory() as s:
        return answer_spec(s, QuerySpec(**fields), asker=asker, now=NOW, understood="（手工）")


def test_abnormal_check_ins_are_more_than_300_m_by_haversine(org):
    with org() as s:  # the distances as stored, measured in Python
        rows = s.query(VisitRow.lat, VisitRow.lng, CustomerRow.lat, CustomerRow.lng).join(
            CustomerRow, CustomerRow.customer_id == VisitRow.customer_id
        )
        want = sum(1 for a, b, c, d in rows if None not in (a, b, c, d) and distance_m(a, b, c, d) > 300)
    assert want == 4  # 300.2, 301, 450 and 5000 m; not 299.9
    got = ask_spec(org, "dir", entity="visits", figure="abnormal_count")
    assert got["kind"] == "figure" and got["value"] == want
    per_rep = ask_spec(org, "dir", entity="visits", figure="abnormal_count", group_by="rep")
    assert {r["key"]: r["value"] for r in per_rep["rows"]} == {"r1": 2, "r2": 2, "r3": 0, "r4": 0}


def test_a_payment_naming_two_contracts_counts_once_under_the_first(org):
    received = ask_spec(org, "dir", entity="payments", figure="received", period=Period(kind="this_month"))
    assert received["value"] == 550.0  # P1 + P2 + P3, each once; P4 matches nothing
    per_customer = ask_spec(
        org,
        "dir",
        entity="customers",
        figure="list",
        customer=CustomerFilter(totals=[TotalCondition(measure="received", op=">=", value=0)]),
    )
    assert {r["customer_id"]: r["received"] for r in per_customer["rows"]} == {
        "c1": 250.0,
        "c2": 0.0,
        "c3": 300.0,
        "c4": 0.0,
    }
    owed = ask_spec(org, "dir", entity="contracts", figure="outstanding", contract_scope="all")
    assert owed["value"] == (1000 - 250) + 800 + (600 - 300)
    overdue = ask_spec(org, "dir", entity="contracts", figure="outstanding")  # all three are past due
    assert overdue["value"] == owed["value"]


def test_teams_partition_the_scope_and_every_team_appears(org):
    got = ask_spec(org, "dir", entity="customers", figure="count", group_by="team")
    rows = {r["key"]: r["value"] for r in got["rows"]}
    # sup1: r1's c1; sup2 (nested): r2's c2 and r4 (nothing); rm: r3 (no supervisor) and rm's own c4
    assert rows == {"sup1": 1, "sup2": 1, "rm": 2}
    assert {r["key"]: r.get("name") for r in got["rows"]}["sup1"] == "周一"
    visits = ask_spec(org, "sup1", entity="visits", figure="count", group_by="team")
    assert {r["key"]: r["value"] for r in visits["rows"]} == {"sup1": 5, "sup2": 4}


def test_under_and_people_narrowed_to_a_managers_reps(org):
    under = ask_spec(org, "dir", entity="customers", figure="count", customer=CustomerFilter(under=["sup1"]))
    assert under["value"] == 2  # c1 (r1) and c2 (r2, below sup2 below sup1)
    people = ask_spec(
        org,
        "dir",
        entity="visits",
        figure="count",
        period=Period(kind="this_week"),
        people=True,
        having=Having(op="<", value=1),
        customer=CustomerFilter(under=["sup2"]),
    )
    assert people["kind"] == "people" and people["rows"] == [
        {"userid": "r2", "name": "乙"},
        {"userid": "r4", "name": "丁"},
    ]
    # everyone's visits were yesterday, a Sunday: last week
    busy = ask_spec(org, "sup1", entity="visits", figure="count", people=True)
    assert [(r["userid"], r["value"]) for r in busy["rows"]] == [("r1", 5), ("r2", 4), ("r4", 0)]


def test_a_total_below_a_threshold_includes_customers_without_rows(org):
    got = ask_spec(
        org,
        "dir",
        entity="customers",
        figure="list",
        customer=CustomerFilter(totals=[TotalCondition(measure="visit_count", op="<", value=5)]),
    )
    assert [(r["customer_id"], r["visit_count"]) for r in got["rows"]] == [("c4", 0), ("c3", 1), ("c2", 4)]


def test_trends_are_oldest_first_and_every_bucket_appears(org):
    weekly = ask_spec(org, "dir", entity="visits", figure="count", group_by="week", buckets=3)
    assert [(r["key"], r["value"]) for r in weekly["rows"]] == [
        ("2026-11-09", 0),
        ("2026-11-16", 10),
        ("2026-11-23", 0),
    ]
    # a figure without a time of its own (customers in scope) is the same in every bucket
    monthly = ask_spec(org, "dir", entity="customers", figure="count", group_by="month", buckets=2)
    assert [(r["key"], r["value"]) for r in monthly["rows"]] == [("2026-10", 4), ("2026-11", 4)]
