"""A small WeCom corp for the contacts-sync tests: its address book in the emulator, and a few people the Excel
import brought before the first sync (with the roles, regions and cities WeCom does not hold)."""

from __future__ import annotations

from storage.models import CustomerRow, UserRow
from tests.support.harness import Harness

# 公司(1) → 华东大区(2) → 上海组(3);  公司(1) → 华南大区(4)
DEPTS = ((1, "公司", 0), (2, "华东大区", 1), (3, "上海组", 2), (4, "华南大区", 1))


def corp(h: Harness) -> None:
    book = h.wecom.book
    for dept_id, name, parent in DEPTS:
        book.add_department(dept_id, name, parent)
    book.add_member("boss", "周总", [1], leader_in=[1])
    book.add_member("sup1", "吴经理", [2], leader_in=[2])
    book.add_member("sup2", "郑主管", [3], leader_in=[3])
    book.add_member("rep1", "张伟", [3], mobile="13800000001")
    book.add_member("rep2", "李娜", [3])
    book.add_member("sup3", "陈主管", [4], leader_in=[4])
    book.add_member("rep3", "王强", [4])
    book.add_member("rep4", "赵敏", [4], direct_leader=["sup1"])  # 直属上级 over the department's leader
    with h.session_factory() as s:
        s.add_all(
            [
                UserRow(userid="admin", name="管理员", role="admin"),
                # imported: a role, a region, a city, a mobile and an old manager
                UserRow(
                    userid="rep1",
                    name="张伟",
                    role="rep",
                    manager_userid="old_sup",
                    region="华东",
                    city="上海",
                    mobile="13900000009",
                ),
                UserRow(userid="sup1", name="吴经理", role="regional_manager", region="华东"),
            ]
        )
        s.flush()
        s.add(
            CustomerRow(customer_id="C9", name="新光便利店", owner_userid="rep5", region="华东", city="上海")
        )
        s.commit()


def sync(h: Harness, who: str = "admin") -> list[str]:
    h.peer.text(who, "同步通讯录")
    h.tick()
    return h.texts(who)
