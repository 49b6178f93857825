"""Callback XML → typed inbound events, and the dedupe key WeCom's retry rules imply.

Both the outer (unauthenticated) and the inner (decrypted) XML are parsed with DTDs forbidden: no
entity expansion, no external fetches. wechatpy's parser is not used here because it does not know
template_card_event or file messages (docs/wecom-protocol.md §5.3).

Two fast paths keep the callback cheap, each taken only where no DTD can exist, everything else going
through defusedxml exactly as before (same result, same refusal reasons):

- the outer envelope, when it is exactly WeCom's shape (`<xml>` with ToUserName/Encrypt/AgentID children,
  each plain text or one CDATA section of [A-Za-z0-9+/=._@-] only, ASCII, no declaration), is read by a
  strict regular expression: such a document has no `<!` other than CDATA, no `&`, no `<?`;
- a text (the decrypted inner message) that starts with its root start tag has no prolog, so no DOCTYPE
  (one after the root start is a well-formedness error) and no entity declaration; the C ElementTree
  parser reads it, as UTF-8 (XML_SetEncoding: there is no declaration to say otherwise anyway).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from xml.etree.ElementTree import Element, ParseError, XMLParser

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from bot.wecom.crypto import CallbackRejected
from handlers.messages import (
    CardClick,
    ContactChange,
    EnterAgent,
    ExternalChatChanged,
    ExternalContactAdded,
    ExternalContactChanged,
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

CONTACT_CHANGES = (
    "add_external_contact",
    "add_half_external_contact",
    "edit_external_contact",
    "del_external_contact",
    "del_follow_user",
)
# the root's start tag first: no declaration, no room for a DOCTYPE
_NO_PROLOG = re.compile(r"[ \t\r\n]*<[A-Za-z_]")


def parse_xml(body: bytes | str) -> Element:
    if (
        isinstance(body, bytes)
        and b"<!DOCTYPE" in body.upper()
        or isinstance(body, str)
        and "<!DOCTYPE" in body.upper()
    ):
        raise CallbackRejected("dtd_forbidden")
    if isinstance(body, str) and _NO_PROLOG.match(body):
        parser = XMLParser()  # the C parser; feed(str) parses the text as UTF-8
        try:
            parser.feed(body)
            return parser.close()
        except (ParseError, ValueError):  # ValueError: a lone surrogate in the text
            raise CallbackRejected("malformed_xml") from None
    try:
        return SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CallbackRejected("xml_attack", type(exc).__name__) from exc
    except (
        SafeET.ParseError,
        ValueError,
        LookupError,
    ) as exc:  # also an unknown or multi-byte encoding="..."
        raise CallbackRejected("malformed_xml") from exc


# WeCom's envelope, exactly: <xml> and ToUserName / Encrypt / AgentID children, each plain or one CDATA
# section, values of base64 and id characters only (nothing XML would unescape or normalise)
_V = rb"[A-Za-z0-9+/=._@-]*"
_FIELD = rb"<(ToUserName|Encrypt|AgentID)>(?:<!\[CDATA\[(" + _V + rb")\]\]>|(" + _V + rb"))</\1>"
_ENVELOPE = re.compile(rb"<xml>(?:[ \t\r\n]*" + _FIELD + rb")+[ \t\r\n]*</xml>")
_FIELDS = re.compile(_FIELD)


def outer_encrypt(body: bytes) -> tuple[str, str]:
    """(Encrypt, ToUserName) from the outer envelope."""
    if _ENVELOPE.fullmatch(body):
        found: dict[bytes, bytes] = {}
        for m in _FIELDS.finditer(body):
            found.setdefault(m[1], m[2] if m[2] is not None else m[3])  # the first one, as findtext
        enc_b = found.get(b"Encrypt")
        if not enc_b:
            raise CallbackRejected("no_encrypt_field")
        return enc_b.decode("ascii"), found.get(b"ToUserName", b"").decode("ascii")
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
    root = parse_xml(plaintext if _NO_PROLOG.match(plaintext) else plaintext.encode())
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
            event = LocationReport(
                sender=sender,
                at=at,
                lat=_f(root, "Latitude"),
                lng=_f(root, "Longitude"),
                precision=_f(root, "Precision"),
            )
        elif name == "location_select":  # the 签到 menu's picker; WeCom may also send the location message
            info = root.find("SendLocationInfo")
            if info is None:
                raise CallbackRejected("no_location_info")
            event = LocationIn(
                sender=sender,
                at=at,
                lat=_f(info, "Location_X"),
                lng=_f(info, "Location_Y"),
                scale=int(_f(info, "Scale")),
                label=_t(info, "Label") or _t(info, "Poiname"),
            )
        elif name == "click":
            event = MenuClick(sender=sender, at=at, key=key)
        elif name in ("template_card_event", "template_card_menu_event"):
            selected: dict[str, list[str]] = {}
            for item in root.iter("SelectedItem"):
                qk = _t(item, "QuestionKey")
                selected[qk] = [(o.text or "").strip() for o in item.iter("OptionId")]
            task_id = _t(root, "TaskId")
            event = CardClick(
                sender=sender,
                at=at,
                key=key,
                task_id=task_id,
                response_code=_t(root, "ResponseCode"),
                card_type=_t(root, "CardType"),
                selected=selected,
            )
            key = f"{task_id}:{key}"
        elif (
            name == "change_external_contact"
            and _t(root, "UserID")
            and _t(root, "ChangeType") in CONTACT_CHANGES
        ):
            # sent by "sys": the member is UserID (docs/wecom-protocol.md, docs/customer-contacts.md)
            external, change = _t(root, "ExternalUserID"), _t(root, "ChangeType")
            if change in ("add_external_contact", "add_half_external_contact"):
                event = ExternalContactAdded(
                    sender=_t(root, "UserID"),
                    at=at,
                    external_userid=external,
                    state=_t(root, "State"),
                    half=change == "add_half_external_contact",
                )
                key = external if change == "add_external_contact" else f"{change}:{external}"
            else:
                event = ExternalContactChanged(
                    sender=_t(root, "UserID"),
                    at=at,
                    external_userid=external,
                    change_type=change,
                    source=_t(root, "Source"),
                )
                key = f"{change}:{external}"
        elif name == "change_external_chat" and _t(root, "ChatId"):
            change = _t(root, "ChangeType")
            event = ExternalChatChanged(
                sender=sender,
                at=at,
                chat_id=_t(root, "ChatId"),
                change_type=change,
                update_detail=_t(root, "UpdateDetail"),
            )
            key = f"{event.chat_id}:{change}:{event.update_detail}"
        elif name == "change_contact":
            event = contact_change(root, sender, at)
            # WeCom's retry repeats the bytes; two changes of one member within a second differ in content
            digest = hashlib.sha1(json.dumps(event.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
            key = f"{event.change_type}:{event.userid or event.party_id}:{digest}"
        else:
            event = Unsupported(sender=sender, at=at, msg_type=f"event:{name}")
        return event, f"evt:{event.sender}:{at}:{name}:{key}"
    if msg_type == "text":
        event = TextIn(sender=sender, at=at, content=_t(root, "Content"), msg_id=msg_id)
    elif msg_type == "image":
        event = ImageIn(sender=sender, at=at, media_id=_t(root, "MediaId"), msg_id=msg_id)
    elif msg_type == "voice":
        event = VoiceIn(
            sender=sender,
            at=at,
            media_id=_t(root, "MediaId"),
            recognition=_t(root, "Recognition"),
            msg_id=msg_id,
        )
    elif msg_type == "location":
        event = LocationIn(
            sender=sender,
            at=at,
            lat=_f(root, "Location_X"),
            lng=_f(root, "Location_Y"),
            scale=int(_f(root, "Scale")),
            label=_t(root, "Label"),
            msg_id=msg_id,
        )
    elif msg_type == "file":
        event = FileIn(
            sender=sender, at=at, media_id=_t(root, "MediaId"), title=_t(root, "Title"), msg_id=msg_id
        )
    else:
        event = Unsupported(sender=sender, at=at, msg_type=msg_type)
    if not msg_id:
        return event, f"evt:{sender}:{at}:{msg_type}:"
    return event, f"msg:{msg_id}"


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise CallbackRejected("bad_number", "Department") from exc


def _int(root: Element, name: str) -> int:
    try:
        return int(_t(root, name, "0") or 0)
    except ValueError as exc:
        raise CallbackRejected("bad_number", name) from exc


def contact_change(root: Element, sender: str, at: int) -> ContactChange:
    """change_contact (doc 90970/90971): the member fields it carried (only what changed, for update_user; only
    UserID and Department for callbacks configured after 2022-08-15), or the department's."""
    present: list[str] = []
    if root.find("Name") is not None:
        present.append("name")
    departments = _ints(_t(root, "Department"))
    if root.find("Department") is not None:
        present.append("departments")
    leader_in: list[int] = []
    if root.find("IsLeaderInDept") is not None:
        flags = _ints(_t(root, "IsLeaderInDept"))
        leader_in = [d for d, f in zip(departments, flags, strict=False) if f == 1]
        present.append("leader_in")
    if root.find("MainDepartment") is not None:
        present.append("main_department")
    direct = [x.strip() for x in _t(root, "DirectLeader").split(",") if x.strip()]
    if root.find("DirectLeader") is not None:
        present.append("direct_leaders")
    if root.find("Status") is not None:
        present.append("status")
    return ContactChange(
        sender=sender,
        at=at,
        change_type=_t(root, "ChangeType"),
        userid=_t(root, "UserID"),
        new_userid=_t(root, "NewUserID"),
        name=_t(root, "Name"),
        departments=departments,
        leader_in=leader_in,
        main_department=_int(root, "MainDepartment"),
        direct_leaders=direct,
        status=_int(root, "Status"),
        present=present,
        party_id=_int(root, "Id"),
        party_name=_t(root, "Name"),
        parent_id=_int(root, "ParentId"),
        party_order=_int(root, "Order"),
    )
