"""The mirror of WeCom's address book: read it as a core AddressBook, replace it after a full sync, change it
by one change_contact event. Only WeCom's own data lives here (users are changed by storage/contacts/apply.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.contacts.book import AddressBook, Department, Member
from storage.contacts.models import WeComDepartmentRow, WeComMemberRow


def _member(row: WeComMemberRow) -> Member:
    return Member(
        userid=row.userid,
        name=row.name or "",
        departments=tuple(int(x) for x in row.departments or ()),
        leader_in=tuple(int(x) for x in row.leader_in or ()),
        main_department=row.main_department,
        direct_leaders=tuple(str(x) for x in row.direct_leaders or ()),
        status=int(row.status or 1),
    )


def load_book(session: Session) -> AddressBook:
    depts = tuple(
        Department(r.dept_id, r.name, r.parent_id, r.position)
        for r in session.scalars(select(WeComDepartmentRow).order_by(WeComDepartmentRow.dept_id))
    )
    members = tuple(
        _member(r) for r in session.scalars(select(WeComMemberRow).order_by(WeComMemberRow.userid))
    )
    return AddressBook(depts, members)


def get_department(session: Session, dept_id: int) -> Department | None:
    row = session.get(WeComDepartmentRow, dept_id)
    return Department(row.dept_id, row.name, row.parent_id, row.position) if row is not None else None


def get_member(session: Session, userid: str) -> Member | None:
    row = session.get(WeComMemberRow, userid)
    return _member(row) if row is not None else None


def synced_userids(session: Session) -> set[str]:
    return set(session.scalars(select(WeComMemberRow.userid)))


def roles_by_sync(session: Session) -> dict[str, str | None]:
    return dict(session.execute(select(WeComMemberRow.userid, WeComMemberRow.role_by_sync)).all())


def put_department(session: Session, dept: Department, now: datetime) -> None:
    row = session.get(WeComDepartmentRow, dept.id)
    if row is None:
        row = WeComDepartmentRow(dept_id=dept.id)
        session.add(row)
    row.name, row.parent_id, row.position, row.synced_at = dept.name, dept.parent_id, dept.order, now


def remove_department(session: Session, dept_id: int) -> None:
    session.execute(delete(WeComDepartmentRow).where(WeComDepartmentRow.dept_id == dept_id))


def put_member(session: Session, member: Member, now: datetime) -> None:
    row = session.get(WeComMemberRow, member.userid)
    if row is None:
        row = WeComMemberRow(userid=member.userid)
        session.add(row)
    row.name = member.name
    row.departments = list(member.departments)
    row.leader_in = list(member.leader_in)
    row.main_department = member.main_department
    row.direct_leaders = list(member.direct_leaders)
    row.status = member.status
    row.synced_at = now


def remove_member(session: Session, userid: str) -> None:
    session.execute(delete(WeComMemberRow).where(WeComMemberRow.userid == userid))


def replace_all(session: Session, book: AddressBook, now: datetime, *, keep: Iterable[str] = ()) -> None:
    """The mirror becomes `book` (a full sync); members not in it are dropped, except `keep` (held back)."""
    ids = {d.id for d in book.departments}
    session.execute(delete(WeComDepartmentRow).where(WeComDepartmentRow.dept_id.not_in(sorted(ids) or [-1])))
    for dept in book.departments:
        put_department(session, dept, now)
    stay = {m.userid for m in book.members} | set(keep)
    session.execute(delete(WeComMemberRow).where(WeComMemberRow.userid.not_in(sorted(stay) or [""])))
    for member in book.members:
        put_member(session, member, now)


def set_roles_by_sync(session: Session, roles: Mapping[str, str | None]) -> None:
    for userid, role in roles.items():
        row = session.get(WeComMemberRow, userid)
        if row is not None:
            row.role_by_sync = role
