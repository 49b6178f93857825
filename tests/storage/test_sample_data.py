"""The sample organisation: the promised shape, deterministic, and importable as it is."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.clock import SHANGHAI, as_utc, local
from storage.importer.run import import_paths
from storage.importer.sample import CITIES, VISIT_TAGS, uscc_check_char, write_sample_dataset
from storage.importer.tables import BY_NAME
from storage.models import AuditRow, CustomerRow, UserRow, VisitRow

# every table of the history; targets (目标) are cascaded from it (docs/targets.md), not part of the sample
TABLE_FILES = [f"{name}.csv" for name in BY_NAME if name != "targets"]


def read(folder: Path, table: str) -> list[dict[str, str]]:
    with (folder / f"{table}.csv").open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def default_set(tmp_path_factory):
    """The default-sized set, written once for the module (the clock fixture is per test)."""
    now = as_utc(datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI))
    folder = tmp_path_factory.mktemp("sample")
    write_sample_dataset(folder, now=now)
    return folder, now


def test_the_organisation_is_a_tree_with_demo_userids(default_set):
    folder, _ = default_set
    users = {u["userid"]: u for u in read(folder, "users")}
    roles = Counter(u["role"] for u in users.values())
    assert roles == {
        "admin": 1,
        "sales_director": 1,
        "finance_director": 1,
        "regional_manager": 3,
        "supervisor": 7,
        "rep": 28,
    }
    assert {f"rep{i:02d}" for i in range(1, 29)} | {f"sup{i:02d}" for i in range(1, 8)} | {
        "rm_east",
        "rm_south",
        "rm_north",
        "finance",
        "director",
        "admin",
    } == set(users)
    above = {"rep": "supervisor", "supervisor": "regional_manager", "regional_manager": "sales_director"}
    for u in users.values():
        if u["role"] in above:
            assert users[u["manager_userid"]]["role"] == above[u["role"]], u
    assert {users[r]["region"] for r in ("rm_east", "rm_south", "rm_north")} == {"华东", "华南", "华北"}
    rep_cities = {u["city"] for u in users.values() if u["role"] == "rep"}
    assert rep_cities == set(CITIES)
    assert len({u["name"] for u in users.values()}) == len(users)  # Chinese names, no two alike


def test_customers_look_like_an_fmcg_distributors(default_set):
    folder, now = default_set
    reps = {u["userid"]: u for u in read(folder, "users") if u["role"] == "rep"}
    customers = read(folder, "customers")
    assert len(customers) == 4000
    assert len({c["name"] for c in customers}) == 4000
    assert {c["channel"] for c in customers} == {"连锁商超", "社区生鲜", "餐饮", "便利店", "批发"}
    for c in customers:
        rep = reps[c["owner_userid"]]
        assert (c["city"], c["region"]) == (rep["city"], rep["region"])
        if c["lat"]:
            clat, clng = CITIES[c["city"]]["centre"]
            assert abs(float(c["lat"]) - clat) < 0.2 and abs(float(c["lng"]) - clng) < 0.2
        if c["license_no"]:
            assert len(c["license_no"]) == 18 and uscc_check_char(c["license_no"][:17]) == c["license_no"][17]
        if c["status"] == "lost":
            assert date.fromisoformat(c["lost_on"]) <= local(now).date()
        for role in filter(None, c["decision_roles"].split(";")):
            assert len(role.split(":")) == 2
    share = lambda pred: sum(1 for c in customers if pred(c)) / len(customers)  # noqa: E731
    assert 0.04 < share(lambda c: c["status"] == "lost") < 0.12
    assert 0.6 < share(lambda c: c["nps"] != "") < 0.8
    assert 0.75 < share(lambda c: c["license_no"] != "") < 0.95


def test_history_has_six_months_of_mixed_evidence(default_set):
    folder, now = default_set
    today = local(now).date()
    visits = read(folder, "visits")
    assert 30_000 <= len(visits) <= 50_000
    assert {v["visit_id"] for v in visits} == {f"V{i:07d}" for i in range(1, len(visits) + 1)}
    days = [date.fromisoformat(v["checked_in_at"][:10]) for v in visits]
    assert min(days) >= date(2026, 5, 1) and max(days) <= today
    tags = Counter(t for v in visits for t in filter(None, v["tags"].split(";")))
    assert set(tags) == set(VISIT_TAGS)
    complete = sum(1 for v in visits if v["lat"] and int(v["photo_count"]) >= 3 and v["tags"])
    assert 0.3 < complete / len(visits) < 0.7
    assert any(not v["lat"] for v in visits) and {int(v["photo_count"]) for v in visits} == set(range(7))
    visited = {v["customer_id"] for v in visits}
    assert 0.85 < len(visited) / 4000 < 0.98  # some customers were never visited

    assert {o["stage"] for o in read(folder, "opportunities")} == {
        "need_confirmed",
        "quoted",
        "negotiating",
        "won",
        "lost",
    }
    assert len(read(folder, "orders")) > 10_000 and len(read(folder, "interactions")) > 5_000

    paid: dict[str, Decimal] = defaultdict(Decimal)
    payments = read(folder, "payments")
    contracts = read(folder, "contracts")
    for p in payments:
        for c in contracts:
            if c["contract_no"] in p["memo"]:
                paid[c["contract_no"]] += Decimal(p["amount"])
                break
    overdue = [
        c
        for c in contracts
        if date.fromisoformat(c["due_on"]) < today and paid[c["contract_no"]] < Decimal(c["amount"])
    ]
    partly = [c for c in overdue if paid[c["contract_no"]] > 0]
    settled = [c for c in contracts if paid[c["contract_no"]] == Decimal(c["amount"])]
    assert len(overdue) > 50 and len(partly) > 10 and len(settled) > len(contracts) / 3
    assert any(not any(c["contract_no"] in p["memo"] for c in contracts) for p in payments)

    tickets = read(folder, "tickets")
    unanswered = [t for t in tickets if not t["responded_at"]]

    def hours(t: dict[str, str]) -> float:
        return (
            datetime.fromisoformat(t["responded_at"]) - datetime.fromisoformat(t["opened_at"])
        ).total_seconds() / 3600

    late = [t for t in tickets if t["responded_at"] and hours(t) > int(t["sla_hours"])]
    assert len(unanswered) > 50 and len(late) > 50


def test_generation_is_deterministic(tmp_path, clock):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_sample_dataset(a, customers=150, now=clock.now())
    write_sample_dataset(b, customers=150, now=clock.now())
    write_sample_dataset(c, customers=150, now=clock.now(), seed=8)
    assert sorted(p.name for p in a.iterdir()) == sorted(TABLE_FILES)
    for name in TABLE_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "customers.csv").read_bytes() != (c / "customers.csv").read_bytes()


def test_a_small_sample_imports_cleanly(session_factory, clock, tmp_path):
    folder = tmp_path / "sample"
    write_sample_dataset(folder, customers=250, now=clock.now())
    summary = import_paths(session_factory, [folder], now=clock.now(), progress=False)
    assert summary.warnings == []
    for name, counts in summary.tables.items():
        assert counts.created == len(read(folder, name)) > 0, name
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(CustomerRow)) == 250
        assert s.scalar(select(func.count()).select_from(AuditRow)) == sum(
            c.created for c in summary.tables.values()
        )
        users = {u.userid: u for u in s.scalars(select(UserRow))}
        for u in users.values():  # everyone in sales reaches the director
            if u.role in ("rep", "supervisor", "regional_manager"):
                chain, at = [], u.userid
                while at is not None:
                    chain.append(at)
                    at = users[at].manager_userid
                assert chain[-1] == "director", chain
        owners = set(s.scalars(select(CustomerRow.owner_userid).distinct()))
        assert all(users[o].role == "rep" for o in owners)
        first = s.scalars(select(VisitRow).order_by(VisitRow.checked_in_at)).first()
        assert first.checked_in_at.tzinfo is not None


def test_the_demo_sets_this_months_and_quarters_targets_and_they_are_asked_about(session_factory, tmp_path):
    """`python main.py demo` cascades a sample target for the month and the quarter, so 目标完成率 answers."""
    from bot.emulator.demo import _sample_targets
    from core.clock import SystemClock
    from core.targets.periods import period_of
    from nlq.answer import ask
    from storage.targets.models import TargetRow

    now = SystemClock().now()
    folder = tmp_path / "sample"
    write_sample_dataset(folder, customers=250, now=now)
    import_paths(session_factory, [folder], now=now, progress=False)
    _sample_targets(session_factory, now)
    today = now.astimezone(SHANGHAI).date()
    with session_factory() as s:
        for kind in ("month", "quarter"):
            key = period_of(kind, today).key
            levels = set(s.scalars(select(TargetRow.level).where(TargetRow.period == key)))
            assert {"org", "region", "rep"} <= levels, (key, levels)
        answer = ask(s, question="本月各大区目标完成率", asker="director", now=now)
    assert answer["kind"] == "groups" and all(r["denominator"] for r in answer["rows"])
