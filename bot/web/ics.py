"""A private ICS feed per rep: `GET /ics/{userid}.ics?token=...` lists their open (and recently done)
promises and follow-ups, for any calendar app that subscribes to a URL.

The token is an HMAC of the userid and their feed's generation under a key derived from WECOM_SECRET
(core/ics_token.py); a wrong, missing or reset (「重置日历订阅」) token answers 404, the same as an unknown or
deactivated user, so the URL space cannot be probed. Calendar apps cannot sign in through WeCom, so this feed
keeps its secret in the URL while every other page needs a session (docs/web-sign-in.md §4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import ics_token
from core.clock import ORG_ZONE_NAME, Clock, SystemClock
from core.sop.calendar import event_start
from handlers.sop import texts as T
from handlers.sop.policy import load_policy
from storage.models import CustomerRow, PromiseRow, UserRow
from storage.web.feeds import generation_of

PRODID = "-//wecom-sales-assistant//promises//ZH"
PAST_DAYS = 30
FUTURE_DAYS = 366


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str
    alarm_minutes: int | None = None


_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # every line break a reader might honour
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")  # RFC 5545 TEXT allows no CONTROL but HTAB


def _escape(text: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): backslash, semicolon and comma escaped, every line break (CRLF, LF, a lone
    CR…) written as \\n, other control characters dropped, so a value never ends its line or starts a property."""
    text = text.replace("\\", "\\\\").replace(";", r"\;").replace(",", r"\,")
    return _CONTROL.sub("", _BREAK.sub(r"\\n", text))


def _fold(line: str) -> str:
    """RFC 5545 §3.1: lines of at most 75 octets, continued with CRLF + space (never splitting a character)."""
    out, current, size = [], "", 0
    for ch in line:
        n = len(ch.encode())
        if size + n > 75:
            out.append(current)
            current, size = " ", 1
        current += ch
        size += n
    out.append(current)
    return "\r\n".join(out)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def render_calendar(events: Iterable[FeedEvent], *, name: str, now: datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
        f"X-WR-TIMEZONE:{ORG_ZONE_NAME}",
    ]
    for e in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{e.uid}",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(e.start)}",
            f"DTEND:{_stamp(e.end)}",
            f"SUMMARY:{_escape(e.summary)}",
            f"DESCRIPTION:{_escape(e.description)}",
        ]
        if e.alarm_minutes is not None:
            lines += [
                "BEGIN:VALARM",
                "ACTION:DISPLAY",
                f"TRIGGER:-PT{e.alarm_minutes}M",
                f"DESCRIPTION:{_escape(e.summary)}",
                "END:VALARM",
            ]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


def feed_events(session: Session, userid: str, *, now: datetime) -> list[FeedEvent]:
    policy = load_policy(session)
    q = (
        select(PromiseRow, CustomerRow.name)
        .join(CustomerRow, CustomerRow.customer_id == PromiseRow.customer_id)
        .where(
            PromiseRow.rep_userid == userid,
            PromiseRow.status.in_(("open", "done")),
            PromiseRow.due_at >= now - timedelta(days=PAST_DAYS),
            PromiseRow.due_at < now + timedelta(days=FUTURE_DAYS),
        )
        .order_by(PromiseRow.due_at, PromiseRow.id)
    )
    events = []
    for promise, customer_name in session.execute(q):
        if promise.kind == "follow_up":
            summary = T.CAL_FOLLOW_UP.format(customer=customer_name)
        else:
            summary = T.CAL_PROMISE.format(customer=customer_name, item=promise.text)
        if promise.status == "done":
            summary = T.CAL_DONE_PREFIX + summary
        start = event_start(promise.due_at, policy)
        alarm = policy.calendar_remind_before_secs // 60 if promise.status == "open" else None
        events.append(
            FeedEvent(
                uid=f"promise-{promise.id}@wecom-sales-assistant",
                start=start,
                end=start + timedelta(minutes=policy.calendar_event_minutes),
                summary=summary,
                description=T.CAL_DESCRIPTION.format(
                    customer=customer_name,
                    item=promise.text,
                    kind=T.CAL_KIND.get(promise.kind, promise.kind),
                    id=promise.id,
                ),
                alarm_minutes=alarm,
            )
        )
    return events


def make_ics_router(
    session_factory: sessionmaker[Session], secret: str, *, clock: Clock | None = None
) -> APIRouter:
    """The feed endpoint. `secret` is WECOM_SECRET (the signing key is derived from it)."""
    key = ics_token.derive_key(secret)
    clock = clock or SystemClock()
    router = APIRouter()

    @router.get("/ics/{userid}.ics")
    def feed(userid: str, token: str = "") -> Response:
        if not token or not token.isascii() or len(token) != ics_token.TOKEN_CHARS:
            return Response(status_code=404)
        if len(userid) > 64 or not userid.isprintable():  # no userid is (and PostgreSQL refuses NUL)
            return Response(status_code=404)
        with session_factory() as s:
            user = s.get(UserRow, userid)
            if user is None or not user.active:  # deactivated: the feed stops at once
                return Response(status_code=404)
            if not ics_token.verify(key, userid, token, generation_of(s, userid)):  # reset: the old URL stops
                return Response(status_code=404)
            now = clock.now()
            body = render_calendar(feed_events(s, userid, now=now), name=T.ICS_CALENDAR_NAME, now=now)
        return Response(
            content=body,
            media_type="text/calendar; charset=utf-8",
            headers={"Cache-Control": "private, max-age=300"},
        )

    return router
