"""The plaintext XML WeCom posts for each message and event, field for field as its docs (90239, 90240)
and the official vector (docs/wecom-protocol.md §1.5): CDATA for strings, bare numbers, one element per
line, the outer envelope with ToUserName, AgentID and Encrypt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class Bare(str):
    """Text written without CDATA: numbers that must keep their exact formatting ("65.000")."""


Field = tuple[str, str | int | None]


def cdata(text: str) -> str:
    """A CDATA section; a literal "]]>" in the text is split across two sections."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def number(value: float, places: int = 6) -> str:
    """23.134 → "23.134", 113.0 → "113": WeCom's coordinates carry no trailing zeros."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _element(name: str, value: str | int | None) -> str:
    if value is None:
        return f"<{name}>{cdata('')}</{name}>"
    if isinstance(value, Bare):
        return f"<{name}>{value}</{name}>"
    if isinstance(value, str):
        return f"<{name}>{cdata(value)}</{name}>"
    return f"<{name}>{value}</{name}>"


def message(
    *,
    corp_id: str,
    user: str,
    created: int,
    msg_type: str,
    fields: Sequence[Field],
    tail: Sequence[Field] = (),
    raw_tail: str = "",
) -> str:
    """<xml> with the common head (ToUserName, FromUserName, CreateTime, MsgType), then `fields`,
    then `tail` (MsgId / AgentID / AppType in the documented order), then any pre-built XML."""
    head: list[Field] = [
        ("ToUserName", corp_id),
        ("FromUserName", user),
        ("CreateTime", created),
        ("MsgType", msg_type),
    ]
    lines = [_element(n, v) for n, v in (*head, *fields, *tail)]
    if raw_tail:
        lines.append(raw_tail)
    return "<xml>" + "\n".join(lines) + "\n</xml>"


def text(corp_id: str, user: str, created: int, content: str, msg_id: int, agent_id: int) -> str:
    return message(
        corp_id=corp_id,
        user=user,
        created=created,
        msg_type="text",
        fields=[("Content", content)],
        tail=[("MsgId", msg_id), ("AgentID", agent_id)],
    )


def image(
    corp_id: str, user: str, created: int, pic_url: str, media_id: str, msg_id: int, agent_id: int
) -> str:
    return message(
        corp_id=corp_id,
        user=user,
        created=created,
        msg_type="image",
        fields=[("PicUrl", pic_url), ("MediaId", media_id)],
        tail=[("MsgId", msg_id), ("AgentID", agent_id)],
    )


def voice(
    corp_id: str,
    user: str,
    created: int,
    media_id: str,
    fmt: str,
    msg_id: int,
    agent_id: int,
    recognition: str | None = None,
) -> str:
    fields: list[Field] = [("MediaId", media_id), ("Format", fmt)]
    if recognition is not None:
        fields.append(("Recognition", recognition))
    return message(
        corp_id=corp_id,
        user=user,
        created=created,
        msg_type="voice",
        fields=fields,
        tail=[("MsgId", msg_id), ("AgentID", agent_id)],
    )


def location(
    corp_id: str,
    user: str,
    created: int,
    lat: float,
    lng: float,
    scale: int,
    label: str,
    msg_id: int,
    agent_id: int,
) -> str:
    return message(
        corp_id=corp_id,
        user=user,
        created=created,
        msg_type="location",
        fields=[
            ("Location_X", Bare(number(lat))),
            ("Location_Y", Bare(number(lng))),
            ("Scale", int(scale)),
            ("Label", label),
        ],
        tail=[("MsgId", msg_id), ("AgentID", agent_id), ("AppType", "wxwork")],
    )


def location_report(
    corp_id: str, user: str, created: int, lat: float, lng: float, precision: float, agent_id: int
) -> str:
    return message(
        corp_id=corp_id,
        user=user,
        created=created,
        msg_type="event",
        fields=[
            ("Event", "LOCATION"),
            ("Latitude", Bare(number(lat))),
            ("Longitude", Bare(number(lng))),
            ("Precision", Bare(f"{precision:.3f}")),
        ],
        tail=[("AgentID", agent_id), ("AppType", "wxwork")],
    )


def event(corp_id: str, user: str, created: int, name: str, key: str, agent_id: int) -> str:
    """enter_agent (key ""), click, view: Event + EventKey + AgentID."""
    return message(
        corp_id=corp_id,
        user=user,
        created=created,
        msg_type="event",
        fields=[("Event", name), ("EventKey", key)],
        tail=[("AgentID", agent_id)],
    )


def card_event(
    corp_id: str,
    user: str,
    created: int,
    key: str,
    task_id: str,
    card_type: str,
    response_code: str,
    agent_id: int,
    selected: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """template_card_event as in doc 90240 (SelectedItems only for vote / multiple choice cards)."""
    raw = ""
    if selected:
        items = "".join(
            "<SelectedItem>"
            + _element("QuestionKey", q)
            + "<OptionIds>"
            + "".join(_element("OptionId", o) for o in options)
            + "</OptionIds></SelectedItem>"
            for q, options in selected.items()
        )
        raw = f"<SelectedItems>{items}</SelectedItems>"
    return message(
        corp_id=corp_id,
        user=user,
        created=created,
        msg_type="event",
        fields=[
            ("Event", "template_card_event"),
            ("EventKey", key),
            ("TaskId", task_id),
            ("CardType", card_type),
            ("ResponseCode", response_code),
        ],
        tail=[("AgentID", agent_id)],
        raw_tail=raw,
    )


def external_contact_event(
    corp_id: str, created: int, change_type: str, user: str, external_userid: str, extra: Sequence[Field] = ()
) -> str:
    """change_external_contact (客户联系, doc 92130): sent by "sys"; the member is UserID. add_external_contact and
    add_half_external_contact carry State and WelcomeCode, del_external_contact may carry Source."""
    return message(
        corp_id=corp_id,
        user="sys",
        created=created,
        msg_type="event",
        fields=[
            ("Event", "change_external_contact"),
            ("ChangeType", change_type),
            ("UserID", user),
            ("ExternalUserID", external_userid),
            *extra,
        ],
    )


def external_chat_event(
    corp_id: str, created: int, chat_id: str, change_type: str, extra: Sequence[Field] = ()
) -> str:
    """change_external_chat (客户群, doc 92130): ChatId, ChangeType create | update | dismiss; an update carries
    UpdateDetail (add_member, del_member, change_owner, change_name, change_notice) and the member counts."""
    return message(
        corp_id=corp_id,
        user="sys",
        created=created,
        msg_type="event",
        fields=[("Event", "change_external_chat"), ("ChatId", chat_id), ("ChangeType", change_type), *extra],
    )


def envelope(corp_id: str, agent_id: int, encrypted: str) -> str:
    """The outer body WeCom POSTs (doc 90238)."""
    return (
        f"<xml><ToUserName>{cdata(corp_id)}</ToUserName><AgentID>{cdata(str(agent_id))}</AgentID>"
        f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>"
    )


def change_contact(corp_id: str, created: int, change_type: str, fields: Sequence[Field]) -> str:
    """change_contact (通讯录变更, docs 90970/90971/90972): from "sys", the ChangeType, then the member's or the
    department's fields (UserID, Name, Department "1,2", IsLeaderInDept "1,0", DirectLeader, … or Id, Name,
    ParentId, Order)."""
    return message(
        corp_id=corp_id,
        user="sys",
        created=created,
        msg_type="event",
        fields=[("Event", "change_contact"), ("ChangeType", change_type), *fields],
    )
