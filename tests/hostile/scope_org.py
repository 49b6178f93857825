"""Generated organisations for the scope properties of the read paths (chat, dashboard).

An org tree of 2–10 people (roles drawn from the spec's six plus an unknown one; managers mostly above, now and
then a cycle, a self-manager or a manager who is not in the table), customers with an owner (now and then a
departed one, not in the users table), a region, a status and a score tier, and their visits (with or without
location, photos and tags), interactions, orders and opportunities spread over the last ~4 months.

Every customer has a name and an id that cannot be mistaken for anything else in a reply or a page
(`客户甲子`, `KH00Z`), so "no customer outside the scope appears" is a substring test.

The visible set is computed here by its own walk of the generated tree (docs/nlq-semantics.md
§ Who may see what), never taken from nlq.scope or storage.metrics.figures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

import storage.all_models  # noqa: F401 - every table, so a clean slate really is clean
from core.clock import SHANGHAI
from storage.models import (
    Base,
    CustomerRow,
    InteractionRow,
    OpportunityRow,
    OrderRow,
    UserRow,
    VisitRow,
    VisitTagRow,
)
from storage.models_scorecard import CustomerScoreRow

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)  # a Monday morning in Shanghai
ROLES = [
    "rep",
    "rep",
    "rep",
    "supervisor",
    "supervisor",
    "regional_manager",
    "sales_director",
    "finance_director",
    "admin",
    "intern",
]  # intern: a role the spec does not know — least privilege, like a rep
SEE_ALL = {"sales_director", "finance_director", "admin"}
SEE_TREE = {"supervisor", "regional_manager"}
PEOPLE = ["柏文舟", "岑一禾", "顾湘君", "蓝若珂", "屈子平", "苗青圃", "芮安澜", "仇晓岚", "宓思远", "雍景行"]
REGIONS = ["华东", "华南", "华北"]
GONE = "u_gone"  # an owner who left: in no users row
STEMS, BRANCHES = "甲乙丙丁戊己庚辛壬癸", "子丑寅卯辰巳午未申酉戌亥"
TAGS = ["价格异议", "库存不足", "新品兴趣"]
STAGES = ["need_confirmed", "quoted", "negotiating", "won", "lost"]


def customer_name(k: int) -> str:
    return f"客户{STEMS[k % 10]}{BRANCHES[k // 10]}"


@st.composite
def orgs(
    draw: Any, *, max_people: int = 10, min_customers: int = 3, max_customers: int = 14
) -> dict[str, Any]:
    n = draw(st.integers(2, max_people))
    users = []
    for i in range(n):
        above = st.integers(0, i - 1) if i else st.none()
        hostile = st.one_of(st.integers(0, n - 1), st.just(-1))  # anyone (a cycle, oneself) or nobody we know
        parent = draw(st.one_of(st.none(), above, above, hostile))
        manager = None if parent is None else ("u_outside" if parent == -1 else f"u{parent}")
        users.append(
            {
                "userid": f"u{i}",
                "name": PEOPLE[i],
                "role": draw(st.sampled_from(ROLES)),
                "manager_userid": manager,
                "region": None,
                "city": None,
            }
        )
    owners = [f"u{i}" for i in range(n)] + [GONE]
    customers, scores, visits, tags, interactions, orders, opps = [], [], [], [], [], [], []
    for k in range(draw(st.integers(min_customers, max_customers))):
        cid = f"KH{k:02d}Z"
        status = draw(st.sampled_from(["active", "active", "active", "lost"]))
        created = draw(st.one_of(st.none(), st.integers(0, 200)))
        customers.append(
            {
                "customer_id": cid,
                "name": customer_name(k),
                "owner_userid": draw(st.sampled_from(owners)),
                "region": draw(st.sampled_from([*REGIONS, None])),
                "city": None,
                "channel": None,
                "status": status,
                "lost_on": (NOW - timedelta(days=draw(st.integers(0, 120)))).date()
                if status == "lost"
                else None,
                "nps": draw(st.one_of(st.none(), st.integers(0, 100))),
                "categories": [],
                "decision_roles": [],
                "created_on": None if created is None else (NOW - timedelta(days=created)).date(),
            }
        )
        if status == "active" and draw(st.booleans()):
            tier = draw(st.sampled_from(["red", "yellow", "blue"]))
            scores.append(
                {
                    "customer_id": cid,
                    "score": {"red": 40.0, "yellow": 70.0, "blue": 90.0}[tier],
                    "tier": tier,
                    "components": {},
                    "features": {},
                    "rules_version": "t",
                    "computed_at": NOW,
                    "tier_since": NOW - timedelta(days=draw(st.integers(0, 20))),
                }
            )
        for j in range(draw(st.integers(0, 2))):
            vid = f"BF{k:02d}{j}Q"
            located = draw(st.booleans())
            visits.append(
                {
                    "visit_id": vid,
                    "customer_id": cid,
                    "rep_userid": draw(st.sampled_from(owners)),
                    "checked_in_at": NOW - timedelta(hours=draw(st.integers(1, 2900))),
                    "lat": 30.0 if located else None,
                    "lng": 120.0 if located else None,
                    "photo_count": draw(st.integers(0, 4)),
                    "source": "import",
                    "status": "closed",
                }
            )
            for tag in draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True)):
                tags.append({"visit_id": vid, "tag": tag})
        if draw(st.booleans()):
            interactions.append(
                {
                    "interaction_id": f"HD{k:02d}W",
                    "customer_id": cid,
                    "rep_userid": None,
                    "at": NOW - timedelta(hours=draw(st.integers(1, 2000))),
                    "channel": "电话",
                }
            )
        if draw(st.booleans()):
            orders.append(
                {
                    "order_id": f"DD{k:02d}Y",
                    "customer_id": cid,
                    "category": "饮料",
                    "ordered_on": (NOW - timedelta(days=draw(st.integers(0, 60)))).date(),
                    "amount": Decimal(draw(st.integers(1, 9999))),
                }
            )
        if draw(st.booleans()):
            opps.append(
                {
                    "opportunity_id": f"SJ{k:02d}V",
                    "customer_id": cid,
                    "stage": draw(st.sampled_from(STAGES)),
                    "entered_on": (NOW - timedelta(days=draw(st.integers(0, 120)))).date(),
                    "amount": None,
                }
            )
    managers = [u["userid"] for u in users if u["role"] in SEE_TREE]  # the asker is one half the time
    return {
        "users": users,
        "customers": customers,
        "scores": scores,
        "visits": visits,
        "tags": tags,
        "interactions": interactions,
        "orders": orders,
        "opportunities": opps,
        "asker": draw(st.sampled_from(managers))
        if managers and draw(st.booleans())
        else f"u{draw(st.integers(0, n - 1))}",
    }


def seed(session_factory: Any, org: dict[str, Any]) -> None:
    """Empty every table (one hypothesis example follows another in the same database), then insert the org."""
    with session_factory() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))
        for model, key in (
            (UserRow, "users"),
            (CustomerRow, "customers"),
            (CustomerScoreRow, "scores"),
            (VisitRow, "visits"),
            (VisitTagRow, "tags"),
            (InteractionRow, "interactions"),
            (OrderRow, "orders"),
            (OpportunityRow, "opportunities"),
        ):
            if org[key]:
                s.execute(insert(model), org[key])
        s.commit()


def subtree(users: list[dict[str, Any]], root: str) -> set[str]:
    """root and everyone below root through manager_userid, at any depth (cycle-safe)."""
    seen, todo = {root}, [root]
    while todo:
        boss = todo.pop()
        for u in users:
            if u["manager_userid"] == boss and u["userid"] not in seen:
                seen.add(u["userid"])
                todo.append(u["userid"])
    return seen


def role_of(users: list[dict[str, Any]], userid: str) -> str | None:
    return next((u["role"] for u in users if u["userid"] == userid), None)


def visible(users: list[dict[str, Any]], asker: str) -> set[str] | None:
    """The owners whose customers the asker may see; None: everyone's."""
    role = role_of(users, asker)
    if role in SEE_ALL:
        return None
    if role in SEE_TREE:
        return subtree(users, asker)
    return {asker}


def sees(vis: set[str] | None, owner: str) -> bool:
    return vis is None or owner in vis


def outside(org: dict[str, Any], vis: set[str] | None) -> list[dict[str, Any]]:
    """The customers the asker must never be shown."""
    return [c for c in org["customers"] if not sees(vis, c["owner_userid"])]


# the scope property tests' budget: 40 generated orgs each, database fixtures reused across examples
PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
