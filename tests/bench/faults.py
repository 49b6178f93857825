"""`python main.py bench --only faults`: the fault scenarios of issue 7 (reliability.md §6), run in the
bench so that their counts sit in the same table as the load and capacity figures.

The scenarios are the fault tests themselves (they start real server, worker and sweeper processes, stop
PostgreSQL and Redis, make WeCom fail); run here under pytest on SQLite and PostgreSQL, each appends what
it counted (lost, happened twice, …) to a report file (tests/support/fault_report.py), and this prints one row per
scenario and database. Needs the test extras (`pip install -e ".[test]"`) and a checkout with tests/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = (
    "tests/bot/test_fault_ingest.py::test_sigkill_ten_times_in_1000_messages_loses_nothing_and_doubles_nothing",
    "tests/scaled/test_retry_storm.py::test_each_callback_four_times_makes_one_row_one_effect_one_reply",
    "tests/scaled/test_outages.py::test_postgres_then_redis_outage_under_a_stream",
    "tests/scaled/test_relay_at_scale.py::test_five_thousand_alerts_through_thirty_percent_failures",
    "tests/scaled/test_timers_killed.py::test_every_timer_fires_exactly_once_while_sweepers_are_killed",
)
ORDER = ("lost", "twice")  # printed first; the rest as the scenario named them


def bench_faults(quick: bool) -> list[tuple[str, str]]:
    if not (ROOT / "tests" / "fault_report.py").exists():
        return [("faults", "skipped: tests/ is not in this checkout")]
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        report = Path(tmp) / "faults.jsonl"
        env = {**os.environ, "FAULT_REPORT": str(report), "KILL_SEED": os.environ.get("KILL_SEED", "")}
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SCENARIOS],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - t0
        lines = (
            [json.loads(x) for x in report.read_text(encoding="utf-8").splitlines()]
            if report.exists()
            else []
        )
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    rows = []
    for r in lines:
        figures = {k: v for k, v in r.items() if k not in ("scenario", "db")}
        shown = [f"{k} {figures.pop(k)}" for k in ORDER if k in figures] + [
            f"{k} {v}" for k, v in figures.items()
        ]
        rows.append((f"fault: {r['scenario']} ({r['db']})", ", ".join(shown)))
    rows.append(
        (
            "faults: the scenarios under pytest",
            f"{summary} in {took:.0f} s" + ("" if done.returncode == 0 else " — FAILED"),
        )
    )
    return rows


SECTIONS = {"faults": bench_faults}
