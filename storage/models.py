"""SQLAlchemy 2 models: the org, the import tables, and the machinery (inbox, outbox, timers, audit).

Times are stored as UTC (naive on SQLite, timestamptz on PostgreSQL) and always read back aware UTC.
Table and column names follow docs/import-format.md.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.visits import grade_location
from storage.triggers import order_months as order_month_triggers
from storage.triggers import touches as touch_triggers
from storage.triggers import visit_tags as visit_tag_triggers


class UTCDateTime(TypeDecorator):
    """Aware UTC in Python; timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Money = Numeric(14, 2)
Id = String(64)
BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrement needs INTEGER PRIMARY KEY


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# --- the organisation -------------------------------------------------------------------------


class UserRow(Base):
    __tablename__ = "users"
    userid: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(
        String(32)
    )  # rep|supervisor|regional_manager|finance_director|sales_director|admin
    manager_userid: Mapped[str | None] = mapped_column(Id, index=True)
    region: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(32))
    # False: deactivated (left the company): no chat, no calendar feed, no dashboard link — at once
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # where alerts go besides WeCom (docs/channels.md): red-tier scorecard alerts by email and SMS
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(20))


class CustomerRow(Base):
    __tablename__ = "customers"
    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    license_no: Mapped[str | None] = mapped_column(String(32), index=True)
    channel: Mapped[str | None] = mapped_column(String(32), index=True)
    region: Mapped[str | None] = mapped_column(String(32), index=True)
    city: Mapped[str | None] = mapped_column(String(32), index=True)
    address: Mapped[str | None] = mapped_column(String(256))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    coord_system: Mapped[str | None] = mapped_column(String(8))  # wgs84 | gcj02
    owner_userid: Mapped[str] = mapped_column(Id)  # indexed with region and city (__table_args__)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | lost
    lost_on: Mapped[date | None] = mapped_column(Date)
    nps: Mapped[int | None] = mapped_column(Integer)
    categories: Mapped[list[Any]] = mapped_column(JSON, default=list)
    decision_roles: Mapped[list[Any]] = mapped_column(
        JSON, default=list
    )  # [{"role": "采购", "name": "王芳"}]
    created_on: Mapped[date | None] = mapped_column(Date)
    # the customer's contact phones (import 联系电话): an added WeChat contact is matched on them
    # (core/customer_contacts/matching.py)
    contact_phones: Mapped[list[Any] | None] = mapped_column(JSON, default=list)
    # when the customer came into the assistant: 新建客户 (the moment), or the import that created it when the
    # file gives no 建档日期 (the import time). NULL: created_on (or nothing) is all that is known. A customer
    # younger than the stale window is never stale (storage.touches.stale_condition).
    created_at: Mapped[datetime | None] = mapped_column()
    # the latest visit, and the latest visit or interaction (跟进), kept by database triggers
    # (storage.triggers.touches): follow-up questions read the customer's row instead of probing both tables
    last_visit_at: Mapped[datetime | None] = mapped_column()
    last_touch_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        # a scope's customers by owner, and their regions and cities from the index alone (the words a
        # question is read with: nlq.answer.visible_vocab)
        Index("ix_customers_owner_place", "owner_userid", "region", "city"),
    )


# --- what happens in the field -------------------------------------------------------------------


def _grade_of_new_visit(context: Any) -> str | None:
    """visits.location_grade of a row written without one (an import, a test's row, older code): graded from
    its stored distance by the default tolerance, the rule of migration 0009 (core.visits.grade_location)."""
    p = context.get_current_parameters()
    located = p.get("lat") is not None and p.get("lng") is not None
    source = p.get("location_source") or ("import" if located or p.get("distance_m") is not None else None)
    return grade_location(
        source=source, distance_m=p.get("distance_m"), precision_m=p.get("location_precision_m")
    )


class VisitRow(Base):
    __tablename__ = "visits"
    visit_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    rep_userid: Mapped[str] = mapped_column(Id, index=True)
    checked_in_at: Mapped[datetime] = mapped_column()  # leads two indexes (__table_args__)
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    photo_count: Mapped[int] = mapped_column(Integer, default=0)  # valid photos (imported or counted)
    note: Mapped[str | None] = mapped_column(Text)
    # chat-logged visits only
    source: Mapped[str] = mapped_column(String(16), default="import")  # import | chat
    status: Mapped[str] = mapped_column(String(16), default="closed")  # open | closed
    location_source: Mapped[str | None] = mapped_column(String(16))  # gps | map | import
    location_precision_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    # how the check-in location was judged (core.visits: gps_within | map_within | outside | unmeasured;
    # NULL: no location) and the circle it was judged against (the tolerance, widened by GPS precision).
    # Only AT_STORE grades make a complete visit; the grade outlives the coordinates (storage/retention.py)
    location_grade: Mapped[str | None] = mapped_column(String(16), default=_grade_of_new_visit)
    location_tolerance_m: Mapped[float | None] = mapped_column(Float)
    completed_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    last_activity_at: Mapped[datetime | None] = mapped_column()
    # how many visit_tags rows the visit has, kept by database triggers (storage.triggers.visit_tags): a
    # complete visit is a test on this row alone
    tag_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ix_visits_customer_time", "customer_id", "checked_in_at"),
        # who was touched in a window, read from the index alone (freshness, 未跟进)
        Index("ix_visits_time_customer", "checked_in_at", "customer_id"),
        # a period's visit figures (拜访数, 完整率, 签到 per person, the visits a tag ranking joins) from the
        # index alone, not one heap page per visit (migration 0027)
        Index(
            "ix_visits_time_figures",
            "checked_in_at",
            "customer_id",
            "rep_userid",
            "location_grade",
            "photo_count",
            "tag_count",
            "visit_id",
        ),
    )


class VisitTagRow(Base):
    __tablename__ = "visit_tags"
    visit_id: Mapped[str] = mapped_column(ForeignKey("visits.visit_id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    # the visit's customer, set and followed by database triggers (storage.triggers.visit_tags): the customers
    # with a tag are read from (tag, customer_id) without touching visits
    customer_id: Mapped[str | None] = mapped_column(Id)
    # the visit's time, kept the same way (storage.triggers.visit_tags TIMES): a period's tags are read from
    # (checked_in_at, tag, customer_id) without touching visits
    checked_in_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        Index("ix_visit_tags_tag_customer", "tag", "customer_id"),
        Index("ix_visit_tags_time_tag", "checked_in_at", "tag", "customer_id"),
    )


@event.listens_for(VisitRow.__table__, "after_create")
def _visit_touch_triggers(target: Any, connection: Any, **kw: Any) -> None:
    touch_triggers.install(connection, "visits")


@event.listens_for(VisitTagRow.__table__, "after_create")
def _visit_tag_triggers(target: Any, connection: Any, **kw: Any) -> None:
    visit_tag_triggers.install(connection)
    visit_tag_triggers.install_times(connection)


class PhotoRow(Base):
    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    visit_id: Mapped[str | None] = mapped_column(ForeignKey("visits.visit_id"), index=True)
    rep_userid: Mapped[str] = mapped_column(Id)
    media_id: Mapped[str] = mapped_column(String(256))
    path: Mapped[str | None] = mapped_column(String(256))
    thumb_path: Mapped[str | None] = mapped_column(String(256))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    phash: Mapped[str | None] = mapped_column(String(32))
    # the 64-bit hash in four 16-bit bands: a near duplicate shares at least one band (indexed lookups)
    ph0: Mapped[int | None] = mapped_column(Integer, index=True)
    ph1: Mapped[int | None] = mapped_column(Integer, index=True)
    ph2: Mapped[int | None] = mapped_column(Integer, index=True)
    ph3: Mapped[int | None] = mapped_column(Integer, index=True)
    taken_at: Mapped[datetime | None] = mapped_column()
    exif_lat: Mapped[float | None] = mapped_column(Float)
    exif_lng: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))  # ok | duplicate | off_site | rejected
    reason: Mapped[str | None] = mapped_column(String(256))
    received_at: Mapped[datetime] = mapped_column()


class InteractionRow(Base):
    __tablename__ = "interactions"
    interaction_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    rep_userid: Mapped[str | None] = mapped_column(Id)
    at: Mapped[datetime] = mapped_column(index=True)
    channel: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_interactions_customer_time", "customer_id", "at"),
        Index("ix_interactions_time_customer", "at", "customer_id"),
    )


@event.listens_for(InteractionRow.__table__, "after_create")
def _interaction_touch_triggers(target: Any, connection: Any, **kw: Any) -> None:
    touch_triggers.install(connection, "interactions")


class OrderRow(Base):
    __tablename__ = "orders"
    order_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    ordered_on: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    category: Mapped[str | None] = mapped_column(String(32), index=True)

    # "this customer's orders of a category in a period": without it SQLite's planner (no statistics) walks
    # every order of the category once per customer (2 s at the seeds' scale)
    __table_args__ = (Index("ix_orders_customer_category_on", "customer_id", "category", "ordered_on"),)


@event.listens_for(OrderRow.__table__, "after_create")
def _order_month_triggers(target: Any, connection: Any, **kw: Any) -> None:
    order_month_triggers.install(connection)


class OrderMonthRow(Base):
    """Each customer's orders per calendar month (the first day of the month): the sum in fen and the number of
    orders. Kept by triggers on orders on every write path (storage/triggers/order_months.py, migration 0026);
    never written by code. The cascade on PostgreSQL reads the baseline windows (whole months) from it."""

    __tablename__ = "order_months"
    customer_id: Mapped[str] = mapped_column(Id, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    sales_fen: Mapped[int] = mapped_column(BigInteger)
    orders: Mapped[int] = mapped_column(Integer)

    # the history pass reads (customer, month, sums) in customer order from the index alone (PostgreSQL:
    # an index-only scan feeding a sorted aggregate, no hash table of 500,000 groups)
    __table_args__ = (
        Index("ix_order_months_cover", "customer_id", "month", postgresql_include=["sales_fen", "orders"]),
    )


class OpportunityRow(Base):
    __tablename__ = "opportunities"
    opportunity_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # need_confirmed|quoted|negotiating|won|lost
    entered_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal | None] = mapped_column(Money)


class ContractRow(Base):
    __tablename__ = "contracts"
    contract_no: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    signed_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    # from signature to cash (docs/contracts.md): the payment terms as written (read into
    # contract_instalments), the sales view (pending 待签约 | signed 客户确认签约; NULL: imported history,
    # signed) and the finance view (esigned 电子签章完成 | matching 流水匹配中 | received 已到账), never merged;
    # when the assistant recorded the signing (the hand-off opened), the dates of milestones
    # ({"shipped": "2026-03-01", …}), and finance's check of the amount (after it, sales cannot change it)
    terms: Mapped[str | None] = mapped_column(Text)
    sales_status: Mapped[str | None] = mapped_column(String(16))
    finance_status: Mapped[str | None] = mapped_column(String(16), index=True)
    signed_at: Mapped[datetime | None] = mapped_column()
    signed_by: Mapped[str | None] = mapped_column(String(64))
    milestones: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    amount_verified_at: Mapped[datetime | None] = mapped_column()
    amount_verified_by: Mapped[str | None] = mapped_column(String(64))


class PaymentRow(Base):
    __tablename__ = "payments"
    txn_id: Mapped[str] = mapped_column(Id, primary_key=True)
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    payer: Mapped[str | None] = mapped_column(String(128))
    memo: Mapped[str | None] = mapped_column(String(512))


class PaymentMatchRow(Base):
    """A payment whose memo contains a contract's number (回款逾期's matching, stored): kept equal to the
    live substring test by storage.payments.store_matches, which the payments/contracts import runs."""

    __tablename__ = "payment_matches"
    contract_no: Mapped[str] = mapped_column(Id, primary_key=True)
    txn_id: Mapped[str] = mapped_column(Id, primary_key=True, index=True)


class TicketRow(Base):
    __tablename__ = "tickets"
    ticket_id: Mapped[str] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    opened_at: Mapped[datetime] = mapped_column()
    responded_at: Mapped[datetime | None] = mapped_column()
    sla_hours: Mapped[int] = mapped_column(Integer, default=24)


# --- promises, follow-ups, approvals ----------------------------------------------------------------


class PromiseRow(Base):
    """A promise made to a customer (kind=promise) or the next follow-up (kind=follow_up)."""

    __tablename__ = "promises"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # promise | follow_up
    visit_id: Mapped[str | None] = mapped_column(ForeignKey("visits.visit_id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    rep_userid: Mapped[str] = mapped_column(Id, index=True)
    text: Mapped[str] = mapped_column(String(256))
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | cancelled
    schedule_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column()


class ApprovalRow(Base):
    __tablename__ = "approvals"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # price_objection
    visit_id: Mapped[str | None] = mapped_column(ForeignKey("visits.visit_id"), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    rep_userid: Mapped[str] = mapped_column(Id)
    # pending | approved | rejected | withdrawn (the tag came off; putting it back restarts) | cancelled (the rep
    # tapped 撤回申请; never restarts)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    current_step: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    # what the customer asked for, read from the rep's line (core/price_request.py): discount | percent_off |
    # unit_price | amount_off, its value as a plain decimal string, and the words it was read from
    request_kind: Mapped[str | None] = mapped_column(String(16))
    request_value: Mapped[str | None] = mapped_column(String(16))
    request_phrase: Mapped[str | None] = mapped_column(String(64))


class ApprovalStepRow(Base):
    __tablename__ = "approval_steps"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approvals.id"), index=True)
    step_no: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(32))
    approver_userid: Mapped[str] = mapped_column(Id)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|rejected|escalated
    comment: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Id)
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()

    __table_args__ = (UniqueConstraint("approval_id", "step_no", "approver_userid"),)


class ApprovalCardRow(Base):
    """Every approval card sent (to an approver at any step, a reminder, the rep's own): found again by its
    task_id in the outbox, so that a decided or withdrawn approval updates each of them to a final state.
    `final_at`: when its final update was written (the send's response_code is single use)."""

    __tablename__ = "approval_cards"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approvals.id"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("approval_steps.id"))  # None: the rep's card
    recipient: Mapped[str] = mapped_column(Id)
    task_id: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    final_at: Mapped[datetime | None] = mapped_column()


class CustomerNoteRow(Base):
    """Free notes on a customer's record: approval comments, snooze reasons."""

    __tablename__ = "customer_notes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    author_userid: Mapped[str | None] = mapped_column(Id)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column()


# --- machinery ------------------------------------------------------------------------------------


class InboxRow(Base):
    """Every accepted callback, committed before the 200. dedupe_key makes retries no-ops."""

    __tablename__ = "inbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(256), unique=True)
    sender: Mapped[str] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | processing | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_inbox_status_id", "status", "id"),)


class OutboxRow(Base):
    """Every outgoing WeCom message, written in the transaction of the change that caused it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(256), unique=True)
    recipient: Mapped[str] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # text | markdown | template_card | image | update_card
    message: Mapped[dict[str, Any]] = mapped_column(JSON)  # the Reply, before rendering
    payload: Mapped[str | None] = mapped_column(Text)  # rendered JSON, stored once, resent byte for byte
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sending|sent|dead|merged
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    merged_into: Mapped[int | None] = mapped_column(BigId)
    response_code: Mapped[str | None] = mapped_column(String(256))
    # attempts that ended in an answer we could not read or an error of our own (at most 3: bot/wecom/relay.py)
    strikes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # priority lane (storage/outbox.py LANE_*): 0 the reply to the person's own message, 1 a dialog follow-up
    # to someone else, 2 alerts, reminders, digests, briefs; the relay claims lane by lane
    lane: Mapped[int] = mapped_column(SmallInteger, default=2, server_default="2")

    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_try_at"),
        # the relay's claim, lane by lane, oldest due first (storage.outbox.claim)
        Index("ix_outbox_lane_due", "status", "lane", "next_try_at", "id"),
    )


class WeComPauseRow(Base):
    """Sending is paused for everyone because WeCom refuses the app's configuration (untrusted IP, a rejected
    Secret, no permission): one row while it lasts, read by every relay and by /readyz. Deleted on recovery."""

    __tablename__ = "wecom_pause"
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)  # "send": every WeCom call
    errcode: Mapped[int] = mapped_column(Integer)
    errmsg: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column()
    next_probe_at: Mapped[datetime] = mapped_column()
    probes: Mapped[int] = mapped_column(Integer, default=0)


class TimerRow(Base):
    """A durable SOP timer. Cancel and reschedule are states, never deletes."""

    __tablename__ = "timers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    business_key: Mapped[str] = mapped_column(String(256), unique=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|running|done|cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column()
    fired_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (Index("ix_timers_status_due", "status", "due_at"),)


class ConversationRow(Base):
    """Dialog state per WeCom user (what the bot is waiting for)."""

    __tablename__ = "conversations"
    userid: Mapped[str] = mapped_column(Id, primary_key=True)
    state: Mapped[str] = mapped_column(String(32), default="idle")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column()
    # what the person has been told once (or at most so often), and when: {"welcome": {"role", "at"},
    # "far_gps": at, "outside_reported": local date}. Kept apart from `data`, which a flow may replace whole
    told: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AuditRow(Base):
    """Append-only: who changed what, when, before → after, and why. Same transaction as the change."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a userid, or system:<component>
    action: Mapped[str] = mapped_column(String(32))  # create | update | delete | read | import
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(256))  # inbox:<id> | timer:<id> | import:<file> | ...

    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)


class OrgConfigRow(Base):
    """Per-organisation settings editable at runtime (tag menu, SOP policy overrides)."""

    __tablename__ = "org_config"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
