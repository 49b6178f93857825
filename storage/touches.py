"""Touches (a visit or an interaction, docs/nlq-semantics.md) and the set-based stale-customer scan."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import CustomerRow, InteractionRow, TimerRow, UTCDateTime, VisitRow

STALE_KIND = "stale"


def last_touch_subquery(customer_ids: Collection[str] | None = None):
    """(customer_id, last) for every touched customer: the latest visit check-in or interaction."""
    visits = select(VisitRow.customer_id.label("customer_id"), VisitRow.checked_in_at.label("at"))
    interactions = select(InteractionRow.customer_id.label("customer_id"), InteractionRow.at.label("at"))
    if customer_ids is not None:
        visits = visits.where(VisitRow.customer_id.in_(list(customer_ids)))
        interactions = interactions.where(InteractionRow.customer_id.in_(list(customer_ids)))
    touches = union_all(visits, interactions).subquery("touches")
    return (
        select(touches.c.customer_id, func.max(touches.c.at).label("last"))
        .group_by(touches.c.customer_id)
        .subquery("last_touch")
    )


def last_touch(session: Session, customer_id: str) -> datetime | None:
    v = session.scalar(select(func.max(VisitRow.checked_in_at)).where(VisitRow.customer_id == customer_id))
    i = session.scalar(select(func.max(InteractionRow.at)).where(InteractionRow.customer_id == customer_id))
    found = [t for t in (v, i) if t is not None]
    return max(found) if found else None


def _epoch(session: Session, col):
    """Whole epoch seconds of a UTC timestamp column, in SQL (same value as core.sop.times.epoch_seconds)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", col)), BigInteger)
    return cast(func.strftime("%s", col), BigInteger)


def _json_object(session: Session, *pairs):
    fn = func.json_build_object if session.get_bind().dialect.name == "postgresql" else func.json_object
    return fn(*pairs)


def old_enough(*, cutoff: datetime, cutoff_day: date):
    """The customer existed at `cutoff`: created_at (新建客户, or the import that brought it without a 建档日期)
    at or before it; without created_at, a 建档日期 on or before `cutoff_day` (the start of that day), or none."""
    return or_(
        CustomerRow.created_at <= cutoff,
        and_(
            CustomerRow.created_at.is_(None),
            or_(CustomerRow.created_on.is_(None), CustomerRow.created_on <= cutoff_day),
        ),
    )


def stale_condition(last_col, *, cutoff: datetime, cutoff_day: date):
    """No touch since `cutoff`; a never-touched customer counts once it is older than the window (a customer
    younger than the stale window is never stale). A touch before `cutoff` is proof enough of age."""
    return or_(
        last_col <= cutoff,
        and_(last_col.is_(None), old_enough(cutoff=cutoff, cutoff_day=cutoff_day)),
    )


def insert_stale_ladders(
    session: Session, *, now: datetime, cutoff: datetime, cutoff_day: date, held: str | None = None
) -> int:
    """One INSERT … SELECT: a ladder timer `stale:<customer>:<last touch epoch>` (due now) for every active
    customer not touched since `cutoff` whose current stale episode has no timer yet. Returns rows added.

    `held` (an import's backlog): the rows go in already done, with `held` as their outcome, so the episode
    is taken (no scan starts a ladder for it) and the catch-up digest lists it instead of one alert each."""
    lt = last_touch_subquery()
    epoch = func.coalesce(_epoch(session, lt.c.last), 0)
    key = literal("stale:", String) + CustomerRow.customer_id + literal(":", String) + cast(epoch, String)
    payload = _json_object(
        session,
        literal_column("'step'"),
        literal_column("0"),
        literal_column("'touch'"),
        epoch,
        literal_column("'snooze'"),
        literal_column("0"),
    )
    taken = exists().where(TimerRow.business_key == key)
    source = (
        select(
            literal(STALE_KIND, String),
            key,
            literal("customer", String),
            CustomerRow.customer_id,
            literal(now, UTCDateTime()),
            literal("pending" if held is None else "done", String),
            literal(0),
            payload,
            literal(now, UTCDateTime()),
            literal(None if held is None else now, UTCDateTime()),
            literal(held, String),
        )
        .select_from(CustomerRow)
        .outerjoin(lt, lt.c.customer_id == CustomerRow.customer_id)
        .where(
            CustomerRow.status == "active",
            stale_condition(lt.c.last, cutoff=cutoff, cutoff_day=cutoff_day),
            ~taken,
        )
    )
    cols = [
        "kind",
        "business_key",
        "subject_type",
        "subject_id",
        "due_at",
        "status",
        "attempts",
        "payload",
        "created_at",
        "fired_at",
        "outcome",
    ]
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        dialect_insert(TimerRow)
        .from_select(cols, source)  # a concurrent on_touch may add a key first
        .on_conflict_do_nothing(index_elements=["business_key"])
        .returning(TimerRow.id)
    )
    added = session.execute(stmt).all()
    return len(added)


def stale_customers(
    session: Session, *, owners: Collection[str], cutoff: datetime, cutoff_day: date, limit: int | None = None
) -> tuple[int, list[tuple[str, str, datetime | None]]]:
    """Active customers of `owners` not touched since `cutoff`: (count, [(id, name, last touch)] oldest first)."""
    lt = last_touch_subquery()
    base = (
        select(CustomerRow.customer_id, CustomerRow.name, lt.c.last)
        .outerjoin(lt, lt.c.customer_id == CustomerRow.customer_id)
        .where(
            CustomerRow.status == "active",
            CustomerRow.owner_userid.in_(list(owners)),
            stale_condition(lt.c.last, cutoff=cutoff, cutoff_day=cutoff_day),
        )
    )
    count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows: list[tuple[str, str, datetime | None]] = []
    if limit:
        q = base.order_by(lt.c.last.is_not(None), lt.c.last, CustomerRow.customer_id).limit(limit)
        rows = [(r[0], r[1], r[2]) for r in session.execute(q)]
    return count, rows
