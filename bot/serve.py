"""`main.py serve`'s HTTP server: uvicorn with a read deadline per request and a cap on open connections.

uvicorn by itself holds a connection that never sends a request, or sends its headers and then stalls the body,
for ever (its keep-alive timeout starts only after a response). Hundreds of such connections cost file
descriptors and memory, and `limit_concurrency` would not help: it counts those idle connections and answers
the genuine callback 503. So the HTTP protocol is uvicorn's own with a guard:

- **read deadline** (`SERVE_READ_TIMEOUT`, default 10 s): a request must have arrived whole — request line,
  headers and body — within that many seconds of the connection opening (or of the previous response on a
  kept-alive connection); otherwise the connection is closed (an app waiting on the body sees a disconnect).
  A request read in time is never cut off while the app answers it.
- **connection cap** (`SERVE_MAX_CONNECTIONS`, default 1,000): a connection opened while that many are open is
  closed at once, before anything is read. The slow ones leave within the read deadline, so genuine callbacks
  get in again within seconds even under a flood.
- keep-alive: uvicorn's 5 s (`timeout_keep_alive`) closes an idle kept-alive connection.

The soft limit on open files is raised to the hard limit at start, so the cap — not the process's descriptor
limit — is what turns connections away.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

log = logging.getLogger("assistant.serve")

KEEP_ALIVE_S = 5


def guarded_protocol(base: type, *, read_timeout: float, max_connections: int) -> type:
    """uvicorn's HTTP protocol class `base` (httptools or h11) with the read deadline and the connection cap."""

    class Guarded(base):  # type: ignore[misc,valid-type]
        _guard: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                log.warning(
                    "connection refused: %d connections open (SERVE_MAX_CONNECTIONS)", max_connections
                )
                transport.close()
                return
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request on this connection gets its own deadline

        def _arm(self) -> None:
            self._disarm()
            self._guard = self.loop.call_later(read_timeout, self._read_timed_out)

        def _disarm(self) -> None:
            if self._guard is not None:
                self._guard.cancel()
                self._guard = None

        def _read_timed_out(self) -> None:
            self._guard = None
            cycle = self.cycle
            if cycle is not None and not cycle.more_body and not cycle.response_complete:
                return  # the request arrived whole and the app is answering it: not ours to cut
            if not self.transport.is_closing():
                log.info("connection closed: no whole request within %g s (SERVE_READ_TIMEOUT)", read_timeout)
                self.transport.close()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


def http_protocol(*, read_timeout: float, max_connections: int) -> type:
    """httptools when installed (uvicorn[standard]), else h11 — what uvicorn's "auto" would pick — guarded."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        from uvicorn.protocols.http.h11_impl import H11Protocol as base  # type: ignore[assignment]
    return guarded_protocol(base, read_timeout=read_timeout, max_connections=max_connections)


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def server_config(app: Any, *, host: str, port: int, read_timeout: float, max_connections: int) -> Any:
    """The uvicorn.Config `serve` runs (tests start the same server in a thread)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http_protocol(read_timeout=read_timeout, max_connections=max_connections),
        timeout_keep_alive=KEEP_ALIVE_S,
        log_config=None,
        access_log=False,
    )


def run(app: Any, *, host: str, port: int, read_timeout: float, max_connections: int) -> None:
    import uvicorn

    raise_open_files_limit()
    config = server_config(
        app, host=host, port=port, read_timeout=read_timeout, max_connections=max_connections
    )
    uvicorn.Server(config).run()
