"""The emulated corp's address book (通讯录): departments, members, the app's visible range, and the 2022
restrictions, served by api.py as department/list, department/simplelist, user/list, user/list_id and user/get.

- Visible range (可见范围): `set_visible_range(departments, users)`; a department in it brings its subtree. A
  member is visible when one of their departments is, or when named. Outside it: user/get and a department's
  list answer 60011. None (the default): the whole corp.
- Withheld fields: since 2022-06-20 a new self-built app reads no mobile, email or avatar (`withhold` True, the
  default); set it False for an app made before.
- The contact-sync secret (通讯录同步): a token got with it is refused member reads from a new IP since 2022-08-15
  (48009) — `contact_ip_new` True, the default; department/simplelist and user/list_id still answer.
FakeWeCom holds one (`state.book`) and calls it under its lock.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.payloads import ApiError

MEMBER_READS = ("user/get", "user/list", "department/list")  # what a contact-sync token may not read (48009)
WITHHELD = ("mobile", "email", "avatar", "biz_mail", "telephone")


@dataclass
class EmulatedAddressBook:
    departments: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    visible_departments: set[int] | None = None
    visible_users: set[str] = field(default_factory=set)
    withhold: bool = True
    contact_ip_new: bool = True

    # -- set-up (tests, the demo) --------------------------------------------------------------------
    def add_department(self, dept_id: int, name: str, parent_id: int = 0, order: int = 0) -> dict[str, Any]:
        d = {"id": int(dept_id), "name": name, "parentid": int(parent_id), "order": int(order)}
        self.departments[int(dept_id)] = d
        return d

    def update_department(self, dept_id: int, **fields: Any) -> dict[str, Any]:
        d = self.departments[int(dept_id)]
        for key, value in fields.items():
            d["parentid" if key == "parent_id" else key] = value
        return d

    def delete_department(self, dept_id: int) -> None:
        if any(int(dept_id) in m["department"] for m in self.members.values()):
            raise ApiError(60005, "department contains user")  # WeCom deletes empty departments only
        self.departments.pop(int(dept_id), None)

    def add_member(
        self,
        userid: str,
        name: str,
        departments: Iterable[int],
        *,
        leader_in: Iterable[int] = (),
        main_department: int | None = None,
        direct_leader: Iterable[str] = (),
        status: int = 1,
        mobile: str = "",
        email: str = "",
    ) -> dict[str, Any]:
        depts = [int(d) for d in departments]
        leads = {int(d) for d in leader_in}
        m = {
            "userid": userid,
            "name": name,
            "department": depts,
            "is_leader_in_dept": [1 if d in leads else 0 for d in depts],
            "main_department": int(main_department or (depts[0] if depts else 1)),
            "direct_leader": list(direct_leader),
            "status": int(status),
            "mobile": mobile,
            "email": email,
            "avatar": f"https://wework.qpic.cn/wwhead/{userid}/0" if mobile else "",
        }
        self.members[userid] = m
        return m

    def update_member(self, userid: str, **fields: Any) -> dict[str, Any]:
        """Change a member: department, leader_in, main_department, direct_leader, name, status, mobile …"""
        m = self.members[userid]
        leads = {d for d, f in zip(m["department"], m["is_leader_in_dept"], strict=False) if f}
        if "leader_in" in fields:
            leads = {int(d) for d in fields.pop("leader_in")}
        if "department" in fields:
            m["department"] = [int(d) for d in fields.pop("department")]
            if m["main_department"] not in m["department"] and m["department"]:
                m["main_department"] = m["department"][0]
        m["is_leader_in_dept"] = [1 if d in leads else 0 for d in m["department"]]
        for key, value in fields.items():
            m[key] = list(value) if key == "direct_leader" else value
        return m

    def delete_member(self, userid: str) -> None:
        self.members.pop(userid, None)

    def seed_from_tree(self, people: Iterable[tuple[str, str, str | None]]) -> None:
        """An address book whose leaders give back the tree of (userid, name, manager): the root department
        led by those without a manager who have reports, a team department under its manager's for everyone
        with reports (they lead it), everyone else a member of their manager's team (the demo's corp)."""
        people = list(people)
        known = {u for u, _, _ in people}
        reports = {m for _, _, m in people if m in known}
        self.add_department(1, "公司", 0)
        dept: dict[str, int] = {}
        for userid, _name, manager in people:
            if userid in reports and (manager is None or manager not in known):
                dept[userid] = 1
        for userid, name, _manager in people:
            if userid in reports and userid not in dept:
                dept[userid] = len(self.departments) + 1
                self.add_department(dept[userid], f"{name}团队", 0)
        for userid, _name, manager in people:
            if userid in reports and dept[userid] != 1:
                self.update_department(dept[userid], parent_id=dept.get(manager or "", 1))
        for userid, name, manager in people:
            if userid in reports:
                self.add_member(userid, name, [dept[userid]], leader_in=[dept[userid]])
            else:
                self.add_member(userid, name, [dept.get(manager or "", 1)])

    def set_visible_range(self, departments: Iterable[int] | None, users: Iterable[str] = ()) -> None:
        self.visible_departments = {int(d) for d in departments} if departments is not None else None
        self.visible_users = set(users)

    # -- what the app may see ------------------------------------------------------------------------
    def _subtree(self, roots: Iterable[int]) -> set[int]:
        out: set[int] = set()
        todo = [r for r in roots if r in self.departments]
        while todo:
            d = todo.pop()
            if d in out:
                continue
            out.add(d)
            todo.extend(c for c, x in self.departments.items() if x["parentid"] == d)
        return out

    def visible_depts(self) -> set[int]:
        if self.visible_departments is None:
            return set(self.departments)
        return self._subtree(self.visible_departments)

    def member_visible(self, m: dict[str, Any]) -> bool:
        return m["userid"] in self.visible_users or bool(set(m["department"]) & self.visible_depts())

    def visible_userids(self) -> list[str]:
        return sorted(u for u, m in self.members.items() if self.member_visible(m))

    def _out(self, m: dict[str, Any]) -> dict[str, Any]:
        seen = self.visible_depts()
        pairs = [(d, f) for d, f in zip(m["department"], m["is_leader_in_dept"], strict=False) if d in seen]
        out = copy.deepcopy(m)
        out["department"] = [d for d, _ in pairs]  # only departments the app may see, as WeCom answers
        out["is_leader_in_dept"] = [f for _, f in pairs]
        if self.withhold:
            for key in WITHHELD:
                out.pop(key, None)
        return out

    # -- the API -------------------------------------------------------------------------------------
    def check_token_kind(self, path: str, contact_token: bool) -> None:
        if contact_token and self.contact_ip_new and path in MEMBER_READS:
            raise ApiError(
                48009,
                "api forbidden for contact assistant: from 2022-08-15 a new ip of the contact sync secret "
                "cannot read member details",
            )

    def _department_ids(self, dept_id: str) -> list[int]:
        seen = self.visible_depts()
        if not dept_id:
            return sorted(seen, key=lambda d: (self.departments[d]["order"], d))
        root = int(dept_id)
        if root not in self.departments:
            raise ApiError(60123, "invalid party id")
        if root not in seen:
            raise ApiError(60011, "no privilege to access/modify contact/party/agent")
        return sorted(self._subtree([root]) & seen)

    def department_list(self, dept_id: str) -> dict[str, Any]:
        ids = self._department_ids(dept_id)
        leaders = {d: [u for u, m in sorted(self.members.items()) if d in _leads(m)] for d in ids}
        return {
            "errcode": 0,
            "errmsg": "ok",
            "department": [
                {**copy.deepcopy(self.departments[d]), "department_leader": leaders[d]} for d in ids
            ],
        }

    def department_simplelist(self, dept_id: str) -> dict[str, Any]:
        ids = self._department_ids(dept_id)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "department_id": [
                {"id": d, "parentid": self.departments[d]["parentid"], "order": self.departments[d]["order"]}
                for d in ids
            ],
        }

    def user_list(self, dept_id: str) -> dict[str, Any]:
        if not dept_id:
            raise ApiError(40066, "invalid department id")
        dept = int(dept_id)
        if dept not in self.departments:
            raise ApiError(60123, "invalid party id")
        if dept not in self.visible_depts():
            raise ApiError(60011, "no privilege to access/modify contact/party/agent")
        members = [self._out(m) for u, m in sorted(self.members.items()) if dept in m["department"]]
        return {"errcode": 0, "errmsg": "ok", "userlist": members}

    def user_list_id(self, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        limit = max(1, min(int(body.get("limit") or 1000), 10000))
        start = int(body.get("cursor") or 0)
        ids = self.visible_userids()
        page = ids[start : start + limit]
        out: dict[str, Any] = {
            "errcode": 0,
            "errmsg": "ok",
            "dept_user": [
                {"userid": u, "department": d}
                for u in page
                for d in self._out(self.members[u])["department"] or [0]
            ],
        }
        if start + limit < len(ids):
            out["next_cursor"] = str(start + limit)
        return out

    def user_get(self, userid: str) -> dict[str, Any]:
        m = self.members.get(userid)
        if not userid or m is None:
            raise ApiError(60111, "userid not found")
        if not self.member_visible(m):
            raise ApiError(60011, "no privilege to access/modify contact/party/agent")
        return {"errcode": 0, "errmsg": "ok", **self._out(m)}


def _leads(m: dict[str, Any]) -> list[int]:
    return [d for d, f in zip(m["department"], m["is_leader_in_dept"], strict=False) if f]
