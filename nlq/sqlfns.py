"""The few expressions that SQLite and PostgreSQL spell differently, built as SQLAlchemy expressions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Integer, func, literal
from sqlalchemy.sql.elements import ColumnElement as _CE

from storage.models import UTCDateTime


def at(value: datetime) -> ColumnElement:
    """A bound aware-UTC time, stored the way UTCDateTime columns are."""
    return literal(value, UTCDateTime())


def exceeds_hours(later: _CE, earlier: _CE, hours: _CE, dialect: str) -> ColumnElement[bool]:
    """later − earlier > hours (exact on PostgreSQL; to the millisecond on SQLite)."""
    if dialect == "postgresql":
        return later > earlier + func.make_interval(0, 0, 0, 0, hours)
    millis = func.round((func.julianday(later) - func.julianday(earlier)) * 86400000)
    return millis > hours * literal(3600000, Integer)


def contains_text(haystack: _CE, needle: _CE) -> ColumnElement[bool]:
    """haystack contains needle literally (LIKE with %, _ and \\ in needle escaped)."""
    escaped = func.replace(func.replace(func.replace(needle, "\\", "\\\\"), "%", "\\%"), "_", "\\_")
    return haystack.like(literal("%") + escaped + literal("%"), escape="\\")


def cents(x: _CE) -> ColumnElement:
    """Money as whole cents, so sums of SQLite's floating money compare exactly."""
    return func.round(x * 100)
