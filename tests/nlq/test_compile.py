"""Structure of the compiled query: one Select, built from the models (no text SQL), with the scope inside
it on every path the evaluation questions reach."""

from __future__ import annotations

import pytest
from sqlalchemy import Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.visitors import iterate

from nlq.compile import compile_spec
from nlq.parse import Refused, parse
from tests.nlq.dataset import NOW, generate
from tests.nlq.evaluate import load_cases
from tests.nlq.vocab_fixture import vocab_of

VOCAB = vocab_of(generate())


@pytest.fixture(scope="module")
def specs():
    out = {}
    for case in {(c.question, c.asker): c for c in load_cases()}.values():
        try:
            s = parse(case.question, now=NOW, vocab=VOCAB, asker=case.asker)
        except Refused:
            continue
        out[s.model_dump_json()] = s
    return list(out.values())


def test_the_questions_cover_every_entity_figure_and_shape(specs):
    seen = {(s.entity, s.figure) for s in specs}
    assert seen == {
        ("customers", "list"),
        ("customers", "count"),
        ("customers", "freshness"),
        ("visits", "count"),
        ("visits", "complete_count"),
        ("visits", "complete_rate"),
        ("orders", "count"),
        ("orders", "sales"),
        ("opportunities", "count"),
        ("opportunities", "funnel_rate"),
        ("tickets", "count"),
        ("contracts", "count"),
        ("contracts", "outstanding"),
    }
    assert {s.group_by for s in specs} == {
        None,
        "region",
        "city",
        "channel",
        "rep",
        "tag",
        "category",
        "stage",
    }


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_scope_is_inside_every_query(dialect, specs):
    for s in specs:
        plan = compile_spec(s, owners=frozenset({"rep_x"}), now=NOW, dialect=dialect.name)
        assert isinstance(plan.stmt, Select)
        assert not any(isinstance(e, TextClause) for e in iterate(plan.stmt))
        sql = str(plan.stmt.compile(dialect=dialect))
        assert SCOPED[dialect.name] in sql, s
        if plan.count is not None:  # the list's count too
            assert SCOPED[dialect.name] in str(plan.count.compile(dialect=dialect)), s


# the scope filter as each dialect spells it: an IN list, or on PostgreSQL one bound array (nlq.sqlfns.one_of)
SCOPED = {"sqlite": "customers.owner_userid IN", "postgresql": "customers.owner_userid = ANY ("}


def test_an_empty_scope_selects_nothing(specs):
    s = specs[0]
    sql = str(
        compile_spec(s, owners=frozenset(), now=NOW, dialect="sqlite").stmt.compile(dialect=sqlite.dialect())
    )
    assert "0 = 1" in sql or "false" in sql.lower()


def test_see_all_has_no_owner_filter(specs):
    s = next(x for x in specs if x.kind == "list")
    sql = str(compile_spec(s, owners=None, now=NOW, dialect="sqlite").stmt.compile(dialect=sqlite.dialect()))
    assert "owner_userid IN" not in sql
