"""Servers the ingest benchmark measures side by side: an empty FastAPI endpoint and our callback.

`python -m tests.bench.app --mode empty|callback|asgi-empty --port P --data DIR` (callback only, no worker, so
the figure is the ingest path: size cap, XML, signature, decrypt, parse, inbox commit). Each is the same
uvicorn, one process, same flags. `asgi-empty` answers like the empty endpoint with no framework at all: the
callback is a plain ASGI endpoint (bot/app.py's fast lane), so this is the floor it is built on.
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


async def asgi_empty_app(scope, receive, send) -> None:  # noqa: ANN001 - ASGI
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def callback_app(data: Path, db_url: str | None, with_worker: bool, api_base: str) -> FastAPI:
    from bot.app import create_app
    from bot.bootstrap import build
    from bot.emulator.corp import demo_settings

    settings = demo_settings(
        data_dir=data,
        api_base=api_base,
        public_base_url="http://127.0.0.1",
        db_url=db_url,
        WECOM_MAX_CLOCK_SKEW=0,
    )
    return create_app(build(settings), run_scheduler=with_worker)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["empty", "callback", "asgi-empty"], required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", default="./bench-data")
    p.add_argument("--db")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--api-base", default="http://127.0.0.1:9/cgi-bin/")
    args = p.parse_args()
    from bot.signals import exit_through_handlers_on_sigterm

    exit_through_handlers_on_sigterm()  # as main.py: the bundled Redis stops when the bench stops this server
    if args.mode == "empty":
        app = empty_app()
    elif args.mode == "asgi-empty":
        app = asgi_empty_app
    else:
        app = callback_app(Path(args.data), args.db, args.worker, args.api_base)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
