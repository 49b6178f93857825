"""The arrays' split (storage/targets/store_arrays.split_stores) equals core.targets.split.split_fen city by city
on generated cities: equal weights (tied remainders, the first key gets the extra fen), all-zero weights (an even
split), negative and zero amounts, weights past 2^63, and remainders so close that their floats are equal while
the exact ones differ (the exact order must decide)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from core.targets.split import split_fen
from storage.targets.store_arrays import group_sums, split_stores


def _check(cities: list[list[int]], amounts: list[int]) -> None:
    city = np.array([c for c, ws in enumerate(cities) for _ in ws], dtype=np.int64)
    flat = [w for ws in cities for w in ws]
    big = any(w >= 2**62 for w in flat)
    weight = np.array(flat, dtype=object) if big else np.array(flat, dtype=np.int64)
    zero = [sum(ws) == 0 for ws in cities]
    got = split_stores(weight, city, amounts, zero).tolist()
    want = [x for ws, a in zip(cities, amounts, strict=True) for x in split_fen(a, ws)]
    assert got == want
    assert group_sums(np.array(got, dtype=np.int64), city, len(cities)) == amounts


@pytest.mark.parametrize("seed", range(40))
def test_the_split_equals_split_fen_city_by_city(seed):
    rnd = random.Random(seed)
    cities, amounts = [], []
    for _ in range(rnd.randint(1, 8)):
        kind = rnd.random()
        n = rnd.randint(1, 30)
        if kind < 0.2:
            ws = [rnd.choice([5, 5, 7])] * n  # ties
        elif kind < 0.3:
            ws = [0] * n  # an even split
        elif kind < 0.45:
            ws = [rnd.randint(0, 2**70) for _ in range(n)]  # past int64
        else:
            ws = [rnd.randint(0, 10**12) for _ in range(n)]
        cities.append(ws)
        amounts.append(rnd.choice([0, 7, -13, 100, 12_000_000_000, -99_999, rnd.randint(-(10**9), 10**9)]))
    _check(cities, amounts)


def test_remainders_equal_as_floats_are_ordered_exactly():
    """Weights 2^55 and 2^55 + 1 (and 3): with 1 fen to split the remainders are the weights themselves, equal
    as floats once divided by W; the larger exact remainder gets the fen even when it comes second in
    customer order."""
    a, b = 2**55, 2**55 + 1
    total = a + b + 3
    assert a / total == b / total  # the case is the one intended: equal floats
    assert split_fen(1, [a, b, 3]) == [0, 1, 0]
    _check([[a, b, 3]], [1])
    _check([[b, a, 3]], [1])
    _check([[a, b, 3], [a, a, b]], [1, 2])


def test_stores_come_out_in_code_point_order_with_their_own_history():
    """A database whose collation orders ids otherwise (en_US puts 'a' before 'B'): the stores are put in
    code-point order (Python's `sorted`), each keeping its own record, owner and city."""
    from storage.targets.store_arrays import _RECORD, _parse

    ids = ["a1", "B2", "门3", "C4"]  # a collation's order, not code points
    records = np.zeros(len(ids), dtype=_RECORD)
    records["rec"] = [100, 200, 300, 400]
    records["first"] = [0, 31, -(2**31), 365]  # 2000-01-01, 2000-02-01, no order, 2000-12-31
    st = _parse(
        records.tobytes(),
        "\x1e".join(ids),
        "\x1e".join(["r_a", "r_b", "r_m", "r_c"]),
        "\x1e".join(["华东\x1f上海", "华南\x1f广州", "\x1f", "华东\x1f上海"]),
    )
    assert st.cid.tolist() == sorted(ids) == ["B2", "C4", "a1", "门3"]
    assert st.rec.tolist() == [200, 400, 100, 300]
    assert [st.owners[i] for i in st.owner.tolist()] == ["r_b", "r_c", "r_a", "r_m"]
    assert [st.pairs[i] for i in st.pair.tolist()] == [
        ("华南", "广州"),
        ("华东", "上海"),
        ("华东", "上海"),
        ("", ""),
    ]
    assert st.first.tolist() == [2000 * 12 + 1, 2000 * 12 + 11, 2000 * 12, -1]
