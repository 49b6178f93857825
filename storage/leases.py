"""Short claim leases, renewed while the work is in progress.

A process claims inbox or outbox rows with a lease of a few seconds (LEASE) and, while it works on them, a
heartbeat renews the lease every RENEW_EVERY_S seconds. A process killed with SIGKILL stops renewing, so
another worker takes its rows over once the lease runs out: seconds, not minutes. Leases are measured on the
injected clock (tests move it); the heartbeat beats in real time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

log = logging.getLogger("assistant.leases")

LEASE = timedelta(seconds=15)  # a killed holder's rows are taken over within this
RENEW_EVERY_S = 5.0  # three renewals per lease: one missed beat (a slow commit) does not lose a claim


class Heartbeat:
    """`with Heartbeat(renew):` calls `renew()` every `every_s` seconds from a daemon thread until the block
    ends. A failing renewal is logged and tried again at the next beat (the lease is the safety net)."""

    def __init__(self, renew: Callable[[], object], every_s: float = RENEW_EVERY_S):
        self._renew, self._every = renew, every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._renew()
            except Exception:  # noqa: BLE001 - the next beat tries again; the lease covers a gap
                log.warning("lease renewal failed", exc_info=True)
