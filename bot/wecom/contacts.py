"""Reading WeCom's address book (通讯录) with the app's own Secret, within the app's visible range (可见范围),
and the worker's prefetch that does it before a sync's transaction (docs/contacts-sync.md).

- `ContactsReader.read_book()`: department/list (every department the app may see), user/list per department
  (members with 部门负责人 flags `is_leader_in_dept`, 直属上级 `direct_leader`, main department, status), then
  user/get for members in the visible range one by one (agent/get `allow_userinfos`) whose department is not.
  Since 2022 WeCom withholds mobile, email and avatar from self-built apps created after 2022-06-20: they come
  back empty and are reported as withheld, never written.
- `read_member(userid)`: user/get, for a change_contact event (callbacks configured after 2022-08-15 carry only
  UserID and Department).
- `with_contacts(inner)`: the worker's prefetch; a ContactSyncRequest gets {"book": …} or {"error": …}, a member's
  change_contact gets {"member": …} or {"member_error": …}; anything else goes to `inner`. A transient failure
  (system busy, 502, timeout) raises: the worker retries the event with backoff. A refusal (60020 trusted IP,
  60011 visible range, 48009 contact-sync secret, 40001 secret …) is an answer the handler turns into the
  admin's message (handlers/contacts/texts.py); nothing is changed on a refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from bot.wecom.client import ErrorClass, WeComClient, WeComError
from bot.wecom.media import media_loop
from core.contacts.book import AddressBook, Department, Member, withheld_fields
from handlers.messages import ContactChange, ContactSyncRequest, Inbound

log = logging.getLogger("assistant.contacts")
MEMBER_EVENTS = ("create_user", "update_user")


class ContactsReader:
    def __init__(self, client: WeComClient):
        self.client = client

    async def read_book(self) -> AddressBook:
        data = await self.client.call("GET", "department/list")
        departments = tuple(
            Department(
                int(d["id"]), str(d.get("name") or ""), int(d.get("parentid") or 0), int(d.get("order") or 0)
            )
            for d in data.get("department") or ()
        )
        members: dict[str, Member] = {}
        for dept in departments:
            listed = await self.client.call("GET", "user/list", params={"department_id": dept.id})
            for u in listed.get("userlist") or ():
                members.setdefault(str(u["userid"]), Member.from_wecom(u))
        agent = await self.client.call("GET", "agent/get", params={"agentid": self.client.agent_id})
        for u in (agent.get("allow_userinfos") or {}).get("user") or ():
            userid = str(u.get("userid") or "")
            if userid and userid not in members:
                members[userid] = await self.read_member(userid)
        listed_members = tuple(members[u] for u in sorted(members))
        return AddressBook(departments, listed_members, withheld_fields(listed_members))

    async def read_member(self, userid: str) -> Member:
        return Member.from_wecom(await self.client.call("GET", "user/get", params={"userid": userid}))


def _refusal(exc: WeComError) -> dict[str, Any]:
    return {"errcode": exc.errcode, "errmsg": exc.errmsg[:300]}


async def _full(reader: ContactsReader) -> dict[str, Any]:
    try:
        return {"book": (await reader.read_book()).to_dict()}
    except WeComError as exc:
        if exc.cls in (ErrorClass.TRANSIENT, ErrorClass.UNEXPECTED):
            raise
        log.warning("contacts sync: WeCom refused errcode %s: %s", exc.errcode, exc.errmsg[:200])
        return {"error": _refusal(exc)}


async def _member(reader: ContactsReader, userid: str) -> dict[str, Any]:
    try:
        return {"member": (await reader.read_member(userid)).to_dict()}
    except WeComError as exc:
        if exc.cls in (ErrorClass.TRANSIENT, ErrorClass.UNEXPECTED):
            raise
        log.warning("contacts: user/get %s refused errcode %s: %s", userid, exc.errcode, exc.errmsg[:200])
        return {"member_error": _refusal(exc)}


def with_contacts(inner: Callable[[Inbound], Any]) -> Callable[[Inbound], Any]:
    """The worker's prefetch plus the address book's reads, on `inner`'s WeCom client (the media loop's)."""
    reader = ContactsReader(inner.client)  # type: ignore[attr-defined]

    def prefetch(event: Inbound) -> Future[dict[str, Any]] | Any:
        if isinstance(event, ContactSyncRequest):
            return media_loop.submit(_full(reader))
        if isinstance(event, ContactChange) and event.change_type in MEMBER_EVENTS and event.userid:
            return media_loop.submit(_member(reader, event.userid))
        return inner(event)

    prefetch.client = inner.client  # type: ignore[attr-defined]
    prefetch.inner = inner  # type: ignore[attr-defined]
    prefetch.reader = reader  # type: ignore[attr-defined]
    return prefetch


async def sync_now(services: Any, *, reason: str = "cli:sync-contacts") -> tuple[int, str]:
    """`python main.py sync-contacts`: read the address book, apply it in one transaction, and say what happened
    (0 and the summary; 2 and the restriction's message, nothing changed)."""
    from handlers.contacts import sync
    from handlers.contacts import texts as T

    reader = ContactsReader(services.client)
    try:
        book = await reader.read_book()
    except WeComError as exc:
        text = T.refused(_refusal(exc))
        log.warning("contacts sync refused (errcode %s): %s", exc.errcode, text)
        return 2, text
    finally:
        await services.client.aclose()
    with services.session_factory() as session:
        out = sync.full_sync(
            session, book, now=services.clock.now(), rules=sync.rules_of(services.deps), reason=reason
        )
        text = sync.summary(session, out)
        session.commit()
    log.info("contacts sync: %s", text.splitlines()[0])
    return 0, text
