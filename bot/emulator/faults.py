"""Fault injection: the ways WeCom's API fails in production, on demand."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Fault(StrEnum):
    SYSTEM_BUSY = "system_busy"  # errcode -1, transient; nothing happens
    FREQ_LIMIT = "freq_limit"  # errcode 45009, transient; nothing happens
    HTTP_502 = "http_502"  # a gateway error page; nothing happens
    TIMEOUT = "timeout"  # the call takes effect (recorded, delivered), then the answer never arrives
    NO_RECIPIENT = (
        "no_recipient"  # errcode 81013 (recipient outside the app's visible range); nothing happens
    )
    # the app's configuration in the admin console: every call fails the same way until it is fixed
    UNTRUSTED_IP = "untrusted_ip"  # errcode 60020: the caller's IP is not among the app's trusted IPs
    BAD_SECRET = "bad_secret"  # errcode 40001: the Secret was reset (name "gettoken" in `paths`)
    API_FORBIDDEN = "api_forbidden"  # errcode 48002: the API is not permitted for the app
    NO_PERMISSION = "no_permission"  # errcode 60011: no privilege to access the member or department
    CONTACT_FORBIDDEN = (
        "contact_forbidden"  # errcode 48009: the contact-sync secret from a new IP (2022-08-15)
    )
    WRONG_APP = (
        "wrong_app"  # errcode 301002: no privilege to operate the given app (agentid / secret mismatch)
    )
    # answers the client cannot read; nothing happens
    JSON_LIST = "json_list"  # HTTP 200 with a JSON list instead of an object
    MISSING_FIELD = "missing_field"  # HTTP 200 with an object without errcode
    BAD_GZIP = "bad_gzip"  # HTTP 200 claiming Content-Encoding gzip, with bytes that are not gzip

    @property
    def errcode(self) -> int | None:
        return FAULT_ERRCODES.get(self)


FAULT_ERRCODES = {
    Fault.SYSTEM_BUSY: -1,
    Fault.FREQ_LIMIT: 45009,
    Fault.NO_RECIPIENT: 81013,
    Fault.UNTRUSTED_IP: 60020,
    Fault.BAD_SECRET: 40001,
    Fault.API_FORBIDDEN: 48002,
    Fault.NO_PERMISSION: 60011,
    Fault.CONTACT_FORBIDDEN: 48009,
    Fault.WRONG_APP: 301002,
}
FAULT_ERRMSG = {
    Fault.SYSTEM_BUSY: "system busy",
    Fault.FREQ_LIMIT: "api freq out of limit",
    Fault.NO_RECIPIENT: "user & party & tag all invalid",
    Fault.UNTRUSTED_IP: "not allow to access from your ip",
    Fault.BAD_SECRET: "invalid credential",
    Fault.API_FORBIDDEN: "api forbidden",
    Fault.NO_PERMISSION: "no privilege to access/modify contact/party/agent",
    Fault.CONTACT_FORBIDDEN: "api forbidden for contact assistant",
    Fault.WRONG_APP: "no privilege to access app",
}
_ALIASES: dict[object, Fault] = {
    -1: Fault.SYSTEM_BUSY,
    45009: Fault.FREQ_LIMIT,
    502: Fault.HTTP_502,
    81013: Fault.NO_RECIPIENT,
    "-1": Fault.SYSTEM_BUSY,
    "45009": Fault.FREQ_LIMIT,
    "502": Fault.HTTP_502,
    "81013": Fault.NO_RECIPIENT,
    60020: Fault.UNTRUSTED_IP,
    40001: Fault.BAD_SECRET,
    48002: Fault.API_FORBIDDEN,
    60011: Fault.NO_PERMISSION,
    48009: Fault.CONTACT_FORBIDDEN,
    301002: Fault.WRONG_APP,
}
TRANSIENT_FAULTS = (Fault.SYSTEM_BUSY, Fault.FREQ_LIMIT, Fault.HTTP_502, Fault.TIMEOUT)
CONFIG_FAULTS = (
    Fault.UNTRUSTED_IP,
    Fault.BAD_SECRET,
    Fault.API_FORBIDDEN,
    Fault.NO_PERMISSION,
    Fault.CONTACT_FORBIDDEN,
    Fault.WRONG_APP,
)
GARBLED_FAULTS = (Fault.JSON_LIST, Fault.MISSING_FIELD, Fault.BAD_GZIP)


def as_fault(mode: Fault | str | int) -> Fault:
    """Accept a Fault, its value ("timeout"), or the errcode / HTTP status it stands for (-1, 45009, 502, 81013,
    60020, 40001, 48002, 60011)."""
    if isinstance(mode, Fault):
        return mode
    if mode in _ALIASES:
        return _ALIASES[mode]
    try:
        return Fault(str(mode))
    except ValueError:
        raise ValueError(f"unknown fault mode {mode!r}; use one of {[f.value for f in Fault]}") from None


@dataclass(frozen=True)
class _Pending:
    mode: Fault
    paths: frozenset[str] | None


class FaultPlan:
    """Which upcoming API calls fail. Not thread-safe by itself: FakeWeCom calls it under its lock.

    `paths=None` means every API path except `gettoken`; name "gettoken" explicitly to fail it.
    """

    def __init__(self) -> None:
        self._queue: deque[_Pending] = deque()
        self._rate = 0.0
        self._rate_modes: tuple[Fault, ...] = ()
        self._rate_paths: frozenset[str] | None = None
        self._rng = random.Random(0)
        self._windows: list[tuple[datetime, Fault, frozenset[str] | None]] = []

    def fail_next(self, n: int, mode: Fault | str | int, paths: Iterable[str] | None) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        entry = _Pending(as_fault(mode), _norm_paths(paths))
        self._queue.extend([entry] * n)

    def fail_rate(
        self, p: float, modes: Iterable[Fault | str | int], seed: int | None, paths: Iterable[str] | None
    ) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError("p must be within [0, 1]")
        self._rate_modes = tuple(as_fault(m) for m in modes)
        if p > 0 and not self._rate_modes:
            raise ValueError("fail_rate needs at least one mode")
        self._rate, self._rate_paths, self._rng = p, _norm_paths(paths), random.Random(seed)

    def fail_until(self, until: datetime, mode: Fault | str | int, paths: Iterable[str] | None) -> None:
        """Every matching call fails with `mode` until the emulator's clock reaches `until`."""
        self._windows.append((until, as_fault(mode), _norm_paths(paths)))

    def clear(self) -> None:
        self._queue.clear()
        self._rate, self._rate_modes = 0.0, ()
        self._windows.clear()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def take(self, path: str, now: datetime | None = None) -> Fault | None:
        if now is not None:
            self._windows = [w for w in self._windows if w[0] > now]
            for _until, mode, paths in self._windows:
                if _matches(paths, path):
                    return mode
        for i, entry in enumerate(self._queue):
            if _matches(entry.paths, path):
                del self._queue[i]
                return entry.mode
        if self._rate > 0 and _matches(self._rate_paths, path) and self._rng.random() < self._rate:
            return self._rng.choice(self._rate_modes)
        return None


def _norm_paths(paths: Iterable[str] | None) -> frozenset[str] | None:
    if paths is None:
        return None
    if isinstance(paths, str):
        paths = [paths]
    return frozenset(p.strip("/").removeprefix("cgi-bin/") for p in paths)


def _matches(paths: frozenset[str] | None, path: str) -> bool:
    return path != "gettoken" if paths is None else path in paths
