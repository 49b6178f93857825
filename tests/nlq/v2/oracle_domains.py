"""Gold answers for cases_domains.yaml (targets, leads, contract hand-offs and reconciliation), computed in plain
Python over tests/nlq/dataset.py + tests/nlq/dataset_domains.py rows: no SQL, no import of nlq.* or of the
storage query functions. Written from docs/targets.md, docs/leads.md, docs/contracts.md and issues 15-17.

Golds (`fn`), on top of oracle_v2's:

  target      {measure: target | attainment | gap, tperiod: 2026-11 | 2026Q4, group?: region | city | rep | team,
               node?: {level: region | city | rep | under, key}, rank?, limit?}
              the scope's stores (customers whose owner the asker sees); a rep's node adds their development
              target; a rep asking without a node is their own rep node
  red_reps    {tperiod}: the asker's reps whose latest health check of the period is red (people)
  leads       {measure: leads | new_leads | lead_conversion | lead_activation | quiet_leads | overdue_leads,
               where?: {grade, pool, source, owner, region, stage}, hours?, period?, group?: grade | source | owner | region, list?}
  work_orders {team?, under?, group?: team, list?}       open work orders past due_at
  finance     {status: matching | received | esigned, list?}   contracts by the finance view
  recon       {month: YYYY-MM, part?: difference | expected | received}
  due         {period}: instalments due in the period (sales view, 应回款)
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.clock import SHANGHAI
from tests.nlq.dataset import Dataset
from tests.nlq.dataset_domains import Domains
from tests.nlq.v2 import oracle_v2
from tests.nlq.v2.oracle_v2 import DEFAULT_NOW, GoldError, OracleV2, case_now

oracle_v2.RATES.update({"attainment", "lead_conversion", "lead_activation"})  # rates are scored to 0.0005
OPEN = ("new", "contacted", "proposal")
TEAM_WORDS = {"delivery": "交付", "finance": "财务", "after_sales": "售后"}
GRADE_KEYS = ("A+", "A", "B", "C", "未评级")


def _period(key: str) -> tuple[date, date]:
    if "Q" in key:
        y, q = int(key[:4]), int(key[-1])
        start = date(y, 3 * (q - 1) + 1, 1)
        months = 3
    else:
        start, months = date(int(key[:4]), int(key[5:7]), 1), 1
    m = start.month - 1 + months
    return start, date(start.year + m // 12, m % 12 + 1, 1)


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


class OracleDomains(OracleV2):
    def __init__(self, ds: Dataset, dd: Domains, now: datetime = DEFAULT_NOW):
        super().__init__(ds, now)
        self.dd = dd
        self.local_today = now.astimezone(SHANGHAI).date()
        self.contract_by_no = {k["contract_no"]: k for k in ds.contracts}

    # --- targets -------------------------------------------------------------------------------------
    def _node_of(self, level: str, c: dict[str, Any]) -> str:
        region = (c["region"] or "").strip() or "未分区"
        if level == "region":
            return region
        if level == "city":
            return f"{region}/{(c['city'] or '').strip() or '未分城市'}"
        if level == "rep":
            return c["owner_userid"]
        if level == "team":
            return self.team_of(c["owner_userid"])
        return "org"

    def _attain(
        self, asker: str, tperiod: str, level: str, keep: set[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Figures per node of `level`; with `keep`, one node "kept": the sum over the rep nodes in it."""
        vis = self.visible(asker)
        start, end = _period(tperiod)
        hi = min(end, self.local_today + timedelta(days=1))
        targets: dict[str, int] = defaultdict(int)
        sales: dict[str, Decimal] = defaultdict(Decimal)
        for t in self.dd.targets:
            if t["period"] != tperiod:
                continue
            if t["level"] == "store":
                c = self.customers[t["node_key"]]
                if vis is None or c["owner_userid"] in vis:
                    targets[self._node_of(level, c)] += t["amount_fen"]
            elif t["level"] == "rep" and level in ("rep", "team"):
                if vis is None or t["node_key"] in vis:
                    key = t["node_key"] if level == "rep" else self.team_of(t["node_key"])
                    targets[key] += t["development_fen"]
        for o in self.ds.orders:
            c = self.customers[o["customer_id"]]
            if (vis is None or c["owner_userid"] in vis) and start <= o["ordered_on"] < hi:
                sales[self._node_of(level, c)] += o["amount"]
        if keep is not None:
            targets = {"kept": sum(v for k, v in targets.items() if k in keep)}
            sales = {"kept": sum((v for k, v in sales.items() if k in keep), Decimal(0))}
        return self._figures(targets, sales)

    @staticmethod
    def _figures(targets: dict[str, int], sales: dict[str, Decimal]) -> dict[str, dict[str, Any]]:
        out = {}
        for k in set(targets) | set(sales):
            t, s = _yuan(targets.get(k, 0)), sales.get(k, Decimal(0))
            out[k] = {
                "target": {"value": t},
                "attainment": {"value": float(s / t) if t else None, "numerator": s, "denominator": t},
                "gap": {"value": max(Decimal(0), t - s)},
            }
        return out

    def g_target(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        m, tp = g["measure"], g["tperiod"]
        node = g.get("node")
        if node is None and g.get("group") is None and self.users[asker]["role"] == "rep":
            node = {"level": "rep", "key": asker}
        if g.get("group"):
            level = g["group"]
            rows = self._attain(asker, tp, level)
            if level == "city" and node:  # cities of one region
                rows = {k: v for k, v in rows.items() if k.startswith(node["key"] + "/")}
            groups = {(k.split("/", 1)[1] if level == "city" else k): v[m] for k, v in rows.items()}
            rank = g.get("rank")
            return {
                "kind": "groups",
                "groups": groups,
                "order": "ranked" if rank else None,
                "limit": g.get("limit"),
                "out_of_scope": False,
            }
        if node is None:
            row = self._attain(asker, tp, "org").get("org")
            return {"kind": "figure", **(row[m] if row else self._zero(m)), "out_of_scope": False}
        level, key = node["level"], node["key"]
        vis = self.visible(asker)
        if level == "under":  # X团队 / X手下: the rep nodes of everyone below X, and X
            keep = {u for u in self.visible_tree(key) if vis is None or u in vis}
            row = self._attain(asker, tp, "rep", keep)["kept"]
            return {"kind": "figure", **row[m], "out_of_scope": vis is not None and key not in vis}
        if level == "rep" and vis is not None and key not in vis:
            return {"kind": "figure", **self._zero(m), "out_of_scope": True}
        rows = self._attain(asker, tp, level)
        if level == "city":
            hits = [v for k, v in rows.items() if k.split("/", 1)[1] == key]
            row = hits[0] if hits else None
        else:
            row = rows.get(key)
        oos = row is None and level != "rep"
        return {"kind": "figure", **(row[m] if row else self._zero(m)), "out_of_scope": oos}

    @staticmethod
    def _zero(m: str) -> dict[str, Any]:
        return {"value": None} if m == "attainment" else {"value": Decimal(0)}

    def g_red_reps(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        reps = set(self.reps_in_scope(asker))
        latest: dict[str, tuple[date, str]] = {}
        for h in self.dd.health:
            if h["period"] == g["tperiod"] and h["level"] == "rep" and h["node_key"] in reps:
                if h["node_key"] not in latest or h["checked_on"] > latest[h["node_key"]][0]:
                    latest[h["node_key"]] = (h["checked_on"], h["light"])
        rows = {u: None for u, (_, light) in latest.items() if light == "red"}
        return {
            "kind": "people",
            "rows": rows,
            "all_values": rows,
            "order": None,
            "ranked": False,
            "limit": None,
            "out_of_scope": False,
        }

    # --- leads ---------------------------------------------------------------------------------------
    def _leads_seen(self, asker: str, public: bool) -> list[dict[str, Any]]:
        vis = self.visible(asker)
        return [
            lead
            for lead in self.dd.leads
            if vis is None or lead["owner_userid"] in vis or (public and lead["pool"] == "public")
        ]

    def _lead_ok(self, lead: dict[str, Any], w: dict[str, Any]) -> bool:
        for k in ("grade", "pool", "source", "owner", "region", "stage"):
            if k in w:
                v = lead["owner_userid" if k == "owner" else k]
                if v not in (w[k] if isinstance(w[k], list) else [w[k]]):
                    return False
        return True

    def _lead_items(self, g: dict[str, Any], asker: str) -> tuple[list[dict[str, Any]], str]:
        """(the leads counted, the measure's kind: count | rate)."""
        m, w = g["measure"], g.get("where", {})
        leads = [x for x in self._leads_seen(asker, w.get("pool") == "public") if self._lead_ok(x, w)]
        if m == "leads":
            stages = (w["stage"],) if "stage" in w else OPEN
            return [x for x in leads if x["stage"] in stages], "count"
        if m in ("new_leads", "lead_conversion", "lead_activation"):
            s = self.clock.resolve(g.get("period"))
            made = [x for x in leads if s is None or s.has(x["created_at"])]
            return made, {"new_leads": "count", "lead_conversion": "rate", "lead_activation": "activation"}[m]
        if m == "quiet_leads":
            cut = self.now - timedelta(hours=g["hours"])
            return [
                x
                for x in leads
                if x["stage"] in OPEN and x["owner_userid"] is not None and x["quiet_since"] < cut
            ], "count"
        if m == "overdue_leads":
            vis = self.visible(asker)
            late = {
                st["lead_id"]
                for st in self.dd.steps
                if st["status"] in ("open", "late")
                and st["due_at"] < self.now
                and (vis is None or st["owner_userid"] in vis)
            }
            return [
                x
                for x in leads
                if x["lead_id"] in late
                and x["stage"] in OPEN
                and any(
                    st["lead_id"] == x["lead_id"]
                    and st["owner_userid"] == x["owner_userid"]
                    and st["status"] in ("open", "late")
                    and st["due_at"] < self.now
                    for st in self.dd.steps
                )
            ], "count"
        raise GoldError(f"unknown lead measure {m!r}")

    @staticmethod
    def _lead_fig(items: list[dict[str, Any]], how: str) -> dict[str, Any]:
        if how in ("rate", "activation"):
            if how == "rate":
                conv = sum(1 for x in items if x["stage"] == "converted")
            else:  # 激活率: an effective follow-up at all
                conv = sum(1 for x in items if x["last_effective_at"] is not None)
            return {
                "value": conv / len(items) if items else None,
                "numerator": conv,
                "denominator": len(items),
            }
        return {"value": len(items)}

    def g_leads(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        items, how = self._lead_items(g, asker)
        oos = False
        owner = g.get("where", {}).get("owner")
        vis = self.visible(asker)
        if owner and vis is not None and owner not in vis:
            oos = True
        if g.get("list"):
            return {
                "kind": "records",
                "field": "lead_id",
                "ids": {x["lead_id"] for x in items},
                "out_of_scope": oos,
            }
        key = g.get("group")
        if key:
            by: dict[Any, list[dict[str, Any]]] = defaultdict(list)
            for x in items:
                k = {
                    "grade": x["grade"] or "未评级",
                    "source": x["source"],
                    "owner": x["owner_userid"],
                    "region": x["region"],
                }[key]
                by[k].append(x)
            domain: list[Any] = []
            if key == "grade":
                domain = list(GRADE_KEYS)
            elif key == "owner":
                domain = self.reps_in_scope(asker)
            groups = {k: self._lead_fig(by.get(k, []), how) for k in {*domain, *by}}
            return {
                "kind": "groups",
                "groups": {k: v for k, v in groups.items() if k is not None},
                "order": "ranked" if g.get("rank") else None,
                "limit": g.get("limit"),
                "out_of_scope": oos,
            }
        return {"kind": "figure", **self._lead_fig(items, how), "out_of_scope": oos}

    # --- contracts: hand-offs, the finance view, reconciliation --------------------------------------
    def _contract_seen(self, asker: str, no: str) -> bool:
        vis = self.visible(asker)
        return vis is None or self.customers[self.contract_by_no[no]["customer_id"]]["owner_userid"] in vis

    def g_work_orders(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        rows = [
            (i, w)
            for i, w in enumerate(self.dd.work_orders, start=1)
            if w["status"] == "open"
            and w["due_at"] <= self.now
            and self._contract_seen(asker, w["contract_no"])
            and (g.get("team") is None or w["team"] == g["team"])
            and (
                g.get("under") is None
                or self.customers[self.contract_by_no[w["contract_no"]]["customer_id"]]["owner_userid"]
                in self.visible_tree(g["under"])
            )
        ]
        if g.get("list"):
            return {
                "kind": "records",
                "field": "work_order_id",
                "ids": {i for i, _ in rows},
                "out_of_scope": False,
            }
        if g.get("group") == "team":
            groups = {TEAM_WORDS[t]: {"value": sum(1 for _, w in rows if w["team"] == t)} for t in TEAM_WORDS}
            return {"kind": "groups", "groups": groups, "order": None, "limit": None, "out_of_scope": False}
        return {"kind": "figure", "value": len(rows), "out_of_scope": False}

    def g_finance(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        nos = {
            no
            for no, v in self.dd.statuses.items()
            if v["finance_status"] == g["status"] and self._contract_seen(asker, no)
        }
        if g.get("list"):
            return {"kind": "records", "field": "contract_no", "ids": nos, "out_of_scope": False}
        return {"kind": "figure", "value": len(nos), "out_of_scope": False}

    def _instalments_in(self, asker: str, start: date, end: date) -> list[dict[str, Any]]:
        return [
            i
            for i in self.dd.instalments
            if i["due_on"] is not None
            and start <= i["due_on"] < end
            and self._contract_seen(asker, i["contract_no"])
        ]

    def g_recon(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        y, mo = int(g["month"][:4]), int(g["month"][5:7])
        start = date(y, mo, 1)
        end = date(y + mo // 12, mo % 12 + 1, 1)
        ins = self._instalments_in(asker, start, end)
        ids = {i["id"] for i in ins}
        expected = sum((i["amount"] for i in ins), Decimal(0))
        line_day = {ln["txn_id"]: ln["paid_on"] for ln in self.dd.lines}
        received = sum(
            (
                a["amount"]
                for a in self.dd.allocations
                if a["instalment_id"] in ids and start <= line_day[a["txn_id"]] < end
            ),
            Decimal(0),
        )
        part = g.get("part", "difference")
        value = {"difference": expected - received, "expected": expected, "received": received}[part]
        return {"kind": "figure", "value": value, "out_of_scope": False}

    def g_due(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        s = self.clock.resolve(g["period"])
        if s is None:
            raise GoldError("due needs a period")
        ins = [
            i
            for i in self.dd.instalments
            if i["due_on"] is not None
            and s.has_date(i["due_on"])
            and self._contract_seen(asker, i["contract_no"])
        ]
        return {"kind": "figure", "value": sum((i["amount"] for i in ins), Decimal(0)), "out_of_scope": False}


_ORACLES: dict[tuple[int, int, str], OracleDomains] = {}


def oracle_for(ds: Dataset, dd: Domains, now: datetime) -> OracleDomains:
    key = (id(ds), id(dd), now.isoformat())
    if key not in _ORACLES:
        _ORACLES[key] = OracleDomains(ds, dd, now)
    return _ORACLES[key]


def score(
    answer: dict[str, Any],
    case: dict[str, Any],
    ds: Dataset,
    dd: Domains,
    default_now: datetime = DEFAULT_NOW,
) -> tuple[bool, str]:
    """Score one `ask --json` answer against a domain case: (passed, why not)."""
    if answer.get("asked_by") not in (None, case["as"]):
        return False, "asked_by is not the asker"
    if not answer.get("scope"):
        return False, "the answer must say whose scope it was (scope)"
    o = oracle_for(ds, dd, case_now(case, default_now))
    spec = case["gold"]
    if spec["fn"] == "any_of" and not answer.get("alternatives"):
        return False, "an ambiguous question must list its other readings under `alternatives`"
    specs = [spec["readings"][spec.get("primary", 0)]] if spec["fn"] == "any_of" else [spec]
    kinds = {case["kind"], *case.get("accept_kinds", [])}
    why = ""
    for sp in specs:
        gold = o.evaluate(sp, case["as"])
        if gold["kind"] == "records":
            good, why = _records_ok(answer, gold, case, kinds)
        else:
            good, why = oracle_v2._check(answer, gold, case, o, sp, kinds)
        if good:
            return True, ""
    return False, why


def _records_ok(
    ans: dict[str, Any], gold: dict[str, Any], case: dict[str, Any], kinds: set[str]
) -> tuple[bool, str]:
    if ans.get("kind") not in kinds:
        return False, f"kind {ans.get('kind')!r} not in {sorted(kinds)}"
    rows = [r for r in ans.get("rows") or [] if isinstance(r, dict)]
    got = [r.get(gold["field"]) for r in rows]
    if len(set(got)) != len(got):
        return False, "a row appears twice"
    if set(got) != set(gold["ids"]):
        extra, missing = set(got) - gold["ids"], gold["ids"] - set(got)
        return (
            False,
            f"rows differ: extra {sorted(map(str, extra))[:5]} missing {sorted(map(str, missing))[:5]}",
        )
    return True, ""
