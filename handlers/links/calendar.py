"""「日历订阅」: a rep asks for the private ICS feed URL of their promises and follow-ups.

Needs two of the handlers' dependencies (HandlerDeps): `public_base_url`, and `ics_key` — the feed key,
`core.links.derive_ics_key(WECOM_SECRET)`.
"""

from __future__ import annotations

from core import ics_token
from handlers.context import Ctx
from handlers.messages import Inbound, Text
from handlers.sop import texts as T


def on_calendar_link(ctx: Ctx, event: Inbound) -> bool | None:
    key, base = ctx.deps.ics_key, ctx.deps.public_base_url.rstrip("/")
    if not key or not base:
        ctx.reply(Text(content=T.ICS_NOT_CONFIGURED))
        return None
    ctx.reply(Text(content=T.ICS_LINK.format(url=base + ics_token.feed_path(key, ctx.userid))))
    return None
