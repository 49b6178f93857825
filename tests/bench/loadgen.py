"""A small HTTP/1.1 load generator on raw asyncio streams (keep-alive), for `main.py bench`.

httpx costs more CPU per request than the server under test on a 2-core machine, which would flatten
every ratio; pre-encoded request bytes on raw sockets keep the generator cheap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LoadResult:
    sent: int
    ok: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def build_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    length = 0
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        if k.lower() == "content-length":
            length = int(v.strip())
        elif k.lower() == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def closed_loop(
    host: str, port: int, requests: list[bytes], *, connections: int = 32, seconds: float = 5.0
) -> LoadResult:
    """As fast as possible: `connections` workers each send, wait, send again, for `seconds`."""
    idx = 0
    ok = errors = sent = 0
    lat: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal idx, ok, errors, sent
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline and idx < len(requests):
                req = requests[idx]
                idx += 1
                t0 = time.perf_counter()
                writer.write(req)
                sent += 1
                try:
                    status = await _read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                lat.append((time.perf_counter() - t0) * 1000)
                ok += status == 200
                errors += status != 200
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return LoadResult(sent, ok, errors, time.perf_counter() - start, lat)


async def fixed_rate(
    host: str,
    port: int,
    requests: list[bytes],
    *,
    rate: float,
    connections: int = 64,
    on_slot: Callable[[int, float], None] | None = None,
) -> LoadResult:
    """Open loop: one request every 1/rate seconds, each on a free connection; latency from its slot.
    `on_slot(i, seconds_since_start)` is told when request i is due (e.g. to time its end-to-end reply)."""
    queue: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
    ok = errors = 0
    lat: list[float] = []

    async def worker() -> None:
        nonlocal ok, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                req, scheduled = item
                writer.write(req)
                try:
                    status = await _read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    errors += 1
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                lat.append((time.perf_counter() - scheduled) * 1000)
                ok += status == 200
                errors += status != 200
        finally:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter()
    for i, req in enumerate(requests):
        slot = start + i / rate
        delay = slot - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if on_slot is not None:
            on_slot(i, slot - start)
        queue.put_nowait((req, slot))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return LoadResult(len(requests), ok, errors, time.perf_counter() - start, lat)
