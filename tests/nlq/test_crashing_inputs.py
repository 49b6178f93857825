"""Questions that once crashed the parser (a number outside what the layer defines, very long input) get an
answer or a clear refusal, never an exception (issue: managers' own words, robust parsing)."""

from __future__ import annotations

import pytest

from nlq.answer import ask
from tests.nlq.dataset import NOW

QUESTIONS = [
    ("1999年的销售额", "年份"),
    ("2101年的订单数", "年份"),
    ("NPS>1001的客户", "NPS"),
    ("最近4000天拜访数", "3650天"),
    ("超过99999小时没跟进的客户", None),
    ("销售额超过99999999999999999999999的客户", None),
    ("华东" * 600, None),
    ("上月流失但NPS>70的客户" * 40, None),
]


@pytest.mark.parametrize(("question", "says"), QUESTIONS)
def test_a_question_outside_the_bounds_is_answered_or_refused_in_words(eval_factory, question, says):
    with eval_factory() as s:
        answer = ask(s, asker="dir", question=question, now=NOW)
    assert answer["kind"] in ("refusal", "list", "figure", "groups"), answer
    if answer["kind"] == "refusal":
        assert answer["reason"] and "Traceback" not in answer["reason"]
    if says is not None:
        assert answer["kind"] == "refusal" and says in answer["reason"], answer
