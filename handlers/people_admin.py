"""「停用 账号」/「启用 账号」: an admin deactivates a person who left (or restores one), in chat.

A deactivated person gets no answer in chat and their calendar feed and dashboard links stop working at once
(bot/web checks `users.active` on every request). Their book (customers, promises, timers,
leads, calendar entries) is handed over: their manager gets a card to choose the successor (handlers/handover,
docs/handover.md); meanwhile no SOP message goes to them (briefs, digests, reminders, alerts, approval steps):
what was theirs goes to the next active person up the tree (core/org.py `find_up`, handlers/sop/sweep.py).
Every change is audited with before and after. `deactivate` is the one path (the address-book sync calls it).
"""

from __future__ import annotations

import re

from core.handover import LEFT
from core.roles import Role
from handlers.context import Ctx
from handlers.handover import flow as handover
from handlers.messages import Inbound, Text, text_of
from storage import audit, people
from storage.handover.models import HandoverRow
from storage.models import UserRow

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
    if turn_on:
        activate(ctx, person)
        ctx.reply(Text(content=DONE_ON.format(name=person.name, userid=userid)))
        return None
    row = deactivate(ctx, person)
    tail = (
        HANDOVER_ASKED.format(manager=people.name_of(ctx.session, row.decider))
        if row is not None
        else HANDOVER_NONE
    )
    ctx.reply(Text(content=DONE_OFF.format(name=person.name, userid=userid) + tail))
    return None


def _set_active(ctx: Ctx, person: UserRow, active: bool) -> None:
    before = audit.snapshot(person)
    person.active = active
    ctx.session.flush()  # the hand-over reads the tree as it is now
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.userid,
        action="activate" if active else "deactivate",
        entity="user",
        entity_id=person.userid,
        before=before,
        after=audit.snapshot(person),
        reason=ctx.source,
    )


def deactivate(ctx: Ctx, person: UserRow) -> HandoverRow | None:
    """THE deactivation (an admin in chat, the address-book sync when a member leaves): `users.active` false,
    audited, and the hand-over of their book opened (a card to their manager; docs/handover.md). Returns the
    hand-over, or None when they owned nothing. The caller's ctx sends the card."""
    if person.active:
        _set_active(ctx, person, False)
    return handover.open_handover(ctx, person.userid, reason=LEFT)


def activate(ctx: Ctx, person: UserRow) -> None:
    """Back at work: active again, and a hand-over still waiting for a successor is cancelled."""
    if not person.active:
        _set_active(ctx, person, True)
    handover.cancel_pending(ctx, person.userid)
