"""The emulator app for `python main.py demo`: WeCom's API plus a browser chat page.

The page (static/chat.html) never talks to the assistant: it asks this app to act as a member
(POST /emu/send, /emu/upload, /emu/card), and this app makes the WeComPeer post the encrypted callback.
It polls GET /emu/poll about once a second for what the assistant delivered through the API, so replies
that arrive later (from the worker) show up on their own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from bot.emulator.api import content_disposition, create_api_router
from bot.emulator.oauth import create_oauth_router
from bot.emulator.payloads import ApiError, sniff_image
from bot.emulator.peer import WeComPeer
from bot.emulator.records import Callback, Delivery, Dropped
from bot.emulator.state import FakeWeCom
from core.clock import SHANGHAI

STATIC_DIR = Path(__file__).parent / "static"
ROLE_LABELS = {
    "rep": "业务员",
    "supervisor": "销售主管",
    "regional_manager": "区域经理",
    "finance_director": "财务总监",
    "sales_director": "销售总监",
    "admin": "管理员",
}
TIMELINE_LIMIT = 300
MAX_PHOTO_BYTES = 10 * 1024 * 1024


class SendIn(BaseModel):
    user: str
    type: Literal["text", "voice", "location", "location_report", "enter_agent", "menu_click"]
    content: str = Field(default="", max_length=4000)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    label: str = ""
    scale: int = 15
    precision: float = Field(default=30.0, ge=0)
    key: str = ""


class CardIn(BaseModel):
    user: str
    task_id: str
    key: str
    selected: dict[str, list[str]] | None = None


class ExternalContactIn(BaseModel):
    """加微信客户: the member adds a customer's WeChat (客户联系); the emulator invents the external_userid."""

    user: str
    name: str = Field(min_length=1, max_length=64)
    corp_name: str = Field(default="", max_length=64)
    remark: str = Field(default="", max_length=64)
    mobile: str = Field(default="", max_length=32)


class ResendIn(BaseModel):
    seq: int


class ContactIn(BaseModel):
    """A change in the admin console's address book (通讯录), then the change_contact event WeCom posts."""

    change_type: Literal[
        "create_user", "update_user", "delete_user", "create_party", "update_party", "delete_party"
    ]
    userid: str = Field(default="", max_length=64)
    name: str = Field(default="", max_length=64)
    department: list[int] | None = None
    leader_in: list[int] | None = None
    direct_leader: list[str] | None = None
    status: int | None = None
    party_id: int = 0
    parent_id: int | None = None


def _time_label(at: datetime, now: datetime) -> str:
    local, today = at.astimezone(SHANGHAI), now.astimezone(SHANGHAI)
    return local.strftime("%H:%M") if local.date() == today.date() else local.strftime("%m-%d %H:%M")


def _json_safe(value: Any) -> Any:
    """Big ints (MsgIds) become strings: JavaScript numbers lose digits past 2**53."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _button_text(card: dict[str, Any] | None, key: str) -> str:
    card = card or {}
    for button in card.get("button_list") or []:
        if button.get("key") == key:
            return str(button.get("text", key))
    submit = card.get("submit_button") or {}
    return str(submit.get("text", key)) if submit.get("key") == key else key


def _callback_item(cb: Callback, cards: dict[str, dict[str, Any]], now: datetime) -> dict[str, Any]:
    fields = dict(cb.fields)
    if cb.kind == "card_click":
        card = cards.get(fields.get("task_id", ""))
        fields["label"] = _button_text(card, fields.get("key", ""))
        fields["card_title"] = ((card or {}).get("main_title") or {}).get("title", "")
    return {
        "id": f"c{cb.seq}",
        "seq": cb.seq,
        "dir": "out",
        "kind": cb.kind,
        "fields": _json_safe(fields),
        "status": cb.status,
        "error": cb.error,
        "attempts": cb.attempts,
        "ts": cb.at.timestamp(),
        "time": _time_label(cb.at, now),
    }


def _delivery_item(d: Delivery, now: datetime) -> dict[str, Any]:
    content = d.current_card() if d.msgtype == "template_card" else d.body.get(d.msgtype)
    return {
        "id": f"d{d.seq}",
        "seq": d.seq,
        "dir": "in",
        "msgtype": d.msgtype,
        "content": _json_safe(content),
        "task_id": d.task_id,
        "rev": d.revision,
        "ts": d.at.timestamp(),
        "time": _time_label(d.at, now),
    }


def _dropped_item(d: Dropped, now: datetime) -> dict[str, Any]:
    return {
        "id": f"x{d.seq}",
        "seq": d.seq,
        "dir": "sys",
        "kind": "dropped",
        "reason": d.reason,
        "msgtype": d.body.get("msgtype", ""),
        "ts": d.at.timestamp(),
        "time": _time_label(d.at, now),
    }


def timeline(state: FakeWeCom, userid: str) -> list[dict[str, Any]]:
    """What `userid` did and received, in order: their callbacks, the assistant's deliveries (cards as
    currently shown), and messages WeCom's limit dropped."""
    now = state.now()
    deliveries = state.deliveries_to(userid)
    cards = {d.task_id: d.current_card() or {} for d in deliveries if d.task_id}
    items = [_callback_item(c, cards, now) for c in state.callbacks if c.userid == userid]
    items += [_delivery_item(d, now) for d in deliveries]
    items += [_dropped_item(d, now) for d in state.dropped if d.userid == userid]
    items.sort(key=lambda item: item["seq"])
    return items[-TIMELINE_LIMIT:]


def _role_groups(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = list(ROLE_LABELS)
    roles = sorted(
        {str(u.get("role", "rep")) for u in users},
        key=lambda r: (order.index(r) if r in order else len(order), r),
    )
    return [
        {
            "role": role,
            "label": ROLE_LABELS.get(role, role),
            "users": [
                {**u, "role_label": ROLE_LABELS.get(role, role)}
                for u in users
                if u.get("role", "rep") == role
            ],
        }
        for role in roles
    ]


def create_emulator_app(
    state: FakeWeCom,
    *,
    peer: WeComPeer,
    users: list[dict[str, Any]],
    places: list[dict[str, Any]] | None = None,
    app_name: str = "销售助手",
) -> FastAPI:
    """`users`: [{"userid", "name", "role" (rep|supervisor|regional_manager|finance_director|
    sales_director|admin), optional "title"}]; `places`: [{"label", "lat", "lng"}] offered when sending
    a location (e.g. the doors of demo customers)."""
    for u in users:
        if not u.get("userid") or not u.get("name"):
            raise ValueError("every user needs userid and name")
    known = {u["userid"] for u in users}
    places = [dict(p) for p in (places or [])]
    app = FastAPI(title="WeCom emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(create_api_router(state))
    app.include_router(create_oauth_router(state, users))  # WeCom's sign-in pages (links open as a member)
    app.mount("/emu/static", StaticFiles(directory=STATIC_DIR), name="emu-static")
    page = (STATIC_DIR / "chat.html").read_text(encoding="utf-8")

    def member(userid: str) -> str:
        if userid not in known:
            raise HTTPException(400, "未知成员")
        return userid

    def act(fn: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            response = fn(*args, **kwargs)
        except httpx.HTTPError as exc:
            return {"ok": False, "status": None, "error": f"助手未响应（{type(exc).__name__}）"}
        except LookupError:
            return {"ok": False, "status": None, "error": "找不到这张卡片"}
        ok = response.status_code == 200
        return {
            "ok": ok,
            "status": response.status_code,
            "error": None if ok else f"回调失败（HTTP {response.status_code}）",
        }

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page.replace("{{APP_NAME}}", app_name))

    @app.get("/emu/config")
    def config() -> dict[str, Any]:
        return {
            "app_name": app_name,
            "corp_id": state.corp_id,
            "agent_id": state.agent_id,
            "groups": _role_groups(users),
            "places": places,
        }

    @app.get("/emu/poll")
    def poll(user: str = "", since: int = -1) -> dict[str, Any]:
        version = state.version
        if since == version:
            return {"version": version, "changed": False}
        deliveries = state.all_deliveries()
        dropped = state.dropped
        counts = {u: 0 for u in known}
        for d in (*deliveries, *dropped):
            if d.userid in counts:
                counts[d.userid] += 1
        menu = state.menus.get(state.agent_id, {}).get("button", [])
        calls = state.calls
        stats = {
            "calls": len(calls),
            "errors": sum(1 for c in calls if c.errcode not in (0, None) or c.status != 200),
            "dropped": len(dropped),
            "duplicates": len(state.duplicates),
        }
        items = timeline(state, user) if user in known else []
        return {
            "version": version,
            "changed": True,
            "items": items,
            "counts": counts,
            "menu": menu,
            "stats": stats,
        }

    @app.post("/emu/send")
    def send(cmd: SendIn) -> dict[str, Any]:
        user = member(cmd.user)
        if cmd.type in ("text", "voice") and not cmd.content.strip():
            raise HTTPException(400, "内容为空")
        if cmd.type in ("location", "location_report") and (cmd.lat is None or cmd.lng is None):
            raise HTTPException(400, "请填写经纬度")
        if cmd.type == "text":
            return act(peer.text, user, cmd.content)
        if cmd.type == "voice":
            return act(peer.voice, user, cmd.content)
        if cmd.type == "location":
            return act(peer.location, user, cmd.lat, cmd.lng, label=cmd.label, scale=cmd.scale)
        if cmd.type == "location_report":
            return act(peer.location_report, user, cmd.lat, cmd.lng, cmd.precision)
        if cmd.type == "menu_click":
            return act(peer.menu_click, user, cmd.key)
        return act(peer.enter_agent, user)

    @app.post("/emu/upload")
    async def upload(user: str = Form(...), files: list[UploadFile] = File(...)) -> dict[str, Any]:
        member(user)
        results = []
        for upload in files:  # one image message per photo, as WeCom sends them
            data = await upload.read()
            kind = sniff_image(data) or (upload.content_type or "")
            if not kind.startswith("image/") or len(data) > MAX_PHOTO_BYTES:
                results.append(
                    {"ok": False, "status": None, "error": f"{upload.filename}：不是图片或超过 10 MB"}
                )
                continue
            results.append(await run_in_threadpool(act, peer.image, user, data, kind))
        return {"ok": all(r["ok"] for r in results), "results": results}

    @app.post("/emu/card")
    def card(cmd: CardIn) -> dict[str, Any]:
        return act(peer.card_click, member(cmd.user), cmd.task_id, cmd.key, selected=cmd.selected)

    @app.post("/emu/external_contact")
    def external_contact(cmd: ExternalContactIn) -> dict[str, Any]:
        external = "wm" + secrets.token_hex(8)
        mobiles = [cmd.mobile] if cmd.mobile.strip() else []
        return act(
            peer.add_external_contact,
            member(cmd.user),
            external,
            name=cmd.name,
            corp_name=cmd.corp_name,
            remark=cmd.remark,
            remark_mobiles=mobiles,
        )

    @app.post("/emu/resend")
    def resend(cmd: ResendIn) -> dict[str, Any]:
        for sent in reversed(peer.sent):
            if sent.record is not None and sent.record.seq == cmd.seq:
                return act(peer.resend, sent)
        raise HTTPException(404, "没有这条消息")

    @app.post("/emu/contact")
    def contact(cmd: ContactIn) -> dict[str, Any]:
        """Change the address book and post change_contact (the demo's 通讯录, docs/contacts-sync.md)."""
        kind = cmd.change_type

        def change(book: Any) -> None:
            if kind == "create_user":
                book.add_member(
                    cmd.userid,
                    cmd.name or cmd.userid,
                    cmd.department or [1],
                    leader_in=cmd.leader_in or (),
                    direct_leader=cmd.direct_leader or (),
                )
                if cmd.userid not in known:
                    known.add(cmd.userid)
                    users.append({"userid": cmd.userid, "name": cmd.name or cmd.userid, "role": "rep"})
            elif kind == "update_user":
                changed = {
                    k: v
                    for k, v in (
                        ("name", cmd.name or None),
                        ("department", cmd.department),
                        ("leader_in", cmd.leader_in),
                        ("direct_leader", cmd.direct_leader),
                        ("status", cmd.status),
                    )
                    if v is not None
                }
                book.update_member(cmd.userid, **changed)
            elif kind == "delete_user":
                book.delete_member(cmd.userid)
            elif kind == "create_party":
                book.add_department(cmd.party_id, cmd.name, cmd.parent_id or 1)
            elif kind == "update_party":
                fields = {"name": cmd.name} if cmd.name else {}
                if cmd.parent_id is not None:
                    fields["parent_id"] = cmd.parent_id
                book.update_department(cmd.party_id, **fields)
            else:
                book.delete_department(cmd.party_id)

        try:
            state.change_book(change)
        except KeyError:
            raise HTTPException(404, "通讯录中没有这个成员或部门") from None
        except ApiError as exc:
            raise HTTPException(400, exc.errmsg) from None
        return act(peer.change_contact, kind, userid=cmd.userid, party_id=cmd.party_id)

    @app.get("/emu/media/{media_id}")
    def media(media_id: str) -> Response:
        found = state.get_media(media_id)
        if found is None:
            return JSONResponse({"error": "媒体文件不存在或已过期"}, status_code=404)
        return Response(
            found.data,
            media_type=found.content_type,
            headers={"Content-Disposition": content_disposition("inline", found.filename)},
        )

    app.state.emulator = state
    app.state.peer = peer
    return app
