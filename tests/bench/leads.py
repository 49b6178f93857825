"""Lead benchmarks for `main.py bench --only leads`: scoring every lead in the database (the score card in
SQL, audited) and the dormancy sweep, at 1,000,000 leads on PostgreSQL (100,000 with --quick)."""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text


def bench_leads(quick: bool) -> list[tuple[str, str]]:
    from tests.bench.load import _postgres

    root = Path(tempfile.mkdtemp(prefix="bench-leads-pg-"))
    try:
        with _postgres(root) as url:
            tune(url)
            return _bench(url, n=100_000 if quick else 1_000_000)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# The server settings a bulk-writing deployment runs with (docs/bench.md § Leads, docs/deploy notes): WAL room
# for a pass over every lead without a forced checkpoint mid-statement (each checkpoint makes the next change
# to every page write the whole page to the WAL again).
BULK_SETTINGS = {"max_wal_size": "8GB", "checkpoint_timeout": "30min"}


def tune(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for name, value in BULK_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")


def load(sf: Any, *, n: int, now: datetime) -> None:
    """n leads by COPY: facts drawn from a few values each, dormancy clocks over 20 days, 200 owners."""
    from storage.importer.run import bulk_insert
    from storage.leads.models import LeadRow
    from storage.models import UserRow

    rng = random.Random(11)
    reps = [f"rep{i:03d}" for i in range(200)]
    with sf() as s:
        s.add_all([UserRow(userid=u, name=u, role="rep") for u in reps])
        s.commit()
        batch = []
        for i in range(n):
            batch.append(
                {
                    "lead_id": f"L{i:07d}",
                    "company": f"公司{i}",
                    "source": rng.choice(("转介绍", "展会", "官网", "陌拜", None)),
                    "credit_grade": rng.choice(("A", "B", "C", None)),
                    "inquiries": rng.choice((0, 1, 2, 3)),
                    "downloads": rng.choice((0, 1, 2)),
                    "contact_role": rng.choice(("总经理", "采购总监", "经理", "工程师", None)),
                    "industry": rng.choice(("机械制造", "化工", "食品", "纺织", None)),
                    "pain_words": [],
                    "created_at": now,
                    "quiet_since": now - timedelta(hours=rng.randint(0, 24 * 20)),
                    "owner_userid": rng.choice(reps),
                    "stage": "new",
                    "stage_since": now,
                    "sop_gen": 0,
                }
            )
            if len(batch) == 50_000:
                bulk_insert(s, LeadRow.__table__, batch)
                batch = []
        bulk_insert(s, LeadRow.__table__, batch)
        s.commit()


def changed_card() -> Any:
    """The default score card with source weighing 25 and downloads 5: every lead's source points change."""
    from core.leads.policy import LeadPolicy

    p = LeadPolicy()
    weights = {"source": 25.0, "downloads": 5.0}
    return dataclasses.replace(
        p, dimensions=tuple(dataclasses.replace(d, weight=weights.get(d.key, d.weight)) for d in p.dimensions)
    )


def _backend_cpu(session: Any) -> float:
    """CPU seconds the session's server process has used (Linux /proc; the embedded server is local): a
    figure the other agents' load on the shared cores does not inflate as it does the wall clock."""
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _bench(url: str, *, n: int) -> list[tuple[str, str]]:
    from core.leads.policy import LeadPolicy
    from storage.db import make_engine, make_session_factory
    from storage.leads import pool, scoring
    from storage.schema import create_all

    engine = make_engine(url)
    create_all(engine)
    sf = make_session_factory(engine)
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    started = time.perf_counter()
    load(sf, n=n, now=now)
    # a table that has been there: autovacuum has set its hint bits and visibility map. Without it,
    # autovacuum's own pass over the million new rows races the first pass measured.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) leads"))
    load_s = time.perf_counter() - started
    rows: list[tuple[str, str]] = [
        ("leads: load average (1 min) at the start", f"{os.getloadavg()[0]:.1f}"),
        (f"leads: load {n:,} (COPY, then VACUUM)", f"{load_s:.1f} s"),
    ]

    with sf() as s:
        cpu0 = _backend_cpu(s)
        t0 = time.perf_counter()
        changed = scoring.rescore_bulk(s, policy=LeadPolicy(), now=now, actor="system:leads", reason="bench")
        s.commit()
        score_s = time.perf_counter() - t0
        score_cpu = _backend_cpu(s) - cpu0
    rows.append(
        (
            f"leads: score {n:,} in SQL (+ audit)",
            f"{score_s:.1f} s, server CPU {score_cpu:.1f} s ({changed:,} scored)",
        )
    )
    with sf() as s:
        t0 = time.perf_counter()
        again = scoring.rescore_bulk(s, policy=LeadPolicy(), now=now, actor="system:leads", reason="bench2")
        s.commit()
        rows.append(
            (f"leads: re-score {n:,}, nothing changed", f"{time.perf_counter() - t0:.1f} s ({again} changed)")
        )
    with sf() as s:
        cpu0 = _backend_cpu(s)
        t0 = time.perf_counter()
        moved = pool.sweep(s, now=now, policy=LeadPolicy(), actor="system:leads", reason="bench", limit=n)
        s.commit()
        sweep_s = time.perf_counter() - t0
        sweep_cpu = _backend_cpu(s) - cpu0
    nurture = sum(1 for m in moved if m.pool == "nurture")
    rows.append(
        (
            f"leads: dormancy sweep over {n:,}",
            f"{sweep_s:.1f} s, server CPU {sweep_cpu:.1f} s ({nurture:,} to nurture,"
            f" {len(moved) - nurture:,} to public, each audited)",
        )
    )
    with sf() as s:
        t0 = time.perf_counter()
        hourly = pool.sweep(
            s,
            now=now + timedelta(hours=1),
            policy=LeadPolicy(),
            actor="system:leads",
            reason="bench",
            limit=n,
        )
        s.commit()
        rows.append(
            (
                f"leads: the next hourly sweep over {n:,}",
                f"{(time.perf_counter() - t0) * 1000:.0f} ms ({len(hourly):,} moved)",
            )
        )
    rows.append(
        (
            f"leads: scoring + catch-up sweep, {n:,} on PostgreSQL",
            f"{score_s + sweep_s:.1f} s, server CPU {score_cpu + sweep_cpu:.1f} s (target < 60 s)",
        )
    )
    with sf() as s:  # the score card changes: every lead (scored now) is re-scored and changes its points
        cpu0 = _backend_cpu(s)
        t0 = time.perf_counter()
        again = scoring.rescore_bulk(s, policy=changed_card(), now=now, actor="system:leads", reason="bench3")
        s.commit()
        rows.append(
            (
                f"leads: the score card changes, re-score {n:,}",
                f"{time.perf_counter() - t0:.1f} s, server CPU {_backend_cpu(s) - cpu0:.1f} s"
                f" ({again:,} changed)",
            )
        )
    rows.append(("leads: load average (1 min) at the end", f"{os.getloadavg()[0]:.1f}"))
    engine.dispose()
    return rows


if __name__ == "__main__":
    import sys

    for label, value in bench_leads(quick="--quick" in sys.argv):
        print(f"{label:<50} {value}")
