"""Property: the health dashboard (bot/web/dashboard.py over storage/metrics/figures.py and storage/metrics/drill.py), opened
with a valid signed link, shows for generated org trees and random filters nothing outside the viewer's scope,
and its figures count exactly the customers, visits and opportunities of the scope narrowed by the filters.

Each example seeds an org (tests/hostile/scope_org.py), signs a token for its asker and requests, through
FastAPI's TestClient, the main page, the customer drill-down (rep, tier), the visits drill-down (rep) and the
credibility sample, all with the same random period / team / region (valid, outside the scope, or unknown).
The slice is recomputed here: the asker's visible owners (own walk of the tree), narrowed to a team only when the
team is a supervisor or regional manager inside the scope (the subtree, again by own walk), and to a region only
when some customer in the scope has it.
"""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import event, given
from hypothesis import strategies as st

from bot.web.dashboard import make_dashboard_router
from core.clock import SHANGHAI, FixedClock
from core.periods import PERIOD_WORDS, resolve_period
from core.web_session import SESSION_COOKIE
from tests.hostile.scope_org import (
    GONE,
    NOW,
    PROPERTY_SETTINGS,
    REGIONS,
    SEE_TREE,
    orgs,
    outside,
    role_of,
    seed,
    sees,
    subtree,
    visible,
)
from tests.support.web import bare_auth, open_session

FRESH_DAYS = 30
REACHED = {"quoted", "negotiating", "won"}


@st.composite
def cases(draw):  # noqa: ANN001, ANN201
    org = draw(orgs())
    people = [u["userid"] for u in org["users"]]
    managers = [u["userid"] for u in org["users"] if u["role"] in SEE_TREE]  # a team to narrow to, more often
    filters = {
        "period": draw(st.sampled_from([*PERIOD_WORDS, "next_year"])),
        "team": draw(st.sampled_from(["", *managers, *managers, *people, "u_outside"])),
        "region": draw(st.sampled_from(["", *REGIONS, *REGIONS, "西南"])),
        "rep": draw(st.sampled_from(["", *people, GONE, "nobody"])),
        "tier": draw(st.sampled_from(["", "red", "yellow", "blue"])),
    }
    return org, filters


def _slice(org, vis, team: str, region: str):  # noqa: ANN001, ANN202
    """(owners or None, region or None) of the page: the filters narrow the scope, never widen it."""
    users = org["users"]
    owners = vis
    if team and role_of(users, team) in SEE_TREE and sees(vis, team):
        below = subtree(users, team)
        owners = below if vis is None else vis & below
    regions = {c["region"] for c in org["customers"] if c["region"] and sees(vis, c["owner_userid"])}
    return owners, (region if region in regions else None)


def _in_slice(c, owners, region) -> bool:  # noqa: ANN001
    return sees(owners, c["owner_userid"]) and (region is None or c["region"] == region)


def _active_at(c, as_of) -> bool:  # noqa: ANN001
    if as_of >= NOW:
        return c["status"] == "active"
    d = as_of.astimezone(SHANGHAI).date()
    lost_later = c["status"] == "lost" and c["lost_on"] is not None and c["lost_on"] > d
    return (c["status"] == "active" or lost_later) and (c["created_on"] is None or c["created_on"] <= d)


def _kpi(html: str, name: str) -> tuple[int, int]:
    m = re.search(rf'data-kpi="{name}" data-num="(\d+)" data-den="(\d+)"', html)
    assert m, f"no {name} figure on the page"
    return int(m.group(1)), int(m.group(2))


def _total(html: str) -> int:
    return int(re.search(r'data-total="(\d+)"', html).group(1))


def _no_customer_outside(html: str, forbidden, where: str) -> None:  # noqa: ANN001
    leaked = [c["name"] for c in forbidden if c["name"] in html or c["customer_id"] in html]
    assert not leaked, (where, leaked)


@PROPERTY_SETTINGS
@given(case=cases())
def test_pages_show_only_the_scope_and_count_only_the_scope(session_factory, case):
    org, f = case
    seed(session_factory, org)
    app = FastAPI()
    clock = FixedClock(NOW)
    app.include_router(make_dashboard_router(session_factory, bare_auth(session_factory, clock), clock))
    http = TestClient(app)
    asker = org["asker"]
    http.cookies.set(SESSION_COOKIE, open_session(session_factory, asker, NOW))  # signed in as the asker
    base = {"period": f["period"], "team": f["team"], "region": f["region"]}

    vis = visible(org["users"], asker)
    forbidden = outside(org, vis)
    owners, region = _slice(org, vis, f["team"], f["region"])
    period = resolve_period(f["period"] if f["period"] in PERIOD_WORDS else "this_month", NOW)
    customers = {c["customer_id"]: c for c in org["customers"]}
    in_slice = {cid for cid, c in customers.items() if _in_slice(c, owners, region)}
    tier_of = {s["customer_id"]: s["tier"] for s in org["scores"]}
    visits = [
        v for v in org["visits"] if v["customer_id"] in in_slice and period.contains(v["checked_in_at"])
    ]
    tagged = {t["visit_id"] for t in org["tags"]}
    event(
        f"outside the scope: {'some' if forbidden else 'none'}; slice: {'empty' if not in_slice else 'some'}; "
        f"narrowed: {'yes' if in_slice != {c for c in customers if sees(vis, customers[c]['owner_userid'])} else 'no'}"
    )

    # the main page: the three figures, the score tiers, the red and newly yellow lists
    page = http.get("/dashboard", params=base)
    assert page.status_code == 200, page.text
    _no_customer_outside(page.text, forbidden, "main")
    as_of = period.as_of(NOW)
    active = [customers[cid] for cid in in_slice if _active_at(customers[cid], as_of)]
    touches = [(v["customer_id"], v["checked_in_at"]) for v in org["visits"]]
    touches += [(i["customer_id"], i["at"]) for i in org["interactions"]]
    fresh = {cid for cid, at in touches if as_of - timedelta(days=FRESH_DAYS) <= at <= as_of}
    assert _kpi(page.text, "freshness") == (sum(1 for c in active if c["customer_id"] in fresh), len(active))
    complete = [
        v for v in visits if v["lat"] is not None and v["photo_count"] >= 3 and v["visit_id"] in tagged
    ]
    assert _kpi(page.text, "completeness") == (len(complete), len(visits))
    lo, hi = period.date_bounds(SHANGHAI)
    opps = [
        o
        for o in org["opportunities"]
        if o["customer_id"] in in_slice
        and (lo is None or o["entered_on"] >= lo)
        and (hi is None or o["entered_on"] <= hi)
    ]
    assert _kpi(page.text, "funnel") == (sum(1 for o in opps if o["stage"] in REACHED), len(opps))
    for tier in ("red", "yellow", "blue"):
        n = sum(1 for cid in in_slice if customers[cid]["status"] == "active" and tier_of.get(cid) == tier)
        assert re.search(rf'data-tier="{tier}">(?:\D*?)(\d+)<', page.text).group(1) == str(n), tier
    teams = set(
        re.findall(r'<option value="([^"]*)"', re.search(r'name="team">(.*?)</select>', page.text).group(1))
    )
    assert all(sees(vis, t) for t in teams - {""}), (teams, vis)  # the team filter offers only teams in scope
    regions = set(
        re.findall(r'<option value="([^"]*)"', re.search(r'name="region">(.*?)</select>', page.text).group(1))
    )
    assert regions - {""} == {
        c["region"] for c in org["customers"] if c["region"] and sees(vis, c["owner_userid"])
    }
    if (
        owners is not None
    ):  # per rep: owners in the slice, and the reps of its visits (a visit counts by its rep)
        reps = set(re.findall(r'data-group="rep" data-key="([^"]*)"', page.text))
        assert reps <= owners | {v["rep_userid"] for v in visits}, (reps, owners)
    for c in org["customers"]:  # the red and yellow lists name only customers of the slice
        if c["name"] in page.text:
            assert c["customer_id"] in in_slice, (c, f)

    # the customer drill-down (a rep outside the slice shows nothing)
    page = http.get("/dashboard/customers", params={**base, "rep": f["rep"], "tier": f["tier"]})
    assert page.status_code == 200, page.text
    _no_customer_outside(page.text, forbidden, "customers")
    rep_ok = not f["rep"] or sees(owners, f["rep"])
    expected = {
        cid
        for cid in in_slice
        if rep_ok
        and customers[cid]["status"] == "active"
        and (not f["rep"] or customers[cid]["owner_userid"] == f["rep"])
        and (not f["tier"] or tier_of.get(cid) == f["tier"])
    }
    assert set(re.findall(r'data-customer="([^"]+)"', page.text)) == expected, (f, owners, region)
    assert _total(page.text) == len(expected)

    # the visits drill-down (visits of the slice's customers, by whichever rep; optionally one rep's)
    page = http.get("/dashboard/visits", params={**base, "rep": f["rep"]})
    assert page.status_code == 200, page.text
    _no_customer_outside(page.text, forbidden, "visits")
    expected = {v["visit_id"] for v in visits if not f["rep"] or v["rep_userid"] == f["rep"]}
    assert set(re.findall(r'data-visit="([^"]+)"', page.text)) == expected
    assert _total(page.text) == len(expected)

    # the credibility sample: drawn from the slice's visits only, against the slice's population
    page = http.get("/dashboard/visits", params={**base, "sample": "1"})
    assert page.status_code == 200, page.text
    _no_customer_outside(page.text, forbidden, "sample")
    assert _kpi(page.text, "population") == (len(complete), len(visits))
    sampled = set(re.findall(r'data-visit="([^"]+)"', page.text))
    assert sampled <= {v["visit_id"] for v in visits} and len(sampled) == min(100, len(visits))
