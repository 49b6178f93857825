"""customers.last_visit_at / last_touch_at stay exact on every write path (the triggers of
storage/triggers/touches.py), on SQLite and PostgreSQL: ORM and Core inserts, many rows in one statement,
an interaction later and earlier than the visits, deleting the latest visit, a visit moved in time or to
another customer, the import, and the migration's backfill of a database that already has touches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import delete, func, insert, select, update

from storage.db import make_session_factory
from storage.models import CustomerRow, InteractionRow, VisitRow
from tests.storage.test_visit_tag_denorm import CUSTOMERS, USERS, VISITS, VISITS_AGAIN
from tests.support.db import engine_at_revision, import_texts, migrate
from tests.support.factories import org
from tests.support.harness import Harness

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def drift(session_factory) -> list:
    """Customers whose stored latest visit / touch differs from their rows (empty: none)."""
    last_visit = (
        select(func.max(VisitRow.checked_in_at))
        .where(VisitRow.customer_id == CustomerRow.customer_id)
        .correlate(CustomerRow)
        .scalar_subquery()
    )
    last_other = (
        select(func.max(InteractionRow.at))
        .where(InteractionRow.customer_id == CustomerRow.customer_id)
        .correlate(CustomerRow)
        .scalar_subquery()
    )
    with session_factory() as s:
        rows = s.execute(
            select(
                CustomerRow.customer_id,
                CustomerRow.last_visit_at,
                CustomerRow.last_touch_at,
                last_visit,
                last_other,
            )
        ).all()
    out = []
    for cid, stored_visit, stored_touch, v, i in rows:
        v, i = _aware(v), _aware(i)
        touch = max((t for t in (v, i) if t is not None), default=None)
        if (stored_visit, stored_touch) != (v, touch):
            out.append((cid, stored_visit, stored_touch, v, touch))
    return out


def _aware(t):  # a raw max() over SQLite text comes back as a string
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if t is not None and t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t


def latest(session_factory, customer_id: str) -> tuple[datetime | None, datetime | None]:
    with session_factory() as s:
        return (
            s.execute(
                select(CustomerRow.last_visit_at, CustomerRow.last_touch_at).where(
                    CustomerRow.customer_id == customer_id
                )
            )
            .one()
            ._tuple()
        )


def visit(visit_id: str, customer_id: str, at: datetime) -> dict:
    return dict(
        visit_id=visit_id,
        customer_id=customer_id,
        rep_userid="rep01",
        checked_in_at=at,
        photo_count=0,
        source="import",
        status="closed",
    )


def test_every_write_path_keeps_the_latest_touch(session_factory):
    with session_factory() as s:
        org(s, touched_at=NOW - 40 * DAY)
    assert latest(session_factory, "C001") == (None, NOW - 40 * DAY)  # a call, never visited
    with session_factory() as s:
        s.execute(delete(InteractionRow))
        s.commit()
    assert latest(session_factory, "C001") == (None, None)  # never touched
    with session_factory() as s:  # ORM insert
        s.add(VisitRow(**visit("V1", "C001", NOW - 5 * DAY)))
        s.commit()
    assert latest(session_factory, "C001") == (NOW - 5 * DAY, NOW - 5 * DAY)
    with session_factory() as s:  # an interaction after the visit: the touch moves, the visit does not
        s.add(InteractionRow(interaction_id="I1", customer_id="C001", at=NOW - 2 * DAY, channel="phone"))
        s.commit()
    assert latest(session_factory, "C001") == (NOW - 5 * DAY, NOW - 2 * DAY)
    with session_factory() as s:  # Core, several rows and customers in one statement, an older one among them
        s.execute(
            insert(VisitRow),
            [
                visit("V2", "C001", NOW - 9 * DAY),
                visit("V3", "C001", NOW - DAY),
                visit("V4", "C002", NOW - 3 * DAY),
            ],
        )
        s.execute(insert(InteractionRow), [dict(interaction_id="I2", customer_id="C002", at=NOW - 30 * DAY)])
        s.commit()
    assert latest(session_factory, "C001") == (NOW - DAY, NOW - DAY)
    assert latest(session_factory, "C002") == (NOW - 3 * DAY, NOW - 3 * DAY)
    with session_factory() as s:  # the latest visit deleted: the one before it, and the interaction
        s.execute(delete(VisitRow).where(VisitRow.visit_id == "V3"))
        s.commit()
    assert latest(session_factory, "C001") == (NOW - 5 * DAY, NOW - 2 * DAY)
    with session_factory() as s:  # a visit moved to another customer: both customers follow
        s.execute(update(VisitRow).where(VisitRow.visit_id == "V1").values(customer_id="C002"))
        s.commit()
    assert latest(session_factory, "C001") == (NOW - 9 * DAY, NOW - 2 * DAY)
    assert latest(session_factory, "C002") == (NOW - 3 * DAY, NOW - 3 * DAY)
    with session_factory() as s:  # a visit moved in time (an import correction)
        v = s.get(VisitRow, "V2")
        v.checked_in_at = NOW - 12 * DAY
        s.commit()
    assert latest(session_factory, "C001") == (NOW - 12 * DAY, NOW - 2 * DAY)
    with session_factory() as s:  # interactions deleted and moved
        s.execute(delete(InteractionRow).where(InteractionRow.interaction_id == "I1"))
        s.execute(
            update(InteractionRow)
            .where(InteractionRow.interaction_id == "I2")
            .values(customer_id="C001", at=NOW - 11 * DAY)
        )
        s.commit()
    assert latest(session_factory, "C001") == (NOW - 12 * DAY, NOW - 11 * DAY)
    assert latest(session_factory, "C002") == (NOW - 3 * DAY, NOW - 3 * DAY)
    with session_factory() as s:  # an update that touches neither time nor customer changes nothing
        s.execute(update(VisitRow).values(photo_count=3))
        s.commit()
    assert drift(session_factory) == []


def test_import_and_reimport_keep_the_latest_touch(session_factory, clock, tmp_path: Path):
    folder = tmp_path / "import"
    import_texts(
        session_factory,
        folder,
        clock.now(),
        {"users.csv": USERS, "customers.csv": CUSTOMERS, "visits.csv": VISITS},
    )
    may = datetime(2026, 5, 1, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    assert latest(session_factory, "C001") == (may, may)
    assert latest(session_factory, "C002")[0] == datetime(2026, 5, 2, 2, 0, tzinfo=UTC)
    import_texts(session_factory, folder, clock.now(), {"visits.csv": VISITS_AGAIN})
    assert latest(session_factory, "C001") == (None, None)  # its only visit moved to C002
    assert drift(session_factory) == []


def test_chat_visit_then_undo(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now() - 20 * DAY)
    h.peer.text("rep01", "拜访 味源超市")
    h.peer.text("rep01", "价格异议 库存不足")
    h.tick()
    visit_at, touch_at = latest(h.session_factory, "C001")
    assert visit_at is not None and touch_at == visit_at > clock.now() - DAY
    assert latest(h.session_factory, "C002") == (None, clock.now() - 20 * DAY)
    h.peer.text("rep01", "撤销")  # takes the tags back; the visit stays
    h.tick()
    assert latest(h.session_factory, "C001") == (visit_at, visit_at)
    assert drift(h.session_factory) == []


def test_migration_fills_both_columns(db_url, tmp_path, request):
    """A database at 0007 with visits and interactions: 0008 fills both columns and installs the triggers;
    the downgrade takes them away."""
    engine = engine_at_revision(db_url, tmp_path, request, "0007_orders_customer_category")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO users (userid, name, role) VALUES ('rep01', 'r', 'rep')")
        conn.exec_driver_sql(
            "INSERT INTO customers (customer_id, name, owner_userid, status, categories, "
            "decision_roles) VALUES ('C1', 'a', 'rep01', 'active', '[]', '[]'), "
            "('C2', 'b', 'rep01', 'active', '[]', '[]'), ('C3', 'c', 'rep01', 'active', '[]', '[]')"
        )
        conn.execute(
            sa.text(
                "INSERT INTO visits (visit_id, customer_id, rep_userid, checked_in_at, photo_count, "
                "source, status) VALUES (:v, :c, 'rep01', :t, 0, 'import', 'closed')"
            ),
            [
                {"v": "V1", "c": "C1", "t": NOW - 3 * DAY},
                {"v": "V2", "c": "C1", "t": NOW - DAY},
                {"v": "V3", "c": "C2", "t": NOW - 8 * DAY},
            ],
        )
        conn.execute(
            sa.text("INSERT INTO interactions (interaction_id, customer_id, at) VALUES (:i, :c, :t)"),
            [{"i": "I1", "c": "C2", "t": NOW - 2 * DAY}, {"i": "I2", "c": "C1", "t": NOW - 9 * DAY}],
        )
    migrate(engine, "head")
    factory = make_session_factory(engine)
    try:
        assert latest(factory, "C1") == (NOW - DAY, NOW - DAY)
        assert latest(factory, "C2") == (NOW - 8 * DAY, NOW - 2 * DAY)
        assert latest(factory, "C3") == (None, None)
        with factory() as s:  # the triggers are there
            s.add(VisitRow(**visit("V4", "C3", NOW - 4 * DAY)))
            s.commit()
        assert latest(factory, "C3") == (NOW - 4 * DAY, NOW - 4 * DAY)
        assert drift(factory) == []
        migrate(engine, "0007_orders_customer_category", down=True)
        with engine.connect() as conn:
            cols = {c["name"] for c in sa.inspect(conn).get_columns("customers")}
            assert not {"last_visit_at", "last_touch_at"} & cols
            conn.execute(
                sa.text(
                    "INSERT INTO visits (visit_id, customer_id, rep_userid, checked_in_at, photo_count, "
                    "source, status) VALUES ('V5', 'C3', 'rep01', :t, 0, 'import', 'closed')"
                ),
                {"t": NOW},
            )  # no trigger left that writes the dropped columns
            conn.commit()
    finally:
        engine.dispose()
