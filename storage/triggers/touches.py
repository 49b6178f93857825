"""Database triggers that keep customers.last_visit_at and customers.last_touch_at exact on every write path.

- last_visit_at: the customer's latest visits.checked_in_at (NULL: never visited).
- last_touch_at: the latest of that and interactions.at (NULL: never touched). A touch is a visit or an
  interaction (跟进, nlq-semantics.md).

Questions about follow-up (最久没跟进, 超过72小时未更新, 客户信息鲜度, 超过30天没跟进) read these columns
instead of probing visits and interactions per customer; the compiler (nlq.compile) still probes the
rows when the latest touch lies after the window asked about, so the answer is exact for any `now`.

Triggers rather than code in each writer, as for visit_tags (storage.triggers.visit_tags): the chat dialog,
the importer (COPY on PostgreSQL), the sample data, fixtures and hand-written SQL all write visits and
interactions. PostgreSQL works per statement over transition tables for inserts and deletes (one UPDATE of
the customers concerned, rows that would not change are not rewritten) and per row for an update that moves
a visit in time or to another customer (rare: an import correction). SQLite recomputes per row from the
(customer_id, time) indexes: two index probes, right after any write, INSERT OR REPLACE included.

Used by storage.models (create_all) and by migration 0008 (existing databases). No % in the SQL.
"""

from __future__ import annotations

from typing import Any

# the latest visit / touch of customer X, from the (customer_id, time) indexes
_SQLITE_LAST_VISIT = "(SELECT max(v.checked_in_at) FROM visits v WHERE v.customer_id = {x})"
_SQLITE_LAST_TOUCH = (
    "(SELECT max(t) FROM (SELECT max(v.checked_in_at) AS t FROM visits v WHERE v.customer_id = {x}"
    " UNION ALL SELECT max(i.at) FROM interactions i WHERE i.customer_id = {x}))"
)


def _sqlite_recompute(x: str, *, visit: bool) -> str:
    sets = [f"last_touch_at = {_SQLITE_LAST_TOUCH.format(x=x)}"]
    if visit:
        sets.insert(0, f"last_visit_at = {_SQLITE_LAST_VISIT.format(x=x)}")
    return f"UPDATE customers SET {', '.join(sets)} WHERE customer_id = {x};"


def _sqlite_triggers(table: str, at: str) -> tuple[str, ...]:
    """After an insert, a delete, and an update of the customer or the time of a row of `table`."""
    visit = table == "visits"
    return (
        f"""CREATE TRIGGER {table}_touch_insert AFTER INSERT ON {table} BEGIN
             {_sqlite_recompute("NEW.customer_id", visit=visit)}
           END""",
        f"""CREATE TRIGGER {table}_touch_delete AFTER DELETE ON {table} BEGIN
             {_sqlite_recompute("OLD.customer_id", visit=visit)}
           END""",
        f"""CREATE TRIGGER {table}_touch_update AFTER UPDATE OF customer_id, {at} ON {table} BEGIN
             {_sqlite_recompute("OLD.customer_id", visit=visit)}
             {_sqlite_recompute("NEW.customer_id", visit=visit)}
           END""",
    )


SQLITE = _sqlite_triggers("visits", "checked_in_at") + _sqlite_triggers("interactions", "at")

# PostgreSQL: recompute a set of customers (a subquery of customer_id), or raise to the rows just added
_PG_RECOMPUTE = """
         UPDATE customers c
            SET {sets}
          WHERE c.customer_id IN ({ids})"""
_PG_LAST_VISIT = "(SELECT max(v.checked_in_at) FROM visits v WHERE v.customer_id = c.customer_id)"
_PG_LAST_OTHER = "(SELECT max(i.at) FROM interactions i WHERE i.customer_id = c.customer_id)"
_PG_VISIT_SETS = (
    f"last_visit_at = {_PG_LAST_VISIT}, last_touch_at = GREATEST({_PG_LAST_VISIT}, {_PG_LAST_OTHER})"
)
_PG_TOUCH_SETS = f"last_touch_at = GREATEST({_PG_LAST_VISIT}, {_PG_LAST_OTHER})"


def _pg_function(name: str, body: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN{body};
         RETURN NULL;
       END $$"""


POSTGRESQL = (
    # added rows only raise the latest touch: GREATEST skips NULLs; unchanged customers are not rewritten
    _pg_function(
        "visits_touch_added",
        """
         UPDATE customers c
            SET last_visit_at = GREATEST(c.last_visit_at, d.at), last_touch_at = GREATEST(c.last_touch_at, d.at)
           FROM (SELECT customer_id, max(checked_in_at) AS at FROM added_visits GROUP BY customer_id) d
          WHERE c.customer_id = d.customer_id
            AND (c.last_visit_at IS NULL OR c.last_visit_at < d.at OR c.last_touch_at IS NULL
                 OR c.last_touch_at < d.at)""",
    ),
    _pg_function(
        "interactions_touch_added",
        """
         UPDATE customers c
            SET last_touch_at = GREATEST(c.last_touch_at, d.at)
           FROM (SELECT customer_id, max(at) AS at FROM added_interactions GROUP BY customer_id) d
          WHERE c.customer_id = d.customer_id AND (c.last_touch_at IS NULL OR c.last_touch_at < d.at)""",
    ),
    _pg_function(
        "visits_touch_removed",
        _PG_RECOMPUTE.format(sets=_PG_VISIT_SETS, ids="SELECT customer_id FROM removed_visits"),
    ),
    _pg_function(
        "interactions_touch_removed",
        _PG_RECOMPUTE.format(sets=_PG_TOUCH_SETS, ids="SELECT customer_id FROM removed_interactions"),
    ),
    _pg_function(
        "visits_touch_moved",
        _PG_RECOMPUTE.format(sets=_PG_VISIT_SETS, ids="OLD.customer_id, NEW.customer_id"),
    ),
    _pg_function(
        "interactions_touch_moved",
        _PG_RECOMPUTE.format(sets=_PG_TOUCH_SETS, ids="OLD.customer_id, NEW.customer_id"),
    ),
    """CREATE TRIGGER visits_touch_added AFTER INSERT ON visits REFERENCING NEW TABLE AS added_visits
       FOR EACH STATEMENT EXECUTE FUNCTION visits_touch_added()""",
    """CREATE TRIGGER visits_touch_removed AFTER DELETE ON visits REFERENCING OLD TABLE AS removed_visits
       FOR EACH STATEMENT EXECUTE FUNCTION visits_touch_removed()""",
    """CREATE TRIGGER visits_touch_moved AFTER UPDATE OF customer_id, checked_in_at ON visits FOR EACH ROW
       WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id OR OLD.checked_in_at IS DISTINCT FROM NEW.checked_in_at)
       EXECUTE FUNCTION visits_touch_moved()""",
    """CREATE TRIGGER interactions_touch_added AFTER INSERT ON interactions
       REFERENCING NEW TABLE AS added_interactions FOR EACH STATEMENT EXECUTE FUNCTION interactions_touch_added()""",
    """CREATE TRIGGER interactions_touch_removed AFTER DELETE ON interactions
       REFERENCING OLD TABLE AS removed_interactions FOR EACH STATEMENT
       EXECUTE FUNCTION interactions_touch_removed()""",
    """CREATE TRIGGER interactions_touch_moved AFTER UPDATE OF customer_id, at ON interactions FOR EACH ROW
       WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id OR OLD.at IS DISTINCT FROM NEW.at)
       EXECUTE FUNCTION interactions_touch_moved()""",
)

_NAMES = (
    "visits_touch_added",
    "visits_touch_removed",
    "visits_touch_moved",
    "interactions_touch_added",
    "interactions_touch_removed",
    "interactions_touch_moved",
)
DROP = {
    "sqlite": tuple(
        f"DROP TRIGGER IF EXISTS {t}_touch_{w}"
        for t in ("visits", "interactions")
        for w in ("insert", "delete", "update")
    ),
    "postgresql": tuple(f"DROP TRIGGER IF EXISTS {n} ON {n.split('_')[0]}" for n in _NAMES)
    + tuple(f"DROP FUNCTION IF EXISTS {n}()" for n in _NAMES),
}

# both columns from the rows already there (migration 0008, before the triggers exist)
BACKFILL = {
    "sqlite": (
        f"UPDATE customers SET last_visit_at = {_SQLITE_LAST_VISIT.format(x='customers.customer_id')}, "
        f"last_touch_at = {_SQLITE_LAST_TOUCH.format(x='customers.customer_id')}",
    ),
    "postgresql": (
        "UPDATE customers c SET last_visit_at = d.at, last_touch_at = d.at "
        "FROM (SELECT customer_id, max(checked_in_at) AS at FROM visits GROUP BY customer_id) d "
        "WHERE c.customer_id = d.customer_id",
        "UPDATE customers c SET last_touch_at = GREATEST(c.last_touch_at, d.at) "
        "FROM (SELECT customer_id, max(at) AS at FROM interactions GROUP BY customer_id) d "
        "WHERE c.customer_id = d.customer_id",
    ),
}


def statements(dialect: str) -> tuple[str, ...]:
    if dialect == "postgresql":
        return POSTGRESQL
    if dialect == "sqlite":
        return SQLITE
    raise NotImplementedError(f"touch triggers for {dialect}")


def install(conn: Any, table: str | None = None) -> None:
    """Create the triggers on a connection (a SQLAlchemy Connection): those on `table` (visits or
    interactions, as each is created) or all of them. The bodies name the other tables only when they run."""
    for sql in statements(conn.dialect.name):
        if table is None or _on_table(sql) in (None, table):
            conn.exec_driver_sql(sql)


def _on_table(sql: str) -> str | None:
    """The table a CREATE TRIGGER is on (None: a function, created with either table)."""
    if " ON visits " in sql or " ON visits\n" in sql:
        return "visits"
    if " ON interactions" in sql:
        return "interactions"
    return None
