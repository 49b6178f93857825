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
