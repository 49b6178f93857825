"""WeCom's refusals of a 客户联系 call, answered in plain Chinese with the console step that fixes them: the member
concerned (when there is one) in a sentence, every admin with the step — at most once a day per errcode each."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from core.clock import ORG_ZONE
from handlers import dialog
from handlers.context import Ctx
from handlers.customer_contacts import texts as T
from handlers.messages import Text
from storage.models import UserRow

log = logging.getLogger("assistant.customer_contacts")
QUIET = {84061, 40050}  # the contact or chat is simply gone: logged, nobody is told


def words(errcode: int) -> tuple[str, str]:
    """(what happened, the console step) for an errcode."""
    reason, fix = T.REFUSED.get(errcode, T.REFUSED_OTHER)
    return reason.format(errcode=errcode), fix.format(errcode=errcode)


def answer(ctx: Ctx, refused: dict[str, Any], *, member: str | None) -> None:
    errcode = int(refused.get("errcode") or 0)
    log.warning("客户联系 refused by WeCom: %s %s", errcode, refused.get("errmsg", ""))
    if errcode in QUIET:
        return
    reason, fix = words(errcode)
    day = ctx.now.astimezone(ORG_ZONE).date().isoformat()
    key = f"wecom_contact_refused_{errcode}"
    if member and dialog.told(ctx.session, member).get(key) != day:
        ctx.send(member, Text(content=T.REP_REFUSED.format(reason=reason)))
        dialog.remember_told(ctx.session, member, key, day, now=ctx.now)
    for admin in ctx.session.scalars(
        select(UserRow.userid)
        .where(UserRow.role == "admin", UserRow.active.is_(True))
        .order_by(UserRow.userid)
    ):
        if dialog.told(ctx.session, admin).get(key) != day:
            ctx.send(admin, Text(content=T.ADMIN_REFUSED.format(reason=reason, fix=fix)))
            dialog.remember_told(ctx.session, admin, key, day, now=ctx.now)
