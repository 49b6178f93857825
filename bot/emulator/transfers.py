"""The emulated 客户联系 transfer APIs: which external contacts (customers' WeChat) each member added, who
resigned, and WeCom's two inheritances — 在职继承 (externalcontact/transfer_customer) and 离职继承
(externalcontact/resigned/transfer_customer) — with their transfer_result, get_unassigned_list and
externalcontact/list (docs/handover.md §WeCom). Part of `FakeWeCom` (state.transfers), over the members'
external contacts of `state.external` (external_contacts.py): a completed transfer moves the contact's follow
entry from the handover member to the takeover member. `external.granted = False` answers 48002, as elsewhere.

As WeCom: at most 100 external_userid a call; a contact that is not the handover member's gets 40096, one
already being transferred 40129; a transfer waits 24 hours (status 2 等待接替, takeover_time in the future),
then is done (status 1 接替完毕, the contact now the takeover member's). `refuse(external_userid)` makes a
customer refuse an on-the-job transfer (status 3). Errcodes for a wrong caller are the emulator's choice:
40003 (a resigned transfer of a member who has not resigned, or the reverse), 84061 (externalcontact/list of a
member without contacts, as WeCom).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.emulator.external_contacts import ExternalContactBook, FollowUser
from bot.emulator.payloads import ApiError

TAKEOVER_AFTER = timedelta(hours=24)
MAX_PER_CALL = 100


@dataclass
class Transfer:
    external_userid: str
    handover: str
    takeover: str
    resigned: bool
    takeover_at: datetime
    status: int = 2  # 1 done, 2 waiting, 3 refused by the customer, 4 the takeover member is full


class CustomerTransfers:
    def __init__(self, now: Callable[[], datetime], book: ExternalContactBook):
        self.now = now
        self.book = book
        self._lock = threading.RLock()
        self._resigned: dict[str, datetime] = {}  # member → dimission time
        self._transfers: dict[str, Transfer] = {}  # external_userid → its latest transfer
        self._refusing: set[str] = set()

    # -- test and demo set-up -----------------------------------------------------------------------------
    def add_contact(self, userid: str, external_userid: str, name: str = "") -> None:
        """A member added a customer's WeChat (no event posted: see the peer for that)."""
        self.book.add(userid, external_userid, name=name or external_userid, at=self.now())

    def resign(self, userid: str) -> None:
        with self._lock:
            self._resigned.setdefault(userid, self.now())

    def refuse(self, external_userid: str) -> None:
        with self._lock:
            self._refusing.add(external_userid)

    def followers_of(self, external_userid: str) -> list[str]:
        with self._lock:
            self._settle()
            return sorted(self._follow(external_userid))

    def _follow(self, external_userid: str) -> dict[str, FollowUser]:
        contact = self.book._contacts.get(external_userid)
        return contact.follow if contact is not None else {}

    def _of(self, userid: str) -> list[str]:
        return sorted(e for e, c in self.book._contacts.items() if userid in c.follow)

    def transfers(self) -> list[Transfer]:
        with self._lock:
            self._settle()
            return list(self._transfers.values())

    # -- the APIs -------------------------------------------------------------------------------------------
    def _settle(self) -> None:
        now = self.now()
        for t in self._transfers.values():
            if t.status == 2 and now >= t.takeover_at:
                if t.external_userid in self._refusing and not t.resigned:
                    t.status = 3
                else:
                    t.status = 1
                    follow = self._follow(t.external_userid)
                    old = follow.pop(t.handover, None)
                    follow.setdefault(
                        t.takeover,
                        FollowUser(t.takeover, int(now.timestamp()), remark=old.remark if old else ""),
                    )

    def external_list(self, userid: str) -> dict[str, Any]:
        self.book._check()
        with self._lock:
            self._settle()
            if not userid:
                raise ApiError(40003, "invalid userid")
            mine = self._of(userid)
            if not mine:
                raise ApiError(84061, "not external contact")
            return {"errcode": 0, "errmsg": "ok", "external_userid": mine}

    def unassigned(self, body: Any) -> dict[str, Any]:
        self.book._check()
        body = body if isinstance(body, dict) else {}
        with self._lock:
            self._settle()
            pending = {t.external_userid for t in self._transfers.values() if t.status in (1, 2)}
            rows = [
                {
                    "handover_userid": u,
                    "external_userid": e,
                    "dimission_time": int(self._resigned[u].timestamp()),
                }
                for u in sorted(self._resigned)
                for e in self._of(u)
                if e not in pending
            ]
        try:
            start = int(body.get("cursor") or 0)
            size = max(1, min(1000, int(body.get("page_size") or 1000)))
        except (TypeError, ValueError):
            raise ApiError(40058, "invalid parameter: cursor / page_size") from None
        page = rows[start : start + size]
        last = start + size >= len(rows)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "info": page,
            "is_last": last,
            "next_cursor": "" if last else str(start + size),
        }

    def transfer(self, body: Any, *, resigned: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(40058, "invalid parameter: a JSON object is required")
        handover, takeover = body.get("handover_userid"), body.get("takeover_userid")
        contacts = body.get("external_userid")
        if not isinstance(handover, str) or not handover or not isinstance(takeover, str) or not takeover:
            raise ApiError(40058, "invalid parameter: handover_userid and takeover_userid are required")
        if not isinstance(contacts, list) or not contacts or len(contacts) > MAX_PER_CALL:
            raise ApiError(40058, f"invalid parameter: external_userid holds 1..{MAX_PER_CALL} items")
        self.book._check()
        with self._lock:
            self._settle()
            if resigned != (handover in self._resigned):
                raise ApiError(
                    40003,
                    "invalid userid: handover_userid " + ("has not resigned" if resigned else "resigned"),
                )
            if takeover in self._resigned or takeover == handover:
                raise ApiError(40003, "invalid userid: takeover_userid")
            answers = []
            for ext in contacts:
                ext = str(ext)
                current = self._transfers.get(ext)
                if handover not in self._follow(ext):
                    code = 40096
                elif current is not None and current.status == 2:
                    code = 40129
                else:
                    code = 0
                    self._transfers[ext] = Transfer(
                        ext, handover, takeover, resigned, self.now() + TAKEOVER_AFTER
                    )
                answers.append({"external_userid": ext, "errcode": code})
        return {"errcode": 0, "errmsg": "ok", "customer": answers}

    def result(self, body: Any, *, resigned: bool) -> dict[str, Any]:
        self.book._check()
        if not isinstance(body, dict) or not body.get("handover_userid") or not body.get("takeover_userid"):
            raise ApiError(40058, "invalid parameter: handover_userid and takeover_userid are required")
        with self._lock:
            self._settle()
            rows = [
                {
                    "external_userid": t.external_userid,
                    "status": t.status,
                    "takeover_time": int(t.takeover_at.timestamp()) if t.status in (1, 2) else 0,
                }
                for t in self._transfers.values()
                if t.handover == body["handover_userid"]
                and t.takeover == body["takeover_userid"]
                and t.resigned == resigned
            ]
        return {"errcode": 0, "errmsg": "ok", "customer": rows, "next_cursor": ""}
