"""A refusal names what is not defined and offers the nearest questions the layer answers, built from the
question's own words (its period, its place or person, its figure), each of them answerable."""

from __future__ import annotations

import re

import pytest

from nlq.answer import ask
from tests.nlq.dataset import NOW


def _offered(answer: dict) -> list[str]:
    return re.findall(r"「([^」]+)」", answer["suggestion"] or "")


@pytest.mark.parametrize(
    ("question", "own_words"),
    [
        ("本月华东的毛利率", ("本月", "华东")),
        ("上个月张伟的提成多少", ("上个月", "张伟")),
        ("客户的平均NPS是多少", ("NPS",)),
    ],
)
def test_a_refusal_offers_answerable_questions_in_the_askers_words(eval_factory, question, own_words):
    with eval_factory() as s:
        refused = ask(s, asker="dir", question=question, now=NOW)
        assert refused["kind"] == "refusal" and refused["reason"]
        offered = _offered(refused)
        assert len(offered) == 3
        assert any(all(w in q for w in own_words) for q in offered), offered
        for q in offered:  # every offered question is answered, not refused
            assert ask(s, asker="dir", question=q, now=NOW)["kind"] != "refusal", q
