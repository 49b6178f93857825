"""Whose reads of customer detail leave an audit row: a viewer outside the owner's line (privacy, issue #7).

A customer's line is its owner and the managers above the owner in the reporting tree. Reading inside the
line is the ordinary work of the tree (a rep's own book, a supervisor's or regional manager's team, the
sales director at the top); reading outside it is what the roles with an org-wide scope can do without
sitting above the owner — a finance director, an admin, a director of another branch — and each such read
of a customer's detail is recorded (who, which customer, through which path).

A customer without an owner has no line: every read of it counts as outside.
"""
from __future__ import annotations

from collections.abc import Iterable

from core.org_tree import OrgTree


def in_line(tree: OrgTree, viewer: str, owner: str | None) -> bool:
    """The viewer is the owner, or one of the owner's managers at any depth (cycle-safe)."""
    return owner is not None and (viewer == owner or viewer in tree.manager_chain(owner))


def outside_line(tree: OrgTree, viewer: str, shown: Iterable[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """Of the (customer_id, owner) pairs a viewer was shown, those outside the viewer's line: each customer
    once, in the order shown."""
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
