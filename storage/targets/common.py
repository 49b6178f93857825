"""What the target modules share: the target id, fen from order amounts in SQL, the period's sales."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, cast, func

from storage.models import OrderRow


def target_id(period: str, level: str, key: str) -> str:
    return f"{period}|{level}|{key}"


def order_fen() -> Any:
    """An order's amount in whole fen, in SQL (exact on both databases: SQLite keeps NUMERIC as REAL)."""
    return cast(func.round(OrderRow.amount * 100), BigInteger)


def as_int(x: Any) -> int:
    return int(x or 0)
