"""Evaluate every gold of tests/nlq/v2/cases.yaml through oracle_v2 and fail loudly if one cannot be computed.

    /work/main/.venv/bin/python tests/nlq/v2/check_oracle.py [-v] [--cases PATH]

`--cases` checks another file of the same format (e.g. cases_b.yaml); the 320-case minimum applies only to
cases.yaml, another file needs at least MIN_OTHER cases.

Not a pytest test. It loads the dataset exactly as tests/nlq/conftest.py does (`dataset.generate()`), checks the
cases' own consistency (kinds, out-of-scope flags, askers, ids) and audits the golds for readings the spec leaves
open (a day-count threshold that a row sits exactly on; a rolling window whose first day holds date-stamped rows;
a clarify case whose readings all agree), then prints the number of cases per category.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from core.clock import SHANGHAI, parse_time  # noqa: E402
from tests.nlq.dataset import generate  # noqa: E402
from tests.nlq.v2.oracle_v2 import (  # noqa: E402
    CONTRACT_MEASURES,
    OPP_MEASURES,
    ORDER_MEASURES,
    PAYMENT_MEASURES,
    GoldError,
    OracleV2,
    gold_of,
    score,
)

CASES = Path(__file__).with_name("cases.yaml")
MIN_OTHER = 150
KINDS = {
    "list",
    "figure",
    "groups",
    "refusal",
    "comparison",
    "overview",
    "people",
    "visit_note",
    "ask_buttons",
}
DATE_MEASURES = (
    ORDER_MEASURES | OPP_MEASURES | CONTRACT_MEASURES | PAYMENT_MEASURES | {"new_customers", "lost_customers"}
)


def kind_of(gold: dict) -> set[str]:
    k = gold["kind"]
    if k == "any_of":
        return set().union(*(kind_of(r) for r in gold["readings"]))
    if k == "chat":
        return kind_of(gold["answer"]) if gold["answer"] else {gold["route"]}
    return {k}


def walk(obj, key):
    """Every value under `key` anywhere in a nested gold spec."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield obj, v
            yield from walk(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v, key)


def audit_days(o: OracleV2, case: dict, asker: str) -> list[str]:
    """A `超过N天` on date-stamped rows: whole days (today - date > N) vs instants (now - date 00:00 > N×24 h)
    differ exactly when a row is N days old. Report any such row in the asker's scope."""
    out = []
    scope = {c["customer_id"] for c in o.scoped(asker)}
    for holder, n in walk(case["gold"], "days_gt"):
        stage = holder.get("stage")
        if stage:  # stuck: {stage, days_gt}
            rows = [
                p
                for p in o.ds.opportunities
                if p["customer_id"] in scope and p["stage"] == stage and o.days_since(p["entered_on"]) == n
            ]
        else:
            rows = [
                k
                for k in o.ds.contracts
                if k["customer_id"] in scope and o.is_overdue(k) and o.overdue_days(k) == n
            ]
        if rows:
            out.append(f"{len(rows)} row(s) exactly {n} days old")
    for holder, n in walk(case["gold"], "stuck_days_gt"):
        stages = holder.get("stage")
        rows = [
            p
            for p in o.ds.opportunities
            if p["customer_id"] in scope
            and (not stages or p["stage"] in ([stages] if isinstance(stages, str) else stages))
            and o.days_since(p["entered_on"]) == n
        ]
        if rows:
            out.append(f"{len(rows)} opportunity(ies) exactly {n} days in stage")
    return out


def audit_rolling(o: OracleV2, case: dict) -> list[str]:
    """A rolling window (最近N天) over date-stamped rows: a row dated on the window's first day counts at its
    00:00 (tests/nlq/oracle.py's reading), i.e. not at all. Report such rows as reading-sensitive."""
    out = []
    for holder, per in walk(case["gold"], "period"):
        if not (isinstance(per, str) and per.startswith("last:")):
            continue
        m = holder.get("measure") or holder.get("by")
        if m not in DATE_MEASURES:
            continue
        first = o.clock.resolve(per).lo.astimezone(SHANGHAI).date()
        col = {"sales": "orders", "order_count": "orders", "avg_order_value": "orders"}.get(m)
        dates = []
        if col:
            dates = [r["ordered_on"] for r in o.ds.orders]
        elif m in OPP_MEASURES:
            dates = [r["entered_on"] for r in o.ds.opportunities]
        elif m in ("contracts", "contract_amount"):
            dates = [r["signed_on"] for r in o.ds.contracts]
        elif m == "received":
            dates = [r["paid_on"] for r in o.ds.payments]
        hits = sum(1 for d in dates if d == first)
        if hits:
            out.append(f"{hits} {m} row(s) dated {first}, the first day of {per}")
    return out


def main(verbose: bool = False, cases_path: Path = CASES) -> int:
    doc = yaml.safe_load(cases_path.read_text(encoding="utf-8"))
    default_now = parse_time(doc["default_now"])
    cases = doc["cases"]
    ds = generate()
    users = {u["userid"] for u in ds.users}
    oracles: dict = {}
    errors: list[str] = []
    warnings: list[str] = []
    per_cat: Counter = Counter()
    per_kind: Counter = Counter()
    empty: Counter = Counter()
    askers: Counter = Counter()
    seen_ids: set[str] = set()
    for case in cases:
        cid = case.get("id", "?")
        try:
            for field in ("id", "q", "as", "kind", "category", "gold"):
                if field not in case:
                    raise GoldError(f"missing field {field!r}")
            if cid in seen_ids:
                raise GoldError("duplicate id")
            seen_ids.add(cid)
            if case["as"] not in users:
                raise GoldError(f"asker {case['as']!r} is not in the dataset")
            if case["kind"] not in KINDS:
                raise GoldError(f"unknown kind {case['kind']!r}")
            now = parse_time(case["now"]) if case.get("now") else default_now
            o = oracles.setdefault(now, OracleV2(ds, now))
            gold = o.evaluate(case["gold"], case["as"])
            allowed = {case["kind"], *case.get("accept_kinds", [])}
            if not kind_of(gold) & allowed:
                raise GoldError(f"gold kind {sorted(kind_of(gold))} does not match kind {sorted(allowed)}")
            if gold["kind"] not in ("any_of", "chat", "refusal"):
                if bool(case.get("out_of_scope")) != bool(gold.get("out_of_scope")):
                    raise GoldError(
                        f"out_of_scope flag {bool(case.get('out_of_scope'))} but the oracle says "
                        f"{bool(gold.get('out_of_scope'))}"
                    )
            if gold["kind"] == "any_of":
                rs = [repr({k: v for k, v in r.items() if k not in ("period",)}) for r in gold["readings"]]
                if len(set(rs)) == 1:
                    warnings.append(f"{cid}: every reading gives the same answer")
                if gold.get("primary") is not None and not 0 <= gold["primary"] < len(gold["readings"]):
                    raise GoldError("primary is not a reading index")
            if case.get("during_visit") and gold["kind"] != "chat":
                raise GoldError("a during_visit case needs gold fn: chat")
            for w in audit_days(o, case, case["as"]) + audit_rolling(o, case):
                warnings.append(f"{cid}: reading-sensitive: {w}")
            if is_empty(gold):
                empty[case["category"]] += 1
            per_cat[case["category"]] += 1
            per_kind[case["kind"]] += 1
            askers[o.users[case["as"]]["role"]] += 1
            if verbose:
                print(f"{cid:10} {case['as']:8} {case['q']}  ->  {summary(gold)}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, then the script fails
            errors.append(f"{cid}: {type(e).__name__}: {e}")
    print(f"{len(cases)} cases, default now {default_now.astimezone(SHANGHAI):%Y-%m-%d %H:%M} Asia/Shanghai")
    print("\ncases per category (of which the gold is empty / zero):")
    for cat, n in sorted(per_cat.items(), key=lambda kv: -kv[1]):
        print(f"  {cat:26} {n:4}   ({empty[cat]} empty)")
    print("\ncases per kind:", dict(per_kind))
    print("askers by role:", dict(askers))
    refused = per_cat["refuse"] + per_cat["clarify"]
    print(f"refused or clarified: {refused} ({refused / max(1, len(cases)):.0%})")
    if warnings:
        print(f"\n{len(warnings)} warning(s):")
        for w in warnings:
            print("  " + w)
    if errors:
        print(f"\nFAILED: {len(errors)} gold(s) could not be computed or are inconsistent:", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    bad = selftest_scorer(cases, ds, default_now)
    if bad:
        print(f"\nFAILED: the scorer disagrees with its own golds on {len(bad)} case(s):", file=sys.stderr)
        for b in bad:
            print("  " + b, file=sys.stderr)
        return 1
    print("\nscorer self-test: every ideal answer passes, every perturbed one fails")
    wanted = 320 if cases_path.resolve() == CASES.resolve() else MIN_OTHER
    if len(cases) < wanted:
        print(f"FAILED: only {len(cases)} cases (at least {wanted} wanted)", file=sys.stderr)
        return 1
    print("\nall golds computed")
    return 0


# --- scorer self-test --------------------------------------------------------------------------------------
def ideal(gold: dict, case: dict) -> dict:
    """The `ask --json` answer that a perfect implementation would give for this gold."""
    k = gold["kind"]
    base = {
        "question": case["q"],
        "asked_by": case["as"],
        "scope": f"{case['as']}的范围",
        "understood": "全部时间" if case.get("expect_all_time") else "…",
        "suggestion": None,
        "alternatives": [],
        "rows": [],
    }
    if k == "any_of":
        r = gold["readings"][gold.get("primary") or 0]
        return {**ideal(r, case), "alternatives": [{"understood": "另一种理解"}]}
    if k == "chat":
        return ideal(gold["answer"], case)
    if k == "refusal":
        return {**base, "kind": "refusal", "reason": "不在定义内", "suggestion": "可以问：本月销售额"}
    reason = "不在你的范围内" if gold.get("out_of_scope") else None
    out = {**base, "kind": k, "reason": reason}
    if k == "figure":
        return {**out, **{f: gold[f] for f in ("value", "numerator", "denominator") if f in gold}}
    if k == "list":
        return {**out, "rows": [{"customer_id": c, "value": gold["values"].get(c)} for c in gold["ids"]]}
    if k in ("groups", "comparison") and "groups" in gold:
        keys = (
            gold["order"]
            if gold.get("order") is not None
            else sorted((x for x in gold["groups"] if x is not None), key=str)
        )
        return {**out, "rows": [{"key": x, **gold["groups"][x]} for x in keys]}
    if k == "comparison":
        return {**out, **{f: gold[f] for f in ("value", "previous", "change", "change_rate")}}
    if k == "overview":
        return {**out, "rows": [{"figure": n, **f} for n, f in gold["figures"].items()]}
    if k == "people":
        order = gold["order"] if gold.get("order") is not None else sorted(gold["rows"])
        return {
            **out,
            "rows": [
                {"userid": u, "name": u, **({} if gold["rows"][u] is None else {"value": gold["rows"][u]})}
                for u in order
            ],
        }
    raise GoldError(f"no ideal answer for {k}")


def perturbed(ans: dict) -> dict | None:
    """One wrong answer derived from an ideal one (None when there is nothing to perturb)."""
    a = {**ans, "rows": [dict(r) for r in ans.get("rows", [])]}
    if a["kind"] == "refusal":
        return {**a, "kind": "figure", "value": 0}
    if a.get("reason") and a["kind"] != "refusal":  # out of scope: leaking a row must fail
        return {**a, "reason": None}
    if a["kind"] in ("figure", "comparison") and not a["rows"]:
        v = a.get("value")
        return {**a, "value": (v or 0) + 1}
    if a["kind"] == "list":  # a list row's extra fields are informative only: drop or invent a customer
        a["rows"] = a["rows"][1:] if a["rows"] else [{"customer_id": "C99999"}]
        return a
    if a["rows"]:
        r = a["rows"][0]
        if "value" in r and isinstance(r["value"], (int, float)):
            r["value"] = r["value"] + 1
            return a
        a["rows"] = a["rows"][1:]
        return a
    if a["kind"] == "list":
        return {**a, "rows": [{"customer_id": "C99999"}]}
    if a["kind"] == "people":
        return {**a, "rows": [{"userid": "dir", "name": "王总"}]}
    return None


def selftest_scorer(cases: list, ds, default_now) -> list[str]:
    bad = []
    for case in cases:
        if case.get("during_visit") and case["gold"].get("route") != "question":
            continue
        gold = gold_of(case, ds, default_now)
        ans = ideal(gold, case)
        ok, why = score(ans, case, ds, default_now)
        if not ok:
            bad.append(f"{case['id']}: ideal answer rejected: {why}")
            continue
        wrong = perturbed(ans)
        if wrong is not None:
            ok, _ = score(wrong, case, ds, default_now)
            if ok:
                bad.append(f"{case['id']}: a perturbed answer was accepted")
    return bad


def is_empty(gold: dict) -> bool:
    k = gold["kind"]
    if k == "figure":
        return not gold.get("value")
    if k == "list":
        return not gold["ids"]
    if k == "people":
        return not gold["rows"]
    if k == "groups" or (k == "comparison" and "groups" in gold):
        return all(
            not (g.get("value") if k == "groups" else (g.get("value") or g.get("previous")))
            for g in gold["groups"].values()
        )
    if k == "comparison":
        return not gold.get("value") and not gold.get("previous")
    if k == "overview":
        return all(not f.get("value") for f in gold["figures"].values())
    return False


def summary(gold: dict) -> str:
    k = gold["kind"]
    if k == "figure":
        extra = f" ({gold['numerator']}/{gold['denominator']})" if "numerator" in gold else ""
        return f"figure {gold['value']}{extra}"
    if k == "list":
        return f"list {gold['count']} {gold['ids'][:6]}{'…' if gold['count'] > 6 else ''}"
    if k == "people":
        return f"people {dict(list(gold['rows'].items())[:6])}"
    if k in ("groups", "comparison") and "groups" in gold:
        keys = gold.get("order") or sorted(gold["groups"], key=str)
        return f"{k} " + ", ".join(f"{key}={gold['groups'][key].get('value')}" for key in keys[:6])
    if k == "comparison":
        return f"comparison {gold['value']} vs {gold['previous']} ({gold['change_rate']})"
    if k == "overview":
        return "overview " + ", ".join(f"{n}={f['value']}" for n, f in gold["figures"].items())
    if k == "any_of":
        return "any_of [" + " | ".join(summary(r) for r in gold["readings"]) + "]"
    if k == "chat":
        return f"chat {gold['route']}" + (f" -> {summary(gold['answer'])}" if gold["answer"] else "")
    return k


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--cases", type=Path, default=CASES, help="the cases file (default: cases.yaml)")
    args = ap.parse_args()
    sys.exit(main(args.v, args.cases))
