"""The composition root and CLI: serve, demo, worker, sweep, import, sync-contacts, ask, targets, bench."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _settings(**overrides):
    from bot.settings import load_settings

    return load_settings(**overrides)


def _clock(now: str | None):
    from core.clock import FixedClock, SystemClock, parse_time

    if not now:
        return SystemClock()
    try:
        return FixedClock(parse_time(now))
    except ValueError:
        raise SystemExit(
            f"--now 不是有效的 ISO 时间：{now!r}（例如 2026-11-23T09:00；invalid ISO time）"
        ) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from bot import serve
    from bot.app import create_app
    from bot.bootstrap import build
    from bot.logs import setup_logging

    setup_logging()
    settings = _settings()
    services = build(settings)
    app = create_app(services, run_scheduler=not args.no_worker)
    serve.run(
        app,
        host=args.host,
        port=args.port,
        read_timeout=settings.SERVE_READ_TIMEOUT,
        max_connections=settings.SERVE_MAX_CONNECTIONS,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Inbox worker, timer sweep and outbox relay without the HTTP server."""
    from bot.beat import run_forever
    from bot.bootstrap import build
    from bot.logs import setup_logging

    setup_logging()
    services = build(_settings())
    asyncio.run(run_forever(services, interval=args.beat, listen=not args.no_listen))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """One tick as of --now: inbox, due timers, outbox; then exit."""
    import json

    from bot.bootstrap import build
    from bot.logs import setup_logging

    setup_logging("WARNING")
    services = build(_settings(), clock=_clock(args.now))

    async def once():
        try:
            return await services.tick()
        finally:
            await services.client.aclose()

    print(json.dumps(asyncio.run(once()), ensure_ascii=False))
    return 0


def cmd_sync_contacts(args: argparse.Namespace) -> int:
    """The address book from WeCom now (docs/contacts-sync.md): the summary, or the console step to fix."""
    from bot.bootstrap import build
    from bot.logs import setup_logging
    from bot.wecom.contacts import sync_now

    setup_logging("WARNING")
    services = build(_settings(), clock=_clock(args.now))
    code, text = asyncio.run(sync_now(services))
    print(text)
    return code


DEMO_DATA_DIR = "./data/demo"


def _store_url() -> str:
    """The database `ask` and `import` open: DATABASE_URL when set; otherwise the default file, or the demo's
    when only the demo has run here (said on stderr, so nobody wonders which database answered)."""
    from bot.settings import load_store_settings

    settings = load_store_settings()
    url = settings.DATABASE_URL
    explicit = "DATABASE_URL" in os.environ or _dotenv_sets("DATABASE_URL")
    default_file = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    demo_file = Path(DEMO_DATA_DIR) / "assistant.db"
    if not explicit and default_file is not None and not default_file.exists() and demo_file.exists():
        print(
            f"使用演示数据库 {demo_file}（using the demo database; set DATABASE_URL to choose another）",
            file=sys.stderr,
        )
        return f"sqlite:///{demo_file}"
    return url


def _dotenv_sets(name: str) -> bool:
    env = Path(".env")
    return env.is_file() and any(
        line.split("=", 1)[0].strip() == name for line in env.read_text().splitlines()
    )


def cmd_import(args: argparse.Namespace) -> int:
    from bot.bootstrap import on_imported
    from core.clock import SystemClock
    from storage.db import make_engine, make_session_factory
    from storage.importer.run import ImportFailed, format_summary, import_paths
    from storage.schema import upgrade

    engine = make_engine(_store_url())
    upgrade(engine)
    try:
        summary = import_paths(
            make_session_factory(engine),
            [Path(p) for p in args.paths],
            now=SystemClock().now(),
            progress=sys.stderr.isatty(),
            on_imported=on_imported,
        )
    except ImportFailed as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(format_summary(summary))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.settings import load_store_settings
    from nlq.cli import run_ask
    from nlq.llm import lane_from_env
    from storage.db import make_engine, make_session_factory

    url = _store_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        print(
            f"数据库 {url.removeprefix('sqlite:///')} 还不存在：先运行 `python main.py demo` 或 "
            f"`python main.py import 文件…`（no database at {url}）",
            file=sys.stderr,
        )
        return 2
    settings = load_store_settings()
    llm_env = {
        k: v
        for k, v in (
            ("LLM_BASE_URL", settings.LLM_BASE_URL),
            ("LLM_API_KEY", settings.LLM_API_KEY),
            ("LLM_MODEL", settings.LLM_MODEL),
            ("LLM_TIMEOUT_S", str(settings.LLM_TIMEOUT_S)),
            ("LLM_LANES", str(settings.LLM_LANES)),
            ("LLM_METHOD", settings.LLM_METHOD),
        )
        if v
    }
    factory = make_session_factory(make_engine(url))
    return run_ask(
        factory,
        asker=args.as_user,
        question=args.question,
        batch_path=args.batch,
        now=args.now,
        as_json=args.json,
        llm=lane_from_env(llm_env, session_factory=factory, budget_s=settings.LLM_TIMEOUT_S),
    )


def cmd_targets(args: argparse.Namespace) -> int:
    from storage.targets.cli import run_targets

    return run_targets(args, _store_url())


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.emulator.demo import run_demo

    return run_demo(host=args.host, port=args.port, data_dir=Path(args.data_dir), reset=args.reset)


def cmd_bench(args: argparse.Namespace) -> int:
    from tests.bench.run import run_bench

    return run_bench(quick=args.quick, only=args.only)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py", description="WeCom sales assistant 企业微信销售助手")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="callback + worker + scheduler in one process")
    s.add_argument("--host", default="0.0.0.0")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--no-worker", action="store_true", help="only accept callbacks (run `worker` processes apart)"
    )
    s.set_defaults(func=cmd_serve)
    d = sub.add_parser("demo", help="embedded default + local WeCom emulator with a chat page + sample data")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--data-dir", default="./data/demo")
    d.add_argument("--reset", action="store_true", help="start from fresh sample data")
    d.set_defaults(func=cmd_demo)
    w = sub.add_parser("worker", help="inbox worker, timer sweep and outbox relay (no HTTP)")
    w.add_argument(
        "--beat",
        type=float,
        default=1.0,
        help="seconds between ticks (default 1; on PostgreSQL a stored callback wakes the worker at once)",
    )
    w.add_argument(
        "--no-listen", action="store_true", help="PostgreSQL: do not LISTEN for stored callbacks (beat only)"
    )
    w.set_defaults(func=cmd_worker)
    sw = sub.add_parser("sweep", help="run one tick (inbox, due timers, outbox) and exit")
    sw.add_argument("--once", action="store_true", required=True)
    sw.add_argument("--now", help="ISO time to run as (default: now)")
    sw.set_defaults(func=cmd_sweep)
    i = sub.add_parser("import", help="load CSV/XLSX per docs/import-format.md")
    i.add_argument("paths", nargs="+")
    i.set_defaults(func=cmd_import)
    sc = sub.add_parser("sync-contacts", help="sync the address book from WeCom now (docs/contacts-sync.md)")
    sc.add_argument("--now", help="ISO time to record the changes at (default: now)")
    sc.set_defaults(func=cmd_sync_contacts)
    a = sub.add_parser("ask", help="ask a question as a user (docs/nlq-semantics.md)")
    a.add_argument("--as", dest="as_user", required=True)
    a.add_argument("--now")
    a.add_argument("--json", action="store_true")
    a.add_argument("--batch")
    a.add_argument("question", nargs="?")
    a.set_defaults(func=cmd_ask)
    t = sub.add_parser(
        "targets", help="targets: cascade (preview, --apply), show the tree, region coefficients"
    )
    tsub = t.add_subparsers(dest="targets_command", required=True)
    tc = tsub.add_parser(
        "cascade", help="split an organisation target down to every store and rep (docs/targets.md)"
    )
    tc.add_argument("--period", required=True, help="2026-05 | 2026Q2 | 2026")
    tc.add_argument("--amount", required=True, help="the organisation's target in yuan, e.g. 120000000")
    tc.add_argument("--json", action="store_true")
    tc.add_argument("--apply", action="store_true", help="write the split (without it: a preview only)")
    tc.add_argument("--as", dest="as_user", default="system:cli", help="who applies it (audit)")
    tc.add_argument("--now", help="ISO time to plan as (default: now)")
    ts = tsub.add_parser("show", help="print the stored targets of a period as a tree")
    ts.add_argument("--period", required=True)
    ts.add_argument("--json", action="store_true")
    ts.add_argument("--depth", type=int, help="levels to print (1: the organisation only)")
    tk = tsub.add_parser("coefficient", help="set a region's coefficient for a period, with a reason")
    tk.add_argument("--period", required=True)
    tk.add_argument("--region", required=True)
    tk.add_argument("--value", required=True, help="0.5 … 1.5")
    tk.add_argument("--reason", required=True)
    tk.add_argument("--as", dest="as_user", required=True)
    t.set_defaults(func=cmd_targets)
    b = sub.add_parser("bench", help="benchmarks; prints figures and ratios")
    b.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    b.add_argument(
        "--only",
        help="comma-separated benchmark names: ingest, import, photos, nlq, metrics, timers, "
        "sustained, peak, soak, capacity, hostile, faults, lanes, floor, targets, leads, reconcile",
    )
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    from bot.signals import exit_through_handlers_on_sigterm

    # every command: SIGTERM ends the process through its exit handlers (the bundled Redis stops with it), during
    # start-up too; `worker` then stops its tick gracefully (bot/beat.py), `serve` and `demo` through uvicorn
    exit_through_handlers_on_sigterm()
    sys.exit(main())
