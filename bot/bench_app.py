"""Servers the ingest benchmark measures side by side: an empty FastAPI endpoint and our callback.

`python -m bot.bench_app --mode empty|callback --port P --data DIR` (callback only, no worker, so the
figure is the ingest path: size cap, XML, signature, decrypt, parse, inbox commit).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response


def empty_app() -> FastAPI:
    app = FastAPI()

    @app.post("/wecom/callback")
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(status_code=200, content=b"")

    return app


def callback_app(data: Path, db_url: str | None, with_worker: bool, api_base: str) -> FastAPI:
    from bot.app import create_app
    from bot.demo_corp import demo_settings
    from bot.wiring import build

    settings = demo_settings(data_dir=data, api_base=api_base, public_base_url="http://127.0.0.1", db_url=db_url,
                             WECOM_MAX_CLOCK_SKEW=0)
    return create_app(build(settings), run_scheduler=with_worker)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["empty", "callback"], required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", default="./bench-data")
    p.add_argument("--db")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--api-base", default="http://127.0.0.1:9/cgi-bin/")
    args = p.parse_args()
    app = empty_app() if args.mode == "empty" else callback_app(Path(args.data), args.db, args.worker, args.api_base)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
