"""The organisation's own words (people, regions, cities, channels, categories, tags) read from the database.

The parser recognises a name only if it is here (or in the short static lists of common regions and
cities, so that naming a place with no data gives an empty answer rather than a refusal).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import CustomerRow, OrderRow, UserRow, VisitTagRow

STANDARD_TAGS = ("价格异议", "库存不足", "新品兴趣", "账期协商")
COMMON_REGIONS = ("华东", "华南", "华北", "华中", "华西", "西南", "西北", "东北")
COMMON_CITIES = ("北京", "上海", "广州", "深圳", "杭州", "南京", "苏州", "宁波", "合肥", "武汉", "长沙", "成都",
                 "重庆", "西安", "郑州", "济南", "青岛", "天津", "沈阳", "大连", "哈尔滨", "长春", "福州", "厦门",
                 "南昌", "昆明", "贵阳", "南宁", "海口", "石家庄", "太原", "兰州", "乌鲁木齐", "无锡", "东莞",
                 "佛山", "温州", "绍兴", "常州", "徐州")
ROLE_WORDS = {"rep": "业务员", "supervisor": "销售主管", "regional_manager": "区域经理",
              "finance_director": "财务总监", "sales_director": "销售总监", "admin": "管理员"}


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

    def users_named(self, name: str) -> list[User]:
        return [u for u in self.users.values() if u.name == name]

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
    return {v for (v,) in session.execute(select(col).where(col.is_not(None)).distinct()) if v}


def load_vocab(session: Session) -> Vocab:
    users = {r.userid: User(r.userid, r.name, r.role, r.manager_userid)
             for r in session.execute(select(UserRow.userid, UserRow.name, UserRow.role, UserRow.manager_userid))}
    regions = _distinct(session, CustomerRow.region) | _distinct(session, UserRow.region) | set(COMMON_REGIONS)
    cities = _distinct(session, CustomerRow.city) | _distinct(session, UserRow.city) | set(COMMON_CITIES)
    return Vocab(
        users=users,
        regions=frozenset(regions),
        cities=frozenset(cities),
        channels=frozenset(_distinct(session, CustomerRow.channel)),
        categories=frozenset(_distinct(session, OrderRow.category)),
        tags=frozenset(_distinct(session, VisitTagRow.tag) | set(STANDARD_TAGS)),
    )
