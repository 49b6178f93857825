"""The reporting tree and who may see what: THE scope rule of the assistant, in one place.

Built from (userid, role, manager_userid) triples. A cycle in imported data never loops: every walk stops at
a person it has already seen.

Who may see what (docs/nlq-semantics.md § Who may see what):
- a rep sees the customers they own (any role not listed below is treated the same: least privilege);
- a supervisor or regional manager sees the customers of everyone below them in the tree, at any depth, and
  their own;
- the sales director, the finance director and an admin see everything.
Questions, metrics, the dashboard, briefs and card clicks all take their `Scope` from `scope_of`.

A customer's *line* is its owner and the managers above the owner. Reads outside the viewer's line leave an
audit row (storage/read_audit.py): the org-wide roles can read without sitting above the owner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from core.roles import ORG_WIDE, SEE_ALL, SEE_TREE, role_word


class UnknownAsker(LookupError):
    def __init__(self, userid: str):
        super().__init__(userid)
        self.userid = userid


@dataclass(frozen=True)
class Person:
    userid: str
    role: str
    manager_userid: str | None = None
    name: str = ""
    active: bool = True  # False: deactivated (left the company); never a recipient, scopes keep their rows


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

    def is_active(self, userid: str | None) -> bool:
        p = self._people.get(userid) if userid else None
        return p is not None and p.active

    def active_manager_of(self, userid: str) -> str | None:
        """The nearest active manager above `userid` (deactivated ones are passed over)."""
        for manager in self.manager_chain(userid):
            if self.is_active(manager):
                return manager
        return None

    def find_up(self, userid: str, role: str) -> str | None:
        """The nearest active manager above `userid` who has `role`. When the nearest holder of `role` is
        deactivated, the next active manager above them, whatever their role (escalate past them)."""
        passed = False
        for manager in self.manager_chain(userid):
            if passed or self.role_of(manager) == role:
                if self.is_active(manager):
                    return manager
                passed = True
        return None

    def everyone(self) -> set[str]:
        return set(self._people)

    def with_role(self, role: str, *, active_only: bool = False) -> list[str]:
        return sorted(u for u, p in self._people.items() if p.role == role and (p.active or not active_only))

    def approver_for(self, userid: str, role: str) -> str | None:
        """Who acts in `role` for `userid`: the nearest such active manager (see `find_up`); for an org-wide
        role, anyone active with it. A deactivated person never acts."""
        found = self.find_up(userid, role)
        if found is None and role in ORG_WIDE:
            everyone = self.with_role(role, active_only=True)
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
        """A manager's team: everyone below them and themselves."""
        return self.below(userid) | {userid}


# --- who may see what -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What one person may see: the customer owners (None: everything), with the words that say so."""

    asker: str
    name: str
    role: str
    owners: frozenset[str] | None  # None: everything

    def sees_owner(self, userid: str | None) -> bool:
        return self.owners is None or userid in self.owners

    @property
    def userid(self) -> str:
        return self.asker

    @property
    def words(self) -> str:
        """Whose scope an answer covered, in Chinese (questions: `ask`, chat)."""
        who = f"{self.name}（{self.asker}，{role_word(self.role)}）"
        if self.owners is None:
            return f"全部客户（{who}可见全部）"
        if len(self.owners) == 1:
            return f"{who}本人负责的客户"
        return f"{who}及其下属共{len(self.owners) - 1}人负责的客户"

    @property
    def heading(self) -> str:
        """Whose figures a report shows, in Chinese (dashboard, briefs)."""
        who = f"{self.name}（{role_word(self.role)}）"
        if self.owners is None:
            return f"{who}：全部客户"
        if self.role in SEE_TREE:
            return f"{who}及下属共{len(self.owners) - 1}人负责的客户"
        return f"{who}本人负责的客户"


def visible_owners(tree: OrgTree, asker: str) -> frozenset[str] | None:
    """The owners whose customers `asker` may see; None for everything. Raises UnknownAsker."""
    me = tree.person(asker)
    if me is None:
        raise UnknownAsker(asker)
    if me.role in SEE_ALL:
        return None
    if me.role in SEE_TREE:
        return frozenset(tree.scope(asker))
    return frozenset({asker})


def visible_people(tree: OrgTree, asker: str) -> set[str]:
    """The owners `asker` may see, spelled out (everyone in the tree for an org-wide scope)."""
    owners = visible_owners(tree, asker)
    return tree.everyone() if owners is None else set(owners)


def scope_of(tree: OrgTree, asker: str) -> Scope:
    """The asker's scope. Raises UnknownAsker for someone not in the tree."""
    owners = visible_owners(tree, asker)
    me = tree.person(asker)
    assert me is not None
    return Scope(asker=asker, name=me.name or asker, role=me.role, owners=owners)


# --- whose reads leave an audit row -----------------------------------------------------------------------


def in_line(tree: OrgTree, viewer: str, owner: str | None) -> bool:
    """The viewer is the owner, or one of the owner's managers at any depth (cycle-safe)."""
    return owner is not None and (viewer == owner or viewer in tree.manager_chain(owner))


def outside_line(
    tree: OrgTree, viewer: str, shown: Iterable[tuple[str, str | None]]
) -> list[tuple[str, str | None]]:
    """Of the (customer_id, owner) pairs a viewer was shown, those outside the viewer's line: each customer
    once, in the order shown. A customer without an owner has no line: every read of it counts as outside."""
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    verdict: dict[str | None, bool] = {}
    for customer_id, owner in shown:
        if customer_id in seen:
            continue
        seen.add(customer_id)
        if owner not in verdict:
            verdict[owner] = in_line(tree, viewer, owner)
        if not verdict[owner]:
            out.append((customer_id, owner))
    return out
