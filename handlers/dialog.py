"""Per-user dialog state (what the bot is waiting for), stored in the conversations table.

The states are `DialogState` values (stored as their strings). `state_data` holds, by slot name (`Slot`):
the changes that 撤销 undoes (a stack, newest last), the time of the last prompt, a question's action tokens, an onboarding
draft, a pending location, the flow a question interrupted, and a line waiting for the rep to say whether it is
part of the visit or a question.

`told` / `remember_told` keep, in the same row but apart from the state, what a person has been told once
(the welcome) or at most so often (the far-GPS hint, the supervisor's note of a check-in away from the store):
a flow that replaces its state data never forgets them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, String, bindparam, select
from sqlalchemy.orm import Session

from storage.db import RawStatement, loaded
from storage.models import ConversationRow, UserRow


class DialogState(StrEnum):
    IDLE = "idle"
    PICK_CUSTOMER = "pick_customer"  # a location came with several customers near: waiting for the pick
    ONBOARD = "onboard"  # 新建客户, one question at a time
    REJECT_REASON = "sop_approval_reject_reason"  # 驳回 tapped: waiting for the reason
    APPROVE_COMMENT = "sop_approval_comment"  # 通过并附言 tapped: waiting for the comment
    SNOOZE_REASON = "sop_stale_snooze_reason"  # 延后 tapped: waiting for the reason
    FOLLOWED_REASON = "sop_stale_followed_how"  # 已跟进 tapped with no touch recorded: how was it followed up
    TARGET_EVIDENCE = (
        "target_adjust_evidence"  # 调整目标 typed without a link: waiting for a photo, file or link
    )
    BLOCK_REASON = "contract_work_order_blocked"  # 受阻 tapped on a work order: waiting for the reason
    LINK_CUSTOMER = "contact_link_customer"  # 其他客户 tapped on a WeChat contact's card: waiting for a name


# A question left unanswered this long lapses: the next event is handled as if it had not been asked (the
# router checks it). Until then only a deliberate action ends it: the answer, 取消, a new text command.
QUESTION_TTL = timedelta(hours=12)

# States in which the bot asked one question and keeps the interrupted flow (handlers/sop/questions.py).
ASKING = frozenset(
    {
        DialogState.REJECT_REASON,
        DialogState.APPROVE_COMMENT,
        DialogState.SNOOZE_REASON,
        DialogState.FOLLOWED_REASON,
        DialogState.BLOCK_REASON,
    }
)


class Slot(StrEnum):
    UNDO = "undo"
    LAST_PROMPT = "last_prompt"
    ACTIONS = "actions"
    DRAFT = "draft"
    LOCATION = "location"
    RESUME = "_resume"
    PENDING_LINE = "pending_line"  # an unclear line typed during a visit, until 记到拜访里 / 当作提问
    ASKED_AT = "asked_at"  # when the open question was asked (ISO), for QUESTION_TTL
    PROMPT = (
        "prompt"  # the open question's words (a Reply as dict): said again when the person re-opens the app
    )


def load(session: Session, userid: str) -> ConversationRow | None:
    return session.get(ConversationRow, userid)


def user_and_state(session: Session, userid: str) -> tuple[UserRow | None, str, dict[str, Any]]:
    """The person (None: not in our org table) and their dialog state, in one statement; the rows found
    land in the session, so a later `load` of a known row is free."""
    user, row = session.execute(_USER_AND_CONVERSATION, {"uid": userid}).one()
    return user, *((row.state, dict(row.data or {})) if row else (DialogState.IDLE.value, {}))


def user_and_conversation(conn: Connection, userid: str) -> tuple[UserRow | None, ConversationRow | None]:
    """`user_and_state`'s one statement on a Connection, prepared (storage.db.RawStatement: the worker's
    per-event read): the rows as ORM objects not yet in a session (storage.db.loaded)."""
    _, rows = _USER_AND_CONVERSATION_RAW.execute(conn, {"uid": userid})
    values = rows[0]
    n = len(_USER_COLUMNS)
    user = dict(zip(_USER_COLUMNS, values[:n], strict=True))
    conv = dict(zip(_CONVERSATION_COLUMNS, values[n:], strict=True))
    return (
        loaded(UserRow, user) if user["userid"] is not None else None,
        loaded(ConversationRow, conv) if conv["userid"] is not None else None,
    )


def state_from(row: ConversationRow | None) -> tuple[str, dict[str, Any]]:
    return (row.state, dict(row.data or {})) if row else (DialogState.IDLE.value, {})


_WHO = select(bindparam("uid", type_=String).label("uid")).subquery()
_USER_AND_CONVERSATION = (
    select(UserRow, ConversationRow)
    .select_from(_WHO)
    .outerjoin(UserRow, UserRow.userid == _WHO.c.uid)
    .outerjoin(ConversationRow, ConversationRow.userid == _WHO.c.uid)
)
_USER_COLUMNS = tuple(c.key for c in UserRow.__table__.columns)
_CONVERSATION_COLUMNS = tuple(c.key for c in ConversationRow.__table__.columns)
_USER_AND_CONVERSATION_RAW = RawStatement(
    select(*UserRow.__table__.columns, *ConversationRow.__table__.columns)
    .select_from(_WHO)
    .outerjoin(UserRow.__table__, UserRow.__table__.c.userid == _WHO.c.uid)
    .outerjoin(ConversationRow.__table__, ConversationRow.__table__.c.userid == _WHO.c.uid)
)


def state_of(session: Session, userid: str) -> tuple[str, dict[str, Any]]:
    row = load(session, userid)
    return (row.state, dict(row.data or {})) if row else (DialogState.IDLE.value, {})


def save(session: Session, userid: str, *, state: str, data: dict[str, Any], now: datetime) -> None:
    row = load(session, userid)
    state = str(state)
    if row is None:
        session.add(ConversationRow(userid=userid, state=state, data=data, updated_at=now))
    else:
        row.state, row.data, row.updated_at = state, data, now


def told(session: Session, userid: str) -> dict[str, Any]:
    """What this person has been told (key → when, or what); {} when nothing yet."""
    row = load(session, userid)
    return dict(row.told or {}) if row is not None else {}


def remember_told(session: Session, userid: str, key: str, value: Any, *, now: datetime) -> None:
    """Remember that `userid` was told `key` (saved with the unit of work)."""
    row = load(session, userid)
    if row is None:
        row = ConversationRow(userid=userid, state=DialogState.IDLE.value, data={}, updated_at=now)
        session.add(row)
        session.flush()  # a later save() of the state in this unit of work finds the row
    row.told = {**(row.told or {}), key: value}


class _Resumed:
    """What a dialog-state handler returns when it put the interrupted flow back and the event belongs to that
    flow (handlers/router.py hands it on)."""

    def __repr__(self) -> str:
        return "RESUMED"


RESUMED = _Resumed()
