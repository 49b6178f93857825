"""The composition root and CLI: serve, demo, worker, sweep, import, ask, bench."""
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

    return FixedClock(parse_time(now)) if now else SystemClock()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.app import create_app
    from bot.logs import setup_logging
    from bot.wiring import build

    setup_logging()
    services = build(_settings())
    app = create_app(services, run_scheduler=not args.no_worker)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Inbox worker, timer sweep and outbox relay without the HTTP server."""
    from bot.logs import setup_logging
    from bot.wiring import build, run_forever

    setup_logging()
    services = build(_settings())
    asyncio.run(run_forever(services, interval=args.beat, listen=not args.no_listen))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """One tick as of --now: inbox, due timers, outbox; then exit."""
    import json

    from bot.logs import setup_logging
    from bot.wiring import build

    setup_logging("WARNING")
    services = build(_settings(), clock=_clock(args.now))

    async def once():
        try:
            return await services.tick()
        finally:
            await services.client.aclose()

    print(json.dumps(asyncio.run(once()), ensure_ascii=False))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from storage.db import make_engine, make_session_factory
    from storage.importer.run import ImportFailed, format_summary, import_paths
    from storage.schema import upgrade

    url = os.environ.get("DATABASE_URL") or _db_url_from_dotenv()
    engine = make_engine(url)
    upgrade(engine)
    from bot.wiring import on_payments_loaded
    from core.clock import SystemClock

    try:
        summary = import_paths(make_session_factory(engine), [Path(p) for p in args.paths], now=SystemClock().now(),
                               progress=sys.stderr.isatty(), on_payments_loaded=on_payments_loaded)
    except ImportFailed as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(format_summary(summary))
    return 0


def _db_url_from_dotenv() -> str:
    """import and ask need only the database: read DATABASE_URL without requiring the WeCom settings."""
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class DbOnly(BaseSettings):
        model_config = SettingsConfigDict(env_file=".env", extra="ignore")
        DATABASE_URL: str = "sqlite:///./data/assistant.db"

    return DbOnly().DATABASE_URL


def cmd_ask(args: argparse.Namespace) -> int:
    from core.clock import parse_time
    from nlq.cli import run_ask
    from storage.db import make_engine, make_session_factory

    engine = make_engine(os.environ.get("DATABASE_URL") or _db_url_from_dotenv())
    factory = make_session_factory(engine)
    now = parse_time(args.now) if args.now else None
    return run_ask(factory, asker=args.as_user, question=args.question, batch_path=args.batch, now=now,
                   as_json=args.json)


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
    s.add_argument("--no-worker", action="store_true", help="only accept callbacks (run `worker` processes apart)")
    s.set_defaults(func=cmd_serve)
    d = sub.add_parser("demo", help="embedded default + local WeCom emulator with a chat page + sample data")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--data-dir", default="./data/demo")
    d.add_argument("--reset", action="store_true", help="start from fresh sample data")
    d.set_defaults(func=cmd_demo)
    w = sub.add_parser("worker", help="inbox worker, timer sweep and outbox relay (no HTTP)")
    w.add_argument("--beat", type=float, default=1.0,
                   help="seconds between ticks (default 1; on PostgreSQL a stored callback wakes the worker at once)")
    w.add_argument("--no-listen", action="store_true", help="PostgreSQL: do not LISTEN for stored callbacks (beat only)")
    w.set_defaults(func=cmd_worker)
    sw = sub.add_parser("sweep", help="run one tick (inbox, due timers, outbox) and exit")
    sw.add_argument("--once", action="store_true", required=True)
    sw.add_argument("--now", help="ISO time to run as (default: now)")
    sw.set_defaults(func=cmd_sweep)
    i = sub.add_parser("import", help="load CSV/XLSX per spec/import-format.md")
    i.add_argument("paths", nargs="+")
    i.set_defaults(func=cmd_import)
    a = sub.add_parser("ask", help="ask a question as a user (spec/nlq-semantics.md)")
    a.add_argument("--as", dest="as_user", required=True)
    a.add_argument("--now")
    a.add_argument("--json", action="store_true")
    a.add_argument("--batch")
    a.add_argument("question", nargs="?")
    a.set_defaults(func=cmd_ask)
    b = sub.add_parser("bench", help="benchmarks; prints figures and ratios")
    b.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    b.add_argument("--only", help="comma-separated benchmark names: ingest, import, photos, nlq, metrics, timers, "
                                  "sustained, peak, soak, capacity, hostile, faults")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
