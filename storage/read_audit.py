"""Audit rows for reads of customer detail by a viewer outside the owner's line (core/org.py).

One row per customer shown: action `read`, entity `customer`, entity_id the customer, actor the viewer,
`after` = {"owner": the owner at the time}, reason = the read path and what was asked (`chat:ask:<question>`,
`cli:ask:<question>`, `dashboard:customers:…`). Aggregates (counts, rates, groups) are not customer detail
and leave no row; lists of customers do.

The reads themselves run read-only (nlq/readonly.py, the dashboard's rolled-back session), so the rows are
written after them: `audit_reads` adds them to a write transaction the caller already has (the chat
event's unit of work, which commits them together with the reply), `audit_reads_apart` in a short write
transaction of its own (the CLI, the dashboard) — opened only when there is something to record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.org import OrgTree, Person, outside_line
from storage import audit
from storage.db import writer_session
from storage.models import CustomerRow, UserRow
from storage.people import MAX_DEPTH

Shown = tuple[str, str | None]  # (customer_id, owner userid)
REASON_MAX = 256  # audit.reason is String(256)
_CHUNK = 500


def reason(path: str, what: str = "") -> str:
    """`path:what`, cut to the column's length (a long question keeps its beginning)."""
    text = f"{path}:{' '.join(what.split())}" if what else path
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


def shown_in_answer(answer: Mapping[str, Any], limit: int | None = None) -> list[Shown]:
    """The customers an nlq answer shows (a list answer's rows, the first `limit` of them); none for a
    figure, groups or a refusal."""
    if answer.get("kind") != "list":
        return []
    rows = list(answer.get("rows") or [])[:limit]
    return [(str(r["customer_id"]), r.get("owner")) for r in rows if r.get("customer_id") is not None]


def owners_of(session: Session, customer_ids: Iterable[str]) -> dict[str, str | None]:
    """customer_id → owner, for read paths whose rows do not carry the owner (visits)."""
    ids = sorted(set(customer_ids))
    out: dict[str, str | None] = {}
    for i in range(0, len(ids), _CHUNK):
        for customer_id, owner in session.execute(
            select(CustomerRow.customer_id, CustomerRow.owner_userid).where(
                CustomerRow.customer_id.in_(ids[i : i + _CHUNK])
            )
        ):
            out[customer_id] = owner
    return out


def line_tree(session: Session, owners: Iterable[str | None]) -> OrgTree:
    """The owners and every manager above them (level by level, at most MAX_DEPTH queries): enough to
    tell whether a viewer sits in an owner's line, without loading the whole organisation."""
    people: dict[str, Person] = {}
    frontier = {o for o in owners if o}
    for _ in range(MAX_DEPTH):
        frontier -= people.keys()
        if not frontier:
            break
        wanted, frontier = sorted(frontier), set()
        for i in range(0, len(wanted), _CHUNK):
            for userid, role, manager in session.execute(
                select(UserRow.userid, UserRow.role, UserRow.manager_userid).where(
                    UserRow.userid.in_(wanted[i : i + _CHUNK])
                )
            ):
                people[userid] = Person(userid, role, manager)
                if manager:
                    frontier.add(manager)
    return OrgTree(people.values())


def _outside(session: Session, viewer: str, shown: list[Shown]) -> list[Shown]:
    return outside_line(line_tree(session, {owner for _, owner in shown}), viewer, shown)


def _add(session: Session, viewer: str, rows: list[Shown], why: str, at: datetime) -> None:
    for customer_id, owner in rows:
        audit.record(
            session,
            at=at,
            actor=viewer,
            action="read",
            entity="customer",
            entity_id=customer_id,
            after={"owner": owner},
            reason=why,
        )


def audit_reads(session: Session, *, viewer: str, shown: Iterable[Shown], why: str, at: datetime) -> int:
    """Add a read row per customer shown outside the viewer's line to `session`'s transaction (the caller
    commits). Returns how many."""
    shown = list(shown)
    if not shown:
        return 0
    rows = _outside(session, viewer, shown)
    _add(session, viewer, rows, why, at)
    return len(rows)


def audit_reads_apart(
    session_factory: Callable[[], Session], *, viewer: str, shown: Iterable[Shown], why: str, at: datetime
) -> int:
    """The same in a short write transaction of its own, committed before returning (so a page or an
    answer goes out only once its reads are on record). Returns how many rows."""
    shown = list(shown)
    if not shown:
        return 0
    with session_factory() as s:
        rows = _outside(s, viewer, shown)
    if not rows:
        return 0
    with writer_session(session_factory) as s:
        _add(s, viewer, rows, why, at)
        s.commit()
    return len(rows)
