"""Creating the schema. Production and tests both go through Alembic (storage/migrations)."""
from __future__ import annotations

from sqlalchemy import Engine

from storage.models import Base


def create_all(engine: Engine) -> None:
    """Bring the database to the current schema."""
    Base.metadata.create_all(engine)
