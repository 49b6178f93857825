"""The evaluation: questions.yaml × askers, answered by nlq.ask and checked against the oracle's gold answers.

Used by tests/nlq/test_eval.py and by tests.bench.nlq (accuracy by category).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.nlq.dataset import NOW, Dataset
from tests.nlq.oracle import Oracle

QUESTIONS = Path(__file__).with_name("questions.yaml")


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    question: str
    asker: str
    gold: dict[str, Any]


def load_cases(path: Path = QUESTIONS) -> list[Case]:
    cases = []
    for n, entry in enumerate(yaml.safe_load(path.read_text(encoding="utf-8"))):
        for qi, q in enumerate(entry["q"]):
            for asker in entry.get("askers", ["dir"]):
                cases.append(Case(f"{n:03d}.{qi}.{asker}", entry["cat"], str(q), asker, entry["gold"]))
    return cases


def expected(oracle: Oracle, case: Case) -> dict[str, Any]:
    """The gold answer; an answer naming a rep, city or region outside the asker's scope is empty."""
    g = case.gold
    if g["ask"] == "refusal":
        return {"kind": "refusal"}
    outside = outside_scope(oracle, g, case.asker)
    if outside:
        kind = "groups" if "group" in g else ("list" if g["ask"] == "list" else "figure")
        return {"kind": kind, "out_of_scope": outside}
    return oracle.answer(g, case.asker)


def outside_scope(oracle: Oracle, g: dict[str, Any], asker: str) -> list[str]:
    vis = oracle.visible(asker)
    if vis is None:
        return []
    out = [u for u in [*g.get("owner", []), *g.get("reps", [])] if u not in vis]
    scoped = [c for c in oracle.ds.customers if c["owner_userid"] in vis]
    for key in ("region", "city"):
        out += [x for x in g.get(key, []) if not any(c[key] == x for c in scoped)]
    return out


def check(answer: dict[str, Any], exp: dict[str, Any]) -> str | None:
    """None if the answer is the gold answer, else what differs."""
    if "out_of_scope" in exp and answer["kind"] == "refusal":
        # a person, city or region outside the scope may read exactly like one that does not exist (nlq/answer.py
        # visible_vocab, docs/nlq-semantics.md § Who may see what): a refusal that says only the scope's are known
        reason = answer.get("reason") or ""
        return None if "可见范围" in reason else f"an out-of-scope refusal without the scope hint: {reason!r}"
    if answer["kind"] != exp["kind"]:
        return f"kind {answer['kind']} != {exp['kind']} ({answer.get('reason') or answer.get('understood')})"
    if exp["kind"] == "refusal":
        return None if answer.get("reason") else "refusal without a reason"
    if "out_of_scope" in exp:
        if (
            answer["rows"]
            or answer["value"] is not None
            or "不在你的可见范围" not in (answer.get("reason") or "")
        ):
            return f"expected an empty out-of-scope answer, got {answer.get('reason')!r} rows={len(answer['rows'])}"
        return None
    if answer.get("reason"):
        return f"unexpected reason {answer['reason']}"
    if exp["kind"] == "list":
        return _check_list(answer, exp)
    if exp["kind"] == "figure":
        return _check_figure(answer, exp, "")
    return _check_groups(answer, exp)


def _check_list(answer: dict[str, Any], exp: dict[str, Any]) -> str | None:
    got = [r["customer_id"] for r in answer["rows"]]
    if exp["ordered"]:
        return None if got == exp["ids"] else f"ordered ids {got[:8]} != {exp['ids'][:8]}"
    if exp.get("limit"):
        if not set(got) <= exp["ids"] or len(got) != min(exp["limit"], exp["count"]):
            return f"{len(got)} rows not a top-{exp['limit']} subset of {exp['count']}"
        return None
    if set(got) != exp["ids"] or len(got) != len(exp["ids"]):
        missing, extra = exp["ids"] - set(got), set(got) - exp["ids"]
        return f"list differs: missing {sorted(missing)[:5]} extra {sorted(extra)[:5]} ({len(got)} vs {len(exp['ids'])})"
    return None


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.005)


def _check_figure(got: dict[str, Any], exp: dict[str, Any], where: str) -> str | None:
    for k in ("value", "numerator", "denominator"):
        if k in exp and not _same(got.get(k), exp[k]):
            return f"{where}{k} {got.get(k)} != {exp[k]}"
    return None


def _check_groups(answer: dict[str, Any], exp: dict[str, Any]) -> str | None:
    got = {r["key"]: r for r in answer["rows"]}
    if "order" in exp:
        keys = [r["key"] for r in answer["rows"]]
        if keys != exp["order"]:
            return f"group order {keys} != {exp['order']}"
    elif set(got) != set(exp["groups"]):
        return f"group keys {sorted(map(str, got))} != {sorted(map(str, exp['groups']))}"
    for k, row in got.items():
        msg = _check_figure(row, exp["groups"][k], f"group {k}: ")
        if msg:
            return msg
    return None


def run_cases(
    ask_fn: Callable[[Case], dict[str, Any]], ds: Dataset, cases: list[Case] | None = None
) -> list[tuple[Case, str | None]]:
    oracle = Oracle(ds, NOW)
    return [(c, check(ask_fn(c), expected(oracle, c))) for c in (cases or load_cases())]
