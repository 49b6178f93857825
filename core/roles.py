"""The roles of the organisation and what each may see: defined once, used by questions, metrics, the
dashboard, briefs, card clicks and the router (docs/nlq-semantics.md § Who may see what)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    REP = "rep"
    SUPERVISOR = "supervisor"
    REGIONAL_MANAGER = "regional_manager"
    FINANCE_DIRECTOR = "finance_director"
    SALES_DIRECTOR = "sales_director"
    ADMIN = "admin"


ROLES: tuple[str, ...] = tuple(r.value for r in Role)
ROLE_WORDS: dict[str, str] = {
    Role.REP.value: "业务员",
    Role.SUPERVISOR.value: "销售主管",
    Role.REGIONAL_MANAGER.value: "区域经理",
    Role.FINANCE_DIRECTOR.value: "财务总监",
    Role.SALES_DIRECTOR.value: "销售总监",
    Role.ADMIN.value: "管理员",
}
# Whose scope is the whole organisation, and whose is their subtree of the reporting tree (plus their own).
SEE_ALL: frozenset[str] = frozenset(
    {Role.SALES_DIRECTOR.value, Role.FINANCE_DIRECTOR.value, Role.ADMIN.value}
)
SEE_TREE: frozenset[str] = frozenset({Role.SUPERVISOR.value, Role.REGIONAL_MANAGER.value})
# Who asks questions and gets the manager's help (everyone but a rep).
MANAGERS: frozenset[str] = SEE_ALL | SEE_TREE
# Roles that serve the whole organisation: when nobody with the role sits above a person, anyone with the
# role will do (finance is usually outside the sales tree).
ORG_WIDE: tuple[str, ...] = (Role.FINANCE_DIRECTOR.value, Role.SALES_DIRECTOR.value, Role.ADMIN.value)
# Who may act on anyone's reminders without sitting above them.
ACT_FOR_ANYONE: frozenset[str] = frozenset({Role.SALES_DIRECTOR.value, Role.ADMIN.value})


def role_word(role: str) -> str:
    return ROLE_WORDS.get(role, role)
