"""Who may see what (spec § Who may see what): the set of customer owners visible to an asker.

- rep: the customers they own;
- supervisor, regional_manager: their own and those of everyone below them in the manager_userid tree,
  at any depth;
- sales_director, finance_director, admin: everything.
Any other role is treated like a rep (least privilege). The walk is cycle-safe.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from nlq.vocab import ROLE_WORDS, User

SEE_ALL = ("sales_director", "finance_director", "admin")
SEE_TREE = ("supervisor", "regional_manager")


class UnknownAsker(LookupError):
    def __init__(self, userid: str):
        super().__init__(userid)
        self.userid = userid


@dataclass(frozen=True)
class Scope:
    asker: str
    role: str
    owners: frozenset[str] | None  # None: everything
    words: str  # "whose scope it was", in Chinese

    def sees_owner(self, userid: str) -> bool:
        return self.owners is None or userid in self.owners


def subordinates(users: Mapping[str, User], root: str) -> set[str]:
    """Everyone below root in the reporting tree, at any depth (root excluded)."""
    children: dict[str, list[str]] = defaultdict(list)
    for u in users.values():
        if u.manager_userid:
            children[u.manager_userid].append(u.userid)
    seen: set[str] = set()
    stack = list(children.get(root, ()))
    while stack:
        uid = stack.pop()
        if uid in seen or uid == root:
            continue
        seen.add(uid)
        stack.extend(children.get(uid, ()))
    return seen


def visible_owners(users: Mapping[str, User], asker: str) -> frozenset[str] | None:
    me = users.get(asker)
    if me is None:
        raise UnknownAsker(asker)
    if me.role in SEE_ALL:
        return None
    if me.role in SEE_TREE:
        return frozenset(subordinates(users, asker) | {asker})
    return frozenset({asker})


def scope_for(users: Mapping[str, User], asker: str) -> Scope:
    owners = visible_owners(users, asker)
    me = users[asker]
    who = f"{me.name}（{asker}，{ROLE_WORDS.get(me.role, me.role)}）"
    if owners is None:
        words = f"全部客户（{who}可见全部）"
    elif len(owners) == 1:
        words = f"{who}本人负责的客户"
    else:
        words = f"{who}及其下属共{len(owners) - 1}人负责的客户"
    return Scope(asker=asker, role=me.role, owners=owners, words=words)
