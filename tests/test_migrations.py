"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import storage.all_models  # noqa: F401 - every model module registers its tables
from storage.db import make_engine
from storage.models import Base
from storage.schema import upgrade


def test_upgrade_head_matches_models(db_url, tmp_path, request):
    # db_url already has tables from create_all; migrate a second, empty database instead
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/migrated.db"
    else:
        from tests.conftest import _fresh_pg_url

        url = _fresh_pg_url(request.getfixturevalue("pg_server"))
    engine = make_engine(url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_creates_the_capacity_indexes(db_url, tmp_path, request):
    """Migration 0003: the indexes the 100k-customer question and metric queries rely on."""
    from sqlalchemy import inspect

    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/migrated.db"
    else:
        from tests.conftest import _fresh_pg_url

        url = _fresh_pg_url(request.getfixturevalue("pg_server"))
    engine = make_engine(url)
    upgrade(engine)
    insp = inspect(engine)
    found = {(t, ix["name"]): ix["column_names"] for t in ("customers", "orders", "visits", "interactions")
             for ix in insp.get_indexes(t)}
    engine.dispose()
    assert found[("customers", "ix_customers_city")] == ["city"]
    assert found[("customers", "ix_customers_channel")] == ["channel"]
    assert found[("orders", "ix_orders_category")] == ["category"]
    assert found[("visits", "ix_visits_time_customer")] == ["checked_in_at", "customer_id"]
    assert found[("interactions", "ix_interactions_time_customer")] == ["at", "customer_id"]
