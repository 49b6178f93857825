"""The daily fetch of each member's 联系客户统计 (get_user_behavior_data): the response-speed figures the scorecard
reads (core/customer_contacts/speed.py). A recurring timer at 06:40 puts one ContactFiguresDue per member with
external contacts into the inbox (the call happens in the worker's prefetch, outside any transaction:
bot/wecom/external.py); its handler stores yesterday's figures."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from core.clock import ORG_ZONE
from handlers.context import Ctx
from handlers.customer_contacts import refusals
from handlers.messages import ContactFiguresDue, Inbound
from handlers.recurring import book_org_run, next_daily
from handlers.sop.policy import FireResult
from storage import inbox
from storage.customer_contacts import store
from storage.customer_contacts.models import ExternalContactRow
from storage.models import TimerRow, UserRow

KIND = "contact_figures"
RUN_AT = time(6, 40)  # local: WeCom's figures of a day are ready the next morning
ACTOR = "system:wecom_contact"


def schedule_next(ctx: Ctx, *, after: datetime) -> TimerRow:
    day, at = next_daily(ctx, after, RUN_AT)
    return book_org_run(ctx, kind=KIND, day=day, at=at, actor=ACTOR)


def members_with_contacts(ctx: Ctx) -> list[str]:
    return list(
        ctx.session.scalars(
            select(UserRow.userid)
            .where(
                UserRow.active.is_(True),
                UserRow.userid.in_(
                    select(ExternalContactRow.userid).where(ExternalContactRow.removed_at.is_(None))
                ),
            )
            .order_by(UserRow.userid)
        )
    )


def request_figures(ctx: Ctx, day: date) -> int:
    """One ContactFiguresDue per member with external contacts, for `day` (a repeat is a no-op)."""
    n = 0
    for userid in members_with_contacts(ctx):
        event = ContactFiguresDue(sender=userid, at=int(ctx.now.timestamp()), day=day.isoformat())
        n += inbox.put(
            ctx.session,
            dedupe_key=f"figures:{userid}:{day.isoformat()}",
            sender=userid,
            kind=event.type,
            event=event.to_dict(),
            now=ctx.now,
        )
    return n


def fire_contact_figures(ctx: Ctx, timer: TimerRow) -> FireResult:
    yesterday = ctx.now.astimezone(ORG_ZONE).date() - timedelta(days=1)
    n = request_figures(ctx, yesterday)
    schedule_next(ctx, after=ctx.now)
    return "done", f"{n} members' figures requested for {yesterday.isoformat()}"


def on_figures(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, ContactFiguresDue)
    pre = ctx.prefetched or {}
    if pre.get("refused"):
        refusals.answer(ctx, pre["refused"], member=None)
        return None
    days = []
    for entry in pre.get("figures") or []:
        try:
            day = datetime.fromtimestamp(int(entry["stat_time"]), ORG_ZONE).date()
        except (KeyError, TypeError, ValueError):
            continue
        days.append((day, entry))
    store.save_behavior(
        ctx.session, userid=event.sender, days=days, now=ctx.now, actor=ACTOR, reason=ctx.source
    )
    return None
