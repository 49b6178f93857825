"""Departments (交付, 财务, 售后) with their heads and members: who gets a hand-off and who is its first
escalation rung. Imported with the users (docs/import-format.md § departments)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.roles import Role
from storage.contracts.models import DepartmentRow
from storage.models import UserRow


def of_kind(session: Session, kind: str) -> DepartmentRow | None:
    """The department of a kind (the first by id when an organisation has several)."""
    return session.scalars(
        select(DepartmentRow).where(DepartmentRow.kind == kind).order_by(DepartmentRow.dept_id)
    ).first()


def team_of(dept: DepartmentRow | None) -> list[str]:
    """Who gets the team's cards: the head, then the members (active people only is the caller's filter)."""
    if dept is None:
        return []
    out = [dept.head_userid] if dept.head_userid else []
    out += [m for m in dept.members or [] if m not in out]
    return out


def active_team(session: Session, dept: DepartmentRow | None) -> list[str]:
    team = team_of(dept)
    if not team:
        return []
    active = set(
        session.scalars(select(UserRow.userid).where(UserRow.userid.in_(team), UserRow.active.is_(True)))
    )
    return [u for u in team if u in active]


def kinds_of(session: Session, userid: str) -> set[str]:
    """The kinds of department a person heads or belongs to."""
    out = set()
    for dept in session.scalars(select(DepartmentRow)):
        if userid in team_of(dept):
            out.add(dept.kind)
    return out


def is_finance(session: Session, userid: str) -> bool:
    """Finance: the finance director, or a member of a 财务 department (who may verify amounts)."""
    user = session.get(UserRow, userid)
    if user is None:
        return False
    return user.role == Role.FINANCE_DIRECTOR.value or "finance" in kinds_of(session, userid)
