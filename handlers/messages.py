"""Typed inbound events and outbound replies, the language between bot/ and handlers/.

Both are plain dataclasses that round-trip through a JSON dict (`to_dict` / `from_dict`), which is how
inbox rows store events and outbox rows store replies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar

# --- inbound -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    type: ClassVar[str] = ""
    sender: str
    at: int  # WeCom CreateTime, unix seconds

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Inbound:
        cls = INBOUND_TYPES[d["type"]]
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class TextIn(Inbound):
    type: ClassVar[str] = "text"
    content: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class ImageIn(Inbound):
    type: ClassVar[str] = "image"
    media_id: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class VoiceIn(Inbound):
    type: ClassVar[str] = "voice"
    media_id: str = ""
    recognition: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class LocationIn(Inbound):
    """A location message picked on the map (lower trust than GPS)."""

    type: ClassVar[str] = "location"
    lat: float = 0.0
    lng: float = 0.0
    scale: int = 0
    label: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class FileIn(Inbound):
    type: ClassVar[str] = "file"
    media_id: str = ""
    title: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class EnterAgent(Inbound):
    type: ClassVar[str] = "enter_agent"


@dataclass(frozen=True)
class LocationReport(Inbound):
    """The automatic LOCATION event: GPS with precision (metres)."""

    type: ClassVar[str] = "location_report"
    lat: float = 0.0
    lng: float = 0.0
    precision: float = 0.0


@dataclass(frozen=True)
class MenuClick(Inbound):
    type: ClassVar[str] = "click"
    key: str = ""


@dataclass(frozen=True)
class CardClick(Inbound):
    """template_card_event: a button (key) on a card (task_id); response_code updates the card once."""

    type: ClassVar[str] = "card_click"
    key: str = ""
    task_id: str = ""
    response_code: str = ""
    card_type: str = ""
    selected: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ExternalContactAdded(Inbound):
    """change_external_contact / add_external_contact (企业微信 客户联系): the member `sender` added an external
    contact (a customer's WeChat); `state` is the 渠道活码's state parameter, when the contact came by one."""

    type: ClassVar[str] = "external_contact_add"
    external_userid: str = ""
    state: str = ""


@dataclass(frozen=True)
class Unsupported(Inbound):
    type: ClassVar[str] = "unsupported"
    msg_type: str = ""


INBOUND_TYPES: dict[str, type[Inbound]] = {
    c.type: c
    for c in (
        TextIn,
        ImageIn,
        VoiceIn,
        LocationIn,
        FileIn,
        EnterAgent,
        LocationReport,
        MenuClick,
        CardClick,
        ExternalContactAdded,
        Unsupported,
    )
}


# --- outbound ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Reply:
        cls = REPLY_TYPES[d["kind"]]
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in d.items() if k in names}
        if cls is Card:
            data["buttons"] = [Button(**b) for b in data.get("buttons", [])]
            data["fields"] = [tuple(f) for f in data.get("fields", [])]
        if cls is CardUpdate and data.get("card") is not None:
            data["card"] = Reply.from_dict({"kind": Card.kind, **data["card"]})
        return cls(**data)


@dataclass(frozen=True)
class Text(Reply):
    kind: ClassVar[str] = "text"
    content: str = ""


@dataclass(frozen=True)
class Markdown(Reply):
    kind: ClassVar[str] = "markdown"
    content: str = ""


@dataclass(frozen=True)
class Button:
    text: str
    key: str
    style: int = 1  # 1 primary, 2 secondary, 3 red, 4 grey (WeCom's button styles)


@dataclass(frozen=True)
class Card(Reply):
    """An interactive card (template_card button_interaction) or, without buttons, a text notice."""

    kind: ClassVar[str] = "card"
    title: str = ""
    description: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    task_id: str = ""
    url: str = ""
    # a card in its final state (sent only as an update): its buttons shown greyed, not clickable, under this
    # word (update_template_card's replace_text)
    replace_text: str = ""


@dataclass(frozen=True)
class CardUpdate(Reply):
    """Update a clicked card in place (message/update_template_card with the event's response_code): either
    its buttons greyed out under `replace_name`, or the whole card replaced by `card` (with buttons; its
    task_id should be the clicked card's)."""

    kind: ClassVar[str] = "card_update"
    response_code: str = ""
    replace_name: str = ""
    card: Card | None = None

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.card is None:
            del d["card"]  # a button update is stored as before
        return d


@dataclass(frozen=True)
class Image(Reply):
    """An image file from the file store, uploaded with media/upload when sent."""

    kind: ClassVar[str] = "image"
    path: str = ""


@dataclass(frozen=True)
class Email(Reply):
    """A plain-text email to `to`, sent through SMTP by the relay (bot/channels/smtp.py). Send it to the
    outbox recipient `channel_recipient("email", userid)`, so WeCom's per-person rules never hold it."""

    kind: ClassVar[str] = "email"
    to: str = ""
    subject: str = ""
    body: str = ""


@dataclass(frozen=True)
class Sms(Reply):
    """A text message from the approved template (SMS_TEMPLATE_ID) with these parameters, sent through the
    SMS provider by the relay (bot/channels/sms.py). Outbox recipient `channel_recipient("sms", userid)`."""

    kind: ClassVar[str] = "sms"
    to: str = ""  # a mobile number (11 digits in mainland China, or +<country><number>)
    params: list[str] = field(default_factory=list)


def channel_recipient(kind: str, userid: str) -> str:
    """The outbox recipient of an email or SMS to a person: `email:<userid>` / `sms:<userid>`. Not the
    userid itself, so the WeCom rate limit, digests and a WeCom refusal of that person never touch it."""
    return f"{kind}:{userid}"


REPLY_TYPES: dict[str, type[Reply]] = {
    c.kind: c for c in (Text, Markdown, Card, CardUpdate, Image, Email, Sms)
}


# --- typed keys -------------------------------------------------------------------------------------------


class CardAction(StrEnum):
    """The first part of a card button's key ("appr:ok:12"): which handler the click goes to
    (handlers/routes.py CARD_ACTIONS)."""

    PICK = "visit"  # visit:pick:<customer>      choose the customer of a check-in
    FIX = "fix"  # fix:tag:<visit>:<tag> / fix:promise:<id> / fix:note:<visit>   remove a piece of the record;
    #              fix:line:<token>:visit|ask   an unclear line typed during a visit: record it, or ask it
    UNDO = "undo"  # undo:<visit>   the 撤销 button of a record card with nothing left on it
    CUSTOMER = "cust"  # cust:new / cust:use:<id> / cust:force / cust:cancel   onboarding
    ASK = "ask"  # ask:act:<token>            a question's suggested next action
    APPROVAL = "appr"  # appr:ok|no:<step>
    PROMISE = "promise"  # promise:done:<promise>
    STALE = "stale"  # stale:ok|snooze:<timer>
    SCORE = "score"  # score:prio|vip|skip:<change>
    TARGET = "target"  # target:ok|no:<period>:<amount fen>:<fingerprint>   confirm a cascade's preview
    LEAD = (
        "lead"  # lead:done:<sop step> / lead:claim:<lead>   a lead's sequence step done; claim from the pool
    )
    CONTRACT = "contract"  # contract:sign|progress|log:<contract_no>   signing, the progress card
    WORK_ORDER = "wo"  # wo:claim|done|block:<work order>   a hand-off work order's buttons
    HANDOVER = "handover"  # handover:pick:<hand-over>:<userid>   the successor of a person who left or moved


def card_key(action: CardAction, *parts: object) -> str:
    """The key of a card button: the action, then its parts, joined by ':'."""
    return ":".join([action.value, *(str(p) for p in parts)])


def parse_card_key(key: str, *, maxsplit: int = -1) -> tuple[CardAction | None, list[str]]:
    """(action, parts) of a button key; action None for a key no handler owns."""
    head, _, rest = key.partition(":")
    try:
        action: CardAction | None = CardAction(head)
    except ValueError:
        action = None
    return action, (rest.split(":", maxsplit) if rest else [])


def text_of(event: Inbound) -> str | None:
    """What the person said: typed text, or WeCom's speech recognition of a voice message."""
    if isinstance(event, TextIn):
        return event.content.strip()
    if isinstance(event, VoiceIn):
        return event.recognition.strip() or None
    return None
