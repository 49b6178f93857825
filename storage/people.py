"""Reading the reporting tree out of the users table into core.org.OrgTree."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.org import OrgTree, Person
from core.roles import ORG_WIDE
from storage.models import UserRow

MAX_DEPTH = 32


def _person(row: UserRow) -> Person:
    return Person(userid=row.userid, role=row.role, manager_userid=row.manager_userid, active=row.active)


def whole_tree(session: Session) -> OrgTree:
    """Everyone (for briefs and scopes), deactivated people too (their customers stay in scopes; `active` says
    who may receive anything)."""
    return OrgTree(
        Person(u, r, m, active=bool(a) if a is not None else True)
        for u, r, m, a in session.execute(
            select(UserRow.userid, UserRow.role, UserRow.manager_userid, UserRow.active)
        )
    )


def tree_above(session: Session, userid: str, *, org_wide_roles: tuple[str, ...] = ORG_WIDE) -> OrgTree:
    """A person, their managers up to the top, and the holders of org-wide roles: enough to find an
    approver or an escalation target without loading the whole organisation."""
    people: dict[str, Person] = {}
    current: str | None = userid
    for _ in range(MAX_DEPTH):
        if current is None or current in people:
            break
        row = session.get(UserRow, current)
        if row is None:
            break
        people[row.userid] = _person(row)
        current = row.manager_userid
    for row in session.scalars(select(UserRow).where(UserRow.role.in_(list(org_wide_roles)))):
        people.setdefault(row.userid, _person(row))
    return OrgTree(people.values())


def is_active(session: Session, userid: str | None) -> bool:
    """A person in the users table who is not deactivated."""
    if not userid:
        return False
    row = session.get(UserRow, userid)
    return row is not None and bool(row.active)


def all_deactivated(session: Session) -> set[str]:
    return set(session.scalars(select(UserRow.userid).where(UserRow.active.is_(False))))


def deactivated(session: Session, userids: set[str]) -> set[str]:
    """Those of `userids` who are deactivated (users.active false)."""
    if not userids:
        return set()
    return set(
        session.scalars(
            select(UserRow.userid).where(UserRow.userid.in_(list(userids)), UserRow.active.is_(False))
        )
    )


def names(session: Session, userids: list[str] | set[str]) -> dict[str, str]:
    if not userids:
        return {}
    return dict(
        session.execute(select(UserRow.userid, UserRow.name).where(UserRow.userid.in_(list(userids)))).all()
    )


def contacts(session: Session, userids: list[str] | set[str]) -> dict[str, tuple[str | None, str | None]]:
    """userid → (email, mobile) of the active people among `userids` (alerts besides WeCom)."""
    if not userids:
        return {}
    rows = session.execute(
        select(UserRow.userid, UserRow.email, UserRow.mobile).where(
            UserRow.userid.in_(list(userids)), UserRow.active.is_(True)
        )
    )
    return {u: (e or None, m or None) for u, e, m in rows}


def name_of(session: Session, userid: str | None) -> str:
    if not userid:
        return ""
    row = session.get(UserRow, userid)
    return row.name if row else userid
