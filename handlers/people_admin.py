"""「停用 账号」/「启用 账号」: an admin deactivates a person who left (or restores one), in chat.

A deactivated person gets no answer in chat, their calendar feed stops and their web sessions end at once
(bot/web checks `users.active` on every request). Their book (customers, promises, timers, leads, calendar
entries) is handed over: their manager gets a card to choose the successor (handlers/handover, docs/handover.md);
meanwhile no SOP message goes to them (briefs, digests, reminders, alerts, approval steps): what was theirs goes to
the next active person up the tree (core/org.py `find_up`, handlers/sop/sweep.py), the hand-over's manager first.
Every change is audited with before and after.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from core.handover import LEFT
from core.roles import Role
from handlers.context import Ctx
from handlers.handover import flow as handover
from handlers.messages import Inbound, Text, text_of
from storage import audit, people
from storage.models import UserRow
from storage.web import sessions as web_sessions

PATTERN = r"^\s*(停用|启用|恢复)\s*(账号|人员|用户)?\s*\S+"
_PARSE = re.compile(r"^\s*(停用|启用|恢复)\s*(?:账号|人员|用户)?\s*(\S+)\s*$")

ONLY_ADMIN = "只有管理员可以停用或启用账号。"
USAGE = "请这样写：停用 账号（例如：停用 rep05），或 启用 账号。"
NO_SUCH = "没有找到账号「{userid}」。"
NOT_SELF = "不能停用自己的账号。"
DONE_OFF = "已停用 {name}（{userid}）：不再回复这个账号，日历订阅和看板链接已失效。"
HANDOVER_ASKED = "已请{manager}选择接手人；选定前，这些客户的提醒发给{manager}。"
HANDOVER_NONE = "他名下没有需要交接的客户。"
DONE_ON = "已启用 {name}（{userid}）。"
ALREADY = "{name}（{userid}）已经是{state}状态。"


def on_activation(ctx: Ctx, event: Inbound) -> bool | None:
    if ctx.user is None or ctx.user.role != Role.ADMIN.value:
        ctx.reply(Text(content=ONLY_ADMIN))
        return None
    m = _PARSE.match(text_of(event) or "")
    if m is None:
        ctx.reply(Text(content=USAGE))
        return None
    turn_on, userid = m.group(1) != "停用", m.group(2)
    person = ctx.session.get(UserRow, userid)
    if person is None:
        ctx.reply(Text(content=NO_SUCH.format(userid=userid)))
        return None
    if not turn_on and userid == ctx.userid:
        ctx.reply(Text(content=NOT_SELF))
        return None
    if person.active == turn_on:
        ctx.reply(
            Text(content=ALREADY.format(name=person.name, userid=userid, state="启用" if turn_on else "停用"))
        )
        return None
    set_active(ctx.session, person, turn_on, at=ctx.now, actor=ctx.userid, reason=ctx.source)
    if turn_on:
        ctx.reply(Text(content=DONE_ON.format(name=person.name, userid=userid)))
        return None
    row = handover.pending_of(ctx.session, userid)
    tail = HANDOVER_ASKED.format(manager=people.name_of(ctx.session, row.decider)) if row else HANDOVER_NONE
    ctx.reply(Text(content=DONE_OFF.format(name=person.name, userid=userid) + tail))
    return None


def set_active(
    session: Session, person: UserRow, turn_on: bool, *, at: datetime, actor: str, reason: str
) -> bool:
    """THE deactivation path (and its undo), for every caller: this chat command, the import's 在职=否 aside, and
    the contacts sync (a member who left WeCom: handlers/contacts/sync.py). The person's scope ends at once (the
    router, bot/web and the SOP read `users.active`). Audited. False when nothing changed.
    A leaving person's hand-over opens here, in the same transaction (a card to their manager, through the outbox:
    handlers/handover/flow.py); coming back before a successor was chosen cancels it."""
    if bool(person.active) == turn_on:
        return False
    before = audit.snapshot(person)
    person.active = turn_on
    if not turn_on:  # their web sessions end at once (docs/web-sign-in.md)
        web_sessions.end_all(session, person.userid, now=at, reason=web_sessions.DEACTIVATED)
    audit.record(
        session,
        at=at,
        actor=actor,
        action="activate" if turn_on else "deactivate",
        entity="user",
        entity_id=person.userid,
        before=before,
        after=audit.snapshot(person),
        reason=reason,
    )
    session.flush()  # the hand-over reads the tree as it is now
    if turn_on:
        handover.cancel_in(session, person.userid, now=at, actor=actor, source=reason)
    else:
        handover.open_in(session, person.userid, reason=LEFT, now=at, actor=actor, source=reason)
    return True
