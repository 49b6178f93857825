"""Callback XML → typed inbound events, and the dedupe key WeCom's retry rules imply.

Both the outer (unauthenticated) and the inner (decrypted) XML go through defusedxml with DTDs
forbidden: no entity expansion, no external fetches. wechatpy's parser is not used here because it
does not know template_card_event or file messages (research/wecom.md §5.3).
"""
from __future__ import annotations

import math
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from bot.crypto import CallbackRejected
from handlers.types import (
    CardClick,
    EnterAgent,
    FileIn,
    ImageIn,
    Inbound,
    LocationIn,
    LocationReport,
    MenuClick,
    TextIn,
    Unsupported,
    VoiceIn,
)


def parse_xml(body: bytes | str) -> Element:
    if isinstance(body, bytes) and b"<!DOCTYPE" in body.upper() or isinstance(body, str) and "<!DOCTYPE" in body.upper():
        raise CallbackRejected("dtd_forbidden")
    try:
        return SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CallbackRejected("xml_attack", type(exc).__name__) from exc
    except (SafeET.ParseError, ValueError, LookupError) as exc:  # also an unknown or multi-byte encoding="..."
        raise CallbackRejected("malformed_xml") from exc


def outer_encrypt(body: bytes) -> tuple[str, str]:
    """(Encrypt, ToUserName) from the outer envelope."""
    root = parse_xml(body)
    enc = root.findtext("Encrypt")
    if not enc:
        raise CallbackRejected("no_encrypt_field")
    return enc.strip(), (root.findtext("ToUserName") or "").strip()


def _t(root: Element, name: str, default: str = "") -> str:
    v = root.findtext(name)
    return v.strip() if v is not None else default


def _f(root: Element, name: str) -> float:
    try:
        value = float(_t(root, name, "0") or 0)
    except ValueError as exc:
        raise CallbackRejected("bad_number", name) from exc
    if not math.isfinite(value):  # nan/inf: not JSON for the inbox, and int(inf) raises
        raise CallbackRejected("bad_number", name)
    return value


def parse_inbound(plaintext: str) -> tuple[Inbound, str]:
    """Inner XML → (event, dedupe_key). Key: MsgId for messages; sender+CreateTime+event+key for events."""
    root = parse_xml(plaintext.encode())
    sender = _t(root, "FromUserName")
    if not sender:
        raise CallbackRejected("no_sender")
    try:
        at = int(_t(root, "CreateTime", "0"))
    except ValueError as exc:
        raise CallbackRejected("bad_create_time") from exc
    msg_type = _t(root, "MsgType")
    msg_id = _t(root, "MsgId")
    event: Inbound
    if msg_type == "event":
        name = _t(root, "Event")
        key = _t(root, "EventKey")
        if name == "enter_agent":
            event = EnterAgent(sender=sender, at=at)
        elif name.upper() == "LOCATION":
            event = LocationReport(sender=sender, at=at, lat=_f(root, "Latitude"), lng=_f(root, "Longitude"),
                                   precision=_f(root, "Precision"))
        elif name == "location_select":  # the 签到 menu's picker; WeCom may also send the location message
            info = root.find("SendLocationInfo")
            if info is None:
                raise CallbackRejected("no_location_info")
            event = LocationIn(sender=sender, at=at, lat=_f(info, "Location_X"), lng=_f(info, "Location_Y"),
                               scale=int(_f(info, "Scale")), label=_t(info, "Label") or _t(info, "Poiname"))
        elif name == "click":
            event = MenuClick(sender=sender, at=at, key=key)
        elif name in ("template_card_event", "template_card_menu_event"):
            selected: dict[str, list[str]] = {}
            for item in root.iter("SelectedItem"):
                qk = _t(item, "QuestionKey")
                selected[qk] = [(o.text or "").strip() for o in item.iter("OptionId")]
            task_id = _t(root, "TaskId")
            event = CardClick(sender=sender, at=at, key=key, task_id=task_id,
                              response_code=_t(root, "ResponseCode"), card_type=_t(root, "CardType"),
                              selected=selected)
            key = f"{task_id}:{key}"
        else:
            event = Unsupported(sender=sender, at=at, msg_type=f"event:{name}")
        return event, f"evt:{sender}:{at}:{name}:{key}"
    if msg_type == "text":
        event = TextIn(sender=sender, at=at, content=_t(root, "Content"), msg_id=msg_id)
    elif msg_type == "image":
        event = ImageIn(sender=sender, at=at, media_id=_t(root, "MediaId"), msg_id=msg_id)
    elif msg_type == "voice":
        event = VoiceIn(sender=sender, at=at, media_id=_t(root, "MediaId"), recognition=_t(root, "Recognition"),
                        msg_id=msg_id)
    elif msg_type == "location":
        event = LocationIn(sender=sender, at=at, lat=_f(root, "Location_X"), lng=_f(root, "Location_Y"),
                           scale=int(_f(root, "Scale")), label=_t(root, "Label"), msg_id=msg_id)
    elif msg_type == "file":
        event = FileIn(sender=sender, at=at, media_id=_t(root, "MediaId"), title=_t(root, "Title"), msg_id=msg_id)
    else:
        event = Unsupported(sender=sender, at=at, msg_type=msg_type)
    if not msg_id:
        return event, f"evt:{sender}:{at}:{msg_type}:"
    return event, f"msg:{msg_id}"
