"""The checks every QuerySpec passes, whoever produced it (offline parser or LLM):

1. names: people, regions, cities, channels, categories and tags must be the organisation's own
   (people by userid or by a unique name); an unknown name is refused, never guessed;
2. scope: a rep, city or region named outside the asker's scope gives an empty answer with that reason.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.org import Scope
from nlq.lexicon import TAG_SYNONYMS
from nlq.parse import Refused
from nlq.spec import QuerySpec
from nlq.sqlfns import one_of
from nlq.vocab import Vocab
from storage.models import CustomerRow


def resolve_names(spec: QuerySpec, vocab: Vocab) -> QuerySpec:
    data = spec.model_dump()
    c = data["customer"]
    c["owners"] = [_person(vocab, x) for x in c["owners"]]
    data["reps"] = [_person(vocab, x) for x in data["reps"]]
    c["regions"] = sorted({r for x in c["regions"] for r in _regions(vocab, x)})
    c["cities"] = [_known(vocab.cities, x if x in vocab.cities else _base(x), "城市") for x in c["cities"]]
    c["channels"] = [_known(vocab.channels, x, "渠道") for x in c["channels"]]
    for o in c["orders"]:
        if o["category"] is not None:
            o["category"] = _known(vocab.categories, o["category"], "品类")
    if data["category"] is not None:
        data["category"] = _known(vocab.categories, data["category"], "品类")
    for t in c["tags"]:
        t["tag"] = _tag(vocab, t["tag"])
    if data["tag"] is not None:
        data["tag"] = _tag(vocab, data["tag"])
    return QuerySpec.model_validate(data)


def _known(values: frozenset[str], x: str, what: str) -> str:
    if x in values:
        return x
    raise Refused(f"不认识这个{what}：「{x}」。")


def _tag(vocab: Vocab, x: str) -> str:
    return _known(vocab.tags, TAG_SYNONYMS.get(x, x), "需求标签")


def _regions(vocab: Vocab, x: str) -> list[str]:
    hits = [r for r in vocab.regions if r == x or _base(r) == _base(x)]
    if not hits:
        raise Refused(f"不认识这个大区：「{x}」。")
    return hits


def _person(vocab: Vocab, x: str) -> str:
    u = vocab.user_by_id(x)
    if u is not None:
        return u.userid
    named = vocab.users_named(x)
    if len(named) == 1:
        return named[0].userid
    if len(named) > 1:
        raise Refused(f"有不止一位同事叫{x}，请改用账号（userid）提问。")
    raise Refused(f"组织里没有「{x}」这个人。")


def out_of_scope(session: Session, spec: QuerySpec, scope: Scope, vocab: Vocab) -> str | None:
    """Why the answer must be empty: a person, region or city named outside the asker's scope (else None)."""
    if scope.owners is None:
        return None
    people = [*spec.customer.owners, *spec.customer.under, *spec.reps]
    outside = [vocab.person_label(u) for u in dict.fromkeys(people) if u not in scope.owners]
    for col, named, word in (
        (CustomerRow.region, spec.customer.regions, "大区"),
        (CustomerRow.city, spec.customer.cities, "城市"),
    ):
        if named:
            seen = {_base(v) for v in _values_in_scope(session, col, named, scope)}
            outside += [f"{word}「{b}」" for b in dict.fromkeys(_base(x) for x in named) if b not in seen]
    if not outside:
        return None
    return f"{'、'.join(outside)}不在你的可见范围内（{scope.words}），所以这里不给出数据。"


def _base(name: str) -> str:
    return re.sub(r"(大区|地区|区域|区|市)$", "", name) or name


def _values_in_scope(session: Session, col: Any, named: list[str], scope: Scope) -> set[str]:
    mine = one_of(CustomerRow.owner_userid, sorted(scope.owners or ()), session.get_bind().dialect.name)
    q = select(col).where(col.in_(named), mine).distinct()
    return {v for (v,) in session.execute(q)}
