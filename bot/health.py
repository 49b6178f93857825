"""`/healthz` and `/readyz`: the process is up; and each dependency, checked apart with a timeout of its own.

`/healthz` touches nothing (no database, no Redis, no thread): it answers as long as the event loop turns, which
is what a load balancer needs to know. `/readyz` runs each check in a thread of its own, awaited at most that
check's timeout, all at once:

| check | what | timeout |
|---|---|---|
| `database` | `SELECT 1` and the count of rows parked in the last day (`parked_24h`) | 2 s |
| `redis` | `PING` | 1 s |
| `wecom` | no `wecom_pause` row (WeCom is not refusing the app's configuration); its `wecom_error` when there is | 2 s |
| `photo_sandbox` | the photo sandbox usable (not closed); its children alive and photos queued | 1 s |

A check still running from an earlier `/readyz` (a hung dependency) is not started again: it answers false at
once ("still waiting"), so monitoring that polls a hung Redis does not pile up threads. The body keeps a bool per
check at the top level (`ready` is their conjunction) and the details under `checks`:
`{"ok": bool, "ms": float}` plus `"error"` when it failed or timed out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from bot.photo_sandbox import shared_health
from bot.wecom.client import kind_of
from storage import outbox
from storage.models import InboxRow, OutboxRow
from storage.redis_conn import ping

TIMEOUTS = {"database": 2.0, "redis": 1.0, "wecom": 2.0, "photo_sandbox": 1.0}


class Readiness:
    """The checks of one process (`check()` → the /readyz body and whether every check passed)."""

    def __init__(self, services: Any, *, timeouts: dict[str, float] | None = None):  # bot.bootstrap.Runtime
        self.services = services
        self.timeouts = {**TIMEOUTS, **(timeouts or {})}
        self._checks: dict[str, Callable[[], dict[str, Any]]] = {
            "database": self._database,
            "redis": self._redis,
            "wecom": self._wecom,
            "photo_sandbox": self._photo_sandbox,
        }
        self._pools = {
            name: ThreadPoolExecutor(1, thread_name_prefix=f"readyz-{name}") for name in self._checks
        }
        self._running: dict[str, Future[dict[str, Any]]] = {}

    async def check(self) -> tuple[bool, dict[str, Any]]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(name) for name in names))
        body: dict[str, Any] = {}
        details: dict[str, Any] = {}
        for name, result in zip(names, results, strict=True):
            extra = result.pop("extra", {})
            body[name] = bool(result["ok"])
            details[name] = result
            body.update(extra)
        ok = all(body[name] for name in names)
        return ok, {"ready": ok, **body, "checks": details}

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, name: str) -> dict[str, Any]:
        timeout = self.timeouts[name]
        started = time.perf_counter()
        previous = self._running.get(name)
        if previous is not None and not previous.done():
            return {"ok": False, "ms": 0.0, "error": "still waiting on the previous check"}
        future = self._pools[name].submit(self._checks[name])
        self._running[name] = future
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            result = {"ok": False, "error": f"no answer within {timeout:g} s"}
        except Exception as exc:  # noqa: BLE001 - a failed check is a red check, not a 500
            result = {"ok": False, "error": exc.__class__.__name__}
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        return result

    # -- the checks (each in its own thread) ---------------------------------------------------------------
    def _database(self) -> dict[str, Any]:
        since = self.services.clock.now() - timedelta(days=1)
        with self.services.session_factory() as s:
            s.execute(text("SELECT 1"))
            parked = int(
                s.scalar(
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(OutboxRow.status == "dead", OutboxRow.created_at > since)
                )
                or 0
            ) + int(
                s.scalar(
                    select(func.count())
                    .select_from(InboxRow)
                    .where(InboxRow.status == "failed", InboxRow.received_at > since)
                )
                or 0
            )
        return {"ok": True, "extra": {"parked_24h": parked}}

    def _redis(self) -> dict[str, Any]:
        return {"ok": ping(self.services.redis)}

    def _wecom(self) -> dict[str, Any]:
        with self.services.session_factory() as s:
            pause = outbox.current_pause(s)
        if pause is None:
            return {"ok": True}
        kind = kind_of(pause.errcode)
        error = {
            "errcode": pause.errcode,
            "reason": kind.reason,
            "fix": kind.fix,
            "message": f"企业微信拒绝调用（errcode {pause.errcode}）：{kind.reason}。修复：{kind.fix}",
            "since": pause.since.isoformat(),
            "probes": pause.probes,
            "next_probe_at": pause.next_probe_at.isoformat(),
            "errmsg": pause.errmsg,
        }
        return {"ok": False, "error": f"errcode {pause.errcode}", "extra": {"wecom_error": error}}

    def _photo_sandbox(self) -> dict[str, Any]:
        prefetch = getattr(self.services.worker, "prefetch", None)
        sandbox = getattr(prefetch, "sandbox", None)
        health = sandbox.health() if sandbox is not None else shared_health()
        return {**health, "ok": bool(health.get("ok"))}
