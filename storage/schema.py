"""Bringing a database to the current schema with Alembic (storage/migrations)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

import storage.all_models  # noqa: F401 - registers every table
from storage.models import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine) -> None:
    """Run every pending migration (idempotent; what `serve`, `demo` and `import` do at start)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # several processes starting at once: one migrates at a time
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def create_all(engine: Engine) -> None:
    """Tests' fast path: the same schema straight from the models (a test checks that the migrations
    agree), stamped as migrated so that `upgrade` afterwards is a no-op."""
    Base.metadata.create_all(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.stamp(cfg, "head")
