"""「日历订阅」: a rep asks for the private ICS feed URL of their promises and follow-ups.

Needs two worker settings (InboxWorker.settings): `public_base_url`, and `ics_key` — the feed key,
`core.ics_token.derive_key(WECOM_SECRET)` (bytes, or its hex string).
"""
from __future__ import annotations

from core import ics_token
from handlers import router
from handlers.context import Ctx
from handlers.messages import Inbound, Text
from handlers.sop import texts as T


@router.text_command(r"^(日历订阅|订阅日历|我的日历)$")
def on_calendar_link(ctx: Ctx, event: Inbound) -> bool | None:
    key = ctx.settings.get("ics_key") if isinstance(ctx.settings, dict) else None
    base = (ctx.settings.get("public_base_url") or "").rstrip("/") if isinstance(ctx.settings, dict) else ""
    if isinstance(key, str):
        key = bytes.fromhex(key)
    if not key or not base:
        ctx.reply(Text(content=T.ICS_NOT_CONFIGURED))
        return None
    ctx.reply(Text(content=T.ICS_LINK.format(url=base + ics_token.feed_path(key, ctx.userid))))
    return None
