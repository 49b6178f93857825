"""Photo prefetch: download an image through media/get (WeCom keeps media 3 days), gate it with Pillow,
store the re-encoded file — all before the event's transaction, never inside the callback.

Returns a plain dict the photo handler judges and records; the same media_id always maps to the same
file name, so a retried event does the work again harmlessly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from bot.photos import PhotoRejected, process_photo
from bot.wecom.client import ErrorClass, WeComClient, WeComError
from handlers.messages import ImageIn, Inbound
from handlers.worker import Deferred
from storage.files import LocalFileStore

log = logging.getLogger("assistant.media")
MAX_DOWNLOAD = 10 * 1024 * 1024


def make_prefetch(services) -> Callable[[Inbound], dict[str, Any] | None]:  # noqa: ANN001
    from pathlib import Path

    store = LocalFileStore(Path(services.settings.DATA_DIR) / "photos")
    settings = services.settings

    async def download(media_id: str) -> bytes:
        client = WeComClient(
            api_base=settings.WECOM_API_BASE,
            corp_id=settings.WECOM_CORP_ID,
            secret=settings.WECOM_SECRET,
            agent_id=settings.WECOM_AGENT_ID,
            redis=services.redis,
            transport=services.client._transport,
        )
        try:
            data, _ctype = await client.media_get(media_id, max_bytes=MAX_DOWNLOAD)
            return data
        finally:
            await client.aclose()

    def prefetch(event: Inbound) -> dict[str, Any] | None:
        if not isinstance(event, ImageIn):
            return None
        try:
            data = asyncio.run(download(event.media_id))
        except WeComError as exc:
            if exc.errcode == 830002:
                return {"ok": False, "reason": "图片超过10MB"}
            if exc.cls is ErrorClass.CONFIG:  # WeCom refuses the app: not this photo's fault, try later
                raise Deferred(f"WeCom errcode {exc.errcode}") from exc
            if exc.cls in (ErrorClass.TRANSIENT, ErrorClass.UNEXPECTED):
                raise  # retried by the worker with backoff (parked after 5 attempts)
            return {"ok": False, "reason": "照片已过期或无法下载，请重新发送"}
        return gate_and_store(data, media_id=event.media_id, store=store)

    return prefetch


def gate_and_store(data: bytes, *, media_id: str, store: LocalFileStore) -> dict[str, Any]:
    try:
        photo = process_photo(data, max_bytes=MAX_DOWNLOAD)
    except PhotoRejected as exc:
        return {"ok": False, "reason": str(exc.reason_zh if hasattr(exc, "reason_zh") else exc)}
    key = hashlib.sha256(media_id.encode()).hexdigest()[:32]
    path = store.put(f"{key[:2]}/{key}.jpg", photo.jpeg)
    thumb = store.put(f"{key[:2]}/{key}_t.jpg", photo.thumb)
    return {
        "ok": True,
        "path": path,
        "thumb_path": thumb,
        "width": photo.width,
        "height": photo.height,
        "size_bytes": len(photo.jpeg),
        "phash": photo.phash,
        "taken_at": photo.taken_at.isoformat() if photo.taken_at else None,
        "exif_lat": photo.exif_lat,
        "exif_lng": photo.exif_lng,
    }
