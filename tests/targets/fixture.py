"""A small organisation with six months of orders (2025-10 … 2026-03) and some in 2026Q2, in the import format,
plus an independent reading of the same numbers in plain Python (what the storage code must agree with)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

USERS = """userid,name,role,manager_userid,region,city
director,赵总,sales_director,,,
rm_east,王强,regional_manager,director,华东,
rm_south,陈芳,regional_manager,director,华南,
sup01,李娜,supervisor,rm_east,华东,上海
sup02,周杰,supervisor,rm_south,华南,广州
rep01,张伟,rep,sup01,华东,上海
rep02,刘洋,rep,sup01,华东,杭州
rep03,黄丽,rep,sup02,华南,广州
rep04,吴敏,rep,sup02,华南,广州
"""
# (id, name, region, city, owner, status)
STORES = [
    ("C01", "味源超市", "华东", "上海", "rep01", "active"),
    ("C02", "鲜丰生鲜", "华东", "上海", "rep01", "active"),
    ("C03", "好邻居便利", "华东", "上海", "rep01", "active"),
    ("C04", "西湖食品", "华东", "杭州", "rep02", "active"),
    ("C05", "钱塘批发", "华东", "杭州", "rep02", "active"),
    ("C06", "新开小店", "华东", "杭州", "rep02", "active"),  # no orders at all: the floor
    ("C07", "羊城超市", "华南", "广州", "rep03", "active"),
    ("C08", "天河便利", "华南", "广州", "rep03", "active"),
    ("C09", "越秀餐饮", "华南", "广州", "rep03", "active"),
    ("C10", "流失老店", "华南", "广州", "rep03", "lost"),  # lost: not in the cascade
    ("C11", "无区门店", "", "", "rep01", "active"),  # no region, no city
]
HISTORY_START = date(2025, 10, 1)
CUTOFF = date(2026, 4, 1)  # planned on 2026-03-25: history ends with March… March is still running then
TODAY = date(2026, 5, 20)


def orders() -> list[tuple[str, str, date, Decimal]]:
    rng = random.Random(15)
    out = []
    n = 0
    for cid, *_ in STORES:
        if cid == "C06":
            continue
        start = (
            HISTORY_START if cid != "C09" else date(2026, 2, 10)
        )  # C09 is a new store (first order in Feb)
        d = start
        while d < date(2026, 6, 15):
            n += 1
            out.append((f"O{n:05d}", cid, d, Decimal(rng.randint(10_000, 900_000)) / 100))
            d += timedelta(days=rng.randint(4, 19))
    return out


def csv_files() -> dict[str, str]:
    customers = "customer_id,name,region,city,owner_userid,status\n" + "".join(
        f"{c},{n},{r},{ci},{o},{s}\n" for c, n, r, ci, o, s in STORES
    )
    order_csv = "order_id,customer_id,ordered_on,amount\n" + "".join(
        f"{o},{c},{d.isoformat()},{a}\n" for o, c, d, a in orders()
    )
    return {"users.csv": USERS, "customers.csv": customers, "orders.csv": order_csv}


def fen(a: Decimal) -> int:
    return int(a * 100)


def sales(cid: str, lo: date, hi: date) -> int:
    return sum(fen(a) for _, c, d, a in orders() if c == cid and lo <= d < hi)
