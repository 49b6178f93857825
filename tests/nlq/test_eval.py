"""Every question of questions.yaml, for each of its askers, against the oracle's gold answer."""

from __future__ import annotations

import pytest

from nlq.answer import ask
from nlq.vocab import load_vocab
from tests.nlq.dataset import NOW
from tests.nlq.evaluate import check, expected, load_cases
from tests.nlq.oracle import Oracle

CASES = load_cases()


@pytest.fixture(scope="module")
def oracle(dataset):
    return Oracle(dataset, NOW)


def test_there_are_enough_questions():
    assert len({c.question for c in CASES}) >= 200
    assert len({c.category for c in CASES}) >= 15


@pytest.fixture(scope="session")
def vocab(eval_factory):
    """Loaded once per database, as a batch does (the other nlq tests load it per question)."""
    with eval_factory() as s:
        return load_vocab(s)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_question(case, eval_factory, vocab, oracle):
    with eval_factory() as s:
        answer = ask(s, asker=case.asker, question=case.question, now=NOW, vocab=vocab)
    problem = check(answer, expected(oracle, case))
    assert problem is None, (
        f"{case.question!r} as {case.asker}: {problem}\nunderstood: {answer['understood']}"
    )


@pytest.mark.parametrize(
    "question",
    [
        "华东的客户有哪些",
        "本月没有下单的客户",
        "超过72小时未更新的客户",
        "提过价格异议的客户有哪些",
        "逾期未回款的客户",
    ],
)
def test_a_list_longer_than_the_cap_names_its_total(question, eval_factory, vocab):
    """Past the row cap the answer lists the first `cap` rows, in the same order, and counts all of them."""
    with eval_factory() as s:
        whole = ask(s, asker="dir", question=question, now=NOW, vocab=vocab)
        capped = ask(s, asker="dir", question=question, now=NOW, vocab=vocab, cap=5)
    assert len(whole["rows"]) > 5
    assert capped["rows"] == whole["rows"][:5]
    assert capped["understood"] == f"{whole['understood']}（共{len(whole['rows'])}个，只列出前5个）"
