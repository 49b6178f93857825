"""What the fault scenarios measured, for `python main.py bench --only faults`.

Each fault test (reliability.md §6; issue 7) counts what was lost and what happened twice, then asserts
zero. With FAULT_REPORT naming a file, it also appends those counts there as one JSON line; the bench runs
the scenarios under pytest and prints the lines as a table next to the load and capacity figures. Without
the variable nothing is written.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from typing import Any


def lost_and_twice(expected: int, seen: Iterable[Any]) -> dict[str, int]:
    """Of `expected` distinct things, how many never appeared in `seen` and how many extra copies did."""
    counts = Counter(seen)
    return {"lost": max(expected - len(counts), 0), "twice": sum(n - 1 for n in counts.values())}


def record(scenario: str, db_url: str, **figures: Any) -> None:
    path = os.environ.get("FAULT_REPORT")
    if not path:
        return
    db = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"scenario": scenario, "db": db, **figures}, ensure_ascii=False) + "\n")
