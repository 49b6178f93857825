"""The 客户联系 callbacks as WeCom writes them (the emulator's XML) → typed system events with their dedupe keys."""

from __future__ import annotations

from bot.emulator import callback_xml as xml
from bot.wecom.parse import parse_inbound
from handlers.messages import ExternalChatChanged, ExternalContactAdded, ExternalContactChanged, Inbound

CORP, AT = "wwcorp", 1795400000


def test_each_change_type_is_parsed_with_the_member_as_sender():
    add, key = parse_inbound(
        xml.external_contact_event(CORP, AT, "add_external_contact", "rep1", "wmA", [("State", "expo")])
    )
    assert add == ExternalContactAdded(sender="rep1", at=AT, external_userid="wmA", state="expo")
    assert key == f"evt:rep1:{AT}:change_external_contact:wmA" and add.system
    half, _ = parse_inbound(xml.external_contact_event(CORP, AT, "add_half_external_contact", "rep1", "wmA"))
    assert isinstance(half, ExternalContactAdded) and half.half
    for change in ("edit_external_contact", "del_external_contact", "del_follow_user"):
        extra = [("Source", "DELETE_BY_TRANSFER")] if change == "del_external_contact" else []
        event, key = parse_inbound(xml.external_contact_event(CORP, AT, change, "rep2", "wmB", extra))
        assert isinstance(event, ExternalContactChanged) and event.sender == "rep2"
        assert (event.change_type, event.external_userid) == (change, "wmB")
        assert key == f"evt:rep2:{AT}:change_external_contact:{change}:wmB"
        assert Inbound.from_dict(event.to_dict()) == event  # the inbox round trip
    assert (
        event.source == ""
        and parse_inbound(
            xml.external_contact_event(
                CORP, AT, "del_external_contact", "rep2", "wmB", [("Source", "DELETE_BY_TRANSFER")]
            )
        )[0].source
        == "DELETE_BY_TRANSFER"
    )


def test_a_group_chat_change_and_an_unknown_change_type():
    chat, key = parse_inbound(
        xml.external_chat_event(
            CORP, AT, "wrC1", "update", [("UpdateDetail", "add_member"), ("JoinScene", 1)]
        )
    )
    assert chat == ExternalChatChanged(
        sender="sys", at=AT, chat_id="wrC1", change_type="update", update_detail="add_member"
    )
    assert key == f"evt:sys:{AT}:change_external_chat:wrC1:update:add_member"
    other, _ = parse_inbound(xml.external_contact_event(CORP, AT, "transfer_fail", "rep1", "wmA"))
    assert other.type == "unsupported"
