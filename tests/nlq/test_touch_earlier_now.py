"""Follow-up questions read each customer's latest touch (customers.last_touch_at, kept by triggers); when
that touch lies after the window asked about, the compiler probes the rows. Asked with an earlier `now`
(`ask --now`), where many customers were touched after it, the answers still equal the oracle's at that
`now`: every question of questions.yaml whose touch windows are relative to now, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nlq.answer import ask
from tests.nlq.dataset import NOW
from tests.nlq.evaluate import check, expected, load_cases
from tests.nlq.oracle import Oracle

RELATIVE_KEYS = {"ask", "touch", "region", "city", "channel", "nps", "rank", "limit", "group"}


def _relative(gold: dict) -> bool:
    if not set(gold) <= RELATIVE_KEYS or not (
        "touch" in gold
        or gold["ask"] == "freshness"
        or gold.get("rank", {}).get("by") in ("last_touch", "last_visit")
    ):
        return False
    return all(isinstance(w, dict) or str(w).startswith("last:") for _, _, w in gold.get("touch", []))


CASES = [c for c in load_cases() if _relative(c.gold)]


def test_the_relative_touch_questions_are_many():
    assert len(CASES) >= 40
    assert {c.gold["ask"] for c in CASES} >= {"list", "count", "freshness"}


@pytest.mark.parametrize("days", [3, 40])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_question_at_an_earlier_now(case, days, eval_factory, dataset):
    now = NOW - timedelta(days=days)
    with eval_factory() as s:
        answer = ask(s, asker=case.asker, question=case.question, now=now)
    problem = check(answer, expected(Oracle(dataset, now), case))
    assert problem is None, (
        f"{case.question!r} as {case.asker} at {now}: {problem}\nunderstood: {answer['understood']}"
    )
