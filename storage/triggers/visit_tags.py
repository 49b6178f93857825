"""Database triggers that keep two copies of visit_tags facts exact on every write path.

- visit_tags.customer_id: the visit's customer (set on insert, and followed when a visit moves to another
  customer), so "customers with tag X" reads visit_tags alone through (tag, customer_id).
- visits.tag_count: the number of visit_tags rows of the visit, so a complete visit (拜访完整率) is a test
  on the visit's own row.
- visit_tags.checked_in_at: the visit's time (set on insert and when a tag moves to another visit, followed
  when a visit's time changes), so a period's tags (本月需求标签前3) are read from (checked_in_at, tag,
  customer_id) without touching visits. Its triggers are a set of their own (TIMES, install_times: migration
  0027), so migration 0006 still installs exactly the triggers of its time.

Triggers rather than code in each writer: the chat dialog (storage.visits), the importer (COPY on
PostgreSQL), the sample data, fixtures and hand-written SQL all add and remove tags, and the database keeps
both columns right for all of them. PostgreSQL counts with statement-level triggers over transition tables
(one UPDATE per statement, not per row; increments, so concurrent taggers of one visit add up); SQLite
recounts the visit's tags per row (its writers are serialised, and a recount is right even after an
INSERT OR REPLACE, which fires no delete trigger).

Used by storage.models (create_all) and by migration 0006 (existing databases). No % in the SQL: the
statements go through SQLAlchemy's DDL/text unchanged.
"""

from __future__ import annotations

from typing import Any

SQLITE = (
    """CREATE TRIGGER visit_tags_after_insert AFTER INSERT ON visit_tags BEGIN
         UPDATE visit_tags SET customer_id = (SELECT v.customer_id FROM visits v WHERE v.visit_id = NEW.visit_id)
          WHERE visit_id = NEW.visit_id AND tag = NEW.tag;
         UPDATE visits SET tag_count = (SELECT count(*) FROM visit_tags t WHERE t.visit_id = NEW.visit_id)
          WHERE visit_id = NEW.visit_id;
       END""",
    """CREATE TRIGGER visit_tags_after_delete AFTER DELETE ON visit_tags BEGIN
         UPDATE visits SET tag_count = (SELECT count(*) FROM visit_tags t WHERE t.visit_id = OLD.visit_id)
          WHERE visit_id = OLD.visit_id;
       END""",
    """CREATE TRIGGER visit_tags_after_update AFTER UPDATE OF visit_id, tag ON visit_tags BEGIN
         UPDATE visit_tags SET customer_id = (SELECT v.customer_id FROM visits v WHERE v.visit_id = NEW.visit_id)
          WHERE visit_id = NEW.visit_id AND tag = NEW.tag;
         UPDATE visits SET tag_count = (SELECT count(*) FROM visit_tags t WHERE t.visit_id = visits.visit_id)
          WHERE visit_id IN (OLD.visit_id, NEW.visit_id);
       END""",
    """CREATE TRIGGER visits_customer_to_tags AFTER UPDATE OF customer_id ON visits BEGIN
         UPDATE visit_tags SET customer_id = NEW.customer_id WHERE visit_id = NEW.visit_id;
       END""",
)

POSTGRESQL = (
    """CREATE OR REPLACE FUNCTION visit_tags_set_customer() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         NEW.customer_id := (SELECT v.customer_id FROM visits v WHERE v.visit_id = NEW.visit_id);
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER visit_tags_customer BEFORE INSERT OR UPDATE OF visit_id, customer_id ON visit_tags
       FOR EACH ROW EXECUTE FUNCTION visit_tags_set_customer()""",
    """CREATE OR REPLACE FUNCTION visit_tags_count_added() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         UPDATE visits v SET tag_count = v.tag_count + d.n
           FROM (SELECT visit_id, count(*) AS n FROM changed_tags GROUP BY visit_id) d
          WHERE v.visit_id = d.visit_id;
         RETURN NULL;
       END $$""",
    """CREATE OR REPLACE FUNCTION visit_tags_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         UPDATE visits v SET tag_count = v.tag_count - d.n
           FROM (SELECT visit_id, count(*) AS n FROM changed_tags GROUP BY visit_id) d
          WHERE v.visit_id = d.visit_id;
         RETURN NULL;
       END $$""",
    """CREATE OR REPLACE FUNCTION visit_tags_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         UPDATE visits v SET tag_count = v.tag_count + d.n
           FROM (SELECT visit_id, sum(n) AS n
                   FROM (SELECT visit_id, -1 AS n FROM old_tags UNION ALL SELECT visit_id, 1 FROM new_tags) x
                  GROUP BY visit_id) d
          WHERE v.visit_id = d.visit_id AND d.n <> 0;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER visit_tags_added AFTER INSERT ON visit_tags REFERENCING NEW TABLE AS changed_tags
       FOR EACH STATEMENT EXECUTE FUNCTION visit_tags_count_added()""",
    """CREATE TRIGGER visit_tags_removed AFTER DELETE ON visit_tags REFERENCING OLD TABLE AS changed_tags
       FOR EACH STATEMENT EXECUTE FUNCTION visit_tags_count_removed()""",
    """CREATE TRIGGER visit_tags_moved AFTER UPDATE ON visit_tags REFERENCING OLD TABLE AS old_tags
       NEW TABLE AS new_tags FOR EACH STATEMENT EXECUTE FUNCTION visit_tags_count_moved()""",
    """CREATE OR REPLACE FUNCTION visits_customer_to_tags() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         UPDATE visit_tags SET customer_id = NEW.customer_id WHERE visit_id = NEW.visit_id;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER visits_customer_to_tags AFTER UPDATE OF customer_id ON visits FOR EACH ROW
       WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id) EXECUTE FUNCTION visits_customer_to_tags()""",
)

DROP = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS visit_tags_after_insert",
        "DROP TRIGGER IF EXISTS visit_tags_after_delete",
        "DROP TRIGGER IF EXISTS visit_tags_after_update",
        "DROP TRIGGER IF EXISTS visits_customer_to_tags",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS visit_tags_customer ON visit_tags",
        "DROP TRIGGER IF EXISTS visit_tags_added ON visit_tags",
        "DROP TRIGGER IF EXISTS visit_tags_removed ON visit_tags",
        "DROP TRIGGER IF EXISTS visit_tags_moved ON visit_tags",
        "DROP TRIGGER IF EXISTS visits_customer_to_tags ON visits",
        "DROP FUNCTION IF EXISTS visit_tags_set_customer()",
        "DROP FUNCTION IF EXISTS visit_tags_count_added()",
        "DROP FUNCTION IF EXISTS visit_tags_count_removed()",
        "DROP FUNCTION IF EXISTS visit_tags_count_moved()",
        "DROP FUNCTION IF EXISTS visits_customer_to_tags()",
    ),
}

# both columns from the rows already there (migration 0006, before the triggers exist)
BACKFILL = {
    "sqlite": (
        "UPDATE visit_tags SET customer_id = (SELECT v.customer_id FROM visits v WHERE v.visit_id = visit_tags.visit_id)",
        "UPDATE visits SET tag_count = (SELECT count(*) FROM visit_tags t WHERE t.visit_id = visits.visit_id)",
    ),
    "postgresql": (
        "UPDATE visit_tags t SET customer_id = v.customer_id FROM visits v WHERE v.visit_id = t.visit_id",
        "UPDATE visits v SET tag_count = d.n FROM (SELECT visit_id, count(*) AS n FROM visit_tags GROUP BY visit_id) d "
        "WHERE v.visit_id = d.visit_id",
    ),
}


TIMES = {
    "sqlite": (
        """CREATE TRIGGER visit_tags_time_after_insert AFTER INSERT ON visit_tags BEGIN
             UPDATE visit_tags SET checked_in_at = (SELECT v.checked_in_at FROM visits v WHERE v.visit_id = NEW.visit_id)
              WHERE visit_id = NEW.visit_id AND tag = NEW.tag;
           END""",
        """CREATE TRIGGER visit_tags_time_after_update AFTER UPDATE OF visit_id ON visit_tags BEGIN
             UPDATE visit_tags SET checked_in_at = (SELECT v.checked_in_at FROM visits v WHERE v.visit_id = NEW.visit_id)
              WHERE visit_id = NEW.visit_id AND tag = NEW.tag;
           END""",
        """CREATE TRIGGER visits_time_to_tags AFTER UPDATE OF checked_in_at ON visits BEGIN
             UPDATE visit_tags SET checked_in_at = NEW.checked_in_at WHERE visit_id = NEW.visit_id;
           END""",
    ),
    "postgresql": (
        """CREATE OR REPLACE FUNCTION visit_tags_set_time() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             NEW.checked_in_at := (SELECT v.checked_in_at FROM visits v WHERE v.visit_id = NEW.visit_id);
             RETURN NEW;
           END $$""",
        """CREATE TRIGGER visit_tags_time BEFORE INSERT OR UPDATE OF visit_id, checked_in_at ON visit_tags
           FOR EACH ROW EXECUTE FUNCTION visit_tags_set_time()""",
        """CREATE OR REPLACE FUNCTION visits_time_to_tags() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             UPDATE visit_tags SET checked_in_at = NEW.checked_in_at WHERE visit_id = NEW.visit_id;
             RETURN NULL;
           END $$""",
        """CREATE TRIGGER visits_time_to_tags AFTER UPDATE OF checked_in_at ON visits FOR EACH ROW
           WHEN (OLD.checked_in_at IS DISTINCT FROM NEW.checked_in_at) EXECUTE FUNCTION visits_time_to_tags()""",
    ),
}
TIMES_DROP = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS visit_tags_time_after_insert",
        "DROP TRIGGER IF EXISTS visit_tags_time_after_update",
        "DROP TRIGGER IF EXISTS visits_time_to_tags",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS visit_tags_time ON visit_tags",
        "DROP TRIGGER IF EXISTS visits_time_to_tags ON visits",
        "DROP FUNCTION IF EXISTS visit_tags_set_time()",
        "DROP FUNCTION IF EXISTS visits_time_to_tags()",
    ),
}
TIMES_BACKFILL = {
    "sqlite": "UPDATE visit_tags SET checked_in_at = (SELECT v.checked_in_at FROM visits v "
    "WHERE v.visit_id = visit_tags.visit_id)",
    "postgresql": "UPDATE visit_tags t SET checked_in_at = v.checked_in_at FROM visits v WHERE v.visit_id = t.visit_id",
}


def install_times(conn: Any) -> None:
    """Create the triggers of visit_tags.checked_in_at (TIMES) on a connection; the column exists."""
    for sql in TIMES[conn.dialect.name]:
        conn.exec_driver_sql(sql)


def statements(dialect: str) -> tuple[str, ...]:
    if dialect == "postgresql":
        return POSTGRESQL
    if dialect == "sqlite":
        return SQLITE
    raise NotImplementedError(f"visit_tags triggers for {dialect}")


def install(conn: Any) -> None:
    """Create the triggers on a connection (a SQLAlchemy Connection; the tables exist)."""
    for sql in statements(conn.dialect.name):
        conn.exec_driver_sql(sql)
