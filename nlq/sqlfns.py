"""The few expressions that SQLite and PostgreSQL spell differently, built as SQLAlchemy expressions."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Date, Float, Integer, any_, bindparam, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement as _CE

from core.geo import EARTH_RADIUS_M
from storage.models import UTCDateTime


def at(value: datetime) -> ColumnElement:
    """A bound aware-UTC time, stored the way UTCDateTime columns are."""
    return literal(value, UTCDateTime())


def one_of(col: Any, values: Iterable[Any], dialect: str) -> ColumnElement[bool]:
    """col IN values. On PostgreSQL `col = ANY(:values)`, one bound array: the same plan as the IN list (which
    PostgreSQL turns into that very array), without a bound parameter rendered per value at every execution
    (a regional manager's scope is over a thousand people)."""
    values = list(values)
    if dialect == "postgresql" and values:
        return col == any_(bindparam(None, values, type_=ARRAY(col.type)))
    return col.in_(values)


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


def position_in(haystack: _CE, needle: _CE, dialect: str) -> ColumnElement:
    """Where needle first occurs in haystack (1-based, 0 if not at all): instr / strpos, no LIKE."""
    if dialect == "postgresql":
        return func.strpos(haystack, needle)
    return func.instr(haystack, needle)


def days_before(today: date, col: _CE, dialect: str) -> ColumnElement:
    """Whole calendar days from the date column to `today` (today − col)."""
    if dialect == "postgresql":
        return literal(today, Date()) - col
    return cast(func.julianday(literal(today.isoformat())) - func.julianday(col), Integer)


def haversine_exceeds(lat1: _CE, lng1: _CE, lat2: _CE, lng2: _CE, metres: float) -> ColumnElement[bool]:
    """The great-circle (haversine) distance between the two points is more than `metres`.

    Compares the haversine term a = sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2) with sin²(d / 2R), so no asin
    is needed; sin, cos and radians exist on PostgreSQL and on SQLite ≥ 3.35 (math functions)."""
    half_dp = func.sin((func.radians(lat2) - func.radians(lat1)) / 2)
    half_dl = func.sin((func.radians(lng2) - func.radians(lng1)) / 2)
    a = half_dp * half_dp + func.cos(func.radians(lat1)) * func.cos(func.radians(lat2)) * half_dl * half_dl
    limit = math.sin(metres / (2 * EARTH_RADIUS_M)) ** 2
    return a > literal(limit, Float())
