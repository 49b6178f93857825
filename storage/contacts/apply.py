"""A core/contacts Plan → the users table: new people created, names, managers, roles and channels updated,
each change audited with before and after (storage/audit.py). Region and city are never touched (the Excel
import owns them). Deactivations are not done here: handlers/people_admin.py `set_active` does them, the one
deactivation path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.contacts.mapping import Current, Plan
from storage import audit
from storage.contacts import mirror
from storage.models import UserRow

ACTOR = "wecom_sync"


@dataclass
class Applied:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # whose manager changed


def current_users(session: Session, only: Iterable[str] | None = None) -> dict[str, Current]:
    """The users rows as the sync sees them (with the role the sync last gave, from the mirror)."""
    roles = mirror.roles_by_sync(session)
    q = select(UserRow)
    if only is not None:
        q = q.where(UserRow.userid.in_(list(only)))
    return {
        r.userid: Current(
            userid=r.userid,
            name=r.name,
            role=r.role,
            manager_userid=r.manager_userid,
            active=bool(r.active) if r.active is not None else True,
            mobile=r.mobile,
            email=r.email,
            role_by_sync=roles.get(r.userid),
        )
        for r in session.scalars(q)
    }


def apply_plan(session: Session, plan: Plan, *, at: datetime, reason: str, actor: str = ACTOR) -> Applied:
    """Write the plan's creations and updates (not its deactivations), audited, and remember the roles the
    sync gave in the mirror."""
    done = Applied()
    roles: dict[str, str | None] = {}
    for change in plan.changes:
        roles[change.userid] = change.role_by_sync
        row = session.get(UserRow, change.userid)
        if change.create and row is None:
            row = UserRow(userid=change.userid, **change.fields)
            session.add(row)
            session.flush()
            audit.record(
                session,
                at=at,
                actor=actor,
                action="create",
                entity="user",
                entity_id=change.userid,
                before=None,
                after=audit.snapshot(row),
                reason=reason,
            )
            done.created.append(change.userid)
            continue
        if row is None or not change.fields:
            continue
        before = audit.snapshot(row)
        for key, value in change.fields.items():
            setattr(row, key, value)
        audit.record(
            session,
            at=at,
            actor=actor,
            action="update",
            entity="user",
            entity_id=change.userid,
            before=before,
            after=audit.snapshot(row),
            reason=reason,
        )
        done.updated.append(change.userid)
        if "manager_userid" in change.fields:
            done.moved.append(change.userid)
    session.flush()
    mirror.set_roles_by_sync(session, roles)
    return done
