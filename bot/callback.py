"""`GET/POST /wecom/callback`: the WeCom protocol exactly, and nothing slow before the 200.

POST: cap the body → parse the outer XML safely → check msg_signature in constant time → check the
timestamp window → decrypt (receive id must be our CorpID) → parse the inner XML into a typed event →
commit it to the inbox (a duplicate is a no-op) → 200 with an empty body. A bad request is refused
with nothing stored and one log line naming the reason; a storage failure answers 503 so WeCom retries.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.crypto import CallbackRejected, WeComCrypto
from bot.xml_parse import outer_encrypt, parse_inbound
from core.clock import Clock
from storage import inbox

log = logging.getLogger("assistant.callback")
MAX_BODY_BYTES = 64 * 1024  # real callbacks are < 8 KiB (research/reliability.md §3.1)


@dataclass
class CallbackDeps:
    crypto: WeComCrypto
    engine: Engine
    clock: Clock
    max_clock_skew: int = 300
    on_stored: Callable[[], None] | None = None  # wakes the worker


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


async def _read_capped(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise CallbackRejected("body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise CallbackRejected("body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def make_router(deps: CallbackDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/wecom/callback")
    def verify_url(request: Request, msg_signature: str = "", timestamp: str = "", nonce: str = "",
                   echostr: str = "") -> Response:
        try:
            _check_window(timestamp, deps)
            plain = deps.crypto.verify_and_decrypt(msg_signature, timestamp, nonce, echostr)
        except CallbackRejected as exc:
            return _refuse(exc.reason, request)
        return PlainTextResponse(plain)

    @router.post("/wecom/callback")
    async def receive(request: Request, msg_signature: str = "", timestamp: str = "", nonce: str = "") -> Response:
        started = time.perf_counter()
        try:
            body = await _read_capped(request)
            encrypted, _to = outer_encrypt(body)
            deps.crypto.verify(msg_signature, timestamp, nonce, encrypted)
            _check_window(timestamp, deps)
            plaintext = deps.crypto.decrypt(encrypted)
            event, dedupe_key = parse_inbound(plaintext)
        except CallbackRejected as exc:
            return _refuse(exc.reason, request, 413 if exc.reason == "body_too_large" else 403)
        try:
            with deps.engine.begin() as conn:  # committed before the 200
                stored = inbox.store(conn, dedupe_key=dedupe_key, sender=event.sender, kind=event.type,
                                     event=event.to_dict(), now=deps.clock.now())
        except SQLAlchemyError as exc:
            log.error("callback not stored, asking WeCom to retry: %s", exc.__class__.__name__)
            return Response(status_code=503)
        if log.isEnabledFor(logging.INFO):  # no userid or content in the line: the kind and the outcome
            log.info("callback %s kind=%s in %.1f ms", "stored" if stored else "duplicate", event.type,
                     (time.perf_counter() - started) * 1000)
        if stored and deps.on_stored:
            deps.on_stored()
        return Response(status_code=200, content=b"")

    return router
