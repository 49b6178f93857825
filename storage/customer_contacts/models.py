"""Tables of customer contacts (docs/customer-contacts.md): a member's external contacts and the customer each is
linked to, the member's daily WeCom contact figures (get_user_behavior_data), and 客户群 (customer group chats).

Import this module before `Base.metadata.create_all` / Alembic (storage/all_models.py does).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id

# the link's states: pending (the card is out), linked (confirmed), not_customer (the rep said 不是客户),
# unmatched (no customer came close: it became a lead, docs/leads.md)
STATUSES = ("pending", "linked", "not_customer", "unmatched")


class ExternalContactRow(Base):
    """One external contact of one member (WeCom keys them by the pair): what WeCom said, and the link."""

    __tablename__ = "external_contacts"
    external_userid: Mapped[str] = mapped_column(Id, primary_key=True)
    userid: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128))
    corp_name: Mapped[str | None] = mapped_column(String(128))
    remark: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(String(256))
    remark_mobiles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    add_way: Mapped[int | None] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    suggested: Mapped[list[Any]] = mapped_column(
        JSON, default=list
    )  # [{"customer_id", "name", "points", "why"}]
    decided_by: Mapped[str | None] = mapped_column(Id)
    decided_at: Mapped[datetime | None] = mapped_column()
    # deleted: by the member (del_external_contact) or by the customer (del_follow_user)
    removed_at: Mapped[datetime | None] = mapped_column()
    removed_by: Mapped[str | None] = mapped_column(String(16))  # member | customer
    updated_at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_external_contacts_user_status", "userid", "status"),)


class ContactBehaviorRow(Base):
    """A member's day in WeCom's 联系客户统计 (externalcontact/get_user_behavior_data), fetched daily."""

    __tablename__ = "contact_behavior"
    userid: Mapped[str] = mapped_column(Id, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    chat_cnt: Mapped[int] = mapped_column(Integer, default=0)
    message_cnt: Mapped[int] = mapped_column(Integer, default=0)
    reply_percentage: Mapped[float | None] = mapped_column(Float)
    avg_reply_time: Mapped[float | None] = mapped_column(
        Float
    )  # minutes; WeCom gives it only on days with chats
    new_contact_cnt: Mapped[int] = mapped_column(Integer, default=0)
    fetched_at: Mapped[datetime] = mapped_column()


class ExternalChatRow(Base):
    """A 客户群 (a group chat with external members) as its change_external_chat events and groupchat/get left it."""

    __tablename__ = "external_chats"
    chat_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128))
    owner_userid: Mapped[str | None] = mapped_column(Id, index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | dismissed
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    external_userids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    customer_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column()
