"""The stored targets of a period as a tree (`targets show`): each node's level, key, name, target (now and as
committed), the live roll-up of its stores, baseline, factors, rationale and children.

Roll-up rule (docs/targets.md § Adjustments): an adjustment changes a store's target (and so its rep's); the
organisation, region and city keep the figure they committed to (`target_fen`), and `live_fen` is the sum of
their stores' targets now; `adjusted_fen` = live − committed is shown wherever it is not zero.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.targets.cascade import city_key, region_key
from core.targets.split import yuan
from storage.models import CustomerRow, UserRow
from storage.targets.common import target_id
from storage.targets.models import TargetRow

LEVEL_WORDS = {"org": "集团", "region": "大区", "city": "城市", "store": "门店", "rep": "个人"}


def load_tree(session: Session, period: str) -> dict[str, Any] | None:
    rows = list(
        session.scalars(select(TargetRow).where(TargetRow.period == period).order_by(TargetRow.target_id))
    )
    if not rows:
        return None
    store_keys = [r.node_key for r in rows if r.level == "store"]
    place: dict[str, tuple[str | None, str | None, str, str]] = {}
    for chunk in range(0, len(store_keys), 5000):
        q = select(
            CustomerRow.customer_id,
            CustomerRow.region,
            CustomerRow.city,
            CustomerRow.owner_userid,
            CustomerRow.name,
        )
        for cid, region, city, owner, name in session.execute(
            q.where(CustomerRow.customer_id.in_(store_keys[chunk : chunk + 5000]))
        ):
            place[cid] = (region, city, owner, name)
    rep_names = dict(session.execute(select(UserRow.userid, UserRow.name)).all())
    nodes: dict[str, dict[str, Any]] = {}
    for r in rows:
        name = r.name
        if r.level == "store" and r.node_key in place:
            name = place[r.node_key][3]
        elif r.level == "rep":
            name = rep_names.get(r.node_key, r.name)
        nodes[r.target_id] = {
            "level": r.level,
            "key": r.node_key,
            "name": name,
            "target_fen": r.amount_fen,
            "committed_fen": r.committed_fen,
            "baseline_fen": r.baseline_fen,
            "development_fen": r.development_fen,
            "factors": r.factors,
            "rationale": r.rationale,
            "source": r.source,
            "parent_id": r.parent_id,
            "children": [],
        }
    # parents: as stored; a store imported without one goes under its customer's city (when that node exists)
    owned: dict[str, list[str]] = defaultdict(list)
    top: list[str] = []
    for tid, n in nodes.items():
        if n["level"] == "store" and n["key"] in place:
            region, city, owner, _ = place[n["key"]]
            owned[owner].append(tid)
            if not n["parent_id"] or n["parent_id"] not in nodes:
                n["parent_id"] = target_id(period, "city", city_key(region, city))
                if n["parent_id"] not in nodes:
                    n["parent_id"] = target_id(period, "region", region_key(region))
        parent = nodes.get(n["parent_id"] or "")
        if n["level"] == "rep":
            continue
        if parent is not None:
            parent["children"].append(tid)
        else:
            top.append(tid)
    reps = []
    for tid, n in nodes.items():
        if n["level"] == "rep":
            n["children"] = owned.get(n["key"], [])
            reps.append(tid)

    def live(tid: str) -> int:
        n = nodes[tid]
        if n["level"] == "store":
            return n["target_fen"]
        if "live_fen" not in n:
            n["live_fen"] = sum(live(c) for c in n["children"]) + (
                n["development_fen"] if n["level"] == "rep" else 0
            )
        return n["live_fen"]

    for tid in top + reps:
        live(tid)
    for n in nodes.values():
        if n["level"] == "rep":
            n["target_fen"] = n["live_fen"]  # a rep's target is always their stores' now + development
    return {"period": period, "nodes": nodes, "top": top, "reps": reps}


def tree_json(tree: dict[str, Any]) -> dict[str, Any]:
    nodes = tree["nodes"]

    def out(tid: str, nested: bool) -> dict[str, Any]:
        n = nodes[tid]
        d = {
            k: n[k]
            for k in (
                "level",
                "key",
                "name",
                "target_fen",
                "committed_fen",
                "baseline_fen",
                "factors",
                "rationale",
            )
        }
        if n["level"] != "store":
            d["live_fen"] = n["live_fen"]
        d["adjusted_fen"] = (n["live_fen"] if n["level"] != "store" else n["target_fen"]) - n["committed_fen"]
        if n["level"] == "rep":
            d["development_fen"] = n["development_fen"]
            d["children"] = [nodes[c]["key"] for c in n["children"]]
        else:
            d["children"] = [out(c, nested) for c in n["children"]]
        return d

    return {
        "period": tree["period"],
        "tree": [out(t, True) for t in tree["top"]],
        "reps": [out(t, False) for t in tree["reps"]],
    }


def tree_text(tree: dict[str, Any], *, depth: int | None = None) -> str:
    """The tree in Chinese, one node a line, indented by level; reps after the tree."""
    nodes = tree["nodes"]
    lines = [f"{tree['period']} 目标分解"]

    def line(n: dict[str, Any], indent: int) -> str:
        s = (
            f"{'  ' * indent}{LEVEL_WORDS.get(n['level'], n['level'])} {n['key']} {n['name']}："
            f"目标{yuan(n['target_fen'])}"
        )
        if n["level"] not in ("store", "rep") and n["live_fen"] != n["committed_fen"]:
            s += f"（调整后合计{yuan(n['live_fen'])}，调整{yuan(n['live_fen'] - n['committed_fen'])}）"
        if n["level"] == "store" and n["target_fen"] != n["committed_fen"]:
            s += f"（原{yuan(n['committed_fen'])}，调整{yuan(n['target_fen'] - n['committed_fen'])}）"
        if n["baseline_fen"] is not None:
            s += f" 基数{yuan(n['baseline_fen'])}"
        if n["rationale"]:
            s += f" | {n['rationale']}"
        return s

    def walk(tid: str, indent: int) -> None:
        n = nodes[tid]
        lines.append(line(n, indent))
        if depth is None or indent + 1 < depth:
            for c in n["children"]:
                walk(c, indent + 1)

    for t in tree["top"]:
        walk(t, 0)
    if tree["reps"]:
        lines.append("个人目标（名下门店目标 + 新客开发目标）")
        for t in tree["reps"]:
            n = nodes[t]
            lines.append(
                f"  个人 {n['key']} {n['name']}：目标{yuan(n['target_fen'])}（{len(n['children'])}家门店，"
                f"开发目标{yuan(n['development_fen'])}）"
            )
    return "\n".join(lines)
