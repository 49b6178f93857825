"""客户联系 prefetch: what WeCom says about an external contact, a 客户群 or a member's day, fetched before the
event's transaction (never while holding the write lock), like a photo (bot/wecom/media.py).

- ExternalContactAdded, and an edit_external_contact → externalcontact/get: the contact and the member's side of
  it (follow_user: 备注, 描述, 备注手机号, add_way, createtime) → {"contact": {...}};
- ExternalChatChanged create / update → externalcontact/groupchat/get → {"chat": {name, owner, members}};
- ContactFiguresDue (the daily timer's request) → get_user_behavior_data for that member and day → {"figures": [...]}.

WeCom's answer decides what happens: busy or unreadable → raised (the worker retries with backoff); the app's
credentials or trusted IP refused (a CONFIG error other than 48002) → `Deferred`, as every send is paused anyway;
anything else — 48002 (客户联系 not granted to the app), 84061 (not an external contact), 60011 (outside the
visible range), a chat that is gone — → {"refused": {"errcode", "errmsg"}}, which the handler answers in plain
Chinese naming the console step (handlers/customer_contacts/texts.py). docs/customer-contacts.md.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from datetime import date, datetime, time
from typing import Any

from bot.wecom.client import ErrorClass, WeComClient, WeComError
from bot.wecom.media import media_loop
from core.clock import ORG_ZONE
from handlers.messages import (
    ContactFiguresDue,
    ExternalChatChanged,
    ExternalContactAdded,
    ExternalContactChanged,
    Inbound,
)
from handlers.worker import Deferred

log = logging.getLogger("assistant.wecom.external")
ANSWERED = {48002}  # CONFIG errors answered in chat rather than deferred: only 客户联系 needs this grant


def _contact(answer: dict[str, Any], userid: str) -> dict[str, Any]:
    ext = answer.get("external_contact") or {}
    follow = next(
        (f for f in answer.get("follow_user") or [] if isinstance(f, dict) and f.get("userid") == userid), {}
    )
    return {
        "name": str(ext.get("name") or ""),
        "corp_name": str(ext.get("corp_full_name") or ext.get("corp_name") or ""),
        "remark": str(follow.get("remark") or ""),
        "description": str(follow.get("description") or ""),
        "remark_corp_name": str(follow.get("remark_corp_name") or ""),
        "remark_mobiles": [str(m) for m in follow.get("remark_mobiles") or []],
        "add_way": follow.get("add_way"),
        "createtime": follow.get("createtime"),
        "followed": bool(follow),
    }


def _chat(chat: dict[str, Any]) -> dict[str, Any]:
    members = [m for m in chat.get("member_list") or [] if isinstance(m, dict)]
    return {
        "name": str(chat.get("name") or ""),
        "owner": str(chat.get("owner") or ""),
        "external_userids": [str(m.get("userid")) for m in members if int(m.get("type") or 0) == 2],
        "member_count": len(members),
    }


class ExternalContactPrefetch:
    """The worker's prefetch for 客户联系 events; anything else goes to `inner` (the photo prefetch)."""

    def __init__(self, client: WeComClient, inner: Any = None):
        self.client = client
        self.inner = inner

    def __call__(self, event: Inbound) -> Future[dict[str, Any]] | dict[str, Any] | None:
        if isinstance(event, ExternalContactAdded) or (
            isinstance(event, ExternalContactChanged) and event.change_type == "edit_external_contact"
        ):
            return media_loop.submit(self._guard(self._contact_of(event.external_userid, event.sender)))
        if isinstance(event, ExternalChatChanged) and event.change_type in ("create", "update"):
            return media_loop.submit(self._guard(self._chat_of(event.chat_id)))
        if isinstance(event, ContactFiguresDue):
            return media_loop.submit(self._guard(self._figures(event.sender, date.fromisoformat(event.day))))
        return self.inner(event) if self.inner is not None else None

    async def _contact_of(self, external_userid: str, userid: str) -> dict[str, Any]:
        return {"contact": _contact(await self.client.external_contact_get(external_userid), userid)}

    async def _chat_of(self, chat_id: str) -> dict[str, Any]:
        return {"chat": _chat(await self.client.group_chat_get(chat_id))}

    async def _figures(self, userid: str, day: date) -> dict[str, Any]:
        start = int(datetime.combine(day, time(), ORG_ZONE).timestamp())
        return {"figures": await self.client.user_behavior(userid, start, start)}

    async def _guard(self, work: Any) -> dict[str, Any]:
        try:
            return dict(await work)
        except WeComError as exc:
            if exc.cls in (ErrorClass.TRANSIENT, ErrorClass.UNEXPECTED):
                raise  # retried by the worker with backoff
            if exc.cls is ErrorClass.CONFIG and exc.errcode not in ANSWERED:
                raise Deferred(f"WeCom errcode {exc.errcode}") from exc
            log.info("客户联系 call refused: errcode %s", exc.errcode)
            return {"refused": {"errcode": exc.errcode, "errmsg": exc.errmsg[:200]}}


def with_external_contacts(inner: Any, client: WeComClient) -> ExternalContactPrefetch:
    """The photo prefetch `inner`, plus 客户联系 (the same WeCom client: the app's own token)."""
    return ExternalContactPrefetch(client, inner)
