"""`python main.py bench`: figures and ratios, measured in one run on this machine. Never asserted in tests.

Sections (each can be picked with --only): ingest, import, photos, nlq, metrics, timers, reconcile, sustained, soak,
capacity, hostile, faults, lanes (replies first: tests/bench/lanes.py), floor (issue 20: tests/bench/floor.py), targets,
leads. nlq and metrics include their 100k-customer PostgreSQL figures unless --quick
(`python -m tests.bench.nlq capacity` runs only the question module's).
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from storage.redis_conn import stop_servers
from tests.support.processes import describe, leftovers, reap_orphans, session_marker, shut_down_own_servers

ROOT = Path(__file__).resolve().parents[2]
session_marker()  # every process a section starts carries this run's marker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.app", *args, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server {args} did not start")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _bodies(n: int, *, start_id: int = 1) -> tuple[list[bytes], str]:
    """n distinct, correctly encrypted text callbacks from distinct reps (WeCom-exact)."""
    from bot.emulator.corp import DEMO_CORP
    from bot.wecom.crypto import WeComCrypto

    crypto = WeComCrypto(
        token=DEMO_CORP["WECOM_TOKEN"],
        encoding_aes_key=DEMO_CORP["WECOM_AES_KEY"],
        corp_id=DEMO_CORP["WECOM_CORP_ID"],
    )
    ts = str(int(time.time()))
    out = []
    for i in range(start_id, start_id + n):
        xml = (
            f"<xml><ToUserName><![CDATA[{DEMO_CORP['WECOM_CORP_ID']}]]></ToUserName>"
            f"<FromUserName><![CDATA[rep{i % 28 + 1:02d}]]></FromUserName><CreateTime>{ts}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content><MsgId>{i}</MsgId>"
            f"<AgentID>1000002</AgentID></xml>"
        )
        params, enc = crypto.seal(xml, timestamp=ts)
        body = (
            f"<xml><ToUserName><![CDATA[{DEMO_CORP['WECOM_CORP_ID']}]]></ToUserName>"
            f"<Encrypt><![CDATA[{enc}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"
        ).encode()
        path = (
            f"/wecom/callback?msg_signature={params['msg_signature']}&timestamp={ts}&nonce={params['nonce']}"
        )
        out.append((path, body))
    return out, ts


def bench_ingest(quick: bool) -> list[tuple[str, str]]:
    """The three servers run side by side (one uvicorn process each, same flags, same client) and take the
    load in turns (4 rounds), so a change in the machine's load (other work on it) falls on all
    of them alike rather than on whichever ran during it."""
    from tests.bench.loadgen import LoadResult, build_request, closed_loop, fixed_rate

    seconds = 4.0 if quick else 8.0
    rounds = 4
    n = 80_000 if not quick else 40_000  # distinct messages: a closed loop stops early when they run out
    bodies, _ = _bodies(n)
    rows: list[tuple[str, str]] = []
    modes = ("empty", "callback", "asgi-empty")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    procs: list[subprocess.Popen] = []
    try:
        ports, loads = {}, {}
        for mode in modes:
            ports[mode] = _free_port()
            procs.append(_start(["--mode", mode, "--data", str(tmp / mode)], ports[mode]))
            loads[mode] = [build_request("127.0.0.1", ports[mode], p, b) for p, b in bodies]
            asyncio.run(
                closed_loop("127.0.0.1", ports[mode], loads[mode][:500], connections=16, seconds=1)
            )  # warm-up
            if mode != "callback":  # the empty endpoints do not look at the bodies: repeats are fine
                loads[mode] = loads[mode][500:] * 8
        results = {mode: LoadResult(0, 0, 0, 0.0, []) for mode in modes}
        cpu = dict.fromkeys(modes, 0.0)
        next_message = 500  # the callback gets each message once (a repeat would be a cheaper duplicate)
        for _ in range(rounds):
            for mode, proc in zip(modes, procs, strict=True):
                batch = loads[mode][next_message:] if mode == "callback" else loads[mode]
                cpu_before = _cpu_seconds(proc.pid)
                res = asyncio.run(
                    closed_loop("127.0.0.1", ports[mode], batch, connections=32, seconds=seconds / rounds)
                )
                cpu_after = _cpu_seconds(proc.pid)
                if cpu_before is not None and cpu_after is not None:
                    cpu[mode] += cpu_after - cpu_before
                if mode == "callback":
                    next_message += res.sent
                total = results[mode]
                results[mode] = LoadResult(
                    total.sent + res.sent,
                    total.ok + res.ok,
                    total.errors + res.errors,
                    total.seconds + res.seconds,
                    total.latencies_ms + res.latencies_ms,
                )
        for mode in modes:
            res = results[mode]
            per_req = f", server CPU {cpu[mode] / res.ok * 1e6:.0f} µs/req" if cpu[mode] and res.ok else ""
            rows.append(
                (
                    f"ingest {mode}: throughput",
                    f"{res.rate:,.0f} req/s (p50 {res.pct(50):.1f} ms, "
                    f"p99 {res.pct(99):.1f} ms, errors {res.errors}{per_req})",
                )
            )
        rows.append(
            (
                "ingest ratio callback/empty",
                f"{results['callback'].rate / results['empty'].rate:.2f}× (target ≥ 0.5×)",
            )
        )
        rows.append(
            (
                "ingest ratio callback/asgi-empty",
                f"{results['callback'].rate / results['asgi-empty'].rate:.2f}× "
                "(no framework on either side; for reference)",
            )
        )
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        procs.clear()
        # fixed rate: 200 messages/s, fresh message ids
        port = _free_port()
        proc = _start(["--mode", "callback", "--data", str(tmp / "fixed")], port)
        try:
            fresh, _ = _bodies(int(200 * seconds), start_id=10_000_000)
            reqs = [build_request("127.0.0.1", port, p, b) for p, b in fresh]
            res = asyncio.run(fixed_rate("127.0.0.1", port, reqs, rate=200))
            rows.append(
                (
                    "ack at 200 msg/s",
                    f"p50 {res.pct(50):.1f} ms, p99 {res.pct(99):.1f} ms, "
                    f"max {max(res.latencies_ms):.1f} ms, errors {res.errors} "
                    "(target p99 < 50 ms)",
                )
            )
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        for proc in procs:  # left running by an error
            proc.kill()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def bench_import(quick: bool) -> list[tuple[str, str]]:
    from core.clock import SystemClock
    from storage.db import make_engine, make_session_factory
    from storage.importer.run import import_paths
    from storage.importer.sample import write_sample_dataset
    from storage.schema import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        now = SystemClock().now()
        write_sample_dataset(tmp / "csv", customers=4000, now=now)
        rows_total = sum(
            max(0, sum(1 for _ in open(f, encoding="utf-8-sig")) - 1) for f in (tmp / "csv").glob("*.csv")
        )
        engine = make_engine(f"sqlite:///{tmp}/db.sqlite")
        upgrade(engine)
        t0 = time.perf_counter()
        import_paths(make_session_factory(engine), [tmp / "csv"], now=now, progress=False)
        dt = time.perf_counter() - t0
        engine.dispose()
        return [
            (
                "import (SQLite, sample org)",
                f"{rows_total:,} rows in {dt:.1f} s = {rows_total / dt:,.0f} rows/s",
            )
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_photos(quick: bool) -> list[tuple[str, str]]:
    from bot.photos import bench_photo, make_sample_jpeg

    sample = make_sample_jpeg()
    ms = bench_photo(data=sample)
    boxed = bench_sandboxed_photo(data=sample)
    return [
        ("photo gate, 12 MP JPEG", f"{ms:.0f} ms per photo per core (target ≤ 150 ms)"),
        ("photo gate in the sandbox, 12 MP JPEG", f"{boxed:.0f} ms per photo (a warm child; pipe both ways)"),
    ]


def bench_nlq(quick: bool) -> list[tuple[str, str]]:
    """Accuracy, p95 at 20× the evaluation scale (SQLite) and, unless quick, at 100,000 customers /
    1,000,000 visits on the embedded PostgreSQL."""
    from tests.bench import nlq as nlq_bench

    return nlq_bench.report(quick=quick)


def bench_metrics(quick: bool) -> list[tuple[str, str]]:
    from tests.bench.metrics import bench_metrics as run

    return run(quick)


def bench_timers(quick: bool) -> list[tuple[str, str]]:
    from tests.bench.timers import bench_timers as run

    return run(quick)


def bench_reconcile(quick: bool) -> list[tuple[str, str]]:
    from tests.bench.reconcile import bench_reconcile as run

    return run(quick)


SECTIONS: dict[str, Callable[[bool], list[tuple[str, str]]]] = {
    "ingest": bench_ingest,
    "import": bench_import,
    "photos": bench_photos,
    "nlq": bench_nlq,
    "metrics": bench_metrics,
    "timers": bench_timers,
    "reconcile": bench_reconcile,
}


def _load_sections() -> None:
    """Load, soak, capacity and hostile-input figures (tests/bench/load.py); the fault scenarios
    (tests/bench/faults.py)."""
    from tests.bench import faults as bench_faults
    from tests.bench import floor as bench_floor
    from tests.bench import lanes as bench_lanes
    from tests.bench import leads as bench_leads
    from tests.bench import load as bench_load
    from tests.bench import targets as bench_targets

    SECTIONS.update(bench_load.SECTIONS)
    SECTIONS.update(bench_faults.SECTIONS)
    SECTIONS.update(bench_lanes.SECTIONS)
    SECTIONS["targets"] = bench_targets.bench_targets
    SECTIONS["leads"] = bench_leads.bench_leads
    SECTIONS.update(bench_floor.SECTIONS)  # issue 20: the claim, the worker and the photo gate at their floor


_load_sections()


def run_bench(*, quick: bool = False, only: str | None = None) -> int:
    names = [n.strip() for n in only.split(",")] if only else list(SECTIONS)
    print(
        f"# bench on {platform.node()} — {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(f"{'figure':<40} value")
    failed = 0
    for name in names:
        rows: list[tuple[str, str]] = []
        try:
            rows = SECTIONS[name](quick)
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
            print(f"{name:<40} ERROR {type(exc).__name__}: {exc}")
            failed += 1
        finally:  # Ctrl-C included: what the section started stops with it
            left = section_leftovers()
        for label, value in rows:
            print(f"{label:<40} {value}", flush=True)
        if left:
            print(f"{name:<40} ERROR processes outlived the section (now stopped):\n{left}", flush=True)
            failed += 1
    return 1 if failed else 0


def section_leftovers() -> str:
    """Stop what this process started and leaves to its exit handlers (bundled Redis, embedded PostgreSQL,
    the photo sandbox), then the bundled Redis servers of killed children; describe and stop what still runs
    (every process started from here carries this run's marker). Empty when nothing outlived the section."""
    shut_down_own_servers()
    reap_orphans()
    left = leftovers()
    if not left:
        return ""
    what = describe(left)
    stop_servers(left)
    return what


def bench_sandboxed_photo(runs: int = 5, data: bytes | None = None) -> float:
    """Median milliseconds from handing a 12 MP JPEG to a warm child to holding its answer: the gate plus
    the sandbox's own cost (the pipe both ways, the checks of the answer)."""
    import statistics
    import time

    from bot.photo_sandbox import PhotoSandbox
    from bot.photos import make_sample_jpeg

    sample = data if data is not None else make_sample_jpeg()
    with PhotoSandbox(workers=1) as sandbox:
        sandbox.warm()
        sandbox.process(sample)  # warm up
        timings = []
        for _ in range(max(1, runs)):
            started = time.perf_counter()
            sandbox.process(sample)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)
