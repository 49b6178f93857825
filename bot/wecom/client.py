"""Async WeCom API client (httpx), base URL `WECOM_API_BASE`.

Raw endpoints rather than wechatpy's client: wechatpy is sync `requests` only, has no template_card
update, sends the legacy schedule payload, and its media download neither times out nor checks errcodes
(docs/wecom-protocol.md §5.3). wechatpy serves us in bot/wecom/crypto.py instead.

The access token is cached in Redis (shared by every process) with a single-flight refresh: one
process fetches, the others wait for the key. 40014/42001 drop the cached token and retry once.
If Redis is unreachable the client keeps a process-local token and carries on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

import httpx

log = logging.getLogger("assistant.wecom")
TOKEN_ERRORS = {40014, 42001, 41001}
LOCAL_TOKEN_TTL = 300  # seconds a token read from Redis is reused without asking Redis again


class WeComError(Exception):
    def __init__(self, errcode: int, errmsg: str = "", *, transient: bool = False):
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.transient = transient


# errcodes worth retrying; anything else from WeCom is permanent (docs/wecom-protocol.md §4.6)
TRANSIENT_ERRCODES = {-1, 45009, 45033, 42001, 40014}


class WeComClient:
    def __init__(
        self,
        *,
        api_base: str,
        corp_id: str,
        secret: str,
        agent_id: int,
        redis=None,  # noqa: ANN001
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.api_base = api_base if api_base.endswith("/") else api_base + "/"
        self.corp_id, self.secret, self.agent_id = corp_id, secret, agent_id
        self.redis = redis
        self._timeout = timeout
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._local_token: tuple[str, float] | None = None
        self._key = f"wecom:token:{corp_id}:{agent_id}"

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.api_base, timeout=self._timeout, transport=self._transport
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- token -----------------------------------------------------------------------------------
    def _redis_get(self) -> str | None:
        if self.redis is None:
            return None
        try:
            v = self.redis.get(self._key)
            return v.decode() if isinstance(v, bytes) else v
        except Exception:  # noqa: BLE001 - Redis is an accelerator; degrade to the local cache
            return None

    async def token(self, *, refresh: bool = False) -> str:
        if not refresh:
            # In-process first: a Redis round trip per send cost ~1 ms of a blocked event loop. A token read
            # from Redis is kept LOCAL_TOKEN_TTL seconds, so another process's refresh reaches us soon; a
            # stale one is refreshed on 40014/42001 anyway.
            if self._local_token and self._local_token[1] > time.time():
                return self._local_token[0]
            cached = self._redis_get()
            if cached:
                self._local_token = (cached, time.time() + LOCAL_TOKEN_TTL)
                return cached
        async with self._lock:  # single flight within the process
            if not refresh:
                cached = self._redis_get()
                if cached:
                    return cached
            lock_token = uuid.uuid4().hex
            got_lock = self._acquire_redis_lock(lock_token)
            if not got_lock:  # another process is fetching: wait for its result briefly
                for _ in range(50):
                    await asyncio.sleep(0.05)
                    cached = self._redis_get()
                    if cached:
                        return cached
            try:
                return await self._fetch_token()
            finally:
                self._release_redis_lock(lock_token)

    def _acquire_redis_lock(self, lock_token: str) -> bool:
        if self.redis is None:
            return True
        try:
            return bool(self.redis.set(self._key + ":lock", lock_token, nx=True, px=10_000))
        except Exception:  # noqa: BLE001
            return True

    def _release_redis_lock(self, lock_token: str) -> None:
        if self.redis is None:
            return
        try:  # compare-and-delete
            self.redis.eval(
                "if redis.call('get',KEYS[1])==ARGV[1] then return redis.call('del',KEYS[1]) end return 0",
                1,
                self._key + ":lock",
                lock_token,
            )
        except Exception:  # noqa: BLE001
            pass

    async def _fetch_token(self) -> str:
        resp = await self.http.get("gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret})
        data = self._json(resp)
        if data.get("errcode", 0) != 0:
            raise WeComError(data["errcode"], data.get("errmsg", ""), transient=data["errcode"] == -1)
        tok, ttl = data["access_token"], int(data.get("expires_in", 7200))
        self._local_token = (tok, time.time() + ttl - 300)
        if self.redis is not None:
            try:
                self.redis.set(self._key, tok, ex=max(60, ttl - 300))
            except Exception:  # noqa: BLE001
                pass
        return tok

    def _forget_token(self) -> None:
        self._local_token = None
        if self.redis is not None:
            try:
                self.redis.delete(self._key)
            except Exception:  # noqa: BLE001
                pass

    # -- calls -----------------------------------------------------------------------------------
    @staticmethod
    def _json(resp: httpx.Response) -> dict[str, Any]:
        if resp.status_code >= 500:
            raise WeComError(-1, f"HTTP {resp.status_code}", transient=True)
        try:
            return resp.json()
        except ValueError as exc:
            raise WeComError(-1, f"not JSON (HTTP {resp.status_code})", transient=True) from exc

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        content: bytes | None = None,
        params: dict | None = None,
        files: dict | None = None,
    ) -> dict[str, Any]:
        """One API call with the token; refreshes the token once on 40014/42001. Raises WeComError."""
        for attempt in (1, 2):
            tok = await self.token(refresh=attempt == 2)
            q = {"access_token": tok, **(params or {})}
            headers = {"Content-Type": "application/json"} if content is not None else None
            resp = await self.http.request(
                method, path, params=q, json=json_body, content=content, files=files, headers=headers
            )
            data = self._json(resp)
            code = int(data.get("errcode", 0))
            if code in TOKEN_ERRORS and attempt == 1:
                self._forget_token()
                continue
            if code != 0:
                raise WeComError(code, data.get("errmsg", ""), transient=code in TRANSIENT_ERRCODES)
            return data
        raise WeComError(42001, "token refresh failed", transient=True)

    async def send_raw(self, payload_json: str) -> dict[str, Any]:
        """message/send with a payload rendered once and stored (bytes resent unchanged on retry)."""
        return await self.call("POST", "message/send", content=payload_json.encode())

    async def update_template_card(self, payload_json: str) -> dict[str, Any]:
        return await self.call("POST", "message/update_template_card", content=payload_json.encode())

    async def media_get(self, media_id: str, *, max_bytes: int = 20 * 1024 * 1024) -> tuple[bytes, str]:
        """Download a media file. WeCom answers errors as JSON with HTTP 200: check the type."""
        for attempt in (1, 2):
            tok = await self.token(refresh=attempt == 2)
            async with self.http.stream(
                "GET", "media/get", params={"access_token": tok, "media_id": media_id}
            ) as r:
                ctype = r.headers.get("content-type", "")
                if r.status_code >= 500:
                    raise WeComError(-1, f"HTTP {r.status_code}", transient=True)
                if "json" in ctype or "text/plain" in ctype:
                    data = json.loads(await r.aread() or b"{}")
                    code = int(data.get("errcode", -1))
                    if code in TOKEN_ERRORS and attempt == 1:
                        self._forget_token()
                        continue
                    raise WeComError(code, data.get("errmsg", ""), transient=code in TRANSIENT_ERRCODES)
                chunks, size = [], 0
                async for chunk in r.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise WeComError(830002, "media too large")
                    chunks.append(chunk)
                return b"".join(chunks), ctype
        raise WeComError(42001, "token refresh failed", transient=True)

    async def media_upload(self, *, kind: str, filename: str, data: bytes, content_type: str) -> str:
        out = await self.call(
            "POST", "media/upload", params={"type": kind}, files={"media": (filename, data, content_type)}
        )
        return out["media_id"]

    async def schedule_add(self, schedule: dict[str, Any]) -> str:
        return (await self.call("POST", "oa/schedule/add", json_body={"schedule": schedule}))["schedule_id"]

    async def schedule_update(self, schedule: dict[str, Any]) -> None:
        await self.call("POST", "oa/schedule/update", json_body={"schedule": schedule})

    async def schedule_delete(self, schedule_id: str) -> None:
        await self.call("POST", "oa/schedule/del", json_body={"schedule_id": schedule_id})

    async def menu_create(self, menu: dict[str, Any]) -> None:
        await self.call("POST", "menu/create", params={"agentid": self.agent_id}, json_body=menu)


APP_MENU = {
    "button": [
        {"type": "pic_sysphoto", "name": "拍照", "key": "menu_photo", "sub_button": []},
        {"type": "location_select", "name": "签到", "key": "menu_checkin"},
        {"type": "click", "name": "我的待办", "key": "menu_todo"},
    ]
}
