"""「哪个环节最常超时」: the hand-off step whose work orders most often passed their SLA (the department head was
told: escalated ≥ 1, whatever their state now), counted independently from the fixture's work orders."""

from __future__ import annotations

from collections import Counter

from nlq.answer import ask
from tests.nlq.dataset import NOW

WORDS = {"delivery": "交付", "finance": "财务", "after_sales": "售后"}


def test_the_step_that_most_often_breaches(eval_factory, domains):
    counts = Counter(w["team"] for w in domains.work_orders if w.get("escalated", 0) >= 1)
    assert counts, "the fixture has breached work orders"
    top = max(counts.values())
    best = sorted(WORDS[t] for t, n in counts.items() if n == top)[0]
    for q in ("哪个环节最常超时", "哪个部门最容易超时"):
        with eval_factory() as s:
            a = ask(s, asker="dir", question=q, now=NOW)
        assert a["kind"] == "groups", (q, a.get("message"))
        assert [(r["key"], r["value"]) for r in a["rows"]] == [(best, top)], q
        assert "曾超过时限" in a["understood"] and best in (a.get("suggestion") or "")
    with eval_factory() as s:  # the current backlog reading is unchanged
        a = ask(s, asker="dir", question="各环节超时未响应的工单数量", now=NOW)
    assert a["kind"] == "groups" and len(a["rows"]) == 3
