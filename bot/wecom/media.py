"""Photo prefetch: download an image through media/get (WeCom keeps media 3 days), gate it, store the
re-encoded file — all before the event's transaction, never inside the callback.

- One HTTP client for every download: a WeComClient made once when the prefetch is wired, living on the
  media loop — one asyncio event loop in a daemon thread of its own, shared by the process — so the
  connection pool and the access token are reused from one photo to the next instead of a client (and a
  TLS handshake, and a token look-up) per photo. The loop only moves bytes.
- The gate (decode, orientation, re-encode, thumbnail, hash) runs in the photo sandbox's child processes
  (bot/photo_sandbox.py): CPU-time, address-space and wall-clock limits per photo. Neither this process
  nor any of its event loops runs Pillow; waiting for a child happens in a thread of the media loop's
  executor.
- `prefetch(event)` answers at once for events that need nothing (None) and with a Future for a photo,
  so the inbox worker handles the rest of its batch — other reps' events — while photos are fetched and
  gated side by side (handlers/worker.py): one rep's pathological photo holds up nobody else's.

The result is a plain dict the photo handler judges and records; the same media_id always maps to the
same file name, so a retried event does the work again harmlessly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

from bot.photo_sandbox import PhotoSandbox, shared_sandbox
from bot.photos import PhotoRejected
from bot.wecom.client import ErrorClass, WeComError
from handlers.messages import ImageIn, Inbound
from handlers.worker import Deferred
from storage.files import LocalFileStore

log = logging.getLogger("assistant.media")
MAX_DOWNLOAD = 10 * 1024 * 1024


class MediaLoop:
    """An asyncio event loop in a daemon thread, started at the first download and kept for the process."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="media-loop", daemon=True).start()
                self._loop = loop
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop)


media_loop = MediaLoop()


class PhotoPrefetch:
    """The inbox worker's prefetch for photos: `prefetch(event)` → None, or a Future of the gate's dict."""

    def __init__(self, services, *, sandbox: PhotoSandbox | None = None):  # noqa: ANN001
        from pathlib import Path

        settings = services.settings
        self.store = LocalFileStore(Path(settings.DATA_DIR) / "photos")
        self.sandbox = sandbox  # None: the process's shared sandbox, made at the first photo
        self.client = services.client.sibling()  # of the media loop (one shared HTTP client for every photo)

    def __call__(self, event: Inbound) -> Future[dict[str, Any]] | None:
        if not isinstance(event, ImageIn):
            return None
        return media_loop.submit(self._fetch_and_gate(event.media_id))

    async def _fetch_and_gate(self, media_id: str) -> dict[str, Any]:
        try:
            data, _ctype = await self.client.media_get(media_id, max_bytes=MAX_DOWNLOAD)
        except WeComError as exc:
            if exc.errcode == 830002:
                return {"ok": False, "reason": "图片超过10MB"}
            if exc.cls is ErrorClass.CONFIG:  # WeCom refuses the app: not this photo's fault, try later
                raise Deferred(f"WeCom errcode {exc.errcode}") from exc
            if exc.cls in (ErrorClass.TRANSIENT, ErrorClass.UNEXPECTED):
                raise  # retried by the worker with backoff (parked after 5 attempts)
            return {"ok": False, "reason": "照片已过期或无法下载，请重新发送"}
        return await asyncio.to_thread(
            gate_and_store, data, media_id=media_id, store=self.store, sandbox=self.sandbox
        )


def make_prefetch(services, *, sandbox: PhotoSandbox | None = None) -> PhotoPrefetch:  # noqa: ANN001
    """The photo prefetch of a wired process; `sandbox`: the shared one unless given (tests pass their own)."""
    return PhotoPrefetch(services, sandbox=sandbox)


def gate_and_store(
    data: bytes, *, media_id: str, store: LocalFileStore, sandbox: PhotoSandbox | None = None
) -> dict[str, Any]:
    """Gate `data` in the sandbox and store the clean JPEG and thumbnail; a refusal is {"ok": False, ...}.
    Blocks until the sandbox answers (at most its wall-clock budget)."""
    try:
        photo = (sandbox or shared_sandbox()).process(data, max_bytes=MAX_DOWNLOAD)
    except PhotoRejected as exc:
        log.info("photo %s refused: %s", media_id[:12], exc.code)
        return {"ok": False, "reason": exc.reason_zh}
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
