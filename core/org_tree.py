"""The reporting tree (who reports to whom), as pure data: manager chains, approvers by role, scopes.

Built from (userid, role, manager_userid) triples. A cycle in imported data never loops: every walk
stops at a person it has already seen.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

# Roles that serve the whole organisation: when nobody with the role sits above a person, anyone
# with the role will do (finance is usually outside the sales tree).
ORG_WIDE_ROLES = ("finance_director", "sales_director", "admin")


@dataclass(frozen=True)
class Person:
    userid: str
    role: str
    manager_userid: str | None = None


class OrgTree:
    def __init__(self, people: Iterable[Person]):
        self._people: dict[str, Person] = {p.userid: p for p in people}
        self._reports: dict[str, list[str]] = defaultdict(list)
        for p in sorted(self._people.values(), key=lambda p: p.userid):
            if p.manager_userid:
                self._reports[p.manager_userid].append(p.userid)

    def person(self, userid: str) -> Person | None:
        return self._people.get(userid)

    def role_of(self, userid: str) -> str | None:
        p = self._people.get(userid)
        return p.role if p else None

    def manager_of(self, userid: str) -> str | None:
        p = self._people.get(userid)
        return p.manager_userid if p and p.manager_userid != userid else None

    def manager_chain(self, userid: str) -> list[str]:
        """The managers above a person, nearest first."""
        chain: list[str] = []
        seen = {userid}
        current = self.manager_of(userid)
        while current and current not in seen:
            chain.append(current)
            seen.add(current)
            current = self.manager_of(current)
        return chain

    def find_up(self, userid: str, role: str) -> str | None:
        """The nearest manager above `userid` who has `role`."""
        for manager in self.manager_chain(userid):
            if self.role_of(manager) == role:
                return manager
        return None

    def with_role(self, role: str) -> list[str]:
        return sorted(u for u, p in self._people.items() if p.role == role)

    def approver_for(self, userid: str, role: str) -> str | None:
        """Who acts in `role` for `userid`: the nearest such manager; for an org-wide role, anyone with it."""
        found = self.find_up(userid, role)
        if found is None and role in ORG_WIDE_ROLES:
            everyone = self.with_role(role)
            found = everyone[0] if everyone else None
        return found

    def below(self, userid: str) -> set[str]:
        """Everyone under `userid` in the tree, at any depth."""
        out: set[str] = set()
        stack = list(self._reports.get(userid, ()))
        while stack:
            u = stack.pop()
            if u in out or u == userid:
                continue
            out.add(u)
            stack.extend(self._reports.get(u, ()))
        return out

    def scope(self, userid: str) -> set[str]:
        """A manager's scope: everyone below them and themselves (shared/spec/nlq-semantics.md)."""
        return self.below(userid) | {userid}
