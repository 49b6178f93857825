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
    assert problem is None, f"{case.question!r} as {case.asker}: {problem}\nunderstood: {answer['understood']}"
