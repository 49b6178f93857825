"""The cascade computed in SQL on PostgreSQL (storage/targets/sqlplan.py) equals the Python reference
(core/targets/cascade.py over the same history) on generated trees: stores with no history, without region or
city, reps with no stores, equal weights (ties in the remainders), region coefficients; and its apply writes
every node and one audit row per node (create, then update / delete on a second apply)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from core.targets.baseline import windows
from core.targets.cascade import cascade
from core.targets.periods import parse_period
from storage.db import make_engine, make_session_factory
from storage.models import AuditRow, CustomerRow, OrderRow, UserRow
from storage.targets.models import RegionCoefficientRow, TargetRow
from storage.targets.plan import apply, coefficients, preview, rep_inputs, store_inputs
from storage.targets.sqlplan import PlanChanged, SqlPlan
from tests.conftest import BACKENDS, _fresh_pg_url

pytestmark = pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL only")

PERIOD = parse_period("2026Q2")
PLANNED = date(2026, 3, 25)
NOW = datetime(2026, 3, 25, 2, 0, tzinfo=UTC)


@pytest.fixture
def pg_factory(request):
    url = _fresh_pg_url(request.getfixturevalue("pg_server"), request.getfixturevalue("_pg_schema_template"))
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def _seed(factory, seed: int) -> None:
    rnd = random.Random(seed)
    regions = ["华东", "华南", " 华北 ", "", None, "华东\u3000"]
    cities = ["上海", "杭州", "广州", "", None]
    reps = [f"rep{i:02d}" for i in range(rnd.randint(2, 6))]
    with factory() as s:
        for r in [*reps, "rep_idle"]:  # rep_idle owns no store
            s.add(UserRow(userid=r, name="业务员" + r, role="rep", active=True))
        n_stores = rnd.randint(8, 40)
        amounts = [Decimal("1000.00"), Decimal("333.33"), Decimal("59.99")]
        for i in range(n_stores):
            cid = rnd.choice(["C", "c", "Z", "门"]) + f"{i:03d}"
            s.add(
                CustomerRow(
                    customer_id=cid,
                    name=f"门店{i}",
                    region=rnd.choice(regions),
                    city=rnd.choice(cities),
                    owner_userid=rnd.choice(reps),
                    status="lost" if rnd.random() < 0.05 else "active",
                    categories=[],
                    decision_roles=[],
                )
            )
            kind = rnd.random()
            if kind < 0.2:
                continue  # no history: the floor
            if kind < 0.45:  # identical histories: equal weights, tied remainders
                days = [date(2025, 5, 10), date(2025, 12, 10), date(2026, 1, 15)]
                amts = [Decimal("1000.00")] * 3
            else:
                k = rnd.randint(1, 12)
                days = [date(2025, 3, 1) + timedelta(days=rnd.randint(0, 420)) for _ in range(k)]
                amts = [rnd.choice(amounts) * rnd.randint(1, 9) for _ in range(k)]
            for j, (d, a) in enumerate(zip(days, amts, strict=True)):
                s.add(OrderRow(order_id=f"O{cid}-{j}", customer_id=cid, ordered_on=d, amount=a))
        if rnd.random() < 0.7:
            s.add(
                RegionCoefficientRow(
                    period=PERIOD.key,
                    region="华东",
                    coefficient=Decimal("1.125"),
                    reason="竞品退出",
                    set_by="rm",
                    set_at=NOW,
                )
            )
        s.commit()


def _reference(s, amount: int):
    w = windows(PERIOD, as_of=PLANNED)
    return cascade(
        period=PERIOD,
        windows=w,
        amount_fen=amount,
        stores=store_inputs(s, w),
        reps=rep_inputs(s, PERIOD.key),
        coefficients=coefficients(s, PERIOD.key),
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_sql_cascade_equals_the_python_reference(pg_factory, seed):
    _seed(pg_factory, seed)
    amount = random.Random(seed).choice([12_000_000_000, 100_003, 7, 0])
    with pg_factory() as s:
        ref = _reference(s, amount)
        got = preview(s, PERIOD, amount, today=PLANNED)
        assert isinstance(got, SqlPlan)
        assert got.check() == []
        assert got.store_count == ref.store_count
        assert {n.id: n.target_fen for n in got.of_level("rep")} == {
            n.id: n.target_fen for n in ref.of_level("rep")
        }
        assert sum(got.store_fen.values()) == amount
        want, have = ref.nodes, got.nodes
        assert list(have) == list(want)
        for nid, n in want.items():
            h = have[nid]
            assert (h.target_fen, h.baseline_fen, h.parent, h.name) == (
                n.target_fen,
                n.baseline_fen,
                n.parent,
                n.name,
            )
            assert h.children == n.children, nid
            if n.level == "store":
                for k in ("method", "months_active", "freq", "ticket", "new", "owner"):
                    assert h.factors[k] == n.factors[k], (nid, k)
                assert h.factors["trend"] == pytest.approx(n.factors["trend"])
                assert h.rationale == n.rationale, nid
            else:
                assert h.factors == n.factors, nid
                assert h.rationale == n.rationale, nid
        assert have["org:org"].target_fen == amount


def test_sql_cascade_ties_go_to_the_first_key(pg_factory):
    """Three stores of equal weight share 100 fen: 34, 33, 33, the extra fen to the key sorting first."""
    with pg_factory() as s:
        s.add(UserRow(userid="rep1", name="甲", role="rep", active=True))
        for cid in ("b", "a", "C"):  # byte order: C < a < b
            s.add(
                CustomerRow(
                    customer_id=cid,
                    name=cid,
                    region="华东",
                    city="上海",
                    owner_userid="rep1",
                    status="active",
                    categories=[],
                    decision_roles=[],
                )
            )
            s.add(
                OrderRow(order_id="O" + cid, customer_id=cid, ordered_on=date(2026, 1, 5), amount=Decimal(10))
            )
        s.commit()
        plan = preview(s, PERIOD, 100, today=PLANNED)
        assert plan.store_fen["C"] == 34 and plan.store_fen["a"] == 33 and plan.store_fen["b"] == 33


def test_sql_apply_writes_every_node_with_its_audit(pg_factory):
    _seed(pg_factory, 7)
    with pg_factory() as s:
        plan = preview(s, PERIOD, 12_000_000_000, today=PLANNED)
        want = {f"{PERIOD.key}|{n.level}|{n.key}": n for n in _reference(s, 12_000_000_000).nodes.values()}
        written = apply(s, plan, by="director", now=NOW)
        s.commit()
    with pg_factory() as s:
        rows = {r.target_id: r for r in s.scalars(select(TargetRow).where(TargetRow.period == PERIOD.key))}
        assert written == len(rows) == len(want)
        for tid, n in want.items():
            r = rows[tid]
            assert (r.amount_fen, r.committed_fen, r.baseline_fen) == (
                n.target_fen,
                n.target_fen,
                n.baseline_fen,
            )
            assert r.source == "cascade" and r.set_by == "director" and r.rationale
            assert r.factors["children"] == len(n.children)
        store = next(r for r in rows.values() if r.level == "store")
        assert store.parent_id in rows and store.factors["method"]
        store_tid, store_key, store_fen = store.target_id, store.node_key, store.amount_fen
        audits = s.scalars(select(AuditRow).where(AuditRow.entity == "target")).all()
        assert len(audits) == len(rows) and {a.action for a in audits} == {"create"}
        a = next(a for a in audits if a.entity_id == store_tid)
        assert a.before is None and a.after["amount_fen"] == store_fen and a.actor == "director"
        # one store lost since: a second apply updates the others and deletes its row, audited
        s.execute(
            CustomerRow.__table__.update().where(CustomerRow.customer_id == store_key).values(status="lost")
        )
        s.commit()
        plan = preview(s, PERIOD, 12_000_000_000, today=PLANNED)
        with pg_factory() as other:  # another connection: apply computes the plan again there
            assert (
                other.connection().connection.dbapi_connection
                is not s.connection().connection.dbapi_connection
            )
            apply(other, plan, by="director", now=NOW, reason="again")
            other.commit()
        again = s.scalars(select(AuditRow).where(AuditRow.reason == "again")).all()
        actions = {a.entity_id: a.action for a in again}
        assert actions[store_tid] == "delete"
        assert sum(1 for v in actions.values() if v == "update") == len(rows) - 1
        upd = next(a for a in again if a.action == "update" and a.entity_id == "2026Q2|org|org")
        assert upd.before["amount_fen"] == 12_000_000_000
        n_rows = s.scalar(select(func.count()).select_from(TargetRow).where(TargetRow.period == PERIOD.key))
        assert n_rows == len(rows) - 1


def test_sql_apply_refuses_a_preview_the_data_no_longer_gives(pg_factory):
    _seed(pg_factory, 8)
    with pg_factory() as s:
        plan = preview(s, PERIOD, 12_000_000_000, today=PLANNED)
    with pg_factory() as s:  # the confirmation on another connection, after the history changed
        s.execute(
            OrderRow.__table__.update()
            .where(OrderRow.ordered_on < date(2026, 3, 1))
            .values(amount=Decimal(1))
        )
        s.execute(
            OrderRow.__table__.update()
            .where(OrderRow.order_id == s.scalar(select(func.min(OrderRow.order_id))))
            .values(amount=Decimal(99999))
        )
        with pytest.raises(PlanChanged):
            apply(s, plan, by="director", now=NOW)
        assert s.scalar(select(func.count()).select_from(TargetRow)) == 0


def test_sql_cascade_medians_and_the_organisations_floor(pg_factory):
    """Even and odd numbers of stores ordering in R (the median: the mean of the two middle values, or the middle
    one), and a city whose stores have no history at all: they get half the organisation's low median."""
    shop = {  # city: [(customer id, orders in R, amount each)], amounts in yuan; R = 2025-12 … 2026-02
        "上海": [("S1", 1, 100), ("S2", 2, 100), ("S3", 4, 300), ("S4", 7, 50)],
        "杭州": [("H1", 1, 80), ("H2", 3, 90), ("H3", 5, 200)],
        "广州": [("G1", 0, 0), ("G2", 0, 0)],
    }
    with pg_factory() as s:
        s.add(UserRow(userid="rep1", name="甲", role="rep", active=True))
        for city, stores in shop.items():
            for cid, k, yuan in stores:
                s.add(
                    CustomerRow(
                        customer_id=cid,
                        name=cid,
                        region="华东",
                        city=city,
                        owner_userid="rep1",
                        status="active",
                        categories=[],
                        decision_roles=[],
                    )
                )
                s.flush()
                for j in range(k):  # mid-month days: the roll-up's months hold them
                    on = date(2025, 12 + j % 3, 17) if j % 3 == 0 else date(2026, j % 3, 9)
                    s.add(
                        OrderRow(order_id=f"O{cid}-{j}", customer_id=cid, ordered_on=on, amount=Decimal(yuan))
                    )
        s.commit()
        ref = _reference(s, 1_000_000)
        got = preview(s, PERIOD, 1_000_000, today=PLANNED)
        want, have = ref.nodes, got.nodes
        assert list(have) == list(want)
        for nid, n in want.items():
            h = have[nid]
            assert (h.target_fen, h.baseline_fen) == (n.target_fen, n.baseline_fen), nid
            if n.level == "store":
                assert (h.factors["freq"], h.factors["ticket"], h.factors["method"]) == (
                    n.factors["freq"],
                    n.factors["ticket"],
                    n.factors["method"],
                ), nid
        freqs = {n.key: n.factors["freq"] for n in ref.of_level("store")}
        assert len({freqs["S1"], freqs["S2"], freqs["S3"], freqs["S4"]}) > 1  # the medians made a difference
        positive = sorted(n.baseline_fen for n in ref.of_level("store") if n.key[0] != "G")
        floor = (positive[(len(positive) - 1) // 2] + 1) // 2  # half the low median, rounded half up
        assert have["store:G1"].factors["method"] == "new_store_floor"
        assert have["store:G1"].baseline_fen == have["store:G2"].baseline_fen == floor


def test_sql_cascade_numbers_a_city_committed_just_before_its_read(pg_factory, monkeypatch):
    """The stores, their history and their cities come from one statement (one snapshot): a store of a new city
    committed just before that statement is in the plan with its city, numbered like every other."""
    import storage.targets.sqlplan as sqlplan

    _seed(pg_factory, 8)
    written = []
    read = sqlplan.read_stores

    def write_then_read(session, w):  # noqa: ANN001
        written.append(True)
        with pg_factory() as other:
            other.add(
                CustomerRow(
                    customer_id="NEW1",
                    name="新城门店",
                    region="西南",
                    city="成都",
                    owner_userid="rep_idle",
                    status="active",
                    categories=[],
                    decision_roles=[],
                )
            )
            other.commit()
        return read(session, w)

    monkeypatch.setattr(sqlplan, "read_stores", write_then_read)
    with pg_factory() as s:
        s.execute(select(1))  # the session's transaction began before the store was committed
        got = preview(s, PERIOD, 12_000_000_000, today=PLANNED)
        assert written and got.check() == []
        ref = _reference(s, 12_000_000_000)
        assert "store:NEW1" in got.nodes and "city:西南/成都" in got.nodes
        assert {n.id: n.target_fen for n in got.nodes.values()} == {
            n.id: n.target_fen for n in ref.nodes.values()
        }


def test_sql_apply_after_a_commit_computes_the_plan_again(pg_factory):
    """The stores' table lives only in the transaction that wrote it: after a commit the same session's apply
    computes the plan again, and refuses it when the history changed in between."""
    _seed(pg_factory, 9)
    with pg_factory() as s:
        plan = preview(s, PERIOD, 12_000_000_000, today=PLANNED)
        assert plan.nodes  # the stores' table written in this transaction
        s.commit()
        assert s.execute(text("SELECT to_regclass(:t)"), {"t": "pg_temp." + plan.table}).scalar() is None
        s.execute(
            OrderRow.__table__.update()
            .where(OrderRow.order_id == s.scalar(select(func.min(OrderRow.order_id))))
            .values(amount=Decimal(99999))
        )
        with pytest.raises(PlanChanged):
            apply(s, plan, by="director", now=NOW)
