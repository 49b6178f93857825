"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import storage.all_models  # noqa: F401 - every model module registers its tables
from storage.db import make_engine
from storage.models import Base
from storage.schema import upgrade


@pytest.fixture
def migrated(db_url, tmp_path, request):
    """An engine on a second, empty database brought to head by the migrations (db_url's tables come from
    create_all, so they prove nothing here)."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/migrated.db"
    else:
        from tests.conftest import _fresh_pg_url

        url = _fresh_pg_url(request.getfixturevalue("pg_server"))
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_upgrade_head_matches_models(migrated):
    upgrade(migrated)  # idempotent
    with migrated.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


def test_upgrade_creates_the_capacity_indexes(migrated):
    """Migration 0003: the indexes the 100k-customer question and metric queries rely on."""
    insp = inspect(migrated)
    found = {
        (t, ix["name"]): ix["column_names"]
        for t in ("customers", "orders", "visits", "interactions")
        for ix in insp.get_indexes(t)
    }
    assert found[("customers", "ix_customers_city")] == ["city"]
    assert found[("customers", "ix_customers_channel")] == ["channel"]
    assert found[("orders", "ix_orders_category")] == ["category"]
    assert found[("visits", "ix_visits_time_customer")] == ["checked_in_at", "customer_id"]
    assert found[("interactions", "ix_interactions_time_customer")] == ["at", "customer_id"]
