"""The dataset's vocabulary without a database, for parser-only tests."""

from __future__ import annotations

from nlq.vocab import COMMON_CITIES, COMMON_REGIONS, STANDARD_TAGS, User, Vocab
from tests.nlq.dataset import Dataset


def vocab_of(ds: Dataset) -> Vocab:
    return Vocab(
        users={u["userid"]: User(u["userid"], u["name"], u["role"], u["manager_userid"]) for u in ds.users},
        regions=frozenset({c["region"] for c in ds.customers} | set(COMMON_REGIONS)),
        cities=frozenset({c["city"] for c in ds.customers} | set(COMMON_CITIES)),
        channels=frozenset({c["channel"] for c in ds.customers if c["channel"]}),
        categories=frozenset({o["category"] for o in ds.orders if o["category"]}),
        tags=frozenset({t["tag"] for t in ds.visit_tags} | set(STANDARD_TAGS)),
    )
