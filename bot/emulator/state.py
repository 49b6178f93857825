"""`FakeWeCom`: the in-memory WeCom the assistant talks to in tests and in the demo.

It keeps what WeCom would know (tokens, media, delivered messages, cards, schedules, menus), records
every API call, and enforces the rules that bite in production: tokens expire, each member receives
at most 30 messages a minute and 1000 an hour from the app (the excess is accepted with errcode 0 and
silently dropped), `enable_duplicate_check` suppresses a repeat, a card's response_code works once.
Thread-safe: the API (an event loop), the peer (request threads) and tests may use it at once.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bot.emulator.contacts import EmulatedAddressBook
from bot.emulator.external_contacts import ExternalContactBook
from bot.emulator.faults import Fault, FaultPlan
from bot.emulator.payloads import (
    INTERACTIVE_CARDS,
    ApiError,
    check_card_update,
    check_menu,
    check_schedule,
    check_send,
    check_upload,
    recipients,
    sniff_image,
)
from bot.emulator.records import (
    ApiCall,
    Callback,
    Delivery,
    Dropped,
    InjectedFault,
    Media,
    ResponseCode,
    ScheduleOp,
    Suppressed,
    as_now,
)
from bot.emulator.transfers import CustomerTransfers

MEDIA_TTL = timedelta(days=3)
RESPONSE_CODE_TTL = timedelta(hours=72)
OAUTH_CODE_TTL = timedelta(minutes=5)  # 「code只能使用一次，5分钟未被使用自动过期」
QR_TICKET_TTL = timedelta(minutes=5)
DEFAULT_MEDIA_NAMES = {"image": "image.jpg", "voice": "voice.amr", "video": "video.mp4", "file": "file.bin"}

_log = logging.getLogger("assistant.emulator")


@dataclass
class _SentOnce:
    at: datetime
    msgid: str
    response_code: str | None
    interval: int


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def with_code(redirect_uri: str, code: str, state: str) -> str:
    """redirect_uri?code=CODE&state=STATE, as WeCom redirects after a sign-in."""
    joiner = "&" if "?" in redirect_uri else "?"
    return f"{redirect_uri}{joiner}{urlencode({'code': code, 'state': state})}"


def _flag(value: Any) -> bool:
    return str(value) == "1" or value is True


class FakeWeCom:
    """One corp with one self-built app.

    `users`: the members visible to the app; when given, unknown userids come back in `invaliduser`
    (all unknown → 81013). `clock`: a callable returning an aware datetime, or an object with `.now()`
    (e.g. core.clock.FixedClock); it drives token expiry, the rate limit, duplicate check and media expiry.
    `hang_seconds`: how long a TIMEOUT fault holds the answer before failing it (see api.py).
    """

    def __init__(
        self,
        *,
        corp_id: str = "wwemulator00000001",
        secret: str = "emulator-secret",
        agent_id: int = 1000002,
        clock: Any = None,
        users: Iterable[str] | None = None,
        token_ttl: int = 7200,
        hang_seconds: float = 0.0,
        per_minute: int = 30,
        per_hour: int = 1000,
        unique_task_ids: bool = True,
        contacts_secret: str | None = None,
    ):
        self.corp_id, self.secret, self.agent_id = corp_id, secret, int(agent_id)
        self.now = as_now(clock)
        self.users: set[str] | None = set(users) if users is not None else None
        self.token_ttl, self.hang_seconds = token_ttl, hang_seconds
        self.per_minute, self.per_hour = per_minute, per_hour
        self.unique_task_ids = unique_task_ids
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._seq = 0
        self._version = 0
        self._tokens: dict[str, datetime] = {}
        self._calls: list[ApiCall] = []
        self._deliveries: list[Delivery] = []
        self._dropped: list[Dropped] = []
        self._suppressed: list[Suppressed] = []
        self._recent: dict[str, deque[datetime]] = defaultdict(deque)
        self._sent_once: dict[str, _SentOnce] = {}
        self._task_ids: set[str] = set()
        self._codes: dict[str, ResponseCode] = {}
        self._media: dict[str, Media] = {}
        self._schedules: dict[str, dict[str, Any]] = {}
        self._schedule_log: list[ScheduleOp] = []
        self._menus: dict[int, dict[str, Any]] = {}
        self._faults = FaultPlan()
        self._injected: list[InjectedFault] = []
        self._callbacks: list[Callback] = []
        # the address book (bot/emulator/contacts.py) and the 通讯录同步 secret, whose tokens meet 48009
        self.book = EmulatedAddressBook()
        self.contacts_secret = contacts_secret
        self._token_secret: dict[str, str] = {}
        # 客户联系: members' external contacts, their daily figures, 客户群 (external_contacts.py)
        self.external = ExternalContactBook(self._lock)
        self._oauth_codes: dict[str, tuple[str, datetime]] = {}  # code → (userid, expires)
        self._qr: dict[str, dict[str, Any]] = {}  # QR login ticket → its request and who confirmed it
        # 客户联系's 在职/离职继承 over those contacts (transfers.py)
        self.transfers = CustomerTransfers(self.now, self.external)

    # -- bookkeeping -------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _touch(self) -> None:
        self._version += 1
        self._changed.notify_all()

    @property
    def version(self) -> int:
        """Grows on every change a viewer could see (deliveries, card updates, callbacks, menus)."""
        with self._lock:
            return self._version

    # -- tokens ------------------------------------------------------------------------------------
    def issue_token(self, corpid: str, corpsecret: str) -> dict[str, Any]:
        """gettoken: the same token while it is valid, a new one after it expired."""
        if not corpid:
            raise ApiError(41002, "corpid missing")
        if not corpsecret:
            raise ApiError(41004, "corpsecret missing")
        if corpid != self.corp_id:
            raise ApiError(40013, "invalid corpid")
        if corpsecret != self.secret and (not self.contacts_secret or corpsecret != self.contacts_secret):
            raise ApiError(40001, "invalid credential")
        with self._lock:
            now = self.now()
            for token, expires in self._tokens.items():
                if expires > now and self._token_secret.get(token, self.secret) == corpsecret:
                    left = int((expires - now).total_seconds())
                    return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": left}
            token = secrets.token_urlsafe(96)
            self._tokens[token] = now + timedelta(seconds=self.token_ttl)
            self._token_secret[token] = corpsecret
            return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}

    def check_token(self, token: str) -> None:
        if not token:
            raise ApiError(41001, "access_token missing")
        with self._lock:
            expires = self._tokens.get(token)
            if expires is None:
                raise ApiError(40014, "invalid access_token")
            if expires <= self.now():
                raise ApiError(42001, "access_token expired")

    def expire_tokens(self) -> None:
        """Every issued token is expired from now on: the next call with one answers 42001."""
        with self._lock:
            now = self.now()
            self._tokens = {t: min(e, now) for t, e in self._tokens.items()}

    def revoke_tokens(self) -> None:
        """Forget every issued token: the next call with one answers 40014 (WeCom invalidated it early)."""
        with self._lock:
            self._tokens.clear()

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return len(self._tokens)

    # -- web sign-in (OAuth: 网页授权登录, 扫码登录) ------------------------------------------------------
    def check_oauth_request(self, appid: str, redirect_uri: str, agentid: str | None = None) -> str | None:
        """What WeCom's authorize or QR page would refuse (Chinese), or None."""
        if appid != self.corp_id:
            return "appid 参数错误（不是本企业的 CorpID）"
        if not redirect_uri.startswith(("http://", "https://")):
            return "redirect_uri 参数错误"
        if agentid is not None and str(agentid) != str(self.agent_id):
            return "agentid 参数错误（不是本应用）"
        return None

    def issue_oauth_code(self, userid: str) -> str:
        """The code WeCom appends to redirect_uri after a member's sign-in: one use, five minutes."""
        with self._lock:
            if self.users is not None and userid not in self.users:
                raise ApiError(60011, "no privilege to access/modify contact/party/agent")
            code = secrets.token_urlsafe(48)
            self._oauth_codes[code] = (userid, self.now() + OAUTH_CODE_TTL)
            return code

    def user_of_code(self, code: str) -> dict[str, Any]:
        """auth/getuserinfo: the member behind a code, which is spent by the call (used, expired, unknown → 40029)."""
        if not code:
            raise ApiError(41008, "missing oauth code")
        with self._lock:
            found = self._oauth_codes.pop(code, None)
            if found is None or found[1] <= self.now():
                raise ApiError(40029, "invalid code")
            return {"errcode": 0, "errmsg": "ok", "userid": found[0]}

    def open_qr(self, redirect_uri: str, state: str) -> str:
        """A QR login page shown in a desktop browser: its ticket, waiting for a member to scan it."""
        with self._lock:
            ticket = secrets.token_urlsafe(16)
            self._qr[ticket] = {
                "redirect_uri": redirect_uri,
                "state": state,
                "expires": self.now() + QR_TICKET_TTL,
                "userid": None,
                "code": None,
            }
            self._touch()
            return ticket

    def scan_qr(self, userid: str, ticket: str | None = None) -> str:
        """`userid` scans (and confirms) a QR login — the given ticket or the newest waiting one; returns the
        ticket. LookupError when there is none waiting."""
        with self._lock:
            now = self.now()
            waiting = [t for t, q in self._qr.items() if q["userid"] is None and q["expires"] > now]
            if ticket is None:
                ticket = waiting[-1] if waiting else None
            if ticket is None or ticket not in waiting:
                raise LookupError("no QR login waiting")
            q = self._qr[ticket]
            q["code"] = self.issue_oauth_code(userid)
            q["userid"] = userid
            self._touch()
            return ticket

    def qr_status(self, ticket: str) -> dict[str, Any]:
        """waiting | confirmed (with where the browser goes: redirect_uri?code=…&state=…) | expired."""
        with self._lock:
            q = self._qr.get(ticket)
            if q is None or (q["userid"] is None and q["expires"] <= self.now()):
                return {"status": "expired"}
            if q["userid"] is None:
                return {"status": "waiting"}
            return {"status": "confirmed", "redirect": with_code(q["redirect_uri"], q["code"], q["state"])}

    @property
    def qr_waiting(self) -> list[str]:
        with self._lock:
            now = self.now()
            return [t for t, q in self._qr.items() if q["userid"] is None and q["expires"] > now]

    # -- faults ------------------------------------------------------------------------------------
    def fail_next(
        self, n: int = 1, mode: Fault | str | int = Fault.SYSTEM_BUSY, *, paths: Iterable[str] | None = None
    ) -> None:
        """The next `n` matching API calls fail with `mode` (a Fault, "timeout", -1, 45009, 502, 81013).
        `paths` (e.g. ["message/send"]) limits which calls; None = every path but gettoken."""
        with self._lock:
            self._faults.fail_next(n, mode, paths)

    def fail_rate(
        self,
        p: float,
        modes: Iterable[Fault | str | int] = (Fault.SYSTEM_BUSY, Fault.HTTP_502),
        seed: int | None = 0,
        *,
        paths: Iterable[str] | None = None,
    ) -> None:
        """From now on each matching call fails with probability `p`, the mode drawn from `modes`
        (seeded: the same seed gives the same sequence). `fail_rate(0)` turns it off."""
        with self._lock:
            self._faults.fail_rate(p, modes, seed, paths)

    def fail_for(
        self, seconds: float, mode: Fault | str | int, *, paths: Iterable[str] | None = None
    ) -> None:
        """Every matching call fails with `mode` for the next `seconds` of the emulator's clock: a console
        misconfiguration (60020, 40001, 48002 …) that someone fixes later. `paths` as in `fail_next`."""
        with self._lock:
            self._faults.fail_until(self.now() + timedelta(seconds=seconds), mode, paths)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            fault = self._faults.take(path, self.now())
            if fault is not None:
                self._injected.append(InjectedFault(path, fault.value, self.now()))
            return fault

    @property
    def faults_injected(self) -> list[InjectedFault]:
        with self._lock:
            return list(self._injected)

    @property
    def faults_pending(self) -> int:
        with self._lock:
            return self._faults.pending

    # -- API call log ------------------------------------------------------------------------------
    def record_call(self, call: ApiCall) -> None:
        with self._lock:
            self._calls.append(call)
        if (call.errcode not in (0, None) or call.status != 200) and call.fault is None:
            # what the chat page's footer counts as 报错, named in the log (an injected fault is expected)
            _log.warning(
                "emulated WeCom answered %s %s with HTTP %s errcode %s: %s",
                call.method,
                call.path,
                call.status,
                call.errcode,
                (call.response or {}).get("errmsg", ""),
            )

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, path: str) -> list[ApiCall]:
        path = path.strip("/").removeprefix("cgi-bin/")
        with self._lock:
            return [c for c in self._calls if c.path == path]

    # -- message/send ------------------------------------------------------------------------------
    def send_message(self, body: Any) -> dict[str, Any]:
        with self._lock:
            msgtype = check_send(body, self.agent_id, self._media_alive)
            now = self.now()
            wanted = recipients(body)
            if "@all" in wanted:
                wanted = sorted(self.users) if self.users is not None else wanted
            invalid = [u for u in wanted if self.users is not None and u not in self.users]
            valid = [u for u in wanted if u not in invalid]
            if not valid and not body.get("toparty") and not body.get("totag"):
                raise ApiError(81013, "user & party & tag all invalid", invaliduser="|".join(invalid))
            key = _canonical(body)
            if _flag(body.get("enable_duplicate_check")):
                prior = self._sent_once.get(key)
                if prior is not None and now - prior.at < timedelta(seconds=prior.interval):
                    self._suppressed.append(Suppressed(copy.deepcopy(body), now, prior.msgid))
                    self._touch()
                    return self._send_answer(invalid, prior.msgid, prior.response_code)
            card = body.get("template_card") if msgtype == "template_card" else None
            task_id = card.get("task_id") if card else None
            if task_id and self.unique_task_ids and task_id in self._task_ids:
                raise ApiError(40058, f"invalid parameter: task_id {task_id} already used by this app")
            msgid = secrets.token_urlsafe(24)
            code = None
            if card and card.get("card_type") in INTERACTIVE_CARDS:
                code = self._issue_code(task_id or "", tuple(valid), "send", now)
            for userid in valid:
                self._deliver_or_drop(userid, body, now, msgid, code)
            if task_id:
                self._task_ids.add(task_id)
            self._sent_once[key] = _SentOnce(
                now, msgid, code, int(body.get("duplicate_check_interval", 1800))
            )
            self._touch()
            return self._send_answer(invalid, msgid, code)

    @staticmethod
    def _send_answer(invalid: list[str], msgid: str, code: str | None) -> dict[str, Any]:
        answer = {
            "errcode": 0,
            "errmsg": "ok",
            "invaliduser": "|".join(invalid),
            "invalidparty": "",
            "invalidtag": "",
            "unlicenseduser": "",
            "msgid": msgid,
        }
        if code:
            answer["response_code"] = code
        return answer

    def _deliver_or_drop(self, userid: str, body: dict, now: datetime, msgid: str, code: str | None) -> None:
        recent = self._recent[userid]
        while recent and now - recent[0] >= timedelta(hours=1):
            recent.popleft()
        last_minute = sum(1 for t in recent if now - t < timedelta(minutes=1))
        reason = (
            "rate_limit_minute"
            if last_minute >= self.per_minute
            else "rate_limit_hour"
            if len(recent) >= self.per_hour
            else None
        )
        if reason:
            self._dropped.append(Dropped(userid, copy.deepcopy(body), now, msgid, reason, self._next_seq()))
            return
        recent.append(now)
        self._deliveries.append(Delivery(self._next_seq(), userid, copy.deepcopy(body), now, msgid, code))

    # -- cards -------------------------------------------------------------------------------------
    def _issue_code(self, task_id: str, userids: tuple[str, ...], source: str, now: datetime) -> str:
        code = secrets.token_urlsafe(32)
        self._codes[code] = ResponseCode(code, task_id, userids, source, now)
        return code

    def issue_click_code(self, userid: str, task_id: str) -> tuple[str, str]:
        """A click on a card delivered to `userid`: a fresh single-use ResponseCode for that member's
        card (as in WeCom, distinct from the send response's code). Returns (code, card_type)."""
        with self._lock:
            delivery = self._latest_card(userid, task_id)
            card = delivery.current_card() or {}
            code = self._issue_code(task_id, (userid,), "click", self.now())
            return code, str(card.get("card_type", ""))

    def card_type(self, userid: str, task_id: str) -> str:
        with self._lock:
            return str((self._latest_card(userid, task_id).current_card() or {}).get("card_type", ""))

    def _latest_card(self, userid: str, task_id: str) -> Delivery:
        for delivery in reversed(self._deliveries):
            if delivery.userid == userid and delivery.task_id == task_id:
                return delivery
        raise LookupError(f"no card with task_id {task_id!r} was delivered to {userid!r}")

    def update_template_card(self, body: Any) -> dict[str, Any]:
        with self._lock:
            check_card_update(body, self.agent_id)
            now = self.now()
            issued = self._codes.get(body["response_code"])
            if issued is None or issued.used_at is not None or now - issued.issued_at > RESPONSE_CODE_TTL:
                raise ApiError(60140, "response_code is invalid, expired or already used")
            issued.used_at = now
            asked = [str(u) for u in body.get("userids") or []]
            if _flag(body.get("atall")) or not asked:
                targets = set(issued.userids)
            else:
                targets = set(asked) & set(issued.userids)
            invalid = [u for u in asked if u not in issued.userids]
            update = copy.deepcopy(body)
            for delivery in self._deliveries:
                if delivery.task_id == issued.task_id and delivery.userid in targets:
                    delivery.card_update, delivery.updated_at = update, now
                    delivery.revision += 1
            self._touch()
            return {"errcode": 0, "errmsg": "ok", "invaliduser": invalid}

    @property
    def response_codes(self) -> dict[str, ResponseCode]:
        with self._lock:
            return {k: replace(v) for k, v in self._codes.items()}

    # -- what members received ---------------------------------------------------------------------
    def all_deliveries(self) -> list[Delivery]:
        with self._lock:
            return [replace(d, body=copy.deepcopy(d.body)) for d in self._deliveries]

    def deliveries_to(self, userid: str) -> list[Delivery]:
        return [d for d in self.all_deliveries() if d.userid == userid]

    def messages_to(self, userid: str) -> list[dict[str, Any]]:
        """The message/send bodies actually delivered to `userid`, oldest first."""
        return [d.body for d in self.deliveries_to(userid)]

    def texts_to(self, userid: str) -> list[str]:
        """The content of text and markdown messages delivered to `userid`."""
        return [
            b[b["msgtype"]]["content"]
            for b in self.messages_to(userid)
            if b["msgtype"] in ("text", "markdown")
        ]

    def card_to(self, userid: str, task_id: str) -> dict[str, Any] | None:
        """The card `task_id` as `userid` sees it now (after updates); None if never delivered."""
        with self._lock:
            try:
                return copy.deepcopy(self._latest_card(userid, task_id).current_card())
            except LookupError:
                return None

    def wait_for_messages(self, userid: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until `userid` has received at least `count` messages (or `timeout` seconds pass);
        for assistants that reply from a background worker. Returns messages_to(userid)."""
        with self._changed:
            self._changed.wait_for(
                lambda: sum(d.userid == userid for d in self._deliveries) >= count, timeout
            )
        return self.messages_to(userid)

    @property
    def dropped(self) -> list[Dropped]:
        """Messages over the per-member limit: accepted with errcode 0, never delivered."""
        with self._lock:
            return list(self._dropped)

    @property
    def duplicates(self) -> list[Suppressed]:
        """Repeats suppressed by enable_duplicate_check (answered errcode 0 with the first msgid)."""
        with self._lock:
            return list(self._suppressed)

    # -- media -------------------------------------------------------------------------------------
    def put_media(
        self,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        filename: str | None = None,
        kind: str | None = None,
    ) -> str:
        """Store a file as WeCom would (e.g. a photo a member sent); returns its media_id (3 days)."""
        kind = kind or (
            "image"
            if content_type.startswith("image/")
            else "voice"
            if content_type.startswith("audio/")
            else "file"
        )
        media_id = "3" + secrets.token_urlsafe(48)
        with self._lock:
            self._media[media_id] = Media(
                media_id,
                bytes(data),
                content_type,
                filename or DEFAULT_MEDIA_NAMES.get(kind, "file.bin"),
                kind,
                self.now(),
            )
        return media_id

    def get_media(self, media_id: str) -> Media | None:
        """The file, or None when unknown or older than 3 days."""
        with self._lock:
            media = self._media.get(media_id)
            if media is None or self.now() - media.created_at > MEDIA_TTL:
                return None
            return media

    def _media_alive(self, media_id: str) -> bool:
        return self.get_media(media_id) is not None

    def upload_media(self, kind: str, filename: str, data: bytes | None, content_type: str) -> dict[str, Any]:
        check_upload(kind, data, content_type)
        data = data or b""
        if kind == "image":
            content_type = sniff_image(data) or content_type
        media_id = self.put_media(
            data,
            content_type or "application/octet-stream",
            filename=filename or DEFAULT_MEDIA_NAMES[kind],
            kind=kind,
        )
        with self._lock:
            created = str(int(self._media[media_id].created_at.timestamp()))
        return {"errcode": 0, "errmsg": "", "type": kind, "media_id": media_id, "created_at": created}

    # -- schedules ---------------------------------------------------------------------------------
    def schedule_add(self, body: Any) -> dict[str, Any]:
        schedule = check_schedule(body, update=False)
        with self._lock:
            schedule_id = secrets.token_hex(16)
            stored = {**copy.deepcopy(schedule), "schedule_id": schedule_id}
            self._schedules[schedule_id] = stored
            self._schedule_log.append(ScheduleOp("add", schedule_id, copy.deepcopy(body), self.now()))
            self._touch()
            return {"errcode": 0, "errmsg": "ok", "schedule_id": schedule_id}

    def schedule_update(self, body: Any) -> dict[str, Any]:
        schedule = check_schedule(body, update=True)
        with self._lock:
            schedule_id = schedule["schedule_id"]
            old = self._schedules.get(schedule_id)
            if old is None:
                raise ApiError(40058, f"invalid parameter: schedule_id {schedule_id} not found")
            new = copy.deepcopy(schedule)
            if _flag(body.get("skip_attendees")):
                new["attendees"] = old.get("attendees", [])
            self._schedules[schedule_id] = new
            self._schedule_log.append(ScheduleOp("update", schedule_id, copy.deepcopy(body), self.now()))
            self._touch()
            return {"errcode": 0, "errmsg": "ok"}

    def schedule_delete(self, body: Any) -> dict[str, Any]:
        schedule_id = body.get("schedule_id") if isinstance(body, dict) else None
        if not isinstance(schedule_id, str) or not schedule_id:
            raise ApiError(40058, "invalid parameter: schedule_id is required")
        with self._lock:
            if self._schedules.pop(schedule_id, None) is None:
                raise ApiError(40058, f"invalid parameter: schedule_id {schedule_id} not found")
            self._schedule_log.append(ScheduleOp("del", schedule_id, copy.deepcopy(body), self.now()))
            self._touch()
            return {"errcode": 0, "errmsg": "ok"}

    @property
    def schedules(self) -> dict[str, dict[str, Any]]:
        """Live schedules by schedule_id (deleted ones are gone; see schedule_log)."""
        with self._lock:
            return copy.deepcopy(self._schedules)

    @property
    def schedule_log(self) -> list[ScheduleOp]:
        with self._lock:
            return list(self._schedule_log)

    # -- the address book ----------------------------------------------------------------------------
    def contacts(self, path: str, token: str, read: Any) -> dict[str, Any]:
        """One address-book read (`read(book)`) under the lock, refused (48009) for a contact-sync token."""
        with self._lock:
            contact_token = (
                bool(self.contacts_secret) and self._token_secret.get(token) == self.contacts_secret
            )
            self.book.check_token_kind(path, contact_token)
            return read(self.book)

    def change_book(self, change: Any) -> Any:
        """Run `change(book)` under the lock (the admin console editing the address book)."""
        with self._lock:
            out = change(self.book)
            self._touch()
            return out

    # -- the app -----------------------------------------------------------------------------------------
    def agent_get(self, agentid: str) -> dict[str, Any]:
        """agent/get: the app's details, with its visible range (all members when `users` is None)."""
        if not agentid:
            raise ApiError(41011, "missing agentid")
        if agentid != str(self.agent_id):
            raise ApiError(40056, "invalid agentid")
        with self._lock:
            visible = set(self.users) if self.users is not None else set()
            visible |= self.book.visible_users
            partys = sorted(self.book.visible_departments or ())
        return {
            "errcode": 0,
            "errmsg": "ok",
            "agentid": self.agent_id,
            "name": "销售助手",
            "allow_userinfos": {"user": [{"userid": u} for u in sorted(visible)]},
            "allow_partys": {"partyid": partys},
            "close": 0,
        }

    # -- menus -------------------------------------------------------------------------------------
    def create_menu(self, agentid: str, body: Any) -> dict[str, Any]:
        if not agentid:
            raise ApiError(41011, "missing agentid")
        if agentid != str(self.agent_id):
            raise ApiError(40056, "invalid agentid")
        check_menu(body)
        with self._lock:
            self._menus[self.agent_id] = copy.deepcopy(body)
            self._touch()
            return {"errcode": 0, "errmsg": "ok"}

    @property
    def menus(self) -> dict[int, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._menus)

    # -- callbacks the peer posted -------------------------------------------------------------------
    def record_callback(self, userid: str, kind: str, fields: dict[str, Any], plaintext: str) -> Callback:
        with self._lock:
            callback = Callback(self._next_seq(), userid, kind, dict(fields), plaintext, self.now())
            self._callbacks.append(callback)
            self._touch()
            return callback

    def finish_callback(
        self, callback: Callback, *, status: int | None = None, error: str | None = None
    ) -> None:
        with self._lock:
            callback.status, callback.error = status, error
            self._touch()

    def retry_callback(self, callback: Callback) -> None:
        with self._lock:
            callback.attempts += 1
            callback.status = callback.error = None
            self._touch()

    @property
    def callbacks(self) -> list[Callback]:
        with self._lock:
            return [replace(c) for c in self._callbacks]
