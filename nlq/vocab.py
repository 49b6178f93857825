"""The organisation's own words (people, regions, cities, channels, categories, tags) read from the database.

The parser recognises a name only if it is here (or in the short static lists of common regions and
cities, so that naming a place with no data gives an empty answer rather than a refusal).
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.org import OrgTree, Person
from storage.models import CustomerRow, OrderRow, UserRow, VisitTagRow

STANDARD_TAGS = ("价格异议", "库存不足", "新品兴趣", "账期协商")
COMMON_REGIONS = ("华东", "华南", "华北", "华中", "华西", "西南", "西北", "东北")
COMMON_CITIES = (
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "苏州",
    "宁波",
    "合肥",
    "武汉",
    "长沙",
    "成都",
    "重庆",
    "西安",
    "郑州",
    "济南",
    "青岛",
    "天津",
    "沈阳",
    "大连",
    "哈尔滨",
    "长春",
    "福州",
    "厦门",
    "南昌",
    "昆明",
    "贵阳",
    "南宁",
    "海口",
    "石家庄",
    "太原",
    "兰州",
    "乌鲁木齐",
    "无锡",
    "东莞",
    "佛山",
    "温州",
    "绍兴",
    "常州",
    "徐州",
)


# Words of the semantic layer: a value from the data that contains one is not taken as a name (a tag named
# '客户' or a channel named '全部' must not change how questions read — reps and imports write those values).
RESERVED = (
    "客户",
    "拜访",
    "订单",
    "工单",
    "合同",
    "商机",
    "流失",
    "跟进",
    "互动",
    "联系",
    "更新",
    "沉睡",
    "下单",
    "采购",
    "销售",
    "业绩",
    "鲜度",
    "完整",
    "漏斗",
    "逾期",
    "回款",
    "超时",
    "响应",
    "标签",
    "品类",
    "渠道",
    "城市",
    "大区",
    "业务员",
    "全部",
    "所有",
    "我的",
    "我们",
    "超过",
    "以上",
    "以下",
    "低于",
    "高于",
    "大于",
    "小于",
    "至少",
    "最多",
    "多少",
    "今天",
    "昨天",
    "本周",
    "上周",
    "本月",
    "上月",
    "今年",
    "去年",
    "最近",
    "季度",
    "nps",
    "top",
    "哪些",
    "哪个",
    "忽略",
    "指令",
    "删除",
    "修改",
)
MAX_NAME = 16


_RESERVED_RE = re.compile("|".join(map(re.escape, RESERVED)))
_BAD_CHAR_RE = re.compile(r"[\s\"'`;%_\\<>=,，、。?？!！]")


@functools.lru_cache(maxsize=65536)
def usable(value: str) -> bool:
    """May this value from the data be read as a name in a question? (The same names at every load.)"""
    v = value.strip().lower()
    return (
        0 < len(v) <= MAX_NAME
        and v.isprintable()
        and not _RESERVED_RE.search(v)
        and not _BAD_CHAR_RE.search(v)
    )


@dataclass(frozen=True)
class User:
    userid: str
    name: str
    role: str
    manager_userid: str | None


@dataclass(frozen=True)
class Vocab:
    users: dict[str, User] = field(default_factory=dict)
    regions: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset(STANDARD_TAGS)

    @cached_property
    def tree(self) -> OrgTree:
        """The reporting tree of these users (scope: core.org.scope_of)."""
        return OrgTree(Person(u.userid, u.role, u.manager_userid, u.name) for u in self.users.values())

    def users_named(self, name: str) -> list[User]:
        """Users with this name (case- and width-insensitive)."""
        key = unicodedata.normalize("NFKC", name).lower()
        return [
            u for u in self.users.values() if u.name and unicodedata.normalize("NFKC", u.name).lower() == key
        ]

    def user_by_id(self, userid: str) -> User | None:
        """Exact userid, else a case-insensitive match (WeCom userids are case-insensitive)."""
        if userid in self.users:
            return self.users[userid]
        low = userid.lower()
        hits = [u for u in self.users.values() if u.userid.lower() == low]
        return hits[0] if len(hits) == 1 else None

    def person_label(self, userid: str) -> str:
        u = self.users.get(userid)
        return f"{u.name}（{userid}）" if u else userid


def _distinct(session: Session, col) -> set[str]:  # noqa: ANN001
    return {v for (v,) in session.execute(select(col).where(col.is_not(None)).distinct()) if v and usable(v)}


def _distinct_indexed(session: Session, col) -> set[str]:  # noqa: ANN001
    """The same set as _distinct, for an indexed column of a big table: one index probe per distinct value
    (the smallest value, then the smallest above it, …) instead of reading every row."""
    vals = select(func.min(col).label("v")).cte("vals", recursive=True)
    vals = vals.union_all(
        select(select(func.min(col)).where(col > vals.c.v).scalar_subquery()).where(vals.c.v.is_not(None))
    )
    return {v for (v,) in session.execute(select(vals.c.v).where(vals.c.v.is_not(None))) if v and usable(v)}


def load_vocab(session: Session) -> Vocab:
    # plain rows from the connection: no ORM row processing for every person of the organisation
    rows = session.connection().execute(
        select(UserRow.userid, UserRow.name, UserRow.role, UserRow.manager_userid)
    )
    users = {
        userid: User(userid, name if usable(name) else "", role, manager)
        for userid, name, role, manager in rows
    }
    many = _distinct_indexed  # customers, orders and visit tags: indexed columns (storage.models)
    regions = many(session, CustomerRow.region) | _distinct(session, UserRow.region) | set(COMMON_REGIONS)
    cities = many(session, CustomerRow.city) | _distinct(session, UserRow.city) | set(COMMON_CITIES)
    return Vocab(
        users=users,
        regions=frozenset(regions),
        cities=frozenset(cities),
        channels=frozenset(many(session, CustomerRow.channel)),
        categories=frozenset(many(session, OrderRow.category)),
        tags=frozenset(many(session, VisitTagRow.tag) | set(STANDARD_TAGS)),
    )


class VocabCache:
    """The organisation's words, reloaded at most every ttl_s seconds (for a long-running process answering
    many questions; new names then show up within ttl_s). Opt-in: ask() loads afresh unless given a Vocab."""

    def __init__(self, ttl_s: float = 60.0):
        self.ttl_s = ttl_s
        self._at = -math.inf
        self._vocab: Vocab | None = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Reload at the next question (the reporting tree just changed: a contacts sync)."""
        with self._lock:
            self._vocab = None

    def get(self, session: Session) -> Vocab:
        with self._lock:
            if self._vocab is None or time.monotonic() - self._at > self.ttl_s:
                self._vocab, self._at = load_vocab(session), time.monotonic()
            return self._vocab
