"""Gold answers for the v2 evaluation set (cases.yaml), computed in plain Python over the dataset rows.

Written from spec/nlq-semantics.md alone ("Version 2" sections), never from nlq/: no SQL, no import of nlq.*.
The v1 oracle (tests/nlq/oracle.py) is reused for what v1 already defines: the scope walk over the
reporting tree, the SLA timeout rule and the complete-visit rule.

A case's `gold` is a dict with `fn` and parameters; `OracleV2(ds, now).evaluate(gold, asker)` returns the
gold answer (see README.md for the vocabulary). Periods are written as tokens, never as the question's words:

  today yesterday day_before | this_week last_week week_before_last | this_month last_month month_before_last
  this_quarter last_quarter | this_year last_year year_before_last | ytd mtd | all (or absent)
  last:7d last:72h last:2w last:1m           rolling: now minus the span, to now (both ends included)
  month:M[@Y]  day:M-D[@Y]  dom:D  quarter:Q[@Y]  half:1|2[@Y]  first_months:N[@Y]  year:YYYY
      without @Y the spec's year rule applies (this year if that part has begun, else last year);
      Y is this | last | prev2 | YYYY
  range:A..B                                from the start of A to the end of B
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from core.clock import SHANGHAI, parse_time
from tests.nlq.dataset import NOW, Dataset
from tests.nlq.oracle import STAGES, STANDARD_TAGS, UNITS
from tests.nlq.oracle import Oracle as V1Oracle

DEFAULT_NOW = NOW  # 2026-11-23 09:00 Asia/Shanghai, a Monday
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "=": operator.eq}

VISIT_MEASURES = {"visits", "complete_visits", "complete_rate", "visited_customers", "abnormal_checkins"}
ORDER_MEASURES = {"sales", "order_count", "avg_order_value"}
OPP_MEASURES = {"opportunities", "funnel", "win_rate", "opp_amount"}
TICKET_MEASURES = {"tickets"}
CONTRACT_MEASURES = {"contracts", "contract_amount", "outstanding", "overdue_amount", "overdue_contracts"}
PAYMENT_MEASURES = {"received"}
CUSTOMER_MEASURES = {"customer_count", "new_customers", "lost_customers", "freshness", "overdue_customers"}
ALL_MEASURES = (
    VISIT_MEASURES
    | ORDER_MEASURES
    | OPP_MEASURES
    | TICKET_MEASURES
    | CONTRACT_MEASURES
    | PAYMENT_MEASURES
    | CUSTOMER_MEASURES
)
RATES = {"complete_rate", "funnel", "win_rate", "freshness", "avg_order_value"}
MONEY = {"sales", "contract_amount", "opp_amount", "received", "outstanding", "overdue_amount"}
OVERVIEW_FIGURES = ("拜访数", "拜访完整率", "客户信息鲜度", "销售额")
MANAGER_ROLES = ("regional_manager", "sales_director", "finance_director", "admin")


class GoldError(Exception):
    """A gold reference that cannot be computed (unknown fn, measure, period token, user...)."""


# --- time ----------------------------------------------------------------------------------------------
def sh(d: date) -> datetime:
    return datetime.combine(d, time(0), SHANGHAI)


def add_months(d: date, k: int) -> date:
    idx = d.year * 12 + d.month - 1 + k
    return date(idx // 12, idx % 12 + 1, 1)


def minus_year(d: date, years: int = 1) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 Feb
        return d.replace(year=d.year - years, day=28)


@dataclass
class Span:
    """[lo, hi) or [lo, hi]; `unit` is the kind of period (for 环比 / 同比), `running` once it reaches now."""

    lo: datetime
    hi: datetime
    hi_closed: bool = False
    lo_open: bool = False
    unit: str = "custom"
    running: bool = False
    whole_days: bool = (
        False  # the alternative reading: a date row counts if its date falls in the window at all
    )

    def has(self, at: datetime) -> bool:
        lo_ok = at > self.lo if self.lo_open else at >= self.lo
        hi_ok = at <= self.hi if self.hi_closed else at < self.hi
        return lo_ok and hi_ok

    def has_date(
        self, d: date
    ) -> bool:  # a date-stamped row sits at 00:00 Shanghai of its date (as v1's oracle)
        if self.whole_days and self.unit == "rolling":
            return self.lo.astimezone(SHANGHAI).date() <= d <= self.hi.astimezone(SHANGHAI).date()
        return self.has(sh(d))

    def words(self) -> str:
        end = "]" if self.hi_closed else ")"
        return f"[{self.lo.astimezone(SHANGHAI):%Y-%m-%d %H:%M}, {self.hi.astimezone(SHANGHAI):%Y-%m-%d %H:%M}{end}"


def _span_td(text: str) -> timedelta:
    return int(text[:-1]) * UNITS[text[-1]]


class Clock:
    def __init__(self, now: datetime, whole_days: bool = False):
        self.now = now
        self.whole_days = whole_days
        self.local = now.astimezone(SHANGHAI)
        self.today = self.local.date()

    def year_of(self, spec: str | None) -> int | None:
        if spec is None:
            return None
        rel = {"this": 0, "last": 1, "prev2": 2}
        return self.today.year - rel[spec] if spec in rel else int(spec)

    def cal(self, lo: date, hi: date, unit: str) -> Span:
        s = Span(sh(lo), sh(hi), unit=unit)
        s.running = s.lo <= self.now < s.hi
        return s

    def month(self, y: int, m: int) -> Span:
        d = date(y, m, 1)
        return self.cal(d, add_months(d, 1), "month")

    def quarter(self, y: int, q: int) -> Span:
        d = date(y, 3 * (q - 1) + 1, 1)
        return self.cal(d, add_months(d, 3), "quarter")

    def half(self, y: int, h: int) -> Span:
        d = date(y, 1 if h == 1 else 7, 1)
        return self.cal(d, add_months(d, 6), "half")

    def resolve(self, tok: Any) -> Span | None:
        if tok in (None, "all"):
            return None
        if not isinstance(tok, str):
            raise GoldError(f"period token must be a string: {tok!r}")
        t, today = tok.strip(), self.today
        if t.startswith("range:"):
            a, b = t[6:].split("..")
            sa, sb = self.resolve(a), self.resolve(b)
            s = Span(sa.lo, sb.hi, hi_closed=sb.hi_closed, unit="custom")
            s.running = s.lo <= self.now < s.hi
            return s
        if t.startswith("last:"):
            return Span(
                self.now - _span_td(t[5:]),
                self.now,
                hi_closed=True,
                unit="rolling",
                whole_days=self.whole_days,
            )
        base, _, at = t.partition("@")
        y = self.year_of(at or None)
        monday = today - timedelta(days=today.weekday())
        mstart = today.replace(day=1)
        qstart = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        simple = {
            "today": (today, today + timedelta(1), "day"),
            "yesterday": (today - timedelta(1), today, "day"),
            "day_before": (today - timedelta(2), today - timedelta(1), "day"),
            "this_week": (monday, monday + timedelta(7), "week"),
            "last_week": (monday - timedelta(7), monday, "week"),
            "week_before_last": (monday - timedelta(14), monday - timedelta(7), "week"),
            "this_month": (mstart, add_months(mstart, 1), "month"),
            "last_month": (add_months(mstart, -1), mstart, "month"),
            "month_before_last": (add_months(mstart, -2), add_months(mstart, -1), "month"),
            "this_quarter": (qstart, add_months(qstart, 3), "quarter"),
            "last_quarter": (add_months(qstart, -3), qstart, "quarter"),
            "this_year": (date(today.year, 1, 1), date(today.year + 1, 1, 1), "year"),
            "last_year": (date(today.year - 1, 1, 1), date(today.year, 1, 1), "year"),
            "year_before_last": (date(today.year - 2, 1, 1), date(today.year - 1, 1, 1), "year"),
        }
        if base in simple:
            lo, hi, unit = simple[base]
            return self.cal(lo, hi, unit)
        if base == "ytd":
            return Span(sh(date(today.year, 1, 1)), self.now, hi_closed=True, unit="year", running=True)
        if base == "mtd":
            return Span(sh(mstart), self.now, hi_closed=True, unit="month", running=True)
        kind, _, arg = base.partition(":")
        if kind == "year":
            return self.cal(date(int(arg), 1, 1), date(int(arg) + 1, 1, 1), "year")
        if kind == "month":
            m = int(arg)
            if y is None:
                y = today.year if date(today.year, m, 1) <= today else today.year - 1
            return self.month(y, m)
        if kind == "day":
            m, d = (int(x) for x in arg.split("-"))
            if y is None:
                y = today.year if date(today.year, m, d) <= today else today.year - 1
            dd = date(y, m, d)
            return self.cal(dd, dd + timedelta(1), "day")
        if kind == "dom":
            dd = today.replace(day=int(arg))
            return self.cal(dd, dd + timedelta(1), "day")
        if kind == "quarter":
            q = int(arg)
            if y is None:
                y = today.year if date(today.year, 3 * (q - 1) + 1, 1) <= today else today.year - 1
            return self.quarter(y, q)
        if kind == "half":
            h = int(arg)
            if y is None:  # 上半年: this year; 下半年: last year's while this year's has not begun
                y = today.year if h == 1 or date(today.year, 7, 1) <= today else today.year - 1
            return self.half(y, h)
        if kind == "first_months":
            n = int(arg)
            yy = y if y is not None else today.year
            return self.cal(date(yy, 1, 1), add_months(date(yy, 1, 1), n), "custom")
        raise GoldError(f"unknown period token {tok!r}")

    # --- comparisons --------------------------------------------------------------------------------
    def _shift_start(self, s: Span, ref: str) -> datetime:
        lo_d = s.lo.astimezone(SHANGHAI).date()
        if ref == "yoy":
            return sh(minus_year(lo_d))
        if s.unit == "rolling":
            return s.lo - (s.hi - s.lo)
        steps = {"day": timedelta(1), "week": timedelta(7)}
        if s.unit in steps:
            return sh(lo_d - steps[s.unit])
        months = {"month": 1, "quarter": 3, "half": 6, "year": 12}
        if s.unit in months:
            return sh(add_months(lo_d, -months[s.unit]))
        raise GoldError(f"no previous period of the same kind for a {s.unit} period")

    def compare(self, s: Span, ref: str) -> tuple[Span, Span]:
        """(this period, reference period); a running period is compared like for like up to the same elapsed time."""
        plo = self._shift_start(s, ref)
        if s.running:
            cur = Span(s.lo, self.now, hi_closed=True, unit=s.unit)
            return cur, Span(plo, plo + (self.now - s.lo), hi_closed=True, unit=s.unit)
        if s.unit == "rolling":
            return s, Span(plo, s.lo, unit="rolling", whole_days=self.whole_days)
        if ref == "yoy":
            return s, Span(plo, sh(minus_year(s.hi.astimezone(SHANGHAI).date())), unit=s.unit)
        return s, Span(plo, s.lo, unit=s.unit)

    def buckets(self, unit: str, n: int) -> list[tuple[str, Span]]:
        out = []
        if unit == "week":
            mon = self.today - timedelta(days=self.today.weekday())
            for i in range(n - 1, -1, -1):
                d = mon - timedelta(7 * i)
                out.append((d.isoformat(), self.cal(d, d + timedelta(7), "week")))
        elif unit == "month":
            m0 = self.today.replace(day=1)
            for i in range(n - 1, -1, -1):
                d = add_months(m0, -i)
                out.append((f"{d:%Y-%m}", self.cal(d, add_months(d, 1), "month")))
        else:
            raise GoldError(f"unknown trend unit {unit!r}")
        return out


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def _as_list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, (list, tuple, set)) else [v]


def _num(v: Any) -> Any:
    if isinstance(v, Decimal):
        return round(float(v), 2)
    return v


# --- the oracle ----------------------------------------------------------------------------------------
class OracleV2(V1Oracle):
    def __init__(self, ds: Dataset, now: datetime = DEFAULT_NOW, *, whole_days: bool = False):
        super().__init__(ds, now)
        self.clock = Clock(now, whole_days)
        # payments → the contract whose number appears first in the memo (a payment counts once)
        self.contract_of_payment: dict[str, str] = {}
        self.paid_to: dict[str, Decimal] = defaultdict(Decimal)
        nos = [k["contract_no"] for k in ds.contracts]
        for p in ds.payments:
            memo = p["memo"] or ""
            hits = [(memo.find(no), no) for no in nos if no in memo]
            if hits:
                no = min(hits)[1]
                self.contract_of_payment[p["txn_id"]] = no
                self.paid_to[no] += p["amount"]
        self.contract = {k["contract_no"]: k for k in ds.contracts}
        self._stub = {
            "customer_id": "",
            "status": "active",
            "region": None,
            "city": None,
            "channel": None,
            "nps": None,
            "lost_on": None,
            "created_on": None,
        }
        self.payments_of_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in ds.payments:
            no = self.contract_of_payment.get(p["txn_id"])
            if no:
                self.payments_of_customer[self.contract[no]["customer_id"]].append(p)

    # --- basic definitions (v2) ------------------------------------------------------------------------
    def matched(self, k: dict[str, Any]) -> Decimal:
        return self.paid_to.get(k["contract_no"], Decimal(0))

    def outstanding_of(self, k: dict[str, Any]) -> Decimal:
        return max(Decimal(0), k["amount"] - self.matched(k))

    def is_overdue(self, k: dict[str, Any]) -> bool:
        return k["due_on"] < self.today and self.matched(k) < k["amount"]

    def overdue_days(self, k: dict[str, Any]) -> int:
        return (self.today - k["due_on"]).days

    def days_since(self, d: date) -> int:
        return (self.today - d).days

    def abnormal(self, v: dict[str, Any]) -> bool:
        c = self.customers[v["customer_id"]]
        if None in (v.get("lat"), v.get("lng"), c.get("lat"), c.get("lng")):
            return False
        return haversine_m(float(v["lat"]), float(v["lng"]), float(c["lat"]), float(c["lng"])) > 300

    def last_touch(self, cid: str) -> datetime | None:
        ts = self.touches(cid, "any")
        return max(ts) if ts else None

    def team_of(self, uid: str) -> str:
        """The nearest supervisor at or above uid; a rep without one goes under their nearest manager."""
        u = self.users[uid]
        cur: dict[str, Any] | None = u
        while cur is not None:
            if cur["role"] == "supervisor":
                return cur["userid"]
            if cur["role"] in MANAGER_ROLES:
                break
            cur = self.users.get(cur["manager_userid"]) if cur["manager_userid"] else None
        if u["role"] == "rep" and u["manager_userid"]:
            return u["manager_userid"]
        return uid

    def teams_nested(self, uid: str) -> list[str]:
        """The other reading of 团队: every supervisor at or above uid (a supervisor's group is everyone below
        them at any depth); with none, the same fallback as team_of."""
        out, cur = [], self.users[uid]
        while cur is not None:
            if cur["role"] == "supervisor":
                out.append(cur["userid"])
            cur = self.users.get(cur["manager_userid"]) if cur["manager_userid"] else None
        return out or [self.team_of(uid)]

    def visible_tree(self, uid: str) -> set[str]:
        """uid and everyone below them in the reporting tree, whatever their role."""
        seen, frontier = {uid}, [uid]
        while frontier:
            boss = frontier.pop()
            for u in self.ds.users:
                if u["manager_userid"] == boss and u["userid"] not in seen:
                    seen.add(u["userid"])
                    frontier.append(u["userid"])
        return seen

    def reps_in_scope(self, asker: str) -> list[str]:
        vis = self.visible(asker)
        return [
            u["userid"] for u in self.ds.users if u["role"] == "rep" and (vis is None or u["userid"] in vis)
        ]

    def scoped(self, asker: str) -> list[dict[str, Any]]:
        vis = self.visible(asker)
        return [c for c in self.ds.customers if vis is None or c["owner_userid"] in vis]

    # --- scope of named things -------------------------------------------------------------------------
    def outside(self, asker: str, where: dict[str, Any], p: dict[str, Any]) -> bool:
        """Does the question name a person, city or region outside the asker's scope?"""
        vis = self.visible(asker)
        named = (
            _as_list(where.get("owner", []))
            + _as_list(where.get("team", []))
            + _as_list(where.get("under", []))
            + _as_list(p.get("rep", []))
        )
        for uid in named:
            if uid not in self.users:
                raise GoldError(f"unknown userid {uid!r}")
            if vis is not None and uid not in vis:
                return True
        scoped = self.scoped(asker)
        for key in ("region", "city"):
            if key in where and not any(c[key] in _as_list(where[key]) for c in scoped):
                return True
        return False

    # --- customer conditions ---------------------------------------------------------------------------
    def default_status(self, measure: str | None, listing: bool) -> str:
        if measure == "new_customers" or measure == "lost_customers":
            return "all" if measure == "new_customers" else "lost"
        if listing or measure in ("customer_count", "freshness", "overdue_customers"):
            return "active"
        return "all"

    def customer_ok(self, c: dict[str, Any], w: dict[str, Any], default_status: str) -> bool:  # type: ignore[override]
        status = w.get("status", default_status)
        if status != "all" and c["status"] != status:
            return False
        for key, col in (
            ("region", "region"),
            ("city", "city"),
            ("channel", "channel"),
            ("owner", "owner_userid"),
        ):
            if key in w and c[col] not in _as_list(w[key]):
                return False
        if "team" in w and self.team_of(c["owner_userid"]) not in _as_list(w["team"]):
            return False
        if "under" in w:  # everyone below X at any depth, and X
            below: set[str] = set()
            for x in _as_list(w["under"]):
                below |= self.visible_tree(x)
            if c["owner_userid"] not in below:
                return False
        for op, val in w.get("nps", []):
            if c["nps"] is None or not OPS[op](c["nps"], val):
                return False
        if "lost_in" in w:
            s = self.clock.resolve(w["lost_in"])
            if not (c["status"] == "lost" and c["lost_on"] and (s is None or s.has_date(c["lost_on"]))):
                return False
        if "new_in" in w:
            s = self.clock.resolve(w["new_in"])
            if not (c["created_on"] and (s is None or s.has_date(c["created_on"]))):
                return False
        rows = self.by_customer[c["customer_id"]]
        if "tag" in w:
            for t in _as_list(w["tag"]):
                tag, per = (t["tag"], t.get("period")) if isinstance(t, dict) else (t, None)
                s = self.clock.resolve(per)
                if not any(
                    tag in self.ds.tags_of(v["visit_id"]) and (s is None or s.has(v["checked_in_at"]))
                    for v in rows["visits"]
                ):
                    return False
        if "untouched" in w:  # X未更新 / 没跟进 / 无互动 for a span
            u = w["untouched"]
            span = _span_td(u["span"])
            lo = self.now - span
            if sh(c["created_on"]) > lo:  # created less than that span ago: not yet had the time
                return False
            lo_open = u.get("lo_open", False)
            kind = u.get("kind", "any")
            for at in self.touches(c["customer_id"], kind):
                if (at > lo if lo_open else at >= lo) and at <= self.now:
                    return False
        if "touched_in" in w:
            s = self.clock.resolve(w["touched_in"]["period"])
            kind = w["touched_in"].get("kind", "any")
            hit = any(s is None or s.has(at) for at in self.touches(c["customer_id"], kind))
            if hit != w["touched_in"].get("present", True):
                return False
        if "ordered" in w:
            o = w["ordered"]
            s = self.clock.resolve(o.get("period"))
            hit = any(
                (o.get("category") is None or r["category"] == o["category"])
                and (s is None or s.has_date(r["ordered_on"]))
                for r in rows["orders"]
            )
            if hit != o.get("present", True):
                return False
        if "overdue" in w:
            o = w["overdue"] if isinstance(w["overdue"], dict) else {}
            s = self.clock.resolve(o.get("period"))
            ks = [
                k for k in rows["contracts"] if self.is_overdue(k) and (s is None or s.has_date(k["due_on"]))
            ]
            if "days_gt" in o:
                ks = [k for k in ks if self.overdue_days(k) > o["days_gt"]]
            if not ks:
                return False
        if "timeout" in w:
            s = self.clock.resolve(w["timeout"] if w["timeout"] is not True else None)
            if not any(self.timed_out(t) and (s is None or s.has(t["opened_at"])) for t in rows["tickets"]):
                return False
        if "unhandled" in w:
            if not any(t["responded_at"] is None for t in rows["tickets"]):
                return False
        if "stuck" in w:
            st = w["stuck"]
            if not any(
                p["stage"] == st["stage"] and self.days_since(p["entered_on"]) > st["days_gt"]
                for p in rows["opportunities"]
            ):
                return False
        for th in w.get("thresholds", []):
            total = self.customer_total(c, th)
            if not OPS[th["op"]](total, th["value"]):
                return False
        return True

    def customer_total(self, c: dict[str, Any], th: dict[str, Any]) -> Any:
        s = self.clock.resolve(th.get("period"))
        fig = self.figure(th["measure"], self.items(th["measure"], [c], s, th), th)
        v = fig["value"]
        return 0 if v is None else v

    # --- items and figures -----------------------------------------------------------------------------
    def items(
        self,
        m: str,
        custs: list[dict[str, Any]],
        s: Span | None,  # type: ignore[override]
        p: dict[str, Any],
    ) -> list[tuple[dict[str, Any], Any]]:
        if m not in ALL_MEASURES:
            raise GoldError(f"unknown measure {m!r}")
        out: list[tuple[dict[str, Any], Any]] = []
        reps = set(_as_list(p["rep"])) if p.get("rep") else None
        for c in custs:
            rows = self.by_customer[c["customer_id"]]
            if m in VISIT_MEASURES:
                for v in rows["visits"]:
                    if s and not s.has(v["checked_in_at"]):
                        continue
                    if reps and v["rep_userid"] not in reps:
                        continue
                    if p.get("vtag") and p["vtag"] not in self.ds.tags_of(v["visit_id"]):
                        continue
                    out.append((c, v))
            elif m in ORDER_MEASURES:
                out += [
                    (c, o)
                    for o in rows["orders"]
                    if (not s or s.has_date(o["ordered_on"]))
                    and (not p.get("category") or o["category"] == p["category"])
                ]
            elif m in OPP_MEASURES:
                for o in rows["opportunities"]:
                    if s and not s.has_date(o["entered_on"]):
                        continue
                    if p.get("stage") and o["stage"] not in _as_list(p["stage"]):
                        continue
                    if (
                        p.get("stuck_days_gt") is not None
                        and self.days_since(o["entered_on"]) <= p["stuck_days_gt"]
                    ):
                        continue
                    if m == "win_rate" and o["stage"] not in ("won", "lost"):
                        continue
                    out.append((c, o))
            elif m in TICKET_MEASURES:
                out += [
                    (c, t)
                    for t in rows["tickets"]
                    if (not s or s.has(t["opened_at"]))
                    and (not p.get("timeout_only") or self.timed_out(t))
                    and (not p.get("unhandled") or t["responded_at"] is None)
                ]
            elif m in ("contracts", "contract_amount"):
                out += [(c, k) for k in rows["contracts"] if not s or s.has_date(k["signed_on"])]
            elif m == "outstanding":
                out += [
                    (c, k) for k in rows["contracts"] if (not p.get("overdue_only") or self.is_overdue(k))
                ]
            elif m in ("overdue_amount", "overdue_contracts"):
                out += [
                    (c, k)
                    for k in rows["contracts"]
                    if self.is_overdue(k)
                    and (not s or s.has_date(k["due_on"]))
                    and (p.get("days_gt") is None or self.overdue_days(k) > p["days_gt"])
                ]
            elif m == "received":
                out += [
                    (c, pay)
                    for pay in self.payments_of_customer[c["customer_id"]]
                    if not s or s.has_date(pay["paid_on"])
                ]
            elif m == "new_customers":
                if c["created_on"] and (not s or s.has_date(c["created_on"])):
                    out.append((c, c))
            elif m == "lost_customers":
                if c["status"] == "lost" and c["lost_on"] and (not s or s.has_date(c["lost_on"])):
                    out.append((c, c))
            elif m == "overdue_customers":
                ks = [
                    k
                    for k in rows["contracts"]
                    if self.is_overdue(k)
                    and (not s or s.has_date(k["due_on"]))
                    and (p.get("days_gt") is None or self.overdue_days(k) > p["days_gt"])
                ]
                if ks:
                    out.append((c, c))
            else:  # customer_count, freshness
                out.append((c, c))
        return out

    def figure(self, m: str, items: list[tuple[dict[str, Any], Any]], p: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        if m == "complete_rate":
            return self.rate(sum(1 for _, v in items if self.complete(v)), len(items))
        if m == "complete_visits":
            return {"value": sum(1 for _, v in items if self.complete(v))}
        if m == "visited_customers":
            return {"value": len({c["customer_id"] for c, _ in items})}
        if m == "abnormal_checkins":
            return {"value": sum(1 for _, v in items if self.abnormal(v))}
        if m == "freshness":
            fresh = Span(self.now - timedelta(days=30), self.now, hi_closed=True)
            num = sum(1 for c, _ in items if any(fresh.has(t) for t in self.touches(c["customer_id"], "any")))
            return self.rate(num, len(items))
        if m == "funnel":
            return self.rate(
                sum(1 for _, o in items if o["stage"] in ("quoted", "negotiating", "won")), len(items)
            )
        if m == "win_rate":
            return self.rate(sum(1 for _, o in items if o["stage"] == "won"), len(items))
        if m == "avg_order_value":
            total = sum((o["amount"] for _, o in items), Decimal(0))
            n = len(items)
            return {
                "value": round(float(total) / n, 2) if n else None,
                "numerator": _num(total),
                "denominator": n,
            }
        if m in ("sales", "contract_amount", "opp_amount", "received"):
            return {"value": _num(sum((r["amount"] for _, r in items), Decimal(0)))}
        if m in ("outstanding", "overdue_amount"):
            return {"value": _num(sum((self.outstanding_of(k) for _, k in items), Decimal(0)))}
        return {"value": len(items)}

    def measure(
        self, m: str, custs: list[dict[str, Any]], s: Span | None, p: dict[str, Any]
    ) -> dict[str, Any]:
        return self.figure(m, self.items(m, custs, s, p), p)

    # --- evaluation ------------------------------------------------------------------------------------
    def evaluate(self, gold: dict[str, Any], asker: str) -> dict[str, Any]:
        if asker not in self.users:
            raise GoldError(f"unknown asker {asker!r}")
        fn = gold.get("fn")
        handler = getattr(self, f"g_{fn}", None)
        if handler is None:
            raise GoldError(f"unknown gold fn {fn!r}")
        return handler(gold, asker)

    def _custs(self, g: dict[str, Any], asker: str, measure: str | None, listing: bool) -> tuple[list, bool]:
        where = g.get("where", {})
        if self.outside(asker, where, g):
            return [], True
        st = self.default_status(measure, listing)
        return [c for c in self.scoped(asker) if self.customer_ok(c, where, st)], False

    def g_figure(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        m = g["measure"]
        custs, oos = self._custs(g, asker, m, False)
        s = self.clock.resolve(g.get("period"))
        return {
            "kind": "figure",
            **self.measure(m, custs, s, g),
            "out_of_scope": oos,
            "period": s.words() if s else "全部时间",
        }

    def g_list(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        custs, oos = self._custs(g, asker, g.get("measure"), True)
        where = g.get("where", {})
        rank = g.get("rank")
        limit = g.get("limit")
        values: dict[str, Any] = {}
        order = None
        if rank:
            by = rank["by"]
            if by == "nps":
                custs = [c for c in custs if c["nps"] is not None]
                values = {c["customer_id"]: c["nps"] for c in custs}
            elif by == "overdue_days":
                values = {
                    c["customer_id"]: max(
                        (
                            self.overdue_days(k)
                            for k in self.by_customer[c["customer_id"]]["contracts"]
                            if self.is_overdue(k)
                        ),
                        default=0,
                    )
                    for c in custs
                }
            elif by == "last_touch":
                order = "untouched"
            else:
                values = {c["customer_id"]: self.customer_total(c, {**rank, "measure": by}) for c in custs}
            if order is None:
                order = "desc" if rank.get("desc", True) else "asc"
        elif where.get("thresholds"):
            th = where["thresholds"][0]
            values = {c["customer_id"]: self.customer_total(c, th) for c in custs}
            order = "desc" if th["op"] in (">", ">=") else "asc"
        elif "untouched" in where:
            order = "untouched"
        elif "overdue" in where and isinstance(where["overdue"], dict) and "days_gt" in where["overdue"]:
            values = {
                c["customer_id"]: max(
                    self.overdue_days(k)
                    for k in self.by_customer[c["customer_id"]]["contracts"]
                    if self.is_overdue(k)
                )
                for c in custs
            }
            order = "desc"
        if order == "untouched":
            lt = {c["customer_id"]: self.last_touch(c["customer_id"]) for c in custs}
            values = {k: (v.isoformat() if v else None) for k, v in lt.items()}
            ids = sorted(lt, key=lambda k: (lt[k] is not None, lt[k] or self.now, k))
        elif order:
            sign = -1 if order == "desc" else 1
            ids = sorted(values, key=lambda k: (sign * values[k], k))
        else:
            ids = sorted(c["customer_id"] for c in custs)
        all_values = {k: _num(v) for k, v in values.items()}
        if limit:
            ids = ids[:limit]
        return {
            "kind": "list",
            "ids": ids,
            "values": {k: all_values.get(k) for k in ids} if values else {},
            "all_values": all_values,
            "order": order,
            "limit": limit,
            "count": len(ids),
            "out_of_scope": oos,
        }

    def keys_for(self, key: str, m: str, c: dict[str, Any], row: Any) -> list[Any]:
        if key in ("region", "city", "channel"):
            return [c[key]]
        if key in ("rep", "team", "team_nested"):
            uid = row["rep_userid"] if m in VISIT_MEASURES else c["owner_userid"]
            if key == "rep":
                return [uid]
            return [self.team_of(uid)] if key == "team" else self.teams_nested(uid)
        if key == "tag":
            if m not in VISIT_MEASURES:
                raise GoldError("tags group visits only")
            return list(self.ds.tags_of(row["visit_id"]))
        if key == "category":
            return [row["category"]]
        if key == "stage":
            return [row["stage"]]
        if key == "customer":
            return [c["customer_id"]]
        raise GoldError(f"unknown group key {key!r}")

    def domain(self, key: str, asker: str, custs: list[dict[str, Any]] | None = None) -> list[Any]:  # type: ignore[override]
        if key == "rep":
            return self.reps_in_scope(asker)
        if key in ("team", "team_nested"):
            vis = self.visible(asker)
            uids = [u["userid"] for u in self.ds.users if vis is None or u["userid"] in vis]
            sups = [u for u in uids if self.users[u]["role"] == "supervisor"]
            fallback = [self.team_of(u) for u in uids if self.users[u]["role"] == "rep"]
            return sorted(set(sups) | set(fallback))
        if key in ("region", "city", "channel"):
            pool = custs if custs is not None else self.scoped(asker)
            return sorted({c[key] for c in pool if c[key] is not None})
        if key == "tag":
            return list(STANDARD_TAGS)
        if key == "stage":
            return list(STAGES)
        if key == "customer":
            return []
        if key == "category":
            return sorted(
                {
                    o["category"]
                    for c in self.scoped(asker)
                    for o in self.by_customer[c["customer_id"]]["orders"]
                    if o["category"] is not None
                }
            )
        raise GoldError(f"unknown group key {key!r}")

    def grouped(
        self,
        m: str,
        key: str,
        custs: list[dict[str, Any]],
        s: Span | None,
        g: dict[str, Any],
        asker: str,
        domain_custs: list[dict[str, Any]],
    ) -> dict[Any, dict[str, Any]]:
        buckets: dict[Any, list[tuple[dict[str, Any], Any]]] = defaultdict(list)
        for c, row in self.items(m, custs, s, g):
            for k in self.keys_for(key, m, c, row):
                buckets[k].append((c, row))
        dom = self.domain(key, asker, domain_custs)
        return {k: self.figure(m, buckets.get(k, []), g) for k in set(dom) | set(buckets)}

    @staticmethod
    def rank_keys(groups: dict[Any, dict[str, Any]], desc: bool, limit: int | None) -> list[Any]:
        # a null key (no channel / no category) is not a group that can be ranked
        vals = [(k, v["value"]) for k, v in groups.items() if v["value"] is not None and k is not None]
        nones = sorted((k for k, v in groups.items() if v["value"] is None and k is not None), key=str)
        vals.sort(key=lambda kv: ((-kv[1] if desc else kv[1]), kv[0] is None, str(kv[0])))
        return ([k for k, _ in vals] + nones)[:limit]

    def _domain_custs(self, g: dict[str, Any], asker: str) -> list[dict[str, Any]]:
        where = {k: v for k, v in g.get("where", {}).items() if k in ("region", "city", "channel", "owner")}
        return [c for c in self.scoped(asker) if self.customer_ok(c, where, "all")]

    def g_groups(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        m, key = g["measure"], g["group"]
        custs, oos = self._custs(g, asker, m, False)
        s = self.clock.resolve(g.get("period"))
        if key == "customer":
            raise GoldError("rank customers with fn: list")
        groups = {} if oos else self.grouped(m, key, custs, s, g, asker, self._domain_custs(g, asker))
        out: dict[str, Any] = {"kind": "groups", "groups": groups, "order": None, "out_of_scope": oos}
        if "rank" in g or "limit" in g:
            out["order"] = self.rank_keys(groups, g.get("rank", {}).get("desc", True), g.get("limit"))
            out["limit"] = g.get("limit")
        return out

    def g_trend(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        m, unit = g["measure"], g["unit"]
        n = g.get("n") or (8 if unit == "week" else 6)
        custs, oos = self._custs(g, asker, m, False)
        groups = {k: self.measure(m, custs, s, g) for k, s in self.clock.buckets(unit, n)}
        if "rank" in g or "limit" in g:  # 哪周 / 哪个月 … 最多: the buckets ranked by the figure
            order = self.rank_keys(groups, g.get("rank", {}).get("desc", True), g.get("limit"))
            return {
                "kind": "groups",
                "groups": groups,
                "order": order,
                "limit": g.get("limit"),
                "out_of_scope": oos,
            }
        return {"kind": "groups", "groups": groups, "order": list(groups), "out_of_scope": oos, "trend": True}

    @staticmethod
    def _cmp(cur: dict[str, Any], prev: dict[str, Any]) -> dict[str, Any]:
        v, pv = cur["value"], prev["value"]
        change = None if v is None or pv is None else round(v - pv, 6)
        rate = None if change is None or not pv else round(change / pv, 6)
        return {"value": v, "previous": pv, "change": change, "change_rate": rate}

    def g_comparison(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        m = g["measure"]
        s = self.clock.resolve(g["period"])
        if s is None:
            raise GoldError("a comparison needs a period")
        cur_s, prev_s = self.clock.compare(s, g.get("ref", "prev"))
        custs, oos = self._custs(g, asker, m, False)
        base = {"kind": "comparison", "out_of_scope": oos, "spans": [cur_s.words(), prev_s.words()]}
        if g.get("group"):
            dc = self._domain_custs(g, asker)
            cur = self.grouped(m, g["group"], custs, cur_s, g, asker, dc)
            prev = self.grouped(m, g["group"], custs, prev_s, g, asker, dc)
            zero = self.figure(m, [], g)
            rows = {k: self._cmp(cur.get(k, zero), prev.get(k, zero)) for k in set(cur) | set(prev)}
            out = {**base, "groups": rows, "order": None}
            if "rank" in g:  # e.g. 增长最快的大区: ranked by change (or change_rate)
                by = g["rank"].get("by", "change")
                vals = {k: {"value": r[by]} for k, r in rows.items()}
                out["order"] = self.rank_keys(vals, g["rank"].get("desc", True), g.get("limit"))
                out["limit"] = g.get("limit")
            return out
        return {**base, **self._cmp(self.measure(m, custs, cur_s, g), self.measure(m, custs, prev_s, g))}

    def g_overview(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        where = g.get("where", {})
        oos = self.outside(asker, where, g)
        s = self.clock.resolve(g.get("period"))
        allc = [] if oos else [c for c in self.scoped(asker) if self.customer_ok(c, where, "all")]
        active = [c for c in allc if c["status"] == "active"]
        figs = {
            "拜访数": self.measure("visits", allc, s, g),
            "拜访完整率": self.measure("complete_rate", allc, s, g),
            "客户信息鲜度": self.measure("freshness", active, None, {}),
            "销售额": self.measure("sales", allc, s, g),
        }
        return {"kind": "overview", "figures": figs, "out_of_scope": oos}

    def g_people(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        where = g.get("where", {})
        if self.outside(asker, where, g):
            return {
                "kind": "people",
                "rows": {},
                "all_values": {},
                "order": None,
                "ranked": False,
                "out_of_scope": True,
            }
        reps = self.reps_in_scope(asker)
        for key in ("owner", "under", "team"):  # 周杰手下谁… : the people are narrowed too
            if key in where:
                reps = [
                    u
                    for u in reps
                    if self.customer_ok({**self._stub, "owner_userid": u}, {key: where[key]}, "all")
                ]
        m = g.get("measure")
        s = self.clock.resolve(g.get("period"))
        custs = [c for c in self.scoped(asker) if self.customer_ok(c, where, self.default_status(m, False))]
        values: dict[str, Any] = {}
        if g.get("condition") == "no_visit":
            visited = {v["rep_userid"] for _, v in self.items("visits", custs, s, {})}
            rows = {u: None for u in reps if u not in visited}
            return {
                "kind": "people",
                "rows": rows,
                "all_values": dict(rows),
                "order": None,
                "ranked": False,
                "out_of_scope": False,
            }
        if m is None:
            raise GoldError("people needs a measure or condition")
        by: dict[str, list] = defaultdict(list)
        for c, row in self.items(m, custs, s, g):
            uid = row["rep_userid"] if m in VISIT_MEASURES else c["owner_userid"]
            by[uid].append((c, row))
        for u in reps:
            values[u] = self.figure(m, by.get(u, []), g)["value"]
        order = None
        th = g.get("threshold")
        if th:
            # a rate over nothing (null) satisfies no threshold; a count or sum over nothing is 0
            values = {u: v for u, v in values.items() if v is not None and OPS[th["op"]](v, th["value"])}
            desc = th["op"] in (">", ">=")
            order = self.rank_keys({u: {"value": v} for u, v in values.items()}, desc, None)
        all_values = {u: _num(v) for u, v in values.items()}
        if "rank" in g or "limit" in g:
            order = self.rank_keys(
                {u: {"value": v} for u, v in values.items()},
                g.get("rank", {}).get("desc", True),
                g.get("limit"),
            )
            values = {u: values[u] for u in order}
        return {
            "kind": "people",
            "rows": {u: _num(v) for u, v in values.items()},
            "all_values": all_values,
            "order": order,
            "limit": g.get("limit"),
            "ranked": "rank" in g,
            "out_of_scope": False,
        }

    def g_refusal(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        return {"kind": "refusal"}

    def g_any_of(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        readings = [self.evaluate(r, asker) for r in g["readings"]]
        if len(readings) < 2:
            raise GoldError("any_of needs two or more readings")
        return {"kind": "any_of", "readings": readings, "primary": g.get("primary")}

    def g_chat(self, g: dict[str, Any], asker: str) -> dict[str, Any]:
        route = g["route"]
        if route not in ("question", "visit_note", "ask_buttons"):
            raise GoldError(f"unknown chat route {route!r}")
        answer = self.evaluate(g["answer"], asker) if route == "question" else None
        return {"kind": "chat", "route": route, "answer": answer}


# --- scoring ------------------------------------------------------------------------------------------
def case_now(case: dict[str, Any], default: datetime = DEFAULT_NOW) -> datetime:
    return parse_time(case["now"]) if case.get("now") else default


_ORACLES: dict[tuple[int, str, bool], OracleV2] = {}


def oracle_for(ds: Dataset, now: datetime, whole_days: bool = False) -> OracleV2:
    key = (id(ds), now.isoformat(), whole_days)
    if key not in _ORACLES:
        _ORACLES[key] = OracleV2(ds, now, whole_days=whole_days)
    return _ORACLES[key]


def gold_of(case: dict[str, Any], ds: Dataset, default_now: datetime = DEFAULT_NOW) -> dict[str, Any]:
    return oracle_for(ds, case_now(case, default_now)).evaluate(case["gold"], case["as"])


def accepted_golds(
    case: dict[str, Any], ds: Dataset, default_now: datetime = DEFAULT_NOW
) -> list[tuple[dict[str, Any], OracleV2, dict[str, Any]]]:
    """(gold answer, oracle, gold spec) for every reading a passing answer may match: the case's gold, its
    `also_accept` readings (where the spec contradicts itself), and the whole-day reading of date-stamped rows
    on the first day of a rolling window (最近N天) - see README "Readings chosen"."""
    now = case_now(case, default_now)
    out = []
    for whole in (False, True):
        o = oracle_for(ds, now, whole)
        for spec in [case["gold"], *case.get("also_accept", [])]:
            ans = o.evaluate(spec, case["as"])
            if whole and any(repr(ans) == repr(a) for a, _, _ in out):
                continue
            out.append((ans, o, spec))
    return out


def _close(a: Any, b: Any, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        return abs(float(a) - float(b)) <= tol
    except (TypeError, ValueError):
        return False


def _tol(measure: str | None, field: str = "value") -> float:
    """Money to the cent (0.011), counts exactly (0.5 would be too loose: 0.011), rates to 0.0005."""
    if field == "change_rate":
        return 0.0005
    if measure in RATES and measure != "avg_order_value" and field in ("value", "previous", "change"):
        return 0.0005
    return 0.011


def _fig_ok(ans: dict[str, Any], gold: dict[str, Any], measure: str | None) -> tuple[bool, str]:
    if not _close(ans.get("value"), gold["value"], _tol(measure)):
        return False, f"value {ans.get('value')!r} != {gold['value']!r}"
    for k in ("numerator", "denominator"):
        if gold.get(k) is not None and not _close(ans.get(k), gold[k], 0.011):
            return False, f"{k} {ans.get(k)!r} != {gold[k]!r}"
    return True, ""


def _row_key(r: dict[str, Any]) -> Any:
    for k in ("key", "userid", "customer_id"):
        if k in r:
            return r[k]
    return None


def _sortable(v: Any) -> Any:
    return "" if v is None else v  # never-touched ("") sorts first in an untouched ranking


def _topn_ok(got: list[Any], all_vals: dict[Any, Any], n: int | None, desc: bool) -> tuple[bool, str]:
    """The first N by the figure, ties at the cut broken any way; every row up to N is shown."""
    ranked = sorted(
        (k for k in all_vals if k is not None and all_vals[k] is not None),
        key=lambda k: _sortable(all_vals[k]),
        reverse=desc,
    )
    ranked += [k for k in all_vals if k is not None and all_vals[k] is None]
    want = len(ranked) if n is None else min(n, len(ranked))
    if len(got) != want:
        return False, f"{len(got)} rows, expected {want}"
    if not want:
        return True, ""
    cut = all_vals[ranked[want - 1]]
    must = {k for k in ranked[:want] if all_vals[k] != cut}
    if not must <= set(got):
        return False, f"missing from the top {want}: {sorted(map(str, must - set(got)))[:5]}"
    bad = [k for k in got if k not in must and (k not in all_vals or all_vals[k] != cut)]
    if bad:
        return False, f"not in the top {want}: {bad[:5]}"
    return True, ""


def _ordered_ok(got: list[Any], vals: dict[Any, Any], desc: bool) -> bool:
    seq = [_sortable(vals[k]) for k in got if k in vals and vals[k] is not None]
    return all((a >= b) if desc else (a <= b) for a, b in zip(seq, seq[1:], strict=False))


def _empty_answer(ans: dict[str, Any]) -> bool:
    if ans.get("rows"):
        return all(not r.get("value") for r in ans["rows"] if isinstance(r, dict)) and not any(
            "customer_id" in r or "userid" in r for r in ans["rows"] if isinstance(r, dict)
        )
    return not ans.get("value")


def _check(
    ans: dict[str, Any],
    gold: dict[str, Any],
    case: dict[str, Any],
    o: OracleV2,
    spec: dict[str, Any],
    kinds: set[str],
) -> tuple[bool, str]:
    gkind = gold["kind"]
    if gkind == "refusal":
        if ans.get("kind") != "refusal":
            return False, f"kind {ans.get('kind')!r}, expected a refusal"
        if not ans.get("reason"):
            return False, "a refusal must say why (reason)"
        if ans.get("rows"):
            return False, "a refusal carries no rows"
        if not (ans.get("suggestion") or ans.get("alternatives")):
            return False, "a refusal must offer the nearest questions the layer can answer"
        return True, ""
    if gkind == "any_of":
        readings = list(zip(gold["readings"], spec["readings"], strict=True))
        if gold.get("primary") is not None:
            readings = [readings[gold["primary"]]]
        whys = []
        for r, rspec in readings:
            good, why = _check(ans, r, case, o, rspec, {_kind_of(rspec), *case.get("accept_kinds", [])})
            if good:
                return True, ""
            whys.append(why)
        return False, "no reading matched: " + " | ".join(whys)
    if gkind == "chat":
        if gold["route"] != "question":
            return False, "chat-only case (route visit_note / ask_buttons): score it with score_route()"
        return _check(ans, gold["answer"], case, o, spec["answer"], kinds)
    if gold.get("out_of_scope") and ans.get("kind") == "refusal" and "可见范围" in (ans.get("reason") or ""):
        # a person or place outside the scope may read exactly like a missing one (nlq/answer.py visible_vocab,
        # docs/nlq-semantics.md § Who may see what): refused with the scope hint, nothing shown
        return True, ""
    if ans.get("kind") not in kinds:
        return False, f"kind {ans.get('kind')!r} not in {sorted(kinds)}"
    rows = [r for r in (ans.get("rows") or []) if isinstance(r, dict)]
    scope = {c["customer_id"] for c in o.scoped(case["as"])}
    leaked = [r["customer_id"] for r in rows if "customer_id" in r and r["customer_id"] not in scope]
    if leaked:
        return False, f"rows outside the asker's scope: {leaked[:5]}"
    if gold.get("out_of_scope"):
        if not ans.get("reason"):
            return (
                False,
                "a question naming something outside the scope needs an empty answer with the reason",
            )
        if not _empty_answer(ans):
            return False, "a question naming something outside the scope must get an empty answer"
        return True, ""
    measure = spec.get("measure")
    if gkind == "figure":
        return _fig_ok(ans, gold, measure)
    if gkind == "list":
        got = [r.get("customer_id") for r in rows]
        if len(set(got)) != len(got):
            return False, "a customer appears twice"
        order = gold["order"]
        vals = gold["all_values"]
        if order == "untouched":  # never touched first (as ""), then the oldest last touch
            vals = {k: _sortable(v) for k, v in vals.items()}
        if order and gold["limit"]:
            good, why = _topn_ok(got, vals, gold["limit"], desc=(order == "desc"))
            if not good:
                return False, why
        elif set(got) != set(gold["ids"]):
            extra, missing = set(got) - set(gold["ids"]), set(gold["ids"]) - set(got)
            return False, f"rows differ: extra {sorted(extra)[:5]} missing {sorted(missing)[:5]}"
        if order in ("asc", "desc", "untouched") and not _ordered_ok(got, vals, order == "desc"):
            return False, f"rows not sorted ({order}) by the figure the question filtered or ranked on"
        return True, ""
    if gkind in ("groups", "comparison") and "groups" in gold:
        groups = {k: v for k, v in gold["groups"].items() if k is not None}
        by_key = {_row_key(r): r for r in rows if _row_key(r) is not None}
        got = [_row_key(r) for r in rows if _row_key(r) is not None]
        ranked = gold.get("order") is not None and not gold.get("trend")
        desc = spec.get("rank", {}).get("desc", True)
        if gold.get("trend"):
            if got != gold["order"]:
                return False, f"trend keys {got} != {gold['order']} (oldest first)"
        elif ranked:
            if gkind == "comparison":
                by = spec["rank"].get("by", "change")
                vals = {k: g[by] for k, g in groups.items()}
            else:
                vals = {k: g["value"] for k, g in groups.items()}
            good, why = _topn_ok(got, vals, gold.get("limit"), desc)
            if not good:
                return False, why
            if not _ordered_ok(got, vals, desc):
                return False, "groups not in ranking order"
        else:
            extra = [k for k in got if k not in groups]
            if extra:
                return False, f"groups that should not be there: {extra[:5]}"
        for k in got:
            g, r = groups.get(k), by_key[k]
            if g is None:
                return False, f"unexpected group {k!r}"
            if gkind == "comparison":
                for f in ("value", "previous", "change", "change_rate"):
                    if not _close(r.get(f), g[f], _tol(measure, f)):
                        return False, f"group {k!r} {f} {r.get(f)!r} != {g[f]!r}"
            else:
                good, why = _fig_ok(r, g, measure)
                if not good:
                    return False, f"group {k!r}: {why}"
        if not ranked and not gold.get("trend"):
            missing = [k for k in groups if k not in by_key]
            if missing:
                return False, f"groups missing (a group with nothing still appears with 0): {missing[:5]}"
        return True, ""
    if gkind == "comparison":
        for f in ("value", "previous", "change", "change_rate"):
            if not _close(ans.get(f), gold[f], _tol(measure, f)):
                return False, f"{f} {ans.get(f)!r} != {gold[f]!r}"
        return True, ""
    if gkind == "overview":
        by_fig = {r.get("figure"): r for r in rows}
        for name, g in gold["figures"].items():
            if name not in by_fig:
                return False, f"overview row {name} missing"
            good, why = _fig_ok(
                by_fig[name],
                g,
                {"拜访完整率": "complete_rate", "客户信息鲜度": "freshness"}.get(name, "sales"),
            )
            if not good:
                return False, f"overview {name}: {why}"
        return True, ""
    if gkind == "people":
        got = [r.get("userid", r.get("key")) for r in rows]
        reps = set(o.reps_in_scope(case["as"]))
        outside = [u for u in got if u not in reps]
        if outside:
            return False, f"people outside the asker's reps: {outside[:5]}"
        vals = gold["all_values"]
        desc = spec.get("rank", {}).get("desc", True)
        if gold.get("ranked"):
            if gold.get("limit"):
                good, why = _topn_ok(got, vals, gold["limit"], desc)
                if not good:
                    return False, why
            else:  # 谁…最多 without N: every rep ranked; a shorter head of the ranking is accepted
                good, why = _topn_ok(got, vals, max(1, len(got)), desc)
                if not good:
                    return False, "the people shown are not the head of the ranking: " + why
            if not _ordered_ok(got, vals, desc):
                return False, "people not in ranking order"
        elif set(got) != set(gold["rows"]):
            return False, f"people differ: got {sorted(got)} want {sorted(gold['rows'])}"
        for r in rows:
            u = r.get("userid", r.get("key"))
            v = vals.get(u)
            if v is not None and "value" in r and not _close(r.get("value"), v, _tol(measure)):
                return False, f"{u}: {r.get('value')!r} != {v!r}"
            if v is not None and "value" not in r:
                return False, f"{u}: the figure asked about is missing"
        th = spec.get("threshold")
        if th and not _ordered_ok(got, vals, th["op"] in (">", ">=")):
            return False, "people not sorted towards the side of the threshold"
        return True, ""
    return False, f"unscored gold kind {gkind!r}"


def _kind_of(spec: dict[str, Any]) -> str:
    fn = spec["fn"]
    if fn == "trend":
        return "groups"
    if fn == "chat":
        return _kind_of(spec["answer"]) if spec.get("answer") else spec["route"]
    return fn


def score(
    answer_json: dict[str, Any], case: dict[str, Any], rows: Dataset, default_now: datetime = DEFAULT_NOW
) -> tuple[bool, str]:
    """Score one `ask --json` answer against a case: (passed, why not). `rows` is dataset.generate()."""
    if case.get("during_visit") and case["gold"].get("route") != "question":
        return False, "chat-only case: score the route with score_route()"
    if answer_json.get("asked_by") not in (None, case["as"]):
        return False, "asked_by is not the asker"
    if not answer_json.get("scope"):
        return False, "the answer must say whose scope it was (scope)"
    if case["gold"]["fn"] == "any_of" and not answer_json.get("alternatives"):
        return False, "an ambiguous question must list its other readings under `alternatives`"
    if (
        case.get("expect_all_time")
        and "全部时间" not in f"{answer_json.get('understood', '')}{answer_json.get('scope', '')}"
    ):
        return False, "a question without a period must say 全部时间"
    kinds = {case["kind"], *case.get("accept_kinds", [])}
    first_why = ""
    for gold, o, spec in accepted_golds(case, rows, default_now):
        good, why = _check(answer_json, gold, case, o, spec, kinds)
        if good:
            return True, ""
        first_why = first_why or why
    return False, first_why


def score_route(route: str, case: dict[str, Any]) -> tuple[bool, str]:
    """Score a line typed during an open visit (`during_visit: true`): how the chat routed it
    (question / visit_note / ask_buttons)."""
    want = {case["gold"]["route"], *case.get("accept_routes", [])}
    return (route in want), "" if route in want else f"routed as {route!r}, expected {sorted(want)}"
