"""Build every long-lived part from Settings: the composition that main.py, tests and the demo share."""
from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from bot.wecom.client import WeComClient
from bot.wecom.crypto import WeComCrypto
from bot.wecom.relay import Relay
from core.clock import Clock, SystemClock
from core.ics_token import derive_key
from handlers.worker import InboxWorker
from storage.db import make_engine, make_session_factory
from storage.redis_conn import connect_redis, ping
from storage.schema import upgrade

log = logging.getLogger("assistant")


@dataclass
class Services:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    redis: Any
    crypto: WeComCrypto
    client: WeComClient
    clock: Clock
    worker: InboxWorker
    relay: Relay
    extra: dict[str, Any] = field(default_factory=dict)

    async def tick(self) -> dict[str, int]:
        """One beat: inbox, due timers, outbox. Safe to run in several processes at once."""
        handled = await asyncio.to_thread(self.worker.drain)
        fired = await asyncio.to_thread(self._sweep)
        if fired:
            handled += await asyncio.to_thread(self.worker.drain)
        sent = await self.relay.drain()
        return {"inbox": handled, "timers": fired, "outbox": sent}

    def _sweep(self) -> int:
        """Timers, idle visits, retention…: each claims its rows atomically (one thread hop for all)."""
        return sum(sweep() or 0 for sweep in self.extra.get("sweeps", []))

    def ready(self) -> dict[str, bool]:
        db_ok = True
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001
            db_ok = False
        return {"database": db_ok, "redis": ping(self.redis)}


def build_services(settings: Settings, *, clock: Clock | None = None, redis_client: Any = None,
                   transport: Any = None, create_schema: bool = True) -> Services:
    clock = clock or SystemClock()
    engine = make_engine(settings.DATABASE_URL)
    if create_schema:
        upgrade(engine)
    factory = make_session_factory(engine)
    redis_client = redis_client if redis_client is not None else connect_redis(
        settings.REDIS_URL, data_dir=Path(settings.DATA_DIR))
    crypto = WeComCrypto(token=settings.WECOM_TOKEN, encoding_aes_key=settings.WECOM_AES_KEY,
                         corp_id=settings.WECOM_CORP_ID)
    client = WeComClient(api_base=settings.WECOM_API_BASE, corp_id=settings.WECOM_CORP_ID,
                         secret=settings.WECOM_SECRET, agent_id=settings.WECOM_AGENT_ID, redis=redis_client,
                         transport=transport)
    owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
    worker = InboxWorker(session_factory=factory, clock=clock, owner=owner,
                         settings={"public_base_url": settings.PUBLIC_BASE_URL, "tz": settings.TZ_NAME,
                                   "ics_key": derive_key(settings.WECOM_SECRET).hex()})
    relay = Relay(session_factory=factory, client=client, clock=clock, agent_id=settings.WECOM_AGENT_ID,
                  file_root=Path(settings.DATA_DIR))
    return Services(settings=settings, engine=engine, session_factory=factory, redis=redis_client, crypto=crypto,
                    client=client, clock=clock, worker=worker, relay=relay)
