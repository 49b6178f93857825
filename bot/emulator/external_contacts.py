"""客户联系 in the emulated corp: each member's external contacts (what externalcontact/get answers), each member's
daily 联系客户统计 (get_user_behavior_data), and 客户群 (groupchat/get). `FakeWeCom.external` holds one
`ExternalContactBook`; the peer changes it and posts the matching change_external_contact / change_external_chat
callback (peer.py).

Permission as WeCom checks it: the self-built app must be listed in 客户联系 → API → 可调用应用; while
`granted` is False every externalcontact/* call answers 48002 (api forbidden). An external_userid no member
follows answers 84061 (not external contact).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from bot.emulator.payloads import ApiError

CHINA = timezone(timedelta(hours=8))  # WeCom's days are China days


@dataclass
class FollowUser:
    """One member's side of an external contact (WeCom's follow_user entry)."""

    userid: str
    createtime: int
    remark: str = ""
    description: str = ""
    remark_corp_name: str = ""
    remark_mobiles: list[str] = field(default_factory=list)
    add_way: int = 1  # 1 扫描二维码 … (WeCom's add_way codes)
    state: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "userid": self.userid,
            "remark": self.remark,
            "description": self.description,
            "createtime": self.createtime,
            "tags": [],
            "remark_corp_name": self.remark_corp_name,
            "remark_mobiles": list(self.remark_mobiles),
            "add_way": self.add_way,
            "state": self.state,
        }


@dataclass
class ExternalContact:
    external_userid: str
    name: str
    corp_name: str = ""
    type: int = 1  # 1 微信用户, 2 企业微信用户
    follow: dict[str, FollowUser] = field(default_factory=dict)


class ExternalContactBook:
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.granted = True
        self._contacts: dict[str, ExternalContact] = {}
        self._behavior: dict[tuple[str, date], dict[str, Any]] = {}
        self._chats: dict[str, dict[str, Any]] = {}

    def _check(self) -> None:
        if not self.granted:
            raise ApiError(48002, "api forbidden")

    # -- what members do (the peer calls these, then posts the event) --------------------------------
    def add(
        self,
        userid: str,
        external_userid: str,
        *,
        name: str,
        at: datetime,
        corp_name: str = "",
        **follow: Any,
    ) -> None:
        with self._lock:
            contact = self._contacts.setdefault(
                external_userid,
                ExternalContact(external_userid, name, corp_name, 2 if corp_name else 1),
            )
            contact.name, contact.corp_name = name, corp_name or contact.corp_name
            contact.follow[userid] = FollowUser(userid, int(at.timestamp()), **follow)

    def edit(self, userid: str, external_userid: str, **changes: Any) -> None:
        with self._lock:
            f = self._contacts[external_userid].follow[userid]
            for key, value in changes.items():
                setattr(f, key, value)

    def drop(self, userid: str, external_userid: str) -> None:
        """The member deleted the contact, or the contact deleted the member: the pair is gone."""
        with self._lock:
            contact = self._contacts.get(external_userid)
            if contact is not None:
                contact.follow.pop(userid, None)

    def set_behavior(self, userid: str, day: date, **figures: Any) -> None:
        """A member's day of 联系客户统计: chat_cnt, message_cnt, reply_percentage, avg_reply_time, …"""
        with self._lock:
            self._behavior[(userid, day)] = dict(figures)

    def set_chat(self, chat_id: str, **values: Any) -> None:
        """A 客户群: name, owner, members ([(id, type)] with type 1 member / 2 external), status."""
        with self._lock:
            chat = self._chats.setdefault(
                chat_id, {"name": "", "owner": "", "members": [], "dismissed": False}
            )
            chat.update(values)

    # -- the API -------------------------------------------------------------------------------------
    def get(self, external_userid: str) -> dict[str, Any]:
        self._check()
        if not external_userid:
            raise ApiError(41035, "missing external_userid")
        with self._lock:
            contact = self._contacts.get(external_userid)
            if contact is None or not contact.follow:
                raise ApiError(84061, "not external contact")
            return {
                "errcode": 0,
                "errmsg": "ok",
                "external_contact": {
                    "external_userid": contact.external_userid,
                    "name": contact.name,
                    "type": contact.type,
                    "avatar": "",
                    "gender": 0,
                    **(
                        {"corp_name": contact.corp_name, "corp_full_name": contact.corp_name}
                        if contact.corp_name
                        else {}
                    ),
                },
                "follow_user": [f.to_json() for f in contact.follow.values()],
                "next_cursor": "",
            }

    def behavior(self, body: Any) -> dict[str, Any]:
        """get_user_behavior_data: one entry per day of [start_time, end_time] (both floored to midnight, at most
        30 days), the given members' figures summed (rates chat-weighted), rates only on days with chats."""
        self._check()
        if not isinstance(body, dict) or not (body.get("userid") or body.get("partyid")):
            raise ApiError(40058, "invalid parameter: userid and partyid are both empty")
        try:
            start = datetime.fromtimestamp(int(body["start_time"]), CHINA).date()
            end = datetime.fromtimestamp(int(body["end_time"]), CHINA).date()
        except (KeyError, TypeError, ValueError):
            raise ApiError(40058, "invalid parameter: start_time / end_time") from None
        if end < start or (end - start).days > 30:
            raise ApiError(40058, "invalid parameter: the span is more than 30 days")
        users = [str(u) for u in body.get("userid") or []]
        out = []
        day = start
        with self._lock:
            while day <= end:
                figures = [self._behavior.get((u, day)) or {} for u in users]
                chats = sum(int(f.get("chat_cnt", 0)) for f in figures)
                entry: dict[str, Any] = {
                    "stat_time": int(datetime.combine(day, time(), CHINA).timestamp()),
                    "chat_cnt": chats,
                    "message_cnt": sum(int(f.get("message_cnt", 0)) for f in figures),
                    "negative_feedback_cnt": 0,
                    "new_apply_cnt": sum(int(f.get("new_apply_cnt", 0)) for f in figures),
                    "new_contact_cnt": sum(int(f.get("new_contact_cnt", 0)) for f in figures),
                }
                if chats:
                    for key in ("reply_percentage", "avg_reply_time"):
                        w = [(float(f[key]), int(f.get("chat_cnt", 0))) for f in figures if key in f]
                        n = sum(c for _, c in w)
                        if n:
                            entry[key] = round(sum(v * c for v, c in w) / n, 2)
                out.append(entry)
                day += timedelta(days=1)
        return {"errcode": 0, "errmsg": "ok", "behavior_data": out}

    def groupchat(self, body: Any) -> dict[str, Any]:
        self._check()
        chat_id = str((body or {}).get("chat_id", "")) if isinstance(body, dict) else ""
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None or chat.get("dismissed"):
                raise ApiError(40050, "chatid not found")
            chat = copy.deepcopy(chat)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "group_chat": {
                "chat_id": chat_id,
                "name": chat["name"],
                "owner": chat["owner"],
                "create_time": 0,
                "member_list": [
                    {"userid": m, "type": t, "join_time": 0, "join_scene": 1} for m, t in chat["members"]
                ],
                "admin_list": [],
            },
        }
