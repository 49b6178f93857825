"""Migration 0009 grades the visits already stored from their distance (the rule of core/visits.py with the
default 300 m tolerance, widened by GPS precision); the importer grades an imported location as unmeasured."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from storage.db import make_session_factory
from storage.models import VisitRow
from tests.support.db import engine_at_revision, migrate

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
ROWS = [  # visit, lat, source, precision, distance → grade, tolerance
    ("V1", 31.23, "gps", 30.0, 33.0, "gps_within", 330.0),
    ("V2", 31.23, "gps", 80.0, 350.0, "gps_within", 380.0),
    ("V3", 31.23, "gps", 10.0, 350.0, "outside", 310.0),
    ("V4", 31.23, "map", None, 0.0, "map_within", 300.0),
    ("V5", 31.23, "map", None, 19_800.0, "outside", 300.0),
    ("V6", 31.23, "import", None, None, "unmeasured", None),
    ("V7", None, "gps", 10.0, 20.0, "gps_within", 310.0),  # GPS erased by retention: graded by its distance
    ("V8", None, None, None, None, None, None),
]


def test_migration_grades_existing_visits(db_url, tmp_path, request):
    engine = engine_at_revision(db_url, tmp_path, request, "0008_customer_last_touch")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO users (userid, name, role) VALUES ('rep01', 'r', 'rep')")
        conn.exec_driver_sql(
            "INSERT INTO customers (customer_id, name, owner_userid, status, categories, decision_roles) "
            "VALUES ('C1', 'a', 'rep01', 'active', '[]', '[]')"
        )
        conn.execute(
            sa.text(
                "INSERT INTO visits (visit_id, customer_id, rep_userid, checked_in_at, lat, lng, photo_count, "
                "source, status, location_source, location_precision_m, distance_m) "
                "VALUES (:v, 'C1', 'rep01', :t, :lat, :lat, 3, 'chat', 'closed', :src, :p, :d)"
            ),
            [{"v": v, "t": NOW, "lat": lat, "src": src, "p": p, "d": d} for v, lat, src, p, d, _, _ in ROWS],
        )
    migrate(engine, "head")
    factory = make_session_factory(engine)
    try:
        with factory() as s:
            got = {
                v.visit_id: (v.location_grade, v.location_tolerance_m) for v in s.scalars(sa.select(VisitRow))
            }
        assert got == {v: (grade, tol) for v, *_, grade, tol in ROWS}
        migrate(engine, "0008_customer_last_touch", down=True)
        with engine.connect() as conn:
            cols = {c["name"] for c in sa.inspect(conn).get_columns("visits")}
            assert not {"location_grade", "location_tolerance_m"} & cols
            assert "told" not in {c["name"] for c in sa.inspect(conn).get_columns("conversations")}
    finally:
        engine.dispose()
