"""The audit trail: one row per change to business data, in the same transaction as the change."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from storage.models import AuditRow, Base


def snapshot(row: Base | None, *, exclude: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """A JSON-able dict of a row's columns (for before/after)."""
    if row is None:
        return None
    out: dict[str, Any] = {}
    for col in row.__table__.columns:
        if col.key in exclude:
            continue
        out[col.key] = jsonable(getattr(row, col.key))
    return out


def jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def add_created(
    session: Session,
    row: Base,
    *,
    at: datetime,
    actor: str,
    entity: str,
    entity_id: str | None = None,
    reason: str | None = None,
) -> None:
    """Add a new row and its audit row ("create", after = the row as written) to the session's transaction;
    flushed first, so defaults and a generated key are in the snapshot. `entity_id`: the primary key unless
    given."""
    session.add(row)
    session.flush()
    if entity_id is None:
        key = sa_inspect(row).identity or ()
        entity_id = str(key[0]) if len(key) == 1 else "|".join(str(k) for k in key)
    record(
        session,
        at=at,
        actor=actor,
        action="create",
        entity=entity,
        entity_id=entity_id,
        after=snapshot(row),
        reason=reason,
    )


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Add an audit row to the session's transaction (it commits or rolls back with the change)."""
    session.add(
        AuditRow(
            at=at,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=before,
            after=after,
            reason=reason,
        )
    )


def changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    return before != after
