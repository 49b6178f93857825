"""「日历订阅」: a rep asks for the private ICS feed URL of their promises and follow-ups; 「重置日历订阅」: a new
URL, and the old one stops at once (a forwarded or leaked link; docs/web-sign-in.md §4).

Needs two of the handlers' dependencies (HandlerDeps): `public_base_url`, and `ics_key` — the feed key,
`core.links.derive_ics_key(WECOM_SECRET)`.
"""

from __future__ import annotations

from core import ics_token
from handlers.context import Ctx
from handlers.messages import Inbound, Text
from handlers.sop import texts as T
from storage.web import feeds


def on_calendar_link(ctx: Ctx, event: Inbound) -> bool | None:
    key, base = ctx.deps.ics_key, ctx.deps.public_base_url.rstrip("/")
    if not key or not base:
        ctx.reply(Text(content=T.ICS_NOT_CONFIGURED))
        return None
    path = ics_token.feed_path(key, ctx.userid, feeds.generation_of(ctx.session, ctx.userid))
    ctx.reply(Text(content=T.ICS_LINK.format(url=base + path)))
    return None


def on_calendar_reset(ctx: Ctx, event: Inbound) -> bool | None:
    key, base = ctx.deps.ics_key, ctx.deps.public_base_url.rstrip("/")
    if not key or not base:
        ctx.reply(Text(content=T.ICS_NOT_CONFIGURED))
        return None
    generation = feeds.rotate(ctx.session, ctx.userid, now=ctx.now, actor=ctx.userid, reason=ctx.source)
    path = ics_token.feed_path(key, ctx.userid, generation)
    ctx.reply(Text(content=T.ICS_RESET.format(url=base + path)))
    return None
