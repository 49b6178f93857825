"""`GET/POST /wecom/callback`: the WeCom protocol exactly, and nothing slow before the 200.

POST: cap the body → parse the outer XML safely → check msg_signature in constant time → check the
timestamp window → decrypt (receive id must be our CorpID) → parse the inner XML into a typed event →
commit it to the inbox (a duplicate is a no-op) → 200 with an empty body. A bad request is refused
with nothing stored and one log line naming the reason; a storage failure answers 503 so WeCom retries.

The POST is a plain ASGI endpoint (`ReceiveEndpoint`, mounted first as a Starlette route by bot/app.py): it
reads the query string and the body itself, so no request object, parameter parsing or dependency
solving runs per callback — FastAPI's route machinery cost more than all the checks above together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from bot.wecom.crypto import CallbackRejected, WeComCrypto
from bot.wecom.parse import outer_encrypt, parse_inbound
from core.clock import Clock
from storage import inbox

log = logging.getLogger("assistant.callback")
MAX_BODY_BYTES = 64 * 1024  # real callbacks are < 8 KiB (docs/reliability.md §3.1)
STORE_TIMEOUT_S = 2.0  # the callback's whole wait for its commit; WeCom gives up after 5 s
STORE_THREADS = 4  # inbox writes in flight at once (each one group of callbacks)


@dataclass
class CallbackDeps:
    crypto: WeComCrypto
    engine: Engine
    clock: Clock
    max_clock_skew: int = 300
    on_stored: Callable[[], None] | None = None  # wakes the worker
    store_timeout_s: float = STORE_TIMEOUT_S  # the inbox commit's budget; past it the callback answers 503


def _refuse(reason: str, request: Request, status: int = 403) -> Response:
    client = request.client.host if request.client else "-"
    log.warning("callback refused: %s (from %s)", reason, client)
    return Response(status_code=status)


def _check_window(timestamp: str, deps: CallbackDeps) -> None:
    if deps.max_clock_skew <= 0:
        return
    try:
        ts = int(timestamp)
    except ValueError as exc:
        raise CallbackRejected("bad_timestamp") from exc
    if abs(deps.clock.now().timestamp() - ts) > deps.max_clock_skew:
        raise CallbackRejected("stale_timestamp")


_EMPTY_RESPONSE_HEADERS = [(b"content-length", b"0")]


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


async def _read_capped(scope: dict[str, Any], receive: Callable) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > MAX_BODY_BYTES:
                raise CallbackRejected("body_too_large")
            break
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise CallbackRejected("body_too_large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Callable, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _EMPTY_RESPONSE_HEADERS})
    await send({"type": "http.response.body", "body": b""})


class StoreTimeout(SQLAlchemyError):
    """The inbox did not commit within the callback's budget (a held write lock, a hung database): answer 503,
    WeCom retries. The write may still commit later in its thread; the retry then finds a duplicate (200)."""


def callback_engine(engine: Engine, timeout_s: float = STORE_TIMEOUT_S) -> Engine:
    """The engine the callback writes with. SQLite: a pool of its own on the same file whose connections wait
    at most ~3/4 of the budget for the write lock (the shared engine waits 30 s, right for the worker and an
    import, not for a request WeCom abandons after 5 s). Other databases: the engine itself (connect and pool
    timeouts of 2 s are set in storage/db.py; the budget bounds the rest)."""
    if engine.dialect.name != "sqlite":
        return engine
    from sqlalchemy import event

    from storage.db import make_engine

    own = make_engine(engine.url.render_as_string(hide_password=False))
    busy_ms = max(1, int(timeout_s * 750))

    @event.listens_for(own, "connect")
    def _short_busy_timeout(dbapi_conn, _record):  # noqa: ANN001 - runs after storage/db.py's pragmas
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.close()
        dbapi_conn.urgent = True  # first in the process's writer queue: the acknowledgment waits on it

    return own


class GroupCommit:
    """The callbacks that reach the database in the same turn of the event loop share one transaction.

    Each handler awaits the commit of its group, so every 200 still follows the commit of its own row; a
    failed group answers all its callbacks 503 (nothing of it stored) — except that a row the database
    refuses for its own data (too long a key…) is not allowed to sink the others: those are retried alone.
    Under load this turns one commit (and one pool checkout) per callback into one per group; alone, a
    callback waits one loop turn (microseconds) for its group of one.

    The write runs in a thread of its own (`STORE_THREADS` of them), never on the event loop: a held SQLite
    write lock or a hung database costs that thread, not every other request. A handler waits at most
    `timeout_s` for its commit (`StoreTimeout` → 503); a group still queued when its budget is spent is not
    written at all.
    """

    def __init__(self, engine: Engine, *, timeout_s: float = STORE_TIMEOUT_S, own_engine: bool = False):
        self.engine = engine
        self.timeout_s = timeout_s
        self._own_engine = own_engine
        self._pool = ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="inbox-store")
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[dict[str, Any], asyncio.Future[bool]]]] = {}

    async def store(self, row: dict[str, Any]) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        group = self._pending.get(loop)
        if group is None:
            group = self._pending[loop] = []
            loop.call_soon(self._flush, loop)  # after the handlers already runnable in this turn
        group.append((row, future))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            raise StoreTimeout(f"inbox commit not done within {self.timeout_s:g} s") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._own_engine:
            self.engine.dispose()

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        group = self._pending.pop(loop)
        rows = [row for row, _ in group]
        deadline = time.monotonic() + self.timeout_s
        try:
            done = loop.run_in_executor(self._pool, self._write, rows, deadline)
        except RuntimeError as exc:  # the pool is shut down (the app is stopping)
            for _row, future in group:
                self._settle(future, StoreTimeout(str(exc)))
            return

        def settle(result: asyncio.Future[list[bool | BaseException]]) -> None:
            outcomes: list[bool | BaseException]
            if result.cancelled():
                outcomes = [StoreTimeout("cancelled")] * len(group)
            elif result.exception() is not None:
                outcomes = [result.exception()] * len(group)  # type: ignore[list-item]
            else:
                outcomes = result.result()
            for (_row, future), outcome in zip(group, outcomes, strict=True):
                self._settle(future, outcome)

        done.add_done_callback(settle)

    def _write(self, rows: list[dict[str, Any]], deadline: float) -> list[bool | BaseException]:
        """In a pool thread: the group's one transaction (or each row alone, see the class)."""
        if time.monotonic() > deadline:  # queued behind stuck writes: its callbacks were answered 503
            return [StoreTimeout("not written: the callback's budget was spent in the queue")] * len(rows)
        try:
            return list(inbox.store_many_committed(self.engine, rows))
        except (IntegrityError, DataError) as exc:  # one row's own fault: each alone, so only that one fails
            return [exc] if len(rows) == 1 else [self._alone(row) for row in rows]
        except Exception as exc:  # noqa: BLE001 - handed to every handler of the group
            return [exc] * len(rows)

    def _alone(self, row: dict[str, Any]) -> bool | BaseException:
        try:
            return inbox.store_many_committed(self.engine, [row])[0]
        except Exception as exc:  # noqa: BLE001 - handed to its handler
            return exc

    @staticmethod
    def _settle(future: asyncio.Future[bool], outcome: bool | BaseException) -> None:
        if future.done():  # its handler was cancelled
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class ReceiveEndpoint:
    """`POST /wecom/callback` as an ASGI app. Answers have an empty body: 200, 403/413 (refused), 503."""

    def __init__(self, deps: CallbackDeps):
        self.deps = deps
        engine = callback_engine(deps.engine, deps.store_timeout_s)
        self.writer = GroupCommit(
            engine, timeout_s=deps.store_timeout_s, own_engine=engine is not deps.engine
        )

    def close(self) -> None:
        self.writer.close()

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        deps = self.deps
        started = time.perf_counter()
        query = dict(
            parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        )  # as Starlette
        msg_signature, timestamp = query.get("msg_signature", ""), query.get("timestamp", "")
        try:
            body = await _read_capped(scope, receive)
            encrypted, _to = outer_encrypt(body)
            deps.crypto.verify(msg_signature, timestamp, query.get("nonce", ""), encrypted)
            _check_window(timestamp, deps)
            plaintext = deps.crypto.decrypt(encrypted)
            event, dedupe_key = parse_inbound(plaintext)
        except CallbackRejected as exc:
            client = scope.get("client")
            log.warning("callback refused: %s (from %s)", exc.reason, client[0] if client else "-")
            return await _answer(send, 413 if exc.reason == "body_too_large" else 403)
        except _Disconnected:
            return None
        try:  # committed before the 200
            stored = await self.writer.store(
                {
                    "dedupe_key": dedupe_key,
                    "sender": event.sender,
                    "kind": event.type,
                    "event": event.to_dict(),
                    "now": deps.clock.now(),
                }
            )
        except SQLAlchemyError as exc:  # StoreTimeout too: a held write lock, a hung database
            log.error("callback not stored, asking WeCom to retry: %s", exc.__class__.__name__)
            return await _answer(send, 503)
        if log.isEnabledFor(logging.INFO):  # no userid or content in the line: the kind and the outcome
            log.info(
                "callback %s kind=%s in %.1f ms",
                "stored" if stored else "duplicate",
                event.type,
                (time.perf_counter() - started) * 1000,
            )
        if stored and deps.on_stored:
            deps.on_stored()
        return await _answer(send, 200)


def make_router(deps: CallbackDeps) -> APIRouter:
    """`GET /wecom/callback` (URL verification, rare): an ordinary FastAPI route. The POST: `ReceiveEndpoint`."""
    router = APIRouter()

    @router.get("/wecom/callback")
    def verify_url(
        request: Request, msg_signature: str = "", timestamp: str = "", nonce: str = "", echostr: str = ""
    ) -> Response:
        try:
            _check_window(timestamp, deps)
            plain = deps.crypto.verify_and_decrypt(msg_signature, timestamp, nonce, echostr)
        except CallbackRejected as exc:
            return _refuse(exc.reason, request)
        return PlainTextResponse(plain)

    return router
