"""The address book as WeCom gives it (department/list, user/list, user/get), as plain frozen data.

`Member.leader_in` holds the departments where WeCom marks the member 部门负责人 (`is_leader_in_dept`, one flag
per department of `department`, in the same order); `direct_leaders` is WeCom's 直属上级 (`direct_leader`).
Fields WeCom withholds from self-built apps made after 2022-06-20 (mobile, email, avatar …) come back empty:
an empty value means "not known", never "erase".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# WeCom's member status: 1 active, 2 disabled (禁用), 4 not yet activated, 5 left (退出企业)
STATUS_ACTIVE, STATUS_DISABLED, STATUS_INACTIVE, STATUS_LEFT = 1, 2, 4, 5
GONE_STATUSES = frozenset({STATUS_DISABLED, STATUS_LEFT})


@dataclass(frozen=True)
class Department:
    id: int
    name: str = ""
    parent_id: int = 0  # 0: the root (WeCom's root department is 1 with parentid 0)
    order: int = 0


@dataclass(frozen=True)
class Member:
    userid: str
    name: str = ""
    departments: tuple[int, ...] = ()
    leader_in: tuple[int, ...] = ()  # departments where this member is 部门负责人
    main_department: int | None = None
    direct_leaders: tuple[str, ...] = ()
    status: int = STATUS_ACTIVE
    mobile: str = ""
    email: str = ""

    @property
    def home(self) -> int | None:
        """The department that places the member: the main one, else the first listed."""
        if self.main_department and self.main_department in self.departments:
            return self.main_department
        return self.departments[0] if self.departments else self.main_department

    @property
    def gone(self) -> bool:
        return self.status in GONE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "userid": self.userid,
            "name": self.name,
            "departments": list(self.departments),
            "leader_in": list(self.leader_in),
            "main_department": self.main_department,
            "direct_leaders": list(self.direct_leaders),
            "status": self.status,
            "mobile": self.mobile,
            "email": self.email,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Member:
        return Member(
            userid=str(d["userid"]),
            name=str(d.get("name") or ""),
            departments=tuple(int(x) for x in d.get("departments") or ()),
            leader_in=tuple(int(x) for x in d.get("leader_in") or ()),
            main_department=int(d["main_department"]) if d.get("main_department") else None,
            direct_leaders=tuple(str(x) for x in d.get("direct_leaders") or ()),
            status=int(d.get("status") or STATUS_ACTIVE),
            mobile=str(d.get("mobile") or ""),
            email=str(d.get("email") or ""),
        )

    @staticmethod
    def from_wecom(u: Mapping[str, Any]) -> Member:
        """One member of user/get or user/list (WeCom's JSON field names)."""
        depts = tuple(int(x) for x in u.get("department") or ())
        flags = list(u.get("is_leader_in_dept") or ())
        leader_in = tuple(d for d, f in zip(depts, flags, strict=False) if int(f or 0) == 1)
        main = u.get("main_department")
        return Member(
            userid=str(u["userid"]),
            name=str(u.get("name") or ""),
            departments=depts,
            leader_in=leader_in,
            main_department=int(main) if main else None,
            direct_leaders=tuple(str(x) for x in u.get("direct_leader") or () if x),
            status=int(u.get("status") or STATUS_ACTIVE),
            mobile=str(u.get("mobile") or ""),
            email=str(u.get("email") or u.get("biz_mail") or ""),
        )

    def merged(self, changed: Mapping[str, Any]) -> Member:
        """This member with the fields a change_contact update carried (only those present changed)."""
        return replace(self, **{k: v for k, v in changed.items() if k in _MEMBER_FIELDS and k != "userid"})


_MEMBER_FIELDS = frozenset(Member.__dataclass_fields__)


@dataclass(frozen=True)
class AddressBook:
    """What the app may see: departments and members of its visible range (可见范围).

    `withheld`: member fields WeCom returned empty for every member (since 2022 it withholds mobile, email and
    avatar from new self-built apps without the member's consent) — told to the admin, never written."""

    departments: tuple[Department, ...] = ()
    members: tuple[Member, ...] = ()
    withheld: frozenset[str] = field(default_factory=frozenset)

    def to_dict(self) -> dict[str, Any]:
        return {
            "departments": [
                {"id": d.id, "name": d.name, "parent_id": d.parent_id, "order": d.order}
                for d in self.departments
            ],
            "members": [m.to_dict() for m in self.members],
            "withheld": sorted(self.withheld),
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> AddressBook:
        return AddressBook(
            departments=tuple(
                Department(
                    int(x["id"]),
                    str(x.get("name") or ""),
                    int(x.get("parent_id") or 0),
                    int(x.get("order") or 0),
                )
                for x in d.get("departments") or ()
            ),
            members=tuple(Member.from_dict(m) for m in d.get("members") or ()),
            withheld=frozenset(d.get("withheld") or ()),
        )


WITHHELD_CANDIDATES = ("mobile", "email")


def withheld_fields(members: Iterable[Member]) -> frozenset[str]:
    """The fields empty for every member: WeCom withheld them (a corp where nobody has a mobile is unlikely)."""
    listed = list(members)
    if not listed:
        return frozenset()
    return frozenset(f for f in WITHHELD_CANDIDATES if not any(getattr(m, f) for m in listed))
