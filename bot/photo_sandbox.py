"""Untrusted photos are decoded in child processes with per-photo limits, never in the server's process.

The photo gate (bot/photos.py) hands attacker-chosen bytes to C decoders (libjpeg-turbo, libpng/zlib,
libwebp). Its caps (bytes, pixels, JPEG scans) refuse the known bombs cheaply; this sandbox bounds what
they miss — a decoder bug, a slow path nobody has found yet — so that one photo can cost at most one
worker for `wall_seconds`, and never the server's memory or its other reps' photos:

- `PhotoSandbox` keeps `workers` child processes (started from a 'forkserver' — 'spawn' where there is
  none — so a child never inherits the server's threads, sockets or database connections; the
  forkserver imports the gate once and each child forks from it in milliseconds). Children are started
  lazily, at the first photo, and reused; a child is retired and replaced after a kill, a crash, a
  memory refusal or `photos_per_child` photos.
- In the child, before any photo: RLIMIT_AS = the child's own address space after importing the gate
  + `memory_mb` (a decode that needs more gets MemoryError → refused), RLIMIT_CORE = 0. Before each
  photo: RLIMIT_CPU's soft limit = the CPU seconds used so far + `cpu_seconds` (past it the kernel
  sends SIGXCPU, which ends the child).
- In the parent, a wall-clock budget from the moment the photo is handed to a ready child: past
  `wall_seconds` the child is killed (SIGKILL) and replaced, and the photo refused. Each child has its
  own thread in the parent (waiting on a pipe, GIL released), so a child being killed holds up no other.
  The stdlib ProcessPoolExecutor cannot do this: killing one of its workers breaks the whole pool and
  fails every photo in flight.
- Nothing is unpickled from a child: a compromised decoder could otherwise run code in the server. The
  child answers with a small JSON header and two length-capped byte strings (the JPEG and thumbnail).

Refusals are `PhotoRejected` with a sentence in plain Chinese for the rep: too slow (the wall budget or
the CPU limit) → REASON_TOO_SLOW, too much memory → bot.photos.REASON_TOO_MUCH_MEMORY, the child died
any other way → REASON_CRASHED. A child that cannot be started at all is `SandboxUnavailable` (the
inbox worker retries the event later, nothing is refused for it).
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import queue
import resource
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.photos import MAX_BYTES, REASON_TOO_MUCH_MEMORY, PhotoRejected, ProcessedPhoto, process_photo

log = logging.getLogger("assistant.photos")

REASON_TOO_SLOW = "图片处理时间过长，文件可能有问题，请发送普通手机照片"
REASON_CRASHED = "图片无法处理，请发送普通手机照片"

_MAX_HEADER = 64 * 1024  # bytes of the child's JSON answer
_MAX_OUTPUT = (
    16 * 1024 * 1024
)  # bytes of one returned JPEG (the original's first frame is ≤ MAX_BYTES, 10 MB)
_GATE_OPTIONS = ("max_bytes", "max_pixels", "max_scans")


class SandboxUnavailable(RuntimeError):
    """No child process could be started (or it died before saying it was ready): not the photo's fault."""


@dataclass(frozen=True)
class Limits:
    """Per-photo limits. A normal 12 MP photo needs ~0.1 s of CPU and ~60 MB beyond the child's footprint;
    the largest photo the gate accepts (50 MP) well under 2 s and 400 MB."""

    cpu_seconds: int = 10  # RLIMIT_CPU headroom per photo (whole seconds, the kernel's unit)
    memory_mb: int = 640  # RLIMIT_AS headroom above the child's own address space after start-up
    wall_seconds: float = 20.0  # the parent's budget, from hand-over to answer
    start_seconds: float = 60.0  # a child not ready by then is SandboxUnavailable
    photos_per_child: int = 500  # then the child is replaced (a fresh heap; fragmentation stays bounded)


@dataclass
class SandboxStats:
    photos: int = 0
    started: int = 0  # child processes started (the first ones and the replacements)
    killed: int = 0  # over the wall-clock budget
    died: int = 0  # ended on their own: CPU limit, a crash, the kernel's OOM killer
    pids: list[int] = field(default_factory=list)  # of the children started, in order


class PhotoSandbox:
    """`submit(data)` → Future[ProcessedPhoto] (PhotoRejected as its exception); `process(data)` blocks.

    `gate_options` are passed to `process_photo` for every photo (max_bytes, max_pixels, max_scans);
    a call's own options win.
    """

    def __init__(
        self,
        *,
        workers: int | None = None,
        limits: Limits | None = None,
        gate_options: dict[str, int] | None = None,
        start_method: str | None = None,
    ):
        self.workers = max(1, workers if workers is not None else min(4, os.cpu_count() or 1))
        self.limits = limits or Limits()
        self.gate_options = dict(gate_options or {})
        self.stats = SandboxStats()
        self._stats_lock = threading.Lock()
        self._ctx = _context(start_method)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- the API ------------------------------------------------------------------------------------
    def submit(self, data: bytes, **options: int) -> Future[ProcessedPhoto]:
        unknown = set(options) - set(_GATE_OPTIONS)
        if unknown:
            raise TypeError(f"unknown gate options: {sorted(unknown)}")
        future: Future[ProcessedPhoto] = Future()
        self._ensure_slots()
        self._jobs.put(_Job(bytes(data), {**self.gate_options, **options}, future))
        return future

    def process(self, data: bytes, **options: int) -> ProcessedPhoto:
        """Blocking form of `submit`: the photo, or PhotoRejected / SandboxUnavailable."""
        return self.submit(data, **options).result()

    def warm(self) -> None:
        """Start every child now instead of at the first photos (benchmarks, tests, a service's start)."""
        self._ensure_slots()
        for slot in self._slots:
            slot.ensure_child()

    def health(self) -> dict[str, Any]:
        """For /readyz, without starting anything: usable (not closed), children alive, photos queued."""
        with self._lock:
            slots = list(self._slots)
            closed = self._closed
        alive = sum(1 for slot in slots if slot.proc is not None and slot.proc.is_alive())
        return {"ok": not closed, "workers": self.workers, "alive": alive, "queued": self._jobs.qsize()}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            slots = list(self._slots)
        for _ in slots:
            self._jobs.put(None)
        for slot in slots:
            slot.thread.join(timeout=self.limits.wall_seconds + 5)
            slot.retire()

    def __enter__(self) -> PhotoSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the parts ----------------------------------------------------------------------------------
    def _ensure_slots(self) -> None:
        with self._lock:
            if self._closed:
                raise SandboxUnavailable("the photo sandbox is closed")
            if not self._slots:
                self._slots = [_Slot(self, n) for n in range(self.workers)]
                for slot in self._slots:
                    slot.thread.start()

    def _count(self, **deltas: int) -> None:
        with self._stats_lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)


@dataclass
class _Job:
    data: bytes
    options: dict[str, int]
    future: Future[ProcessedPhoto]


class _ChildGone(Exception):
    pass


class _Slot:
    """One child process and the parent thread that feeds it, one photo at a time."""

    def __init__(self, sandbox: PhotoSandbox, index: int):
        self.sandbox, self.index = sandbox, index
        self.proc: Any = None
        self.conn: Any = None
        self.photos = 0
        self.lock = threading.RLock()  # warm() may start the child while the slot's thread takes a photo
        self.thread = threading.Thread(target=self._serve, name=f"photo-sandbox-{index}", daemon=True)

    def _serve(self) -> None:
        jobs = self.sandbox._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(self._run(job))
            except BaseException as exc:  # noqa: BLE001 - every outcome goes to the caller's Future
                job.future.set_exception(exc)

    # -- the child's life -----------------------------------------------------------------------------
    def ensure_child(self) -> None:
        with self.lock:
            if self.proc is None or not self.proc.is_alive():
                self._start_child()

    def _start_child(self) -> None:
        self.retire()
        limits = self.sandbox.limits
        parent_conn, child_conn = self.sandbox._ctx.Pipe(duplex=True)
        proc = self.sandbox._ctx.Process(
            target=child_main,
            args=(child_conn, limits.cpu_seconds, limits.memory_mb),
            name=f"photo-gate-{self.index}",
            daemon=True,
        )
        try:
            proc.start()
        except Exception as exc:
            parent_conn.close()
            raise SandboxUnavailable(f"cannot start a photo worker: {exc}") from exc
        finally:
            child_conn.close()
        self.proc, self.conn, self.photos = proc, parent_conn, 0
        self.sandbox._count(started=1)
        with self.sandbox._stats_lock:
            self.sandbox.stats.pids.append(proc.pid)
        try:
            hello = json.loads(self._recv(time.monotonic() + limits.start_seconds, _MAX_HEADER))
            if not hello.get("ready"):
                raise ValueError(hello)
        except Exception as exc:  # noqa: BLE001 - timeout, died during imports, nonsense
            self.retire()
            raise SandboxUnavailable(f"photo worker did not start: {exc.__class__.__name__}") from exc

    def retire(self) -> None:
        with self.lock:
            proc, conn = self.proc, self.conn
            self.proc = self.conn = None
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=5)
            try:
                proc.close()
            except ValueError:  # still running after SIGKILL + 5 s: leave it to the OS
                pass

    # -- one photo ----------------------------------------------------------------------------------
    def _run(self, job: _Job) -> ProcessedPhoto:
        limits = self.sandbox.limits
        self.ensure_child()
        self.sandbox._count(photos=1)
        self.photos += 1
        deadline = time.monotonic() + limits.wall_seconds
        try:
            self.conn.send_bytes(json.dumps(job.options).encode())
            self.conn.send_bytes(job.data)
            header = json.loads(self._recv(deadline, _MAX_HEADER))
            if header.get("ok") is True:
                jpeg = self._recv(deadline, _MAX_OUTPUT)
                thumb = self._recv(deadline, _MAX_OUTPUT)
                photo = _photo_from(header, jpeg, thumb)
            else:
                photo = None
                reason, code = str(header.get("reason_zh", ""))[:200], str(header.get("code", ""))[:40]
        except TimeoutError:
            self.sandbox._count(killed=1)
            log.warning("photo worker %s killed: over the %.0f s budget", self.proc.pid, limits.wall_seconds)
            self._replace()
            raise PhotoRejected(REASON_TOO_SLOW, "too_slow") from None
        except (_ChildGone, OSError, EOFError, ValueError, TypeError, KeyError, AttributeError) as exc:
            refusal = self._died(exc)
            self._replace()
            raise refusal from None
        if photo is None:
            if code == "too_much_memory" or self.photos >= limits.photos_per_child:
                self._replace()  # a fresh heap after an allocation failed (or after many photos)
            raise PhotoRejected(reason or REASON_CRASHED, code or "crashed")
        if self.photos >= limits.photos_per_child:
            self._replace()
        return photo

    def _recv(self, deadline: float, maxlength: int) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self.conn.poll(remaining):
            raise TimeoutError
        try:
            return self.conn.recv_bytes(maxlength)
        except EOFError as exc:
            raise _ChildGone from exc

    def _died(self, exc: BaseException) -> PhotoRejected:
        """The child ended (or answered nonsense) mid-photo: why, as the rep's refusal."""
        proc = self.proc
        code = None
        if proc is not None:
            if not isinstance(exc, (_ChildGone, EOFError, OSError)):
                proc.kill()  # alive but talking nonsense: not to be trusted with another photo
            proc.join(timeout=5)
            code = proc.exitcode
        self.sandbox._count(died=1)
        log.warning(
            "photo worker %s ended mid-photo (exit %s, %s)",
            proc.pid if proc else "?",
            code,
            exc.__class__.__name__,
        )
        if code == -signal.SIGXCPU:
            return PhotoRejected(REASON_TOO_SLOW, "too_slow")  # RLIMIT_CPU
        if code == -signal.SIGKILL:  # not ours: the kernel's OOM killer (or a hard limit)
            return PhotoRejected(REASON_TOO_MUCH_MEMORY, "too_much_memory")
        return PhotoRejected(REASON_CRASHED, "crashed")

    def _replace(self) -> None:
        """Retire this child and start its successor at once, so the next photo finds one ready."""
        self.retire()
        try:
            self.ensure_child()
        except SandboxUnavailable:
            log.exception("photo worker could not be replaced; the next photo tries again")


def _photo_from(header: dict[str, Any], jpeg: bytes, thumb: bytes) -> ProcessedPhoto:
    """Check the child's answer field by field (it is data from a process that parsed hostile bytes)."""

    def num(name: str) -> float | None:
        v = header.get(name)
        if v is None:
            return None
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(name)
        return float(v)

    def dim(name: str) -> int:
        v = header.get(name)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 1_000_000:
            raise ValueError(name)
        return v

    phash = header.get("phash")
    if not isinstance(phash, str) or len(phash) != 16 or any(c not in "0123456789abcdef" for c in phash):
        raise ValueError("phash")
    if not (jpeg.startswith(b"\xff\xd8") and thumb.startswith(b"\xff\xd8")):
        raise ValueError("not a JPEG")
    taken = header.get("taken_at")
    taken_at = datetime.fromisoformat(taken) if isinstance(taken, str) else None
    if taken_at is not None and taken_at.tzinfo is None:
        raise ValueError("taken_at")
    fmt = header.get("source_format")
    return ProcessedPhoto(
        jpeg=jpeg,
        thumb=thumb,
        width=dim("width"),
        height=dim("height"),
        phash=phash,
        taken_at=taken_at,
        exif_lat=num("exif_lat"),
        exif_lng=num("exif_lng"),
        source_format=fmt if isinstance(fmt, str) else "",
        source_width=dim("source_width"),
        source_height=dim("source_height"),
        stored="original" if header.get("stored") == "original" else "reencoded",
    )


def _context(start_method: str | None) -> Any:
    methods = multiprocessing.get_all_start_methods()
    method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        # the forkserver imports the gate (Pillow, numpy, imagehash) once; children fork from it warm.
        # Ignored if this process already started a forkserver for something else.
        ctx.set_forkserver_preload(["bot.photo_sandbox"])
    return ctx


# --- the child ------------------------------------------------------------------------------------------
def child_main(conn: Any, cpu_seconds: int, memory_mb: int) -> None:
    """A photo worker: warm up, fence itself in, then answer photo after photo until the pipe closes."""
    signal.signal(
        signal.SIGINT, signal.SIG_IGN
    )  # Ctrl-C in a terminal reaches the whole group: the parent decides
    _setrlimit(resource.RLIMIT_CORE, 0, 0)  # SIGXCPU would otherwise dump core
    _warm_up()
    cap = _address_space() + memory_mb * 1024 * 1024
    _setrlimit(resource.RLIMIT_AS, cap, cap)  # hard = soft: the child cannot lift it again
    conn.send_bytes(json.dumps({"ready": True, "pid": os.getpid()}).encode())
    while True:
        try:
            options = json.loads(conn.recv_bytes(_MAX_HEADER))
            data = conn.recv_bytes(max(MAX_BYTES, int(options.get("max_bytes", MAX_BYTES))) + 1)
        except (EOFError, OSError):
            return  # the parent closed the pipe (or is gone)
        used = resource.getrusage(resource.RUSAGE_SELF)
        _setrlimit(resource.RLIMIT_CPU, math.ceil(used.ru_utime + used.ru_stime) + cpu_seconds, None)
        answer = _answer(data, options)
        del data
        for part in answer:
            conn.send_bytes(part)
        if b'"too_much_memory"' in answer[0]:
            return  # the parent replaces us: a fresh heap


def _answer(data: bytes, options: dict[str, Any]) -> list[bytes]:
    try:
        photo = process_photo(data, **{k: int(v) for k, v in options.items() if k in _GATE_OPTIONS})
    except PhotoRejected as exc:
        return [json.dumps({"ok": False, "reason_zh": exc.reason_zh, "code": exc.code}).encode()]
    except MemoryError:
        return [
            json.dumps({"ok": False, "reason_zh": REASON_TOO_MUCH_MEMORY, "code": "too_much_memory"}).encode()
        ]
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen decoder error: refuse, do not retry forever
        log.error("photo gate failed unexpectedly: %s", exc.__class__.__name__)
        return [json.dumps({"ok": False, "reason_zh": REASON_CRASHED, "code": "crashed"}).encode()]
    header = {
        "ok": True,
        "width": photo.width,
        "height": photo.height,
        "phash": photo.phash,
        "taken_at": photo.taken_at.isoformat() if photo.taken_at else None,
        "exif_lat": photo.exif_lat,
        "exif_lng": photo.exif_lng,
        "source_format": photo.source_format,
        "source_width": photo.source_width,
        "source_height": photo.source_height,
        "stored": photo.stored,
    }
    return [json.dumps(header).encode(), photo.jpeg, photo.thumb]


def _warm_up() -> None:
    """Load every decoder plugin and the hash's numpy/scipy code before the address space is measured."""
    from io import BytesIO

    from PIL import Image

    for fmt in ("JPEG", "PNG", "WEBP"):
        out = BytesIO()
        Image.new("RGB", (64, 48), (90, 120, 150)).save(out, fmt)
        try:
            process_photo(out.getvalue())
        except PhotoRejected:
            pass


def _address_space() -> int:
    """This process's virtual size in bytes (Linux /proc; elsewhere 0, and the limit is memory_mb alone)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _setrlimit(which: int, soft: int, hard: int | None) -> None:
    cur_soft, cur_hard = resource.getrlimit(which)
    if hard is None:
        hard = cur_hard
    elif cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


# --- the process's shared sandbox ------------------------------------------------------------------------
_shared: PhotoSandbox | None = None
_shared_lock = threading.Lock()


def shared_health() -> dict[str, Any]:
    """The shared sandbox's `health()`; before the first photo nothing is started, which is fine."""
    with _shared_lock:
        sandbox = _shared
    return sandbox.health() if sandbox is not None else {"ok": True, "started": False}


def shared_sandbox(factory: Callable[[], PhotoSandbox] = PhotoSandbox) -> PhotoSandbox:
    """The process's sandbox, created at the first photo and reused by every later one."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = factory()
        return _shared
