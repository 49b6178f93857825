"""Privacy (issue #7): every read of a customer's detail by someone outside the owner's line — here the
finance director and the admin, whose scope is the whole organisation but who sit above nobody's customers —
leaves one audit row per customer shown (action `read`, entity `customer`, actor the viewer, the read path in
`reason`). The owner and the managers above the owner read without one; figures and groups are not customer
detail and leave none. Through the CLI, the chat and the dashboard drill-down.

The org (tests/support/factories.py): director → rm_east → sup01 → rep01 (C001–C003), rep02 (C004); finance reports
to the director; admin reports to nobody.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.web.dashboard import make_dashboard_router
from core.clock import FixedClock
from core.org import OrgTree, Person, in_line, outside_line
from core.web_session import SESSION_COOKIE
from nlq.cli import run_ask
from storage import read_audit
from storage.models import AuditRow, VisitRow
from tests.hostile.planted import row_counts
from tests.support import factories
from tests.support.harness import Harness
from tests.support.web import bare_auth, open_session

ALL = {"C001", "C002", "C003", "C004"}


def _reads(session) -> list[AuditRow]:  # noqa: ANN001
    return list(session.scalars(select(AuditRow).where(AuditRow.action == "read").order_by(AuditRow.id)))


@pytest.fixture
def org(session_factory, clock):
    with session_factory() as s:
        factories.org(s, touched_at=clock.now())
    return session_factory


# -- the rule --------------------------------------------------------------------------------------------

TREE = OrgTree(
    [
        Person("director", "sales_director"),
        Person("finance", "finance_director", "director"),
        Person("admin", "admin"),
        Person("rm_east", "regional_manager", "director"),
        Person("sup01", "supervisor", "rm_east"),
        Person("rep01", "rep", "sup01"),
        Person("rep02", "rep", "sup01"),
        Person("x", "rep", "y"),
        Person("y", "rep", "x"),
    ]
)


@pytest.mark.parametrize(
    "viewer, owner, inside",
    [
        ("rep01", "rep01", True),
        ("sup01", "rep01", True),
        ("rm_east", "rep01", True),
        ("director", "rep01", True),
        ("rep02", "rep01", False),
        ("finance", "rep01", False),
        ("admin", "rep01", False),
        ("rep01", "sup01", False),
        ("director", None, False),
        ("admin", "x", False),
        ("y", "x", True),  # a cycle in the data ends the walk
    ],
)
def test_the_line_is_the_owner_and_the_managers_above(viewer, owner, inside):
    assert in_line(TREE, viewer, owner) is inside


def test_outside_reads_are_each_customer_once_in_the_order_shown():
    shown = [("C2", "rep01"), ("C1", "rep02"), ("C2", "rep01"), ("C9", None)]
    assert outside_line(TREE, "finance", shown) == [("C2", "rep01"), ("C1", "rep02"), ("C9", None)]
    assert outside_line(TREE, "sup01", shown) == [("C9", None)]


def test_the_reason_keeps_the_beginning_of_a_long_question():
    why = read_audit.reason("cli:ask", "客户" * 300)
    assert len(why) == read_audit.REASON_MAX and why.startswith("cli:ask:客户客户") and why.endswith("…")
    assert read_audit.reason("chat:ask", " 客户\n名单 ") == "chat:ask:客户 名单"


# -- the command line ---------------------------------------------------------------------------------------


def _cli(factory, asker: str, question: str, *, as_json: bool = True) -> list[dict]:  # noqa: ANN001
    out, err = io.StringIO(), io.StringIO()
    assert (
        run_ask(
            factory, asker=asker, question=question, as_json=as_json, out=out, err=err, now="2026-11-23T09:00"
        )
        == 0
    ), err.getvalue()
    return [json.loads(line) for line in out.getvalue().splitlines()] if as_json else []


def test_a_finance_director_listing_customers_leaves_one_read_row_per_customer_shown(org):
    with org() as s:
        before = row_counts(s)
    (answer,) = _cli(org, "finance", "客户名单")
    assert answer["kind"] == "list" and {r["customer_id"] for r in answer["rows"]} == ALL
    with org() as s:
        reads = _reads(s)
        after = row_counts(s)
    assert sorted(a.entity_id for a in reads) == sorted(ALL)  # one row per customer shown
    assert {(a.actor, a.action, a.entity, a.reason) for a in reads} == {
        ("finance", "read", "customer", "cli:ask:客户名单")
    }
    assert {a.entity_id: a.after["owner"] for a in reads} == {
        r["customer_id"]: r["owner"] for r in answer["rows"]
    }
    # nothing else was written: the audit rows are the only change
    assert {t: after[t] - before[t] for t in after if after[t] != before[t]} == {"audit": len(ALL)}


@pytest.mark.parametrize("asker", ["sup01", "rm_east", "director", "rep01"])
def test_the_owner_and_the_managers_above_read_without_a_row(org, asker):
    (answer,) = _cli(org, asker, "客户名单")
    assert answer["kind"] == "list" and answer["rows"]
    with org() as s:
        assert _reads(s) == []


def test_figures_and_groups_are_not_customer_detail(org):
    answers = _cli(org, "admin", "客户有多少") + _cli(org, "admin", "各业务员的客户数")
    assert [a["kind"] for a in answers] == ["figure", "groups"]
    with org() as s:
        assert _reads(s) == []


def test_the_chat_rendering_reads_only_the_rows_it_prints(org):
    _cli(org, "admin", "客户名单", as_json=False)  # 4 customers: all printed (the chat shows up to 5)
    with org() as s:
        reads = _reads(s)
    assert sorted(a.entity_id for a in reads) == sorted(ALL) and {a.actor for a in reads} == {"admin"}
    assert read_audit.shown_in_answer(
        {"kind": "list", "rows": [{"customer_id": f"C{i}", "owner": "o"} for i in range(9)]}, 5
    )[-1] == ("C4", "o")


# -- the chat ---------------------------------------------------------------------------------------------------


def test_in_the_chat_the_read_rows_commit_with_the_reply(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        factories.org(s, touched_at=clock.now())
    while any(h.tick().values()):
        pass
    with h.session_factory() as s:
        before = row_counts(s)
    assert h.peer.text("sup01", "客户名单").status_code == 200  # inside the line: no row
    assert h.peer.text("finance", "客户名单").status_code == 200
    assert h.peer.text("finance", "客户有多少").status_code == 200  # a figure: no row
    while any(h.tick().values()):
        pass
    assert "味源超市" in h.texts("finance")[0] and "味源超市" in h.texts("sup01")[0]
    with h.session_factory() as s:
        reads = _reads(s)
        after = row_counts(s)
    assert sorted(a.entity_id for a in reads) == sorted(ALL)
    assert {(a.actor, a.reason) for a in reads} == {("finance", "chat:ask:客户名单")}
    changed = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    assert changed.pop("audit") == len(ALL) and set(changed) <= {"inbox", "outbox", "conversations"}, changed


# -- the dashboard ----------------------------------------------------------------------------------------------


def _dashboard(factory, clock):  # noqa: ANN001, ANN202
    app = FastAPI()
    app.include_router(make_dashboard_router(factory, bare_auth(factory, clock), clock))
    return TestClient(app)


def _sessions(factory, clock, *userids: str) -> dict[str, str]:  # noqa: ANN001
    """Each one signed in (a session as the WeCom callback opens it)."""
    return {u: open_session(factory, u, clock.now()) for u in userids}


def _get(http, session: str, path: str, **params: str):  # noqa: ANN001, ANN202
    http.cookies.set(SESSION_COOKIE, session)
    return http.get(path, params=params)


def test_the_dashboard_drill_down_by_an_outside_viewer_leaves_read_rows(org, clock):
    fixed = FixedClock(clock.now())
    http = _dashboard(org, fixed)
    signed = _sessions(org, fixed, "sup01", "finance", "admin")
    with org() as s:
        before = row_counts(s)
    page = _get(http, signed["sup01"], "/dashboard/customers")
    assert page.status_code == 200 and "味源超市" in page.text
    with org() as s:
        assert _reads(s) == []  # the owner's supervisor
    page = _get(http, signed["finance"], "/dashboard/customers", rep="rep01")
    assert page.status_code == 200 and "味源超市" in page.text
    with org() as s:
        reads = _reads(s)
        after = row_counts(s)
    assert sorted(a.entity_id for a in reads) == ["C001", "C002", "C003"]  # rep01's, the ones on the page
    assert {(a.actor, a.entity) for a in reads} == {("finance", "customer")}
    assert {a.reason for a in reads} == {"dashboard:customers:period=this_month rep=rep01"}
    assert {t: after[t] - before[t] for t in after if after[t] != before[t]} == {"audit": 3}
    # the figures page shows no customer here (no scores yet): no row
    assert _get(http, signed["admin"], "/dashboard").status_code == 200
    with org() as s:
        assert s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.actor == "admin")) == 0


def test_the_visits_behind_the_figures_are_reads_of_their_customers(org, clock):
    fixed = FixedClock(clock.now())
    at = clock.now() - timedelta(days=1)
    with org() as s:
        s.add(
            VisitRow(
                visit_id="V1",
                customer_id="C004",
                rep_userid="rep02",
                checked_in_at=at,
                photo_count=3,
                source="chat",
                status="closed",
                completed_at=at,
            )
        )
        s.commit()
    http = _dashboard(org, fixed)
    signed = _sessions(org, fixed, "rm_east", "admin")
    for who in ("rm_east", "admin"):
        for extra in ({}, {"sample": "1"}):
            page = _get(http, signed[who], "/dashboard/visits", period="all", **extra)
            assert page.status_code == 200 and "味源超市二店" in page.text
    with org() as s:
        reads = [(a.actor, a.entity_id, a.after["owner"], a.reason) for a in _reads(s)]
    assert reads == [
        ("admin", "C004", "rep02", "dashboard:visits:period=all"),
        ("admin", "C004", "rep02", "dashboard:sample:period=all"),
    ]
