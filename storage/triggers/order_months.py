"""Database triggers that keep order_months — each customer's orders per calendar month — exact on every write
path (docs/targets.md § The monthly roll-up of orders).

order_months(customer_id, month, sales_fen, orders): for every customer and month with at least one order, the
sum of the orders' amounts in fen (each order rounded to the fen, as storage.targets.common.order_fen) and their
number. The cascade on PostgreSQL (storage/targets/sqlplan.py) reads the customers' history from it: the
baseline windows are whole months, so a pass over the roll-up (in customer order, through its covering index)
replaces a hash aggregate of every order before the cutoff.

Triggers rather than code in each writer, as for the touches (storage.triggers.touches): the importer (COPY on
PostgreSQL), the sample data, fixtures, the benches and hand-written SQL all write orders. PostgreSQL works per
statement over transition tables (one upsert of the deltas per statement; an UPDATE adds the new rows and
takes away the old ones, so a moved order leaves its old month; a month left with no order is deleted;
TRUNCATE empties the roll-up). SQLite recounts the customer's month per row from the orders (its writers are
serialised, and a recount is right even after an INSERT OR REPLACE, which fires no delete trigger).

Used by storage.models (create_all) and by migration 0026 (existing databases). No % in the SQL.
"""

from __future__ import annotations

from typing import Any

# SQLite keeps dates as 'YYYY-MM-DD' text: a month is its first day
_SQLITE_MONTH = "substr({x}.ordered_on, 1, 8) || '01'"


def _sqlite_recount(x: str) -> str:
    m = _SQLITE_MONTH.format(x=x)
    return f"""DELETE FROM order_months WHERE customer_id = {x}.customer_id AND month = {m};
         INSERT INTO order_months (customer_id, month, sales_fen, orders)
           SELECT o.customer_id, {m}, sum(CAST(round(o.amount * 100) AS INTEGER)), count(*) FROM orders o
            WHERE o.customer_id = {x}.customer_id AND o.ordered_on >= {m} AND o.ordered_on < date({m}, '+1 month')
            GROUP BY o.customer_id;"""


SQLITE = (
    f"""CREATE TRIGGER orders_months_insert AFTER INSERT ON orders BEGIN
         {_sqlite_recount("NEW")}
       END""",
    f"""CREATE TRIGGER orders_months_delete AFTER DELETE ON orders BEGIN
         {_sqlite_recount("OLD")}
       END""",
    f"""CREATE TRIGGER orders_months_update AFTER UPDATE OF customer_id, ordered_on, amount ON orders BEGIN
         {_sqlite_recount("OLD")}
         {_sqlite_recount("NEW")}
       END""",
)

_PG_DELTA = "SELECT customer_id, date_trunc('month', ordered_on)::date AS month, {sign}round(amount * 100) AS fen, {sign}1 AS n FROM {t}"
_PG_UPSERT = """
         INSERT INTO order_months AS m (customer_id, month, sales_fen, orders)
         SELECT customer_id, month, sum(fen)::bigint, sum(n)::int FROM ({rows}) d GROUP BY customer_id, month
         HAVING sum(fen) <> 0 OR sum(n) <> 0
         ON CONFLICT (customer_id, month)
         DO UPDATE SET sales_fen = m.sales_fen + excluded.sales_fen, orders = m.orders + excluded.orders"""
_PG_EMPTIED = """;
         DELETE FROM order_months m USING (SELECT DISTINCT customer_id, date_trunc('month', ordered_on)::date AS month
                                             FROM {t}) d
          WHERE m.customer_id = d.customer_id AND m.month = d.month AND m.orders <= 0"""


def _pg_function(name: str, body: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN{body};
         RETURN NULL;
       END $$"""


POSTGRESQL = (
    _pg_function("orders_months_added", _PG_UPSERT.format(rows=_PG_DELTA.format(sign="", t="added_orders"))),
    _pg_function(
        "orders_months_removed",
        _PG_UPSERT.format(rows=_PG_DELTA.format(sign="-", t="removed_orders"))
        + _PG_EMPTIED.format(t="removed_orders"),
    ),
    _pg_function(
        "orders_months_moved",
        _PG_UPSERT.format(
            rows=_PG_DELTA.format(sign="", t="new_orders")
            + " UNION ALL "
            + _PG_DELTA.format(sign="-", t="old_orders")
        )
        + _PG_EMPTIED.format(t="old_orders"),
    ),
    _pg_function("orders_months_emptied", "\n         TRUNCATE order_months"),
    """CREATE TRIGGER orders_months_added AFTER INSERT ON orders REFERENCING NEW TABLE AS added_orders
       FOR EACH STATEMENT EXECUTE FUNCTION orders_months_added()""",
    """CREATE TRIGGER orders_months_removed AFTER DELETE ON orders REFERENCING OLD TABLE AS removed_orders
       FOR EACH STATEMENT EXECUTE FUNCTION orders_months_removed()""",
    """CREATE TRIGGER orders_months_moved AFTER UPDATE ON orders
       REFERENCING OLD TABLE AS old_orders NEW TABLE AS new_orders
       FOR EACH STATEMENT EXECUTE FUNCTION orders_months_moved()""",
    """CREATE TRIGGER orders_months_emptied AFTER TRUNCATE ON orders
       FOR EACH STATEMENT EXECUTE FUNCTION orders_months_emptied()""",
)

_NAMES = ("orders_months_added", "orders_months_removed", "orders_months_moved", "orders_months_emptied")
DROP = {
    "sqlite": tuple(f"DROP TRIGGER IF EXISTS orders_months_{w}" for w in ("insert", "delete", "update")),
    "postgresql": tuple(f"DROP TRIGGER IF EXISTS {n} ON orders" for n in _NAMES)
    + tuple(f"DROP FUNCTION IF EXISTS {n}()" for n in _NAMES),
}

# the roll-up of the orders already there (migration 0026, before the triggers exist)
BACKFILL = {
    "sqlite": (
        "INSERT INTO order_months (customer_id, month, sales_fen, orders) "
        f"SELECT customer_id, {_SQLITE_MONTH.format(x='orders')}, sum(CAST(round(amount * 100) AS INTEGER)), count(*) "
        f"FROM orders GROUP BY customer_id, {_SQLITE_MONTH.format(x='orders')}",
    ),
    "postgresql": (
        "INSERT INTO order_months (customer_id, month, sales_fen, orders) "
        "SELECT customer_id, date_trunc('month', ordered_on)::date, sum(round(amount * 100))::bigint, count(*) "
        "FROM orders GROUP BY 1, 2",
    ),
}


def statements(dialect: str) -> tuple[str, ...]:
    if dialect == "postgresql":
        return POSTGRESQL
    if dialect == "sqlite":
        return SQLITE
    raise NotImplementedError(f"order_months triggers for {dialect}")


def install(conn: Any) -> None:
    """Create the functions and triggers on a connection (a SQLAlchemy Connection), once orders exists; the
    bodies name order_months only when they run."""
    for sql in statements(conn.dialect.name):
        conn.exec_driver_sql(sql)
