"""order_months (each customer's orders per calendar month) stays equal to the orders on every write path (the
triggers of storage/triggers/order_months.py), on SQLite and PostgreSQL: ORM and Core inserts of many rows in
one statement, several orders in one month, amounts with fen, an update of the amount, of the date (to another
month) and of the customer, an update of another column, deletes (a month left with no order disappears), the
import and a re-import that corrects orders, TRUNCATE on PostgreSQL, and migration 0026's backfill."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import delete, insert, select, update

from storage.db import make_session_factory
from storage.models import OrderMonthRow, OrderRow
from tests.support.db import engine_at_revision, import_texts, migrate
from tests.support.factories import org


def rollup(session_factory) -> dict[tuple[str, date], tuple[int, int]]:
    with session_factory() as s:
        rows = s.execute(
            select(
                OrderMonthRow.customer_id, OrderMonthRow.month, OrderMonthRow.sales_fen, OrderMonthRow.orders
            )
        )
        return {
            (c, m if isinstance(m, date) else date.fromisoformat(m)): (int(f), int(n)) for c, m, f, n in rows
        }


def expected(session_factory) -> dict[tuple[str, date], tuple[int, int]]:
    """The roll-up computed in Python from the orders: fen of each order (exact Decimal), per customer and month."""
    out: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    with session_factory() as s:
        for cid, on, amount in s.execute(select(OrderRow.customer_id, OrderRow.ordered_on, OrderRow.amount)):
            on = on if isinstance(on, date) else date.fromisoformat(on)
            cell = out[(cid, on.replace(day=1))]
            cell[0] += int((Decimal(str(amount)) * 100).to_integral_value())
            cell[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def order(order_id: str, customer_id: str, on: date, amount: str) -> dict:
    return dict(order_id=order_id, customer_id=customer_id, ordered_on=on, amount=Decimal(amount))


def test_every_write_path_keeps_the_rollup(session_factory, db_url):
    with session_factory() as s:
        org(s)
        s.execute(delete(OrderRow))  # the fixture's orders go through the delete path
        s.commit()
    assert rollup(session_factory) == {}
    with session_factory() as s:  # ORM insert
        s.add(OrderRow(**order("O1", "C001", date(2026, 3, 5), "100.10")))
        s.commit()
    assert rollup(session_factory) == {("C001", date(2026, 3, 1)): (10010, 1)}
    with session_factory() as s:  # Core, several rows, customers and months in one statement
        s.execute(
            insert(OrderRow),
            [
                order("O2", "C001", date(2026, 3, 31), "0.05"),
                order("O3", "C001", date(2026, 4, 1), "2000.00"),
                order("O4", "C002", date(2026, 3, 15), "33.33"),
                order("O5", "C002", date(2026, 3, 16), "-3.33"),  # a return
            ],
        )
        s.commit()
    assert rollup(session_factory) == {
        ("C001", date(2026, 3, 1)): (10015, 2),
        ("C001", date(2026, 4, 1)): (200000, 1),
        ("C002", date(2026, 3, 1)): (3000, 2),
    }
    with session_factory() as s:  # amount changed; moved to another month; moved to another customer
        s.execute(update(OrderRow).where(OrderRow.order_id == "O1").values(amount=Decimal("90.00")))
        o2 = s.get(OrderRow, "O2")
        o2.ordered_on = date(2026, 5, 2)
        s.flush()
        s.execute(update(OrderRow).where(OrderRow.order_id == "O3").values(customer_id="C002"))
        s.commit()
    assert rollup(session_factory) == {
        ("C001", date(2026, 3, 1)): (9000, 1),
        ("C001", date(2026, 5, 1)): (5, 1),
        ("C002", date(2026, 3, 1)): (3000, 2),
        ("C002", date(2026, 4, 1)): (200000, 1),
    }
    with session_factory() as s:  # an update of another column changes nothing
        s.execute(update(OrderRow).values(category="饮料"))
        s.commit()
    assert rollup(session_factory) == expected(session_factory)
    with session_factory() as s:  # a month's last order deleted: the month goes; another keeps one order
        s.execute(delete(OrderRow).where(OrderRow.order_id.in_(["O2", "O4"])))
        s.commit()
    assert rollup(session_factory) == {
        ("C001", date(2026, 3, 1)): (9000, 1),
        ("C002", date(2026, 3, 1)): (-333, 1),
        ("C002", date(2026, 4, 1)): (200000, 1),
    }
    assert rollup(session_factory) == expected(session_factory)
    if db_url.startswith("postgresql"):
        with session_factory() as s:
            s.execute(sa.text("TRUNCATE orders"))
            s.commit()
        assert rollup(session_factory) == {}


ORDERS = (
    "order_id,customer_id,ordered_on,amount,category\n"
    "O001,C001,2026-01-05,1200.50,饮料\n"
    "O002,C001,2026-01-20,99.50,饮料\n"
    "O003,C002,2026-02-01,300,零食\n"
    "O004,C003,2026-02-28,45.67,\n"
)
# O001 to February, O003 to C003 with another amount, O002 and O004 unchanged, O005 new
ORDERS_AGAIN = (
    "order_id,customer_id,ordered_on,amount,category\n"
    "O001,C001,2026-02-05,1200.50,饮料\n"
    "O002,C001,2026-01-20,99.50,饮料\n"
    "O003,C003,2026-02-01,310.01,零食\n"
    "O004,C003,2026-02-28,45.67,\n"
    "O005,C002,2026-03-01,1,\n"
)
USERS = "userid,name,role,manager_userid\nrep01,张伟,rep,\nrep02,李娜,rep,\n"
CUSTOMERS = "customer_id,name,owner_userid\nC001,味源超市,rep01\nC002,鲜丰社区生鲜,rep01\nC003,好邻居,rep02\n"


def test_import_and_reimport_keep_the_rollup(session_factory, clock, tmp_path: Path):
    folder = tmp_path / "import"
    files = {"users.csv": USERS, "customers.csv": CUSTOMERS, "orders.csv": ORDERS}
    import_texts(session_factory, folder, clock.now(), files)
    assert rollup(session_factory) == {
        ("C001", date(2026, 1, 1)): (130000, 2),
        ("C002", date(2026, 2, 1)): (30000, 1),
        ("C003", date(2026, 2, 1)): (4567, 1),
    }
    import_texts(session_factory, folder, clock.now(), {"orders.csv": ORDERS_AGAIN})
    assert rollup(session_factory) == {
        ("C001", date(2026, 1, 1)): (9950, 1),
        ("C001", date(2026, 2, 1)): (120050, 1),
        ("C003", date(2026, 2, 1)): (35568, 2),
        ("C002", date(2026, 3, 1)): (100, 1),
    }
    assert rollup(session_factory) == expected(session_factory)


def test_migration_fills_the_rollup(db_url, tmp_path, request):
    """A database at 0025 with orders: 0026 fills the roll-up from them and installs the triggers; the
    downgrade drops both (orders are written again without a trigger left behind)."""
    engine = engine_at_revision(db_url, tmp_path, request, "0025_lead_score_points")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO users (userid, name, role) VALUES ('rep01', 'r', 'rep')")
        conn.exec_driver_sql(
            "INSERT INTO customers (customer_id, name, owner_userid, status, categories, decision_roles) "
            "VALUES ('C1', 'a', 'rep01', 'active', '[]', '[]'), ('C2', 'b', 'rep01', 'active', '[]', '[]')"
        )
        conn.execute(
            sa.text("INSERT INTO orders (order_id, customer_id, ordered_on, amount) VALUES (:o, :c, :d, :a)"),
            [
                {"o": "O1", "c": "C1", "d": date(2025, 12, 1), "a": 10.01},
                {"o": "O2", "c": "C1", "d": date(2025, 12, 31), "a": 20.02},
                {"o": "O3", "c": "C2", "d": date(2026, 1, 9), "a": 7.0},
            ],
        )
    migrate(engine, "head")
    factory = make_session_factory(engine)
    try:
        assert rollup(factory) == {("C1", date(2025, 12, 1)): (3003, 2), ("C2", date(2026, 1, 1)): (700, 1)}
        with factory() as s:  # the triggers are there
            s.add(OrderRow(**order("O4", "C2", date(2026, 1, 30), "1.50")))
            s.commit()
        assert rollup(factory) == {("C1", date(2025, 12, 1)): (3003, 2), ("C2", date(2026, 1, 1)): (850, 2)}
        migrate(engine, "0025_lead_score_points", down=True)
        with engine.connect() as conn:
            assert "order_months" not in sa.inspect(conn).get_table_names()
            conn.execute(
                sa.text(
                    "INSERT INTO orders (order_id, customer_id, ordered_on, amount) VALUES ('O5', 'C1', :d, 1)"
                ),
                {"d": date(2026, 2, 1)},
            )  # no trigger left that writes the dropped table
            conn.commit()
    finally:
        engine.dispose()
