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
    # a system event (WeCom's 客户联系 and 通讯录变更 notices, the assistant's own requests): nothing the sender said, so it
    # goes straight to its EVENTS handler, past dialog states, commands and the unknown-member reply
    system: ClassVar[bool] = False
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
    contact (a customer's WeChat); `state` is the 渠道活码's state parameter, when the contact came by one.
    `half`: add_half_external_contact (the customer added the member, who has not accepted yet)."""

    type: ClassVar[str] = "external_contact_add"
    system: ClassVar[bool] = True
    external_userid: str = ""
    state: str = ""
    half: bool = False


@dataclass(frozen=True)
class ExternalContactChanged(Inbound):
    """change_external_contact, other change types: edit_external_contact (the member changed 备注 / 描述 /
    备注手机号), del_external_contact (the member deleted the contact; `source` DELETE_BY_TRANSFER after a
    transfer), del_follow_user (the customer deleted the member)."""

    type: ClassVar[str] = "external_contact_change"
    system: ClassVar[bool] = True
    external_userid: str = ""
    change_type: str = ""
    source: str = ""


@dataclass(frozen=True)
class ExternalChatChanged(Inbound):
    """change_external_chat (客户群): `change_type` create | update | dismiss; an update's `update_detail`
    (add_member, del_member, change_owner, change_name, change_notice). Sent by "sys" with no member."""

    type: ClassVar[str] = "external_chat_change"
    system: ClassVar[bool] = True
    chat_id: str = ""
    change_type: str = ""
    update_detail: str = ""


@dataclass(frozen=True)
class ContactFiguresDue(Inbound):
    """The assistant's own request (put in the inbox by the daily contact-figures timer): fetch the member
    `sender`'s 联系客户统计 for `day` (ISO date) with get_user_behavior_data before the event's transaction."""

    type: ClassVar[str] = "contact_figures_due"
    system: ClassVar[bool] = True
    day: str = ""


@dataclass(frozen=True)
class ContactChange(Inbound):
    """change_contact (通讯录变更): a member or department was created, updated or deleted in WeCom's address
    book. `present`: the member fields the event carried (update_user carries only what changed; callbacks
    configured after 2022-08-15 carry only UserID and Department), by core.contacts.book.Member's names."""

    type: ClassVar[str] = "contact_change"
    system: ClassVar[bool] = True
    change_type: str = (
        ""  # create_user | update_user | delete_user | create_party | update_party | delete_party
    )
    userid: str = ""
    new_userid: str = ""
    name: str = ""
    departments: list[int] = field(default_factory=list)
    leader_in: list[int] = field(default_factory=list)
    main_department: int = 0
    direct_leaders: list[str] = field(default_factory=list)
    status: int = 0
    present: list[str] = field(default_factory=list)
    party_id: int = 0
    party_name: str = ""
    parent_id: int = 0
    party_order: int = 0


@dataclass(frozen=True)
class ContactSyncRequest(Inbound):
    """A full address-book sync to run now (an admin's 同步通讯录, or the nightly reconciliation): the worker's
    prefetch reads WeCom before the transaction (bot/wecom/contacts.py). `sender`: who asked, or "sys"."""

    type: ClassVar[str] = "contact_sync"
    system: ClassVar[bool] = True
    reason: str = ""


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
        ContactChange,
        ContactSyncRequest,
        ExternalContactChanged,
        ExternalChatChanged,
        ContactFiguresDue,
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
    CONTACT = (
        "wxc"  # wxc:use|pick|not:<external_userid>[:<customer>]   link an added WeChat contact to a customer
    )


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
