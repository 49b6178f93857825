"""The address book → the reporting tree: who reports to whom, which role, and the plan of changes.

Manager (`users.manager_userid`), for each member of the app's visible range:
1. WeCom's 直属上级 (`direct_leader`), the first one who is a member still in the company;
2. else the 部门负责人 of the member's department (the main one, else the first), or — when the member leads
   that department — of the department above; climbing until a department with a leader other than the member
   (several leaders: the smallest userid, so the answer never flickers);
3. else nobody found: the manager already stored (from the Excel import) stays. WeCom not knowing is not
   an instruction to erase.
A cycle (A's 直属上级 is B and B's is A) is cut at its smallest userid, whose manager falls back to the stored one.

Role: the admin's rules (CONTACTS_ROLE_RULES, docs/contacts-sync.md), the first that matches, for a member the
sync creates — and later only while the stored role is still the one the sync gave (an Excel import or an
admin who set another role wins for good). An admin stays an admin.

Never written from WeCom: region, city (WeCom does not hold them), and any empty field (withheld, or unknown).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.contacts.book import AddressBook, Department, Member
from core.roles import ROLES, Role

MISSING_GUARD_MIN = 3  # a full sync deactivates at most this many missing members without question …
MISSING_GUARD_SHARE = 0.2  # … or this share of the synced members, whichever is more (else: held back)


@dataclass(frozen=True)
class RoleRule:
    """Conditions that all hold (None: any): the member's department is `department` (its name) or lies below
    it; the member is (or is not) 部门负责人 of their department; that department is `depth` levels below the
    root (the root is 0)."""

    role: str
    department: str | None = None
    leader: bool | None = None
    depth: int | None = None


DEFAULT_RULES: tuple[RoleRule, ...] = (
    RoleRule(Role.SALES_DIRECTOR.value, leader=True, depth=0),
    RoleRule(Role.SUPERVISOR.value, leader=True),
    RoleRule(Role.REP.value),
)


def parse_rules(text: str | None) -> tuple[RoleRule, ...]:
    """CONTACTS_ROLE_RULES: a JSON list of {"role", "department"?, "leader"?, "depth"?}, first match wins;
    empty: DEFAULT_RULES. A rep rule is implied at the end. ValueError (in Chinese) for a bad list."""
    if not text or not text.strip():
        return DEFAULT_RULES
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"CONTACTS_ROLE_RULES 不是合法的 JSON：{exc}") from None
    if not isinstance(raw, list):
        raise ValueError('CONTACTS_ROLE_RULES 应是一个列表，例如 [{"leader": true, "role": "supervisor"}]')
    rules = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict) or item.get("role") not in ROLES:
            raise ValueError(f"CONTACTS_ROLE_RULES 第{n}条：role 应是 {', '.join(ROLES)} 之一")
        unknown = set(item) - {"role", "department", "leader", "depth"}
        if unknown:
            raise ValueError(f"CONTACTS_ROLE_RULES 第{n}条：不认识的字段 {', '.join(sorted(unknown))}")
        leader, depth = item.get("leader"), item.get("depth")
        if leader is not None and not isinstance(leader, bool):
            raise ValueError(f"CONTACTS_ROLE_RULES 第{n}条：leader 应是 true 或 false")
        if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
            raise ValueError(f"CONTACTS_ROLE_RULES 第{n}条：depth 应是 0 或正整数")
        dept = item.get("department")
        rules.append(RoleRule(item["role"], str(dept) if dept else None, leader, depth))
    return (*rules, RoleRule(Role.REP.value))


class Tree:
    """The departments and members of one address book, indexed for the rules above."""

    def __init__(self, book: AddressBook):
        self.depts: dict[int, Department] = {d.id: d for d in book.departments}
        self.members: dict[str, Member] = {m.userid: m for m in book.members}
        self.leaders: dict[int, list[str]] = {}
        for m in sorted(self.members.values(), key=lambda m: m.userid):
            if not m.gone:
                for d in m.leader_in:
                    self.leaders.setdefault(d, []).append(m.userid)

    def parent(self, dept: int) -> int | None:
        d = self.depts.get(dept)
        return d.parent_id if d is not None and d.parent_id else None

    def chain(self, dept: int | None) -> list[int]:
        """`dept` and the departments above it, nearest first (a loop in the data ends the climb)."""
        out: list[int] = []
        while dept is not None and dept not in out:
            out.append(dept)
            dept = self.parent(dept)
        return out

    def depth(self, dept: int | None) -> int | None:
        return len(self.chain(dept)) - 1 if dept is not None and dept in self.depts else None

    def manager(self, m: Member) -> str | None:
        for leader in m.direct_leaders:
            other = self.members.get(leader)
            if leader != m.userid and other is not None and not other.gone:
                return leader
        home = m.home
        if home is None:
            return None
        start = self.parent(home) if home in m.leader_in else home
        for dept in self.chain(start):
            found = [u for u in self.leaders.get(dept, ()) if u != m.userid]
            if found:
                return found[0]
        return None

    def managers(self) -> dict[str, str | None]:
        """userid → manager for every member still in the company, cycles cut (module docstring)."""
        out = {u: self.manager(m) for u, m in self.members.items() if not m.gone}
        for start in sorted(out):
            seen: list[str] = []
            cur: str | None = start
            while cur is not None and cur in out and cur not in seen:
                seen.append(cur)
                cur = out[cur]
            if cur is not None and cur in seen:  # a cycle: cut it at its smallest member
                loop = seen[seen.index(cur) :]
                out[min(loop)] = None
        return out

    def role(self, m: Member, rules: Sequence[RoleRule]) -> str:
        home = m.home
        names = {self.depts[d].name for d in self.chain(home) if d in self.depts}
        leads = home is not None and home in m.leader_in
        for rule in rules:
            if rule.department is not None and rule.department not in names:
                continue
            if rule.leader is not None and rule.leader != leads:
                continue
            if rule.depth is not None and rule.depth != self.depth(home):
                continue
            return rule.role
        return Role.REP.value


@dataclass(frozen=True)
class Current:
    """A users row as the sync sees it; `role_by_sync`: the role the sync last gave (None: never)."""

    userid: str
    name: str
    role: str
    manager_userid: str | None
    active: bool = True
    mobile: str | None = None
    email: str | None = None
    role_by_sync: str | None = None


@dataclass(frozen=True)
class UserChange:
    userid: str
    fields: dict[str, Any]  # the new values (a new user: every column the sync sets)
    create: bool = False
    role_by_sync: str | None = None  # the role the sync gave and still owns (None: the import's or admin's)


@dataclass(frozen=True)
class Plan:
    changes: tuple[UserChange, ...] = ()
    deactivate: tuple[str, ...] = ()  # left WeCom (status disabled / left, or gone from a full sync)
    held_back: tuple[str, ...] = ()  # missing from a full sync but not deactivated: too many at once
    inactive_here: tuple[str, ...] = ()  # in the company per WeCom, deactivated here (启用 is the admin's)
    rule_roles: dict[str, str] = field(default_factory=dict)


def plan(
    book: AddressBook,
    current: Mapping[str, Current],
    rules: Sequence[RoleRule] = DEFAULT_RULES,
    *,
    synced: Iterable[str] = (),
    full: bool = False,
) -> Plan:
    """What to change in the users table so it follows `book`. `synced`: the userids an earlier sync brought
    (only those may be deactivated for being missing, and only by a `full` sync, within the guard)."""
    tree = Tree(book)
    managers = tree.managers()
    changes: list[UserChange] = []
    rule_roles: dict[str, str] = {}
    deactivate: list[str] = []
    inactive_here: list[str] = []
    for userid in sorted(tree.members):
        m = tree.members[userid]
        cur = current.get(userid)
        if m.gone:
            if cur is not None and cur.active:
                deactivate.append(userid)
            continue
        rule_role = tree.role(m, rules)
        rule_roles[userid] = rule_role
        manager = managers.get(userid)
        if cur is None:
            values = {"name": m.name or userid, "role": rule_role, "manager_userid": manager, "active": True}
            values.update({f: getattr(m, f) for f in ("mobile", "email") if getattr(m, f)})
            changes.append(UserChange(userid, values, create=True, role_by_sync=rule_role))
            continue
        if not cur.active:
            inactive_here.append(userid)
        new: dict[str, Any] = {}
        if m.name and m.name != cur.name:
            new["name"] = m.name
        if manager is not None and manager != cur.manager_userid:
            new["manager_userid"] = manager
        owned = (  # the stored role is still the one the sync gave: the rules keep it
            cur.role != Role.ADMIN.value and cur.role_by_sync is not None and cur.role == cur.role_by_sync
        )
        if owned and rule_role != cur.role:
            new["role"] = rule_role
        track = rule_role if owned else cur.role_by_sync
        for f in ("mobile", "email"):
            value = getattr(m, f)
            if value and value != getattr(cur, f):
                new[f] = value
        if new or track != cur.role_by_sync:
            changes.append(UserChange(userid, new, role_by_sync=track))
    held_back: list[str] = []
    if full:
        missing = sorted(u for u in synced if u not in tree.members and u in current and current[u].active)
        allowed = max(MISSING_GUARD_MIN, int(MISSING_GUARD_SHARE * len(set(synced))))
        if len(missing) <= allowed:
            deactivate.extend(missing)
        else:
            held_back = missing
    return Plan(
        tuple(changes), tuple(sorted(set(deactivate))), tuple(held_back), tuple(inactive_here), rule_roles
    )
