"""Request validation the way WeCom answers it: an errcode for every malformed body.

Errcodes follow WeCom's global list (40007 invalid media_id, 40008 invalid message type, 40056 invalid
agentid, 41011 missing agentid, 41016 missing title, 44004 empty content, 45002 content too long,
47001 data format error, …). Where WeCom's docs name no code for a rule the emulator uses 40058
(不合法的参数) and says what is wrong in errmsg. Text longer than 2048 bytes is refused (WeCom truncates
it silently): a fake should make the loss visible.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MAX_CONTENT_BYTES = 2048
MSG_TYPES = {
    "text",
    "image",
    "voice",
    "video",
    "file",
    "textcard",
    "news",
    "mpnews",
    "markdown",
    "miniprogram_notice",
    "template_card",
}
MEDIA_MSG_TYPES = {"image", "voice", "video", "file"}
CARD_TYPES = {"text_notice", "news_notice", "button_interaction", "vote_interaction", "multiple_interaction"}
INTERACTIVE_CARDS = {"button_interaction", "vote_interaction", "multiple_interaction"}
TASK_ID = re.compile(r"[A-Za-z0-9_\-@]{1,128}")
REMIND_BEFORE = {0, 300, 900, 3600, 86400}
MENU_TYPES = {
    "click",
    "view",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "view_miniprogram",
}
MEDIA_LIMITS = {
    "image": 10 * 1024 * 1024,
    "voice": 2 * 1024 * 1024,
    "video": 10 * 1024 * 1024,
    "file": 20 * 1024 * 1024,
}
MEDIA_SIZE_ERRCODES = {"image": 40009, "voice": 40010, "video": 40011, "file": 40006}


class ApiError(Exception):
    """An errcode answer (HTTP 200 with {"errcode": …, "errmsg": …}), as WeCom gives it."""

    def __init__(self, errcode: int, errmsg: str, **extra: Any):
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode, self.errmsg, self.extra = errcode, errmsg, extra


def _bad(msg: str) -> ApiError:
    return ApiError(40058, f"invalid parameter: {msg}")


def _obj(body: Any, name: str, code: int = 40058) -> dict[str, Any]:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, dict):
        raise ApiError(code, f"missing or invalid {name}")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def check_agentid(body: dict[str, Any], agent_id: int) -> None:
    raw = body.get("agentid")
    if raw is None or raw == "":
        raise ApiError(41011, "missing agentid")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError(40056, "invalid agentid") from None
    if value != agent_id:
        raise ApiError(40056, "invalid agentid")


def recipients(body: dict[str, Any]) -> list[str]:
    """The touser list ("a|b"); "@all" stays as one entry for the caller to expand."""
    touser = body.get("touser")
    if touser is not None and not isinstance(touser, str):
        raise ApiError(40031, "invalid userid list: touser must be a string joined by |")
    users = [u.strip() for u in (touser or "").split("|") if u.strip()]
    if len(users) > 1000:
        raise ApiError(40031, "invalid userid list: more than 1000 users")
    if not users and not body.get("toparty") and not body.get("totag"):
        raise ApiError(40031, "invalid userid list: touser, toparty and totag are all empty")
    return users


def check_send(body: Any, agent_id: int, media_exists: Callable[[str], bool]) -> str:
    """Validate a message/send body; returns its msgtype."""
    if not isinstance(body, dict):
        raise ApiError(47001, "data format error")
    check_agentid(body, agent_id)
    recipients(body)
    msgtype = body.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in MSG_TYPES:
        raise ApiError(40008, "invalid message type")
    content = _obj(body, msgtype)
    interval = body.get("duplicate_check_interval", 1800)
    if not isinstance(interval, int) or not 0 < interval <= 4 * 3600:
        raise _bad("duplicate_check_interval must be within (0, 14400] seconds")
    if msgtype in ("text", "markdown"):
        text = _text(content.get("content"))
        if not text:
            raise ApiError(44004, "empty content")
        if len(text.encode("utf-8")) > MAX_CONTENT_BYTES:
            raise ApiError(45002, f"content size out of limit: {len(text.encode('utf-8'))} > 2048 bytes")
    elif msgtype in MEDIA_MSG_TYPES:
        media_id = _text(content.get("media_id"))
        if not media_id:
            raise ApiError(41006, "missing media_id")
        if not media_exists(media_id):
            raise ApiError(40007, "invalid media_id")
    elif msgtype == "textcard":
        for key in ("title", "description", "url"):
            if not _text(content.get(key)):
                raise (
                    ApiError(41016, "missing title")
                    if key == "title"
                    else _bad(f"textcard.{key} is required")
                )
    elif msgtype == "news":
        articles = content.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            raise ApiError(45008, "article size out of limit")
        if any(not isinstance(a, dict) or not _text(a.get("title")) for a in articles):
            raise ApiError(41016, "missing title")
    elif msgtype == "template_card":
        check_card(content, require_task_id=True)
    return msgtype


def check_card(card: dict[str, Any], *, require_task_id: bool) -> None:
    card_type = card.get("card_type")
    if card_type not in CARD_TYPES:
        raise _bad(f"template_card.card_type must be one of {sorted(CARD_TYPES)}")
    task_id = card.get("task_id")
    if task_id is not None and (not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id)):
        raise _bad("task_id: 1-128 bytes of letters, digits and _-@")
    if require_task_id and task_id is None and (card_type in INTERACTIVE_CARDS or "action_menu" in card):
        raise _bad(f"task_id is required for {card_type}")
    title = _text((card.get("main_title") or {}).get("title"))
    if card_type == "text_notice":
        if not title and not _text(card.get("sub_title_text")):
            raise ApiError(41016, "missing title")
    elif not title:
        raise ApiError(41016, "missing title")
    if card_type in ("text_notice", "news_notice"):
        action = card.get("card_action")
        if not isinstance(action, dict) or action.get("type") not in (1, 2):
            raise _bad("card_action with type 1 (url) or 2 (mini program) is required")
        if action.get("type") == 1 and not _text(action.get("url")):
            raise _bad("card_action.url is required when type is 1")
    for name, limit in (("horizontal_content_list", 6), ("jump_list", 3)):
        items = card.get(name, [])
        if not isinstance(items, list) or len(items) > limit:
            raise _bad(f"{name} holds at most {limit} items")
    for item in card.get("horizontal_content_list", []):
        if not isinstance(item, dict) or not _text(item.get("keyname")):
            raise _bad("horizontal_content_list items need keyname")
    if card_type == "button_interaction":
        _check_buttons(card.get("button_list"))
    elif card_type == "vote_interaction":
        box = _obj(card, "checkbox")
        _check_options(box)
        _check_submit(card)
    elif card_type == "multiple_interaction":
        selects = card.get("select_list")
        if not isinstance(selects, list) or not 1 <= len(selects) <= 3:
            raise _bad("select_list holds 1 to 3 items")
        for select in selects:
            _check_options(select if isinstance(select, dict) else {})
        _check_submit(card)


def _check_buttons(buttons: Any) -> None:
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
        raise _bad("button_list holds 1 to 6 buttons")
    keys = []
    for button in buttons:
        if not isinstance(button, dict) or not _text(button.get("text")):
            raise _bad("every button needs text")
        if button.get("type", 0) == 0 and not _text(button.get("key")):
            raise _bad("every button needs key")
        if len(_text(button.get("key")).encode()) > 1024:
            raise _bad("button key is at most 1024 bytes")
        keys.append(button.get("key"))
    if len([k for k in keys if k]) != len({k for k in keys if k}):
        raise _bad("button keys must be unique")


def _check_options(question: dict[str, Any]) -> None:
    if not _text(question.get("question_key")):
        raise _bad("question_key is required")
    options = question.get("option_list")
    if not isinstance(options, list) or not 1 <= len(options) <= 20:
        raise _bad("option_list holds 1 to 20 options")
    if any(not isinstance(o, dict) or not _text(o.get("id")) or not _text(o.get("text")) for o in options):
        raise _bad("every option needs id and text")


def _check_submit(card: dict[str, Any]) -> None:
    submit = _obj(card, "submit_button")
    if not _text(submit.get("text")) or not _text(submit.get("key")):
        raise _bad("submit_button needs text and key")


def check_card_update(body: Any, agent_id: int) -> None:
    if not isinstance(body, dict):
        raise ApiError(47001, "data format error")
    check_agentid(body, agent_id)
    if not _text(body.get("response_code")):
        raise _bad("response_code is required")
    if "button" in body:
        name = _text((body.get("button") or {}).get("replace_name"))
        if not name:
            raise _bad("button.replace_name is required")
        if len(name) > 20:
            raise _bad("button.replace_name is at most 20 characters")
    elif "template_card" in body:
        check_card(_obj(body, "template_card"), require_task_id=False)
    else:
        raise _bad("either button or template_card is required")
    userids = body.get("userids", [])
    if not isinstance(userids, list) or len(userids) > 1000:
        raise _bad("userids is a list of at most 1000 userids")


def check_schedule(body: Any, *, update: bool) -> dict[str, Any]:
    """Validate oa/schedule/add|update; returns the schedule object."""
    if not isinstance(body, dict):
        raise ApiError(47001, "data format error")
    schedule = _obj(body, "schedule")
    if update and not _text(schedule.get("schedule_id")):
        raise _bad("schedule.schedule_id is required")
    start, end = schedule.get("start_time"), schedule.get("end_time")
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
        raise _bad("schedule.start_time and end_time are unix seconds")
    if end < start:
        raise _bad("schedule.end_time must not be before start_time")
    if len(_text(schedule.get("summary"))) > 128:
        raise _bad("schedule.summary is at most 128 characters")
    if len(_text(schedule.get("description"))) > 1000:
        raise _bad("schedule.description is at most 1000 characters")
    attendees = schedule.get("attendees", [])
    if not isinstance(attendees, list) or len(attendees) > 1000:
        raise _bad("schedule.attendees holds at most 1000 members")
    if any(not isinstance(a, dict) or not _text(a.get("userid")) for a in attendees):
        raise _bad("schedule.attendees items need userid")
    admins = schedule.get("admins", [])
    attendee_ids = {a["userid"] for a in attendees}
    if not isinstance(admins, list) or len(admins) > 3 or not set(admins) <= attendee_ids:
        raise _bad("schedule.admins: at most 3, each one an attendee")
    reminders = schedule.get("reminders") or {}
    if not isinstance(reminders, dict):
        raise _bad("schedule.reminders must be an object")
    if reminders.get("remind_before_event_secs", 0) not in REMIND_BEFORE:
        raise _bad(f"reminders.remind_before_event_secs must be one of {sorted(REMIND_BEFORE)}")
    if "organizer" in schedule:
        raise _bad("schedule.organizer is the legacy schema; use admins and attendees")
    return schedule


def check_menu(body: Any) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("button"), list):
        raise ApiError(47001, "data format error")
    buttons = body["button"]
    if not 1 <= len(buttons) <= 3:
        raise _bad("a menu holds 1 to 3 buttons")
    for button in buttons:
        if not isinstance(button, dict) or not _text(button.get("name")):
            raise _bad("every menu button needs name")
        subs = button.get("sub_button") or []
        if not isinstance(subs, list) or len(subs) > 5:
            raise _bad("sub_button holds at most 5 buttons")
        for item in subs or [button]:
            if not isinstance(item, dict) or not _text(item.get("name")):
                raise _bad("every menu button needs name")
            kind = item.get("type")
            if kind not in MENU_TYPES:
                raise _bad(f"menu button type must be one of {sorted(MENU_TYPES)}")
            if kind == "view" and not _text(item.get("url")):
                raise _bad("view buttons need url")
            if kind not in ("view", "view_miniprogram") and not _text(item.get("key")):
                raise _bad(f"{kind} buttons need key")


def check_upload(kind: str, data: bytes | None, content_type: str) -> None:
    if kind not in MEDIA_LIMITS:
        raise ApiError(40004, "invalid media type")
    if data is None:
        raise ApiError(40005, "invalid file type: multipart field 'media' is missing")
    if len(data) <= 5:
        raise ApiError(40006, "invalid file size: must be larger than 5 bytes")
    if len(data) > MEDIA_LIMITS[kind]:
        raise ApiError(MEDIA_SIZE_ERRCODES[kind], f"invalid {kind} size: at most {MEDIA_LIMITS[kind]} bytes")
    if kind == "image" and sniff_image(data) is None:
        raise ApiError(40005, "invalid file type: images must be JPG or PNG")
    if kind == "voice" and not data.startswith(b"#!AMR"):
        raise ApiError(40005, "invalid file type: voice must be AMR")


def sniff_image(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None
