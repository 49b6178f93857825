"""Async WeCom API client (httpx; aiohttp for the hot path), base URL `WECOM_API_BASE`.

The messages the relay sends (`message/send`, `message/update_template_card`: a POST of stored bytes) go
through aiohttp when the client talks to the network: on this machine an httpx request costs about 0.95 ms of
CPU and an aiohttp one 0.19 ms (`tests/bench` — at 200 replies a second that is a fifth of a core). Every other
call, and every call when a transport is injected (the tests' in-process emulator), goes through httpx. The
fast path's transport errors are raised as httpx's (ConnectError, ReadTimeout), so callers classify one set.

Raw endpoints rather than wechatpy's client: wechatpy is sync `requests` only, has no template_card
update, sends the legacy schedule payload, and its media download neither times out nor checks errcodes
(docs/wecom-protocol.md §5.3). wechatpy serves us in bot/wecom/crypto.py instead.

The access token is cached in Redis (shared by every process) with a single-flight refresh: one
process fetches, the others wait for the key. 40014/42001 drop the cached token and retry once.
If Redis is unreachable the client keeps a process-local token and carries on.

Redis is never called on the event loop: each call runs in a small thread pool of the client's own and is
awaited at most REDIS_TIMEOUT_S. A call that fails or times out marks Redis down for REDIS_BACKOFF_S, and
meanwhile the client does not ask it at all (a hung or paused Redis costs one short wait, not one per send).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
import httpx
import yarl

log = logging.getLogger("assistant.wecom")
LOCAL_TOKEN_TTL = 300  # seconds a token read from Redis is reused without asking Redis again
REDIS_TIMEOUT_S = 0.5  # the longest the client waits for one Redis call (it answers in < 1 ms when well)
REDIS_BACKOFF_S = 30.0  # after a failed or timed-out call, Redis is left alone this long
_NO_ANSWER = object()


class ErrorClass(StrEnum):
    """What an errcode means for the message that met it (docs/wecom-protocol.md §4.6)."""

    TRANSIENT = "transient"  # WeCom or the network is busy: retry this row with backoff
    CONFIG = "config"  # the app's set-up in the admin console: pause every send, keep every row, probe
    RECIPIENT = "recipient"  # this userid only (not in the app's visible range): hold that person's rows
    REQUEST = "request"  # this request is wrong (a bad field, an expired media_id): park the row
    UNEXPECTED = "unexpected"  # an answer we cannot read (a JSON list, a missing field, bad gzip): ≤ 3 sends


@dataclass(frozen=True)
class ErrorKind:
    cls: ErrorClass
    reason: str = ""  # what is wrong, in Chinese (for /readyz, the admin and the log)
    fix: str = ""  # the console step that fixes it, in Chinese


_SECRET_FIX = "在管理后台 应用管理→自建应用→Secret 查看（或重置）Secret，更新本服务的 WECOM_SECRET 后重启"
_VISIBLE_FIX = "在管理后台 应用管理→自建应用→可见范围 添加使用本助手的成员或部门"

# THE table. An errcode not listed is REQUEST (permanent for that one message). 40014/42001/41001 are
# refreshed once inside `call`; meeting them again with a fresh token means the credentials are refused.
WECOM_ERRORS: dict[int, ErrorKind] = {
    -1: ErrorKind(ErrorClass.TRANSIENT, "企业微信系统繁忙"),
    45009: ErrorKind(ErrorClass.TRANSIENT, "接口调用超过频率限制"),
    45033: ErrorKind(ErrorClass.TRANSIENT, "接口并发调用超过限制"),
    60020: ErrorKind(
        ErrorClass.CONFIG,
        "企业可信IP未配置",
        "在管理后台 应用管理→自建应用→企业可信IP 添加本服务器出口IP",
    ),
    40001: ErrorKind(ErrorClass.CONFIG, "应用Secret无效", _SECRET_FIX),
    40013: ErrorKind(
        ErrorClass.CONFIG,
        "企业ID无效",
        "在管理后台 我的企业→企业信息 查看企业ID，更新本服务的 WECOM_CORP_ID 后重启",
    ),
    40056: ErrorKind(
        ErrorClass.CONFIG,
        "应用AgentId无效",
        "在管理后台 应用管理→自建应用 查看 AgentId，更新本服务的 WECOM_AGENT_ID 后重启",
    ),
    40014: ErrorKind(ErrorClass.CONFIG, "access_token 被拒绝（刷新后仍无效）", _SECRET_FIX),
    42001: ErrorKind(ErrorClass.CONFIG, "access_token 被拒绝（刷新后仍过期）", _SECRET_FIX),
    41001: ErrorKind(ErrorClass.CONFIG, "access_token 缺失（刷新后仍缺失）", _SECRET_FIX),
    48002: ErrorKind(
        ErrorClass.CONFIG,
        "应用无此接口权限",
        "在管理后台 应用管理→自建应用 确认应用已启用，并在 API 权限中开启所需权限（如 日程）",
    ),
    60011: ErrorKind(ErrorClass.CONFIG, "应用无权限访问该成员或部门", _VISIBLE_FIX),
    48009: ErrorKind(
        ErrorClass.CONFIG,
        "通讯录同步的 Secret 不能在新增IP上读取成员（2022年8月15日起）",
        "改用 应用管理→自建应用→Secret 作为 WECOM_SECRET，并把成员加入应用的可见范围",
    ),
    81013: ErrorKind(ErrorClass.RECIPIENT, "接收人不在应用可见范围内", _VISIBLE_FIX),
}
UNEXPECTED = -2  # our errcode for an answer we could not read (WeCom never uses -2)
_UNEXPECTED_KIND = ErrorKind(ErrorClass.UNEXPECTED, "企业微信返回了无法识别的应答")
_REQUEST_KIND = ErrorKind(ErrorClass.REQUEST, "企业微信拒绝了这条消息")
TOKEN_ERRORS = {40014, 42001, 41001}
NO_EXTERNAL_CONTACT = 84061  # externalcontact/list: the member has no external contact
MAX_PAGES = 100  # pages read of a cursor-paged 客户联系 list
# errcodes worth retrying with backoff, as before the table (kept for callers that ask `.transient`)
TRANSIENT_ERRCODES = {c for c, k in WECOM_ERRORS.items() if k.cls is ErrorClass.TRANSIENT}


def kind_of(errcode: int) -> ErrorKind:
    if errcode == UNEXPECTED:
        return _UNEXPECTED_KIND
    return WECOM_ERRORS.get(errcode, _REQUEST_KIND)


class WeComError(Exception):
    def __init__(self, errcode: int, errmsg: str = "", *, transient: bool | None = None):
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.kind = kind_of(errcode)
        if transient and self.kind.cls is not ErrorClass.TRANSIENT:
            self.kind = ErrorKind(ErrorClass.TRANSIENT, self.kind.reason)  # network errors, HTTP 5xx
        self.transient = self.kind.cls is ErrorClass.TRANSIENT

    @property
    def cls(self) -> ErrorClass:
        return self.kind.cls


@dataclass(frozen=True)
class _Answer:
    """The fast path's answer, read the way `WeComClient._json` reads an httpx.Response."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


def unexpected(what: str) -> WeComError:
    """An answer we cannot read: neither a success nor an errcode we know how to act on."""
    return WeComError(UNEXPECTED, what[:300])


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
        self._aio: aiohttp.ClientSession | None = (
            None  # the hot path's session (made on first use, in its loop)
        )
        self._aio_loop: asyncio.AbstractEventLoop | None = None
        self._aio_proxy: tuple[Any, Any] = (None, None)  # (proxy URL, its credentials) from the environment
        self._flight: asyncio.Task[str] | None = None  # the token lookup in progress, shared by its callers
        self._flight_refreshes = False
        self._local_token: tuple[str, float] | None = None
        self._key = f"wecom:token:{corp_id}:{agent_id}"
        self._redis_pool: ThreadPoolExecutor | None = None
        self._redis_down_until = 0.0

    def sibling(self) -> WeComClient:
        """A client of the same app for another event loop (an httpx client and the token's shared lookup
        belong to one loop); the token itself is shared through Redis."""
        return WeComClient(
            api_base=self.api_base,
            corp_id=self.corp_id,
            secret=self.secret,
            agent_id=self.agent_id,
            redis=self.redis,
            timeout=self._timeout,
            transport=self._transport,
        )

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
        if self._aio is not None:
            await self._aio.close()
            self._aio = None
        if self._redis_pool is not None:
            self._redis_pool.shutdown(wait=False, cancel_futures=True)
            self._redis_pool = None

    # -- Redis, off the event loop -----------------------------------------------------------------
    async def _redis_call(self, fn: Callable[[], Any]) -> Any:
        """`fn()` (one Redis command) in the client's Redis thread, awaited at most REDIS_TIMEOUT_S.
        _NO_ANSWER when Redis is absent, marked down, failing or too slow (then it is marked down)."""
        if self.redis is None or time.monotonic() < self._redis_down_until:
            return _NO_ANSWER
        if self._redis_pool is None:
            self._redis_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wecom-redis")
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._redis_pool, fn), REDIS_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - Redis is an accelerator; degrade to the local cache
            self._redis_down_until = time.monotonic() + REDIS_BACKOFF_S
            log.warning("redis unavailable (%s); token kept in this process", exc.__class__.__name__)
            return _NO_ANSWER

    # -- token -----------------------------------------------------------------------------------
    async def _redis_get(self) -> str | None:
        v = await self._redis_call(lambda: self.redis.get(self._key))
        if v is _NO_ANSWER or v is None:
            return None
        return v.decode() if isinstance(v, bytes) else str(v)

    async def token(self, *, refresh: bool = False) -> str:
        """The access token: in-process first (a Redis round trip per send would cost a thread hop), then the
        one shared in Redis, else a fetch. Single flight within the process: concurrent callers share one
        lookup — its token or its error (a refused gettoken is met once, not once per lane). `refresh`: skip
        the caches (after 40014/42001), joining only a flight that skipped them too."""
        if not refresh and self._local_token and self._local_token[1] > time.time():
            return self._local_token[0]
        loop = asyncio.get_running_loop()
        flight = self._flight
        if (
            flight is None
            or flight.done()
            or flight.get_loop() is not loop
            or (refresh and not self._flight_refreshes)
        ):
            flight = self._flight = loop.create_task(self._token_flight(refresh))
            flight.add_done_callback(_retrieve)
            self._flight_refreshes = refresh
        return await asyncio.shield(flight)

    async def _token_flight(self, refresh: bool) -> str:
        if not refresh:
            cached = await self._redis_get()
            if cached:
                self._local_token = (cached, time.time() + LOCAL_TOKEN_TTL)
                return cached
        lock_token = uuid.uuid4().hex
        got_lock = await self._acquire_redis_lock(lock_token)
        if not got_lock:  # another process is fetching: wait for its result briefly
            for _ in range(50):
                await asyncio.sleep(0.05)
                cached = await self._redis_get()
                if cached:
                    self._local_token = (cached, time.time() + LOCAL_TOKEN_TTL)
                    return cached
        try:
            return await self._fetch_token()
        finally:
            await self._release_redis_lock(lock_token)

    async def _acquire_redis_lock(self, lock_token: str) -> bool:
        got = await self._redis_call(
            lambda: self.redis.set(self._key + ":lock", lock_token, nx=True, px=10_000)
        )
        return True if got is _NO_ANSWER else bool(got)

    async def _release_redis_lock(self, lock_token: str) -> None:
        await self._redis_call(  # compare-and-delete
            lambda: self.redis.eval(
                "if redis.call('get',KEYS[1])==ARGV[1] then return redis.call('del',KEYS[1]) end return 0",
                1,
                self._key + ":lock",
                lock_token,
            )
        )

    async def _fetch_token(self) -> str:
        """A new token. An unreadable gettoken answer is no message's fault: transient for the callers."""
        try:
            return await self._fetch_token_once()
        except WeComError as exc:
            if exc.cls is ErrorClass.UNEXPECTED:
                raise WeComError(-1, f"gettoken: {exc.errmsg}", transient=True) from exc
            raise

    async def _fetch_token_once(self) -> str:
        resp = await self._request(
            "GET", "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
        )
        data = self._json(resp)
        code = _errcode(data, default=0)
        if code != 0:
            raise WeComError(code, str(data.get("errmsg", "")))
        tok = data.get("access_token")
        if not isinstance(tok, str) or not tok:
            raise unexpected("gettoken answered without an access_token")
        try:
            ttl = int(data.get("expires_in", 7200))
        except (TypeError, ValueError):
            raise unexpected("gettoken answered an expires_in that is not a number") from None
        self._local_token = (tok, time.time() + ttl - 300)
        await self._redis_call(lambda: self.redis.set(self._key, tok, ex=max(60, ttl - 300)))
        return tok

    async def _forget_token(self) -> None:
        self._local_token = None
        await self._redis_call(lambda: self.redis.delete(self._key))

    # -- calls -----------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP round trip; a body that cannot be decoded (bad gzip …) is an unexpected answer."""
        try:
            return await self.http.request(method, path, **kwargs)
        except httpx.DecodingError as exc:
            raise unexpected(f"{path}: undecodable body ({exc})") from exc

    async def _post_stored(self, path: str, params: dict, content: bytes) -> httpx.Response | _Answer:
        """POST of stored JSON bytes (the relay's sends): aiohttp when talking to the network (module
        docstring), httpx when a transport is injected."""
        if self._transport is not None:
            return await self._request(
                "POST", path, params=params, content=content, headers={"Content-Type": "application/json"}
            )
        loop = asyncio.get_running_loop()
        if self._aio is None or self._aio.closed or self._aio_loop is not loop:  # a session serves one loop
            self._aio_loop = loop
            self._aio = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
            # HTTPS_PROXY / NO_PROXY as httpx honours them (an egress proxy on WeCom's trusted IP), read once
            # for the API's host rather than at every request (aiohttp's trust_env reads them, and ~/.netrc, each time)
            try:
                self._aio_proxy = aiohttp.helpers.get_env_proxy_for_url(yarl.URL(self.api_base))
            except LookupError:
                self._aio_proxy = (None, None)
        try:
            async with self._aio.post(
                self.api_base + path,
                params=params,
                data=content,
                headers={"Content-Type": "application/json"},
                proxy=self._aio_proxy[0],
                proxy_auth=self._aio_proxy[1],
            ) as resp:
                return _Answer(resp.status, await resp.read())
        except aiohttp.ClientPayloadError as exc:
            raise unexpected(f"{path}: undecodable body ({exc})") from exc
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"{path}: no answer within {self._timeout:.0f} s") from exc
        except aiohttp.ClientError as exc:
            raise httpx.ConnectError(f"{path}: {exc.__class__.__name__}: {exc}") from exc

    @staticmethod
    def _json(resp: httpx.Response | _Answer) -> dict[str, Any]:
        """The answer's JSON object. HTTP 5xx is transient (a gateway page); anything else that is not a
        JSON object (HTML with HTTP 200, a list, a number) is an unexpected answer."""
        if resp.status_code >= 500:
            raise WeComError(-1, f"HTTP {resp.status_code}", transient=True)
        try:
            data = resp.json()
        except ValueError as exc:
            raise unexpected(f"not JSON (HTTP {resp.status_code})") from exc
        if not isinstance(data, dict):
            raise unexpected(f"a JSON {type(data).__name__}, not an object (HTTP {resp.status_code})")
        return data

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
            resp: httpx.Response | _Answer
            if method == "POST" and content is not None and json_body is None and files is None:
                resp = await self._post_stored(path, q, content)
            else:
                resp = await self._request(method, path, params=q, json=json_body, files=files)
            data = self._json(resp)
            code = _errcode(data)
            if code in TOKEN_ERRORS and attempt == 1:
                await self._forget_token()
                continue
            if code != 0:
                raise WeComError(code, str(data.get("errmsg", "")))
            return data
        raise WeComError(42001, "token refresh failed")

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
                    try:
                        data = json.loads(await r.aread() or b"{}")
                    except (ValueError, httpx.DecodingError) as exc:
                        raise unexpected("media/get: an error answer that is not JSON") from exc
                    if not isinstance(data, dict):
                        raise unexpected("media/get: a JSON answer that is not an object")
                    code = _errcode(data)
                    if code in TOKEN_ERRORS and attempt == 1:
                        await self._forget_token()
                        continue
                    raise WeComError(code, str(data.get("errmsg", "")))
                chunks, size = [], 0
                try:
                    async for chunk in r.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise WeComError(830002, "media too large")
                        chunks.append(chunk)
                except httpx.DecodingError as exc:
                    raise unexpected(f"media/get: undecodable body ({exc})") from exc
                return b"".join(chunks), ctype
        raise WeComError(42001, "token refresh failed")

    async def media_upload(self, *, kind: str, filename: str, data: bytes, content_type: str) -> str:
        out = await self.call(
            "POST", "media/upload", params={"type": kind}, files={"media": (filename, data, content_type)}
        )
        media_id = out.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise unexpected("media/upload answered without a media_id")
        return media_id

    async def schedule_add(self, schedule: dict[str, Any]) -> str:
        out = await self.call("POST", "oa/schedule/add", json_body={"schedule": schedule})
        schedule_id = out.get("schedule_id")
        if not isinstance(schedule_id, str) or not schedule_id:
            raise unexpected("oa/schedule/add answered without a schedule_id")
        return schedule_id

    async def probe(self) -> None:
        """A cheap call that needs the credentials and the trusted IP: a fresh token, then agent/get (the
        app's own details, read-only). Raises WeComError like any call."""
        await self.token(refresh=True)
        await self.call("GET", "agent/get", params={"agentid": self.agent_id})

    async def schedule_update(self, schedule: dict[str, Any]) -> None:
        await self.call("POST", "oa/schedule/update", json_body={"schedule": schedule})

    async def schedule_delete(self, schedule_id: str) -> None:
        await self.call("POST", "oa/schedule/del", json_body={"schedule_id": schedule_id})

    # -- 客户联系 (the app listed in 客户联系 → 可调用应用; docs/customer-contacts.md) -------------------------------
    async def external_contact_get(self, external_userid: str) -> dict[str, Any]:
        """externalcontact/get: {"external_contact": {...}, "follow_user": [...]} (84061: not an external contact)."""
        return await self.call("GET", "externalcontact/get", params={"external_userid": external_userid})

    async def user_behavior(self, userid: str, start_time: int, end_time: int) -> list[dict[str, Any]]:
        """externalcontact/get_user_behavior_data for one member: one entry per day (stat_time, chat_cnt, …)."""
        out = await self.call(
            "POST",
            "externalcontact/get_user_behavior_data",
            json_body={"userid": [userid], "start_time": start_time, "end_time": end_time},
        )
        days = out.get("behavior_data")
        if not isinstance(days, list):
            raise unexpected("get_user_behavior_data answered without behavior_data")
        return [d for d in days if isinstance(d, dict)]

    async def group_chat_get(self, chat_id: str) -> dict[str, Any]:
        """externalcontact/groupchat/get: the 客户群's name, owner and members."""
        out = await self.call(
            "POST", "externalcontact/groupchat/get", json_body={"chat_id": chat_id, "need_name": 1}
        )
        chat = out.get("group_chat")
        if not isinstance(chat, dict):
            raise unexpected("groupchat/get answered without group_chat")
        return chat

    async def oauth_userid(self, code: str) -> str | None:
        """auth/getuserinfo: the member who signed in with `code` (web OAuth or QR login); None for someone who
        is not a member of the corp (WeCom answers an openid then). Raises WeComError (40029: invalid code)."""
        out = await self.call("GET", "auth/getuserinfo", params={"code": code})
        userid = out.get("userid") or out.get("UserId")  # the older user/getuserinfo spelled it UserId
        if userid is None:
            return None
        if not isinstance(userid, str) or not userid:
            raise unexpected("auth/getuserinfo answered without a readable userid")
        return userid

    # -- 客户联系: WeCom's own customer transfer (docs/handover.md) ------------------------------------------

    async def external_contacts(self, userid: str) -> list[str]:
        """externalcontact/list: the external contacts a member added (84061: none)."""
        try:
            out = await self.call("GET", "externalcontact/list", params={"userid": userid})
        except WeComError as exc:
            if exc.errcode == NO_EXTERNAL_CONTACT:
                return []
            raise
        return [str(x) for x in out.get("external_userid") or []]

    async def unassigned_of(self, userid: str) -> list[str]:
        """externalcontact/get_unassigned_list, every page: the external contacts a departed member left."""
        found: list[str] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            out = await self.call(
                "POST", "externalcontact/get_unassigned_list", json_body={"cursor": cursor, "page_size": 1000}
            )
            found += [
                str(i.get("external_userid"))
                for i in out.get("info") or []
                if isinstance(i, dict) and i.get("handover_userid") == userid
            ]
            cursor = str(out.get("next_cursor") or "")
            if out.get("is_last", True) or not cursor:
                break
        return list(dict.fromkeys(found))

    async def transfer_customers(self, mode: str, handover: str, takeover: str) -> list[dict[str, Any]]:
        """离职继承 (mode "resigned") or 在职继承 ("on_job") of every external contact of `handover`, 100 a call,
        then the state of each from transfer_result: [{"external_userid", "errcode", "status"?}]."""
        resigned = mode == "resigned"
        contacts = await (self.unassigned_of(handover) if resigned else self.external_contacts(handover))
        prefix = "externalcontact/resigned/" if resigned else "externalcontact/"
        answers: dict[str, dict[str, Any]] = {}
        for start in range(0, len(contacts), 100):
            out = await self.call(
                "POST",
                prefix + "transfer_customer",
                json_body={
                    "handover_userid": handover,
                    "takeover_userid": takeover,
                    "external_userid": contacts[start : start + 100],
                },
            )
            for c in out.get("customer") or []:
                if isinstance(c, dict) and c.get("external_userid"):
                    ext = str(c["external_userid"])
                    answers[ext] = {"external_userid": ext, "errcode": int(c.get("errcode") or 0)}
        if any(a["errcode"] == 0 for a in answers.values()):
            cursor = ""
            for _ in range(MAX_PAGES):
                out = await self.call(
                    "POST",
                    prefix + "transfer_result",
                    json_body={"handover_userid": handover, "takeover_userid": takeover, "cursor": cursor},
                )
                for c in out.get("customer") or []:
                    ext = str(c.get("external_userid", "")) if isinstance(c, dict) else ""
                    if ext in answers and answers[ext]["errcode"] == 0:
                        answers[ext]["status"] = int(c.get("status") or 0)
                cursor = str(out.get("next_cursor") or "")
                if not cursor:
                    break
        return list(answers.values())

    async def menu_create(self, menu: dict[str, Any]) -> None:
        await self.call("POST", "menu/create", params={"agentid": self.agent_id}, json_body=menu)


def _retrieve(task: asyncio.Task[str]) -> None:
    """A token flight's error is its callers'; if they all went away, it is not an unhandled-task warning."""
    if not task.cancelled():
        task.exception()


def _errcode(data: dict[str, Any], default: int | None = None) -> int:
    """The answer's errcode; an answer without one (or with one that is not a number) is unexpected."""
    raw = data.get("errcode", default)
    if raw is None:
        raise unexpected("an answer without an errcode")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise unexpected(f"an errcode that is not a number: {raw!r}"[:200]) from None
