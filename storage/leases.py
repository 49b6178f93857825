"""Short claim leases, renewed while the work is in progress.

A process claims inbox or outbox rows with a lease of a few seconds (LEASE) and, while it works on them, a
heartbeat renews the lease every RENEW_EVERY_S seconds. A process killed with SIGKILL stops renewing, so
another worker takes its rows over once the lease runs out: seconds, not minutes. Leases are measured on the
injected clock (tests move it); the heartbeat beats in real time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

log = logging.getLogger("assistant.leases")

LEASE = timedelta(seconds=15)  # a killed holder's rows are taken over within this
RENEW_EVERY_S = 5.0  # three renewals per lease: one missed beat (a slow commit) does not lose a claim


class Heartbeat:
    """`with Heartbeat(renew):` calls `renew()` every `every_s` seconds until the block ends. A failing
    renewal is logged and tried again at the next beat (the lease is the safety net).

    The beats of every Heartbeat of the process come from one daemon thread (`_Beats`), started once:
    entering a block costs no thread start (it was ~0.2 ms a start on a quiet machine and up to 10 ms on a
    loaded one, once per worker batch or relay round). When the block has ended no renewal is running or
    will run (`__exit__` waits for one in progress)."""

    def __init__(self, renew: Callable[[], object], every_s: float = RENEW_EVERY_S):
        self._renew, self._every = renew, every_s
        self._lock = threading.Lock()
        self._stopped = False

    def __enter__(self) -> Heartbeat:
        self._stopped = False
        _BEATS.add(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:  # a renewal in progress finishes first; none starts after this
            self._stopped = True

    def _beat(self) -> bool:
        """One renewal unless stopped; False once stopped (the thread drops it)."""
        with self._lock:
            if self._stopped:
                return False
            try:
                self._renew()
            except Exception:  # noqa: BLE001 - the next beat tries again; the lease covers a gap
                log.warning("lease renewal failed", exc_info=True)
            return True


class _Beats:
    """The one thread that beats every Heartbeat of this process, each at its own interval."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._due: list[tuple[float, int, Heartbeat]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, hb: Heartbeat) -> None:
        with self._cv:
            heapq.heappush(self._due, (time.monotonic() + hb._every, next(self._seq), hb))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
                self._thread.start()
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while True:
                    while self._due and self._due[0][2]._stopped:
                        heapq.heappop(self._due)
                    if not self._due:
                        self._cv.wait()
                        continue
                    delay = self._due[0][0] - time.monotonic()
                    if delay > 0:
                        self._cv.wait(delay)
                        continue
                    _, _, hb = heapq.heappop(self._due)
                    break
            if hb._beat():
                with self._cv:
                    heapq.heappush(self._due, (time.monotonic() + hb._every, next(self._seq), hb))


_BEATS = _Beats()


def _after_fork() -> None:  # the child has no beat thread (and must not inherit a held condition)
    global _BEATS
    _BEATS = _Beats()


os.register_at_fork(after_in_child=_after_fork)
