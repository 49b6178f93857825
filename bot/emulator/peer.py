"""`WeComPeer`: the sending side of WeCom. It turns what a member does into the callback WeCom would
post to the assistant: the documented plaintext XML, encrypted and signed with `WeComCrypto.seal`,
wrapped in the outer envelope, POSTed with msg_signature / timestamp / nonce.

The HTTP client is a sync `httpx.Client`: a real one (created when `client` is None; 5 s timeout, as
WeCom hangs up after 5 s), or FastAPI's `TestClient(assistant_app)`, an `httpx.Client` subclass that
drives the ASGI app in-process — use it with `callback_url="/wecom/callback"`. (`httpx.ASGITransport`
alone is async-only and cannot back a sync client.)
"""

from __future__ import annotations

import itertools
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.emulator import callback_xml as xml
from bot.emulator.records import Callback, as_now
from bot.emulator.state import FakeWeCom
from bot.wecom.crypto import WeComCrypto

# MsgIds: unique 64-bit integers (below 2**63), increasing within a process.
_msg_ids = itertools.count(7_000_000_000_000_000_000 + secrets.randbelow(10**17))
# A placeholder AMR-NB payload (header + one second of empty 12.2 kbit/s frames): a fetchable voice MediaId.
SILENT_AMR = b"#!AMR\n" + (b"\x3c" + bytes(31)) * 50


@dataclass
class SentCallback:
    """One POST the peer made, kept so `resend` can repeat it byte for byte (a WeCom retry)."""

    params: dict[str, str]
    body: bytes
    plaintext: str
    record: Callback | None = None
    responses: list[httpx.Response] = field(default_factory=list)


@dataclass
class EchoCheck:
    """The URL verification (GET) WeCom makes when the callback URL is saved."""

    expected: str
    response: httpx.Response

    @property
    def ok(self) -> bool:
        """200 and the bare plaintext: no quotes, BOM or newline (doc 90930)."""
        return self.response.status_code == 200 and self.response.content == self.expected.encode()


class WeComPeer:
    def __init__(
        self,
        state: FakeWeCom,
        *,
        callback_url: str,
        token: str,
        aes_key: str,
        corp_id: str,
        agent_id: int,
        client: httpx.Client | None = None,
        clock: Any = None,
        pic_url_base: str = "https://wework.qpic.cn/wwpic/emulator/",
        voice_recognition: bool = True,
        timeout: float = 5.0,
        retries: int = 0,
    ):
        """`clock` defaults to the state's clock (CreateTime and the signed timestamp come from it).
        `voice_recognition`: add <Recognition> to voice messages. WeCom's docs list only MediaId and
        Format for a self-built app's voice message, so turn it off to test the production path.
        `retries`: as WeCom, deliver again (byte for byte) after an answer other than 200 or no answer, at
        most this many times (WeCom: 3). 0 keeps every answer visible, for tests of the answer itself."""
        self.state = state
        self.callback_url = callback_url
        self.crypto = WeComCrypto(token=token, encoding_aes_key=aes_key, corp_id=corp_id)
        self.corp_id, self.agent_id = corp_id, int(agent_id)
        self.now = as_now(clock) if clock is not None else state.now
        self._own_client = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout)
        self.pic_url_base = pic_url_base
        self.voice_recognition = voice_recognition
        self.retries = retries
        self.sent: list[SentCallback] = []

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> WeComPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------------
    @staticmethod
    def next_msg_id() -> int:
        return next(_msg_ids)

    def _created(self) -> int:
        return int(self.now().timestamp())

    def seal(self, plaintext: str) -> tuple[dict[str, str], bytes]:
        """(query params, outer body) for a plaintext, signed with the current timestamp."""
        params, encrypted = self.crypto.seal(plaintext, timestamp=str(self._created()))
        return params, xml.envelope(self.corp_id, self.agent_id, encrypted).encode()

    def _deliver(self, user: str, kind: str, fields: dict[str, Any], plaintext: str) -> httpx.Response:
        params, body = self.seal(plaintext)
        sent = SentCallback(
            params, body, plaintext, self.state.record_callback(user, kind, fields, plaintext)
        )
        self.sent.append(sent)
        for _ in range(self.retries):
            try:
                response = self._post(sent)
            except httpx.HTTPError:
                self.state.retry_callback(sent.record)
                continue
            if response.status_code == 200:
                return response
            self.state.retry_callback(sent.record)
        return self._post(sent)

    def _post(self, sent: SentCallback) -> httpx.Response:
        try:
            response = self.client.post(
                self.callback_url, params=sent.params, content=sent.body, headers={"Content-Type": "text/xml"}
            )
        except httpx.HTTPError as exc:
            if sent.record is not None:
                self.state.finish_callback(sent.record, error=f"{type(exc).__name__}: {exc}")
            raise
        sent.responses.append(response)
        if sent.record is not None:
            self.state.finish_callback(sent.record, status=response.status_code)
        return response

    @property
    def last(self) -> SentCallback:
        if not self.sent:
            raise LookupError("nothing sent yet")
        return self.sent[-1]

    # -- what a member does ------------------------------------------------------------------------
    def text(self, user: str, content: str, msg_id: int | None = None) -> httpx.Response:
        msg_id = self.next_msg_id() if msg_id is None else msg_id
        plain = xml.text(self.corp_id, user, self._created(), content, msg_id, self.agent_id)
        return self._deliver(user, "text", {"content": content, "msg_id": msg_id}, plain)

    def image(
        self, user: str, data: bytes, content_type: str = "image/jpeg", msg_id: int | None = None
    ) -> httpx.Response:
        """A photo: stored in the media store (fetch it with media/get), then an image message."""
        msg_id = self.next_msg_id() if msg_id is None else msg_id
        ext = {"image/png": "png", "image/gif": "gif", "image/webp": "webp"}.get(content_type, "jpg")
        media_id = self.state.put_media(
            data, content_type, filename=f"IMG_{msg_id % 10**8:08d}.{ext}", kind="image"
        )
        plain = xml.image(
            self.corp_id, user, self._created(), self.pic_url_base + media_id, media_id, msg_id, self.agent_id
        )
        return self._deliver(user, "image", {"media_id": media_id, "msg_id": msg_id}, plain)

    def voice(self, user: str, recognition: str, msg_id: int | None = None) -> httpx.Response:
        """A voice message (AMR in the media store); the recognised text rides in <Recognition>
        when `voice_recognition` is on."""
        msg_id = self.next_msg_id() if msg_id is None else msg_id
        media_id = self.state.put_media(SILENT_AMR, "audio/amr", filename="voice.amr", kind="voice")
        plain = xml.voice(
            self.corp_id,
            user,
            self._created(),
            media_id,
            "amr",
            msg_id,
            self.agent_id,
            recognition if self.voice_recognition else None,
        )
        return self._deliver(
            user, "voice", {"recognition": recognition, "media_id": media_id, "msg_id": msg_id}, plain
        )

    def location(
        self, user: str, lat: float, lng: float, label: str = "", scale: int = 15, msg_id: int | None = None
    ) -> httpx.Response:
        """A location message: the member picked a place on the map ("+ → 位置")."""
        msg_id = self.next_msg_id() if msg_id is None else msg_id
        plain = xml.location(
            self.corp_id, user, self._created(), lat, lng, scale, label, msg_id, self.agent_id
        )
        return self._deliver(
            user,
            "location",
            {"lat": lat, "lng": lng, "label": label, "scale": scale, "msg_id": msg_id},
            plain,
        )

    def location_report(self, user: str, lat: float, lng: float, precision: float) -> httpx.Response:
        """The LOCATION event: the phone's GPS, reported when the member opens the app."""
        plain = xml.location_report(self.corp_id, user, self._created(), lat, lng, precision, self.agent_id)
        return self._deliver(user, "location_report", {"lat": lat, "lng": lng, "precision": precision}, plain)

    def enter_agent(self, user: str) -> httpx.Response:
        plain = xml.event(self.corp_id, user, self._created(), "enter_agent", "", self.agent_id)
        return self._deliver(user, "enter_agent", {}, plain)

    def menu_click(self, user: str, key: str) -> httpx.Response:
        plain = xml.event(self.corp_id, user, self._created(), "click", key, self.agent_id)
        return self._deliver(user, "menu_click", {"key": key}, plain)

    def card_click(
        self,
        user: str,
        task_id: str,
        key: str,
        response_code: str | None = None,
        *,
        selected: Mapping[str, Sequence[str]] | None = None,
    ) -> httpx.Response:
        """A click on a card's button (or the submit of a vote / multiple choice card with `selected`:
        {question_key: [option ids]}). Without `response_code`, WeCom issues a fresh single-use code for
        this member's card; the card must have been delivered to `user` (LookupError otherwise)."""
        if response_code is None:
            response_code, card_type = self.state.issue_click_code(user, task_id)
        else:
            try:
                card_type = self.state.card_type(user, task_id)
            except LookupError:
                card_type = "button_interaction"
        plain = xml.card_event(
            self.corp_id,
            user,
            self._created(),
            key,
            task_id,
            card_type,
            response_code,
            self.agent_id,
            selected,
        )
        fields = {
            "task_id": task_id,
            "key": key,
            "response_code": response_code,
            "card_type": card_type,
            "selected": {q: list(o) for q, o in (selected or {}).items()},
        }
        return self._deliver(user, "card_click", fields, plain)

    # -- what WeCom itself tells ------------------------------------------------------------------
    USER_FIELDS = ("name", "department", "main_department", "is_leader_in_dept", "direct_leader", "status")

    def change_contact(
        self,
        change_type: str,
        *,
        userid: str = "",
        party_id: int = 0,
        fields: Sequence[str] | None = None,
        minimal: bool = False,
        new_userid: str = "",
    ) -> httpx.Response:
        """通讯录变更 as WeCom posts it, from the state's address book after a test changed it (`state.book`).
        A member event carries UserID and, from the member as it is now, `fields` (default: all of
        USER_FIELDS; update_user carries only what changed) — or only Department when `minimal` (callbacks
        configured after 2022-08-15). A department event carries Id, Name, ParentId, Order; delete_* only the id."""
        book = self.state.book
        out: list[xml.Field] = []
        if change_type.endswith("_user"):
            out.append(("UserID", userid))
            if new_userid:
                out.append(("NewUserID", new_userid))
            member = book.members.get(new_userid or userid)
            if change_type != "delete_user" and member is not None:
                wanted = ("department",) if minimal else tuple(fields or self.USER_FIELDS)
                names = {
                    "name": "Name",
                    "department": "Department",
                    "main_department": "MainDepartment",
                    "is_leader_in_dept": "IsLeaderInDept",
                    "direct_leader": "DirectLeader",
                    "status": "Status",
                    "mobile": "Mobile",
                    "email": "Email",
                }
                for key in wanted:
                    value = member.get(key)
                    if isinstance(value, list):
                        out.append((names[key], ",".join(str(v) for v in value)))
                    elif isinstance(value, int):
                        out.append((names[key], value))
                    else:
                        out.append((names[key], str(value or "")))
        else:
            out.append(("Id", int(party_id)))
            dept = book.departments.get(int(party_id))
            if change_type != "delete_party" and dept is not None:
                out += [("Name", dept["name"]), ("ParentId", dept["parentid"]), ("Order", dept["order"])]
        plain = xml.change_contact(self.corp_id, self._created(), change_type, out)
        return self._deliver(
            "sys",
            "change_contact",
            {"change_type": change_type, "userid": userid, "party_id": party_id},
            plain,
        )

    # -- 客户联系: external contacts and 客户群 (state.external changes first, as in WeCom) ----------------
    def _external(
        self, user: str, change: str, external: str, extra: list[Any], fields: dict[str, Any]
    ) -> httpx.Response:
        plain = xml.external_contact_event(self.corp_id, self._created(), change, user, external, extra)
        return self._deliver(user, change, {"external_userid": external, **fields}, plain)

    def add_external_contact(
        self,
        user: str,
        external_userid: str,
        *,
        name: str,
        corp_name: str = "",
        remark: str = "",
        description: str = "",
        remark_mobiles: Sequence[str] = (),
        state: str = "",
        half: bool = False,
    ) -> httpx.Response:
        """The member added a customer's WeChat (or, `half`, the customer added the member and awaits approval:
        add_half_external_contact)."""
        self.state.external.add(
            user,
            external_userid,
            name=name,
            corp_name=corp_name,
            at=self.now(),
            remark=remark,
            description=description,
            remark_mobiles=list(remark_mobiles),
            state=state,
        )
        change = "add_half_external_contact" if half else "add_external_contact"
        extra = [("State", state), ("WelcomeCode", "WELCOME" + secrets.token_hex(8))]
        return self._external(user, change, external_userid, extra, {"name": name, "state": state})

    def edit_external_contact(self, user: str, external_userid: str, **changes: Any) -> httpx.Response:
        """The member changed the contact's 备注 / 描述 / 备注手机号 (remark, description, remark_mobiles …)."""
        self.state.external.edit(user, external_userid, **changes)
        return self._external(user, "edit_external_contact", external_userid, [], dict(changes))

    def delete_external_contact(self, user: str, external_userid: str, *, source: str = "") -> httpx.Response:
        """The member deleted the contact (del_external_contact; Source DELETE_BY_TRANSFER after a transfer)."""
        self.state.external.drop(user, external_userid)
        extra = [("Source", source)] if source else []
        return self._external(user, "del_external_contact", external_userid, extra, {"source": source})

    def customer_deletes_member(self, user: str, external_userid: str) -> httpx.Response:
        """The customer deleted the member from their WeChat (del_follow_user)."""
        self.state.external.drop(user, external_userid)
        return self._external(user, "del_follow_user", external_userid, [], {})

    def external_chat(
        self,
        chat_id: str,
        change_type: str,
        *,
        update_detail: str = "",
        name: str | None = None,
        owner: str | None = None,
        members: Sequence[tuple[str, int]] | None = None,
    ) -> httpx.Response:
        """A 客户群 created, updated (update_detail: add_member, del_member, change_name …) or dismissed."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if owner is not None:
            values["owner"] = owner
        if members is not None:
            values["members"] = [tuple(m) for m in members]
        if change_type == "dismiss":
            values["dismissed"] = True
        self.state.external.set_chat(chat_id, **values)
        extra: list[Any] = []
        if change_type == "update":
            extra = [("UpdateDetail", update_detail), ("JoinScene", 1), ("MemChangeCnt", 1)]
        plain = xml.external_chat_event(self.corp_id, self._created(), chat_id, change_type, extra)
        return self._deliver("sys", "external_chat", {"chat_id": chat_id, "change_type": change_type}, plain)

    # -- protocol-level ----------------------------------------------------------------------------
    def verify_url(self, echo: str | None = None) -> EchoCheck:
        """WeCom's GET verification: a random numeric echo string, encrypted into `echostr`."""
        echo = echo or "".join(secrets.choice(string.digits) for _ in range(19))
        params, encrypted = self.crypto.seal(echo, timestamp=str(self._created()))
        response = self.client.get(self.callback_url, params={**params, "echostr": encrypted})
        return EchoCheck(echo, response)

    def raw_post(
        self, params: Mapping[str, str], body: str | bytes, *, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """POST anything to the callback URL (hostile tests); not recorded as a member's action."""
        content = body.encode() if isinstance(body, str) else body
        return self.client.post(
            self.callback_url,
            params=dict(params),
            content=content,
            headers=dict(headers or {"Content-Type": "text/xml"}),
        )

    def resend(self, sent: SentCallback | None = None) -> httpx.Response:
        """Deliver the same request again, byte for byte (WeCom retries after no answer in 5 s)."""
        sent = sent or self.last
        if sent.record is not None:
            self.state.retry_callback(sent.record)
        return self._post(sent)
