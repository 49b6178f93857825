"""The mirror of WeCom's address book: what the last full sync and the change_contact events since then said.

The reporting tree (`users.manager_userid`) is recomputed from it after every change (core/contacts/mapping.py),
so an event that moves one department re-places everyone below it. Import this module before
`Base.metadata.create_all` / Alembic (storage/all_models.py does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id


class WeComDepartmentRow(Base):
    __tablename__ = "wecom_departments"
    dept_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64), default="")
    parent_id: Mapped[int] = mapped_column(Integer, default=0)  # 0: the root
    position: Mapped[int] = mapped_column(Integer, default=0)  # WeCom's `order`
    synced_at: Mapped[datetime] = mapped_column()


class WeComMemberRow(Base):
    __tablename__ = "wecom_members"
    userid: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    departments: Mapped[list[Any]] = mapped_column(default=list)
    leader_in: Mapped[list[Any]] = mapped_column(default=list)  # departments where the member is 部门负责人
    main_department: Mapped[int | None] = mapped_column(Integer)
    direct_leaders: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[int] = mapped_column(Integer, default=1)  # 1 active, 2 disabled, 4 not activated, 5 left
    # the role the sync gave users.role and still owns; NULL: the import's (or an admin's) role, never touched
    role_by_sync: Mapped[str | None] = mapped_column(String(32))
    synced_at: Mapped[datetime] = mapped_column()
