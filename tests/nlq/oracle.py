"""Gold answers computed in plain Python over the dataset objects — independently of nlq's compiler.

A gold entry (questions.yaml) names what a question means in the words of docs/nlq-semantics.md:
  ask: list | count | freshness | visits | complete_visits | complete_rate | sales | order_count |
       opportunities | funnel | tickets | overdue_contracts | outstanding | refusal | out_of_scope
  customer conditions: status, lost, nps, region, city, channel, owner, tag, ordered, touch, timeout, overdue
  the entity's own: period, reps, vtag, category, stages, timeout_only
  shape: group, rank {by, desc, period}, limit
A PERIOD is [start_date, end_date) in Asia/Shanghai ("2026-10-01"), or "last:7d" / "last:72h" (now minus
the span to now, both ends included). A touch window is a PERIOD or {age: "72h", inclusive: bool}.
Nothing here imports nlq: periods, scope, timeouts and overdue payments are worked out again from the spec.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from core.clock import SHANGHAI
from tests.nlq.dataset import NOW, Dataset

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "=": operator.eq}
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(days=7), "m": timedelta(days=30)}
STANDARD_TAGS = ("价格异议", "库存不足", "新品兴趣", "账期协商")
STAGES = ("need_confirmed", "quoted", "negotiating", "won", "lost")
CUSTOMER_FIGURES = ("list", "count", "freshness")


def span(text: str) -> timedelta:
    return int(text[:-1]) * UNITS[text[-1]]


class Window:
    """A half-open calendar window, or a rolling one closed at both ends; optionally open at the start."""

    def __init__(self, spec: Any, now: datetime, *, open_start: bool = False):
        if isinstance(spec, str) and spec.startswith("last:"):
            self.lo, self.hi, self.hi_closed = now - span(spec[5:]), now, True
        elif isinstance(spec, dict):  # an age: no touch in the span
            self.lo, self.hi, self.hi_closed = now - span(spec["age"]), now, True
            open_start = spec.get("inclusive", False)
        else:
            s, e = (date.fromisoformat(str(x)) for x in spec)
            self.lo = datetime.combine(s, time(0), SHANGHAI)
            self.hi = datetime.combine(e, time(0), SHANGHAI)
            self.hi_closed = False
        self.open_start = open_start

    def has(self, at: datetime) -> bool:
        lo_ok = at > self.lo if self.open_start else at >= self.lo
        hi_ok = at <= self.hi if self.hi_closed else at < self.hi
        return lo_ok and hi_ok

    def has_date(self, d: date) -> bool:
        return self.has(datetime.combine(d, time(0), SHANGHAI))


class Oracle:
    def __init__(self, ds: Dataset, now: datetime = NOW):
        self.ds, self.now = ds, now
        self.today = now.astimezone(SHANGHAI).date()
        self.users = {u["userid"]: u for u in ds.users}
        self.by_customer: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for kind in ("visits", "interactions", "orders", "opportunities", "contracts", "tickets"):
            for row in getattr(ds, kind):
                self.by_customer[row["customer_id"]][kind].append(row)
        self.customers = {c["customer_id"]: c for c in ds.customers}

    # --- scope ------------------------------------------------------------------------------------
    def visible(self, asker: str) -> set[str] | None:
        role = self.users[asker]["role"]
        if role in ("sales_director", "finance_director", "admin"):
            return None
        if role not in ("supervisor", "regional_manager"):
            return {asker}
        seen, frontier = {asker}, [asker]
        while frontier:
            boss = frontier.pop()
            for u in self.ds.users:
                if u["manager_userid"] == boss and u["userid"] not in seen:
                    seen.add(u["userid"])
                    frontier.append(u["userid"])
        return seen

    def in_scope(self, c: dict[str, Any], asker: str) -> bool:
        v = self.visible(asker)
        return v is None or c["owner_userid"] in v

    # --- the definitions ----------------------------------------------------------------------------
    def touches(self, cid: str, kind: str) -> list[datetime]:
        rows = self.by_customer[cid]
        out = [v["checked_in_at"] for v in rows["visits"]]
        if kind == "any":
            out += [i["at"] for i in rows["interactions"]]
        return out

    def timed_out(self, t: dict[str, Any]) -> bool:
        sla = timedelta(hours=t["sla_hours"])
        if t["responded_at"] is not None:
            return t["responded_at"] - t["opened_at"] > sla
        return self.now - t["opened_at"] > sla

    def paid(self, k: dict[str, Any]) -> Decimal:
        return sum(
            (p["amount"] for p in self.ds.payments if k["contract_no"] in (p["memo"] or "")), Decimal(0)
        )

    def overdue(self, k: dict[str, Any]) -> bool:
        return k["due_on"] < self.today and self.paid(k) < k["amount"]

    def complete(self, v: dict[str, Any]) -> bool:
        return (
            v["lat"] is not None
            and v["lng"] is not None
            and v["photo_count"] >= 3
            and bool(self.ds.tags_of(v["visit_id"]))
        )

    def customer_ok(self, c: dict[str, Any], g: dict[str, Any]) -> bool:
        default = "active" if g["ask"] in CUSTOMER_FIGURES else "all"
        status = g.get("status") or ("lost" if "lost" in g else default)
        if status != "all" and c["status"] != status:
            return False
        if "lost" in g and not (c["lost_on"] and Window(g["lost"], self.now).has_date(c["lost_on"])):
            return False
        for op, v in g.get("nps", []):
            if c["nps"] is None or not OPS[op](c["nps"], v):
                return False
        for key, col in (
            ("region", "region"),
            ("city", "city"),
            ("channel", "channel"),
            ("owner", "owner_userid"),
        ):
            if key in g and c[col] not in g[key]:
                return False
        rows = self.by_customer[c["customer_id"]]
        for tag, per in g.get("tag", []):
            w = Window(per, self.now) if per else None
            if not any(
                tag in self.ds.tags_of(v["visit_id"]) and (w is None or w.has(v["checked_in_at"]))
                for v in rows["visits"]
            ):
                return False
        for present, cat, per in g.get("ordered", []):
            w = Window(per, self.now) if per else None
            hit = any(
                (cat is None or o["category"] == cat) and (w is None or w.has_date(o["ordered_on"]))
                for o in rows["orders"]
            )
            if hit != present:
                return False
        for present, kind, per in g.get("touch", []):
            w = Window(per, self.now)
            if any(w.has(at) for at in self.touches(c["customer_id"], kind)) != present:
                return False
        if "timeout" in g:
            w = Window(g["timeout"], self.now) if g["timeout"] else None
            if not any(self.timed_out(t) and (w is None or w.has(t["opened_at"])) for t in rows["tickets"]):
                return False
        if "overdue" in g:
            w = Window(g["overdue"], self.now) if g["overdue"] else None
            if not any(self.overdue(k) and (w is None or w.has_date(k["due_on"])) for k in rows["contracts"]):
                return False
        return True

    # --- answers -----------------------------------------------------------------------------------
    def answer(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        custs = [c for c in self.ds.customers if self.in_scope(c, asker) and self.customer_ok(c, g)]
        if g["ask"] == "list":
            return self.customer_list(custs, g)
        items = self.items(custs, g)
        if "group" in g:
            return self.groups(items, g, asker)
        return {"kind": "figure", **self.figure(items, g)}

    def customer_list(self, custs: list[dict[str, Any]], g: dict[str, Any]) -> dict[str, Any]:
        r = g.get("rank")
        if not r:
            ids = [c["customer_id"] for c in custs]
            return {
                "kind": "list",
                "ids": set(ids),
                "ordered": False,
                "limit": g.get("limit"),
                "count": len(ids),
            }
        by = r["by"]
        if by == "nps":
            custs = [c for c in custs if c["nps"] is not None]
        keyed = [(self.rank_value(c, by, r.get("period")), c["customer_id"]) for c in custs]
        if by in ("last_touch", "last_visit"):  # never touched first, then the oldest touch
            keyed.sort(
                key=lambda kv: (kv[0] is not None, kv[0] or datetime.min.replace(tzinfo=SHANGHAI), kv[1])
            )
        else:
            sign = -1 if r.get("desc", True) else 1
            keyed.sort(key=lambda kv: (sign * kv[0], kv[1]))
        ids = [cid for _, cid in keyed][: g.get("limit")]
        return {"kind": "list", "ids": ids, "ordered": True}

    def rank_value(self, c: dict[str, Any], by: str, per: Any) -> Any:
        rows = self.by_customer[c["customer_id"]]
        w = Window(per, self.now) if per else None
        if by == "nps":
            return c["nps"]
        if by in ("last_touch", "last_visit"):
            ts = self.touches(c["customer_id"], "visit" if by == "last_visit" else "any")
            return max(ts) if ts else None
        if by == "visit_count":
            return sum(1 for v in rows["visits"] if w is None or w.has(v["checked_in_at"]))
        orders = [o for o in rows["orders"] if w is None or w.has_date(o["ordered_on"])]
        return sum((o["amount"] for o in orders), Decimal(0)) if by == "sales" else len(orders)

    def items(self, custs: list[dict[str, Any]], g: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
        """(customer, row) pairs the figure is over; row is the customer itself for customer figures."""
        ask = g["ask"]
        w = Window(g["period"], self.now) if g.get("period") else None
        out = []
        for c in custs:
            rows = self.by_customer[c["customer_id"]]
            if ask in ("count", "freshness"):
                out.append((c, c))
            elif ask in ("visits", "complete_visits", "complete_rate"):
                for v in rows["visits"]:
                    if w and not w.has(v["checked_in_at"]):
                        continue
                    if g.get("reps") and v["rep_userid"] not in g["reps"]:
                        continue
                    if g.get("vtag") and g["vtag"] not in self.ds.tags_of(v["visit_id"]):
                        continue
                    out.append((c, v))
            elif ask in ("sales", "order_count"):
                out += [
                    (c, o)
                    for o in rows["orders"]
                    if (not w or w.has_date(o["ordered_on"]))
                    and (not g.get("category") or o["category"] == g["category"])
                ]
            elif ask in ("opportunities", "funnel"):
                out += [
                    (c, p)
                    for p in rows["opportunities"]
                    if (not w or w.has_date(p["entered_on"]))
                    and (not g.get("stages") or p["stage"] in g["stages"])
                ]
            elif ask == "tickets":
                out += [
                    (c, t)
                    for t in rows["tickets"]
                    if (not w or w.has(t["opened_at"])) and (not g.get("timeout_only") or self.timed_out(t))
                ]
            elif ask in ("overdue_contracts", "outstanding"):
                out += [
                    (c, k)
                    for k in rows["contracts"]
                    if self.overdue(k) and (not w or w.has_date(k["due_on"]))
                ]
        return out

    def figure(self, items: list[tuple[dict[str, Any], Any]], g: dict[str, Any]) -> dict[str, Any]:
        ask = g["ask"]
        if ask == "freshness":
            fresh = Window("last:30d", self.now)
            num = sum(1 for c, _ in items if any(fresh.has(t) for t in self.touches(c["customer_id"], "any")))
            return self.rate(num, len(items))
        if ask == "complete_rate":
            return self.rate(sum(1 for _, v in items if self.complete(v)), len(items))
        if ask == "funnel":
            return self.rate(
                sum(1 for _, p in items if p["stage"] in ("quoted", "negotiating", "won")), len(items)
            )
        if ask == "complete_visits":
            return {"value": sum(1 for _, v in items if self.complete(v))}
        if ask == "sales":
            return {"value": float(sum((o["amount"] for _, o in items), Decimal(0)))}
        if ask == "outstanding":
            return {"value": float(sum((k["amount"] - self.paid(k) for _, k in items), Decimal(0)))}
        return {"value": len(items)}

    @staticmethod
    def rate(num: int, den: int) -> dict[str, Any]:
        return {"value": num / den if den else None, "numerator": num, "denominator": den}

    def groups(
        self, items: list[tuple[dict[str, Any], Any]], g: dict[str, Any], asker: str
    ) -> dict[str, Any]:
        key = g["group"]
        buckets: dict[Any, list[tuple[dict[str, Any], Any]]] = defaultdict(list)
        for c, row in items:
            for k in self.keys_of(key, c, row, g["ask"]):
                buckets[k].append((c, row))
        domain = self.domain(key, asker)
        out = {k: self.figure(buckets.get(k, []), g) for k in set(domain) | set(buckets)}
        result = {"kind": "groups", "groups": {k: v for k, v in out.items()}}
        if "rank" in g or "limit" in g:
            desc = g.get("rank", {}).get("desc", True)
            known = [(k, v["value"]) for k, v in out.items()]
            nones = sorted((k for k, v in known if v is None), key=lambda k: (k is None, k or ""))
            vals = [(k, v) for k, v in known if v is not None]
            vals.sort(key=lambda kv: ((-kv[1] if desc else kv[1]), kv[0] is None, kv[0] or ""))
            result["order"] = ([k for k, _ in vals] + nones)[: g.get("limit")]
        return result

    def keys_of(self, key: str, c: dict[str, Any], row: Any, ask: str) -> list[Any]:
        if key in ("region", "city", "channel"):
            return [c[key]]
        if key == "rep":
            return [
                row["rep_userid"]
                if ask in ("visits", "complete_visits", "complete_rate")
                else c["owner_userid"]
            ]
        if key == "tag":
            return list(self.ds.tags_of(row["visit_id"]))
        if key == "category":
            return [row["category"]]
        return [row["stage"]]

    def domain(self, key: str, asker: str) -> list[Any]:
        vis = self.visible(asker)
        scoped = [c for c in self.ds.customers if vis is None or c["owner_userid"] in vis]
        if key == "rep":
            return [
                u["userid"]
                for u in self.ds.users
                if u["role"] == "rep" and (vis is None or u["userid"] in vis)
            ]
        if key in ("region", "city", "channel"):
            return sorted({c[key] for c in scoped if c[key] is not None})
        if key == "tag":
            return list(STANDARD_TAGS)
        if key == "stage":
            return list(STAGES)
        return sorted(
            {
                o["category"]
                for c in scoped
                for o in self.by_customer[c["customer_id"]]["orders"]
                if o["category"] is not None
            }
        )
