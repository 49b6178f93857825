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
