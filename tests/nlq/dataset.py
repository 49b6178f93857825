"""A deterministic sales organisation with history, as plain Python objects, and its insertion through the models.

The org tree: 销售总监 → 2 区域经理 → 销售主管 (one supervisor under another, for depth) → 业务员, plus a
finance director and an admin. Customers span regions, cities and channels, some lost, some without NPS;
visits with and without location, photos, tags; interactions; orders with categories; opportunities in all
stages; contracts with payments whose memos carry (or do not carry) the contract number; tickets answered in
time, late or never. Hand-placed rows sit on every boundary the semantics define (72 h, month edges, SLA).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.clock import SHANGHAI
from storage import payments as contract_match
from storage.models import (
    ContractRow,
    CustomerRow,
    InteractionRow,
    OpportunityRow,
    OrderRow,
    PaymentRow,
    TicketRow,
    UserRow,
    VisitRow,
    VisitTagRow,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)  # a Monday morning in Shanghai
START = datetime(2025, 9, 1, tzinfo=SHANGHAI).astimezone(UTC)
TAGS = ("价格异议", "库存不足", "新品兴趣", "账期协商", "陈列问题")
CATEGORIES = ("饮料", "零食", "乳品", "粮油")
CHANNELS = ("连锁商超", "社区生鲜", "餐饮")
STAGES = ("need_confirmed", "quoted", "negotiating", "won", "lost")

# userid, name, role, manager, region, city
USERS = [
    ("dir", "王总", "sales_director", None, None, None),
    ("fin", "钱总", "finance_director", "dir", None, None),
    ("admin", "李明", "admin", None, None, None),
    ("rm_e", "赵东", "regional_manager", "dir", "华东", "上海"),
    ("rm_s", "孙南", "regional_manager", "dir", "华南", "广州"),
    ("sup_e1", "李强", "supervisor", "rm_e", "华东", "上海"),
    ("sup_e2", "周杰", "supervisor", "rm_e", "华东", "杭州"),
    ("sup_e3", "吴刚", "supervisor", "sup_e2", "华东", "南京"),
    ("sup_s1", "郑伟", "supervisor", "rm_s", "华南", "广州"),
    ("rep_e1", "张伟", "rep", "sup_e1", "华东", "上海"),
    ("rep_e2", "李娜", "rep", "sup_e1", "华东", "上海"),
    ("rep_e3", "王芳", "rep", "sup_e2", "华东", "杭州"),
    ("rep_e4", "刘洋", "rep", "sup_e3", "华东", "南京"),
    ("rep_e5", "陈静", "rep", "rm_e", "华东", "杭州"),
    ("rep_e6", "张三", "rep", "sup_e3", "华东", "南京"),
    ("rep_s1", "杨帆", "rep", "sup_s1", "华南", "广州"),
    ("rep_s2", "黄磊", "rep", "sup_s1", "华南", "深圳"),
    ("rep_s3", "何敏", "rep", "sup_s1", "华南", "深圳"),
    ("rep_s4", "李明", "rep", "sup_s1", "华南", "广州"),  # same name as the admin: ambiguous by name
    ("rep_s5", "马超", "rep", "sup_s1", "华南", "广州"),  # owns nothing: a zero group
]


@dataclass
class Dataset:
    users: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)
    visit_tags: list[dict[str, Any]] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    opportunities: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)

    def tags_of(self, visit_id: str) -> list[str]:
        return self._tags.get(visit_id, [])

    def index(self) -> Dataset:
        self._tags: dict[str, list[str]] = {}
        for t in self.visit_tags:
            self._tags.setdefault(t["visit_id"], []).append(t["tag"])
        return self


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


class _Gen:
    def __init__(self, seed: int, scale: int):
        self.r = random.Random(seed)
        self.scale = scale
        self.ds = Dataset()
        self.n = {"v": 0, "i": 0, "o": 0, "p": 0, "k": 0, "t": 0, "x": 0}

    def next_id(self, kind: str, prefix: str) -> str:
        self.n[kind] += 1
        return f"{prefix}{self.n[kind]:06d}"

    def when(self, lo: datetime = START, hi: datetime = NOW - timedelta(hours=1)) -> datetime:
        span = int((hi - lo).total_seconds())
        return lo + timedelta(seconds=self.r.randrange(span))

    def day(self, lo: date = START.date(), hi: date = NOW.astimezone(SHANGHAI).date()) -> date:
        return lo + timedelta(days=self.r.randrange((hi - lo).days + 1))

    def money(self, lo: int, hi: int) -> Decimal:
        return Decimal(self.r.randrange(lo * 100, hi * 100)) / 100

    # --- rows ----------------------------------------------------------------------------------------
    def users(self) -> None:
        for uid, name, role, mgr, region, city in USERS:
            self.ds.users.append(
                dict(userid=uid, name=name, role=role, manager_userid=mgr, region=region, city=city)
            )
        for k in range(1, self.scale):  # scaled: more reps under the supervisors
            for sup, region, city in (
                ("sup_e1", "华东", "上海"),
                ("sup_e2", "华东", "杭州"),
                ("sup_s1", "华南", "深圳"),
            ):
                uid = f"{sup}_r{k}"
                self.ds.users.append(
                    dict(
                        userid=uid,
                        name=f"业务员{uid}",
                        role="rep",
                        manager_userid=sup,
                        region=region,
                        city=city,
                    )
                )

    def customers(self) -> None:
        owners = [u for u in self.ds.users if u["role"] == "rep" and u["userid"] != "rep_s5"]
        owners += [u for u in self.ds.users if u["userid"] in ("rm_e", "sup_e1")]
        cities = {"华东": ("上海", "杭州", "南京"), "华南": ("广州", "深圳")}
        n = 160 * self.scale
        for k in range(1, n + 1):
            o = owners[k % len(owners)]
            region = o["region"]
            city = self.r.choice(cities[region])
            if k % 53 == 0:
                region, city = "华北", "北京"  # a customer outside the owner's own region
            lost = self.r.random() < 0.18
            nps = None if self.r.random() < 0.2 else self.r.randrange(0, 101)
            if k % 29 == 0:
                nps = 70
            if k % 31 == 0:
                nps = 30
            lost_on = self.day(date(2025, 10, 1)) if lost else None
            if lost and k % 2 == 0:
                lost_on = self.day(date(2026, 10, 1), date(2026, 10, 31))  # 上月
            self.ds.customers.append(
                dict(
                    customer_id=f"C{k:05d}",
                    name=f"客户{k:05d}",
                    channel=None if k % 17 == 0 else CHANNELS[k % 3],
                    region=region,
                    city=city,
                    owner_userid=o["userid"],
                    status="lost" if lost else "active",
                    lost_on=lost_on,
                    nps=nps,
                    categories=[],
                    decision_roles=[],
                    created_on=date(2025, 1, 1),
                )
            )
        for k in (24, 25, 27, 30, 32, 34):  # lost last month with a high NPS, in several teams
            self.ds.customers[k - 1].update(status="lost", lost_on=date(2026, 10, 15), nps=85)
        self.ds.customers[0]["lost_on"] = date(2026, 10, 31)  # the last day of 上月
        self.ds.customers[0]["status"] = "lost"
        self.ds.customers[1]["lost_on"] = date(2026, 11, 1)  # the first day of 本月
        self.ds.customers[1]["status"] = "lost"

    def visit(
        self,
        c: dict[str, Any],
        at: datetime,
        *,
        rep: str | None = None,
        located: bool = True,
        photos: int = 3,
        tags: tuple[str, ...] = (),
    ) -> None:
        vid = self.next_id("v", "V")
        self.ds.visits.append(
            dict(
                visit_id=vid,
                customer_id=c["customer_id"],
                rep_userid=rep or c["owner_userid"],
                checked_in_at=at,
                lat=31.2 if located else None,
                lng=121.4 if located else None,
                photo_count=photos,
            )
        )
        self.ds.visit_tags += [dict(visit_id=vid, tag=t) for t in dict.fromkeys(tags)]

    def interaction(self, c: dict[str, Any], at: datetime) -> None:
        self.ds.interactions.append(
            dict(
                interaction_id=self.next_id("i", "I"),
                customer_id=c["customer_id"],
                rep_userid=c["owner_userid"],
                at=at,
                channel=self.r.choice(("call", "wecom", "email")),
            )
        )

    def touches(self) -> None:
        reps = [u["userid"] for u in self.ds.users if u["role"] == "rep"]
        for idx, c in enumerate(self.ds.customers):
            if idx % 11 == 5:
                continue  # never touched
            for _ in range(self.r.randrange(0, 7)):
                rep = self.r.choice(reps) if self.r.random() < 0.1 else None
                tags = tuple(self.r.sample(TAGS, self.r.choice((0, 1, 1, 2))))
                self.visit(
                    c,
                    self.when(),
                    rep=rep,
                    located=self.r.random() < 0.8,
                    photos=self.r.choice((0, 1, 2, 3, 3, 4, 5)),
                    tags=tags,
                )
            for _ in range(self.r.choice((0, 0, 1, 2, 3))):  # the recent weeks are busier
                self.visit(
                    c,
                    self.when(NOW - timedelta(days=45)),
                    located=self.r.random() < 0.85,
                    photos=self.r.choice((1, 2, 3, 4, 5)),
                    tags=tuple(self.r.sample(TAGS, self.r.choice((0, 1, 2)))),
                )
            if idx % 6 == 1:  # this Monday morning
                self.visit(
                    c,
                    self.when(NOW - timedelta(hours=9), NOW - timedelta(minutes=5)),
                    located=self.r.random() < 0.6,
                    photos=2 + idx % 3,
                    tags=(TAGS[idx % 5],),
                )
            recent = idx % 4 == 0
            for _ in range(self.r.randrange(0, 4)):
                self.interaction(c, self.when(NOW - timedelta(days=20) if recent else START))

    def boundary_touches(self) -> None:
        """Customers whose only touch sits exactly on a boundary of the semantics."""
        cs = self.ds.customers
        for c in cs[2:8]:  # make them untouched first
            self.ds.visits = [v for v in self.ds.visits if v["customer_id"] != c["customer_id"]]
            self.ds.interactions = [i for i in self.ds.interactions if i["customer_id"] != c["customer_id"]]
            c["status"], c["lost_on"] = "active", None
        keep = {v["visit_id"] for v in self.ds.visits}
        self.ds.visit_tags = [t for t in self.ds.visit_tags if t["visit_id"] in keep]
        self.visit(cs[2], NOW - timedelta(hours=72), tags=("价格异议",))  # exactly 72 h ago
        self.interaction(cs[3], NOW - timedelta(hours=72) + timedelta(seconds=1))  # just inside 72 h
        self.interaction(cs[4], NOW - timedelta(days=30))  # exactly 30 days ago
        self.visit(
            cs[5], local(2026, 10, 31, 23, 30), tags=("库存不足",)
        )  # 上月's last half hour (UTC: 15:30)
        self.visit(
            cs[6], local(2026, 11, 1, 0, 10), tags=("库存不足",)
        )  # 本月's first minutes (UTC: 10-31 16:10)
        self.visit(
            cs[7], local(2026, 11, 23, 0, 0), photos=5, tags=("新品兴趣",)
        )  # 本周 starts now (Monday 00:00)

    def orders(self) -> None:
        for c in self.ds.customers:
            for _ in range(self.r.randrange(0, 8)):
                self.ds.orders.append(
                    dict(
                        order_id=self.next_id("o", "O"),
                        customer_id=c["customer_id"],
                        ordered_on=self.day(),
                        amount=self.money(100, 20000),
                        category=None if self.r.random() < 0.05 else self.r.choice(CATEGORIES),
                    )
                )
        c = self.ds.customers[9]
        for d in (date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 16), date(2026, 11, 17)):
            self.ds.orders.append(
                dict(
                    order_id=self.next_id("o", "O"),
                    customer_id=c["customer_id"],
                    ordered_on=d,
                    amount=Decimal("1000.10"),
                    category="饮料",
                )
            )

    def opportunities(self) -> None:
        for c in self.ds.customers:
            for _ in range(self.r.choice((0, 0, 1, 1, 2, 3))):
                self.ds.opportunities.append(
                    dict(
                        opportunity_id=self.next_id("p", "P"),
                        customer_id=c["customer_id"],
                        stage=self.r.choice(STAGES),
                        entered_on=self.day(),
                        amount=self.money(1000, 90000),
                    )
                )

    def contracts(self) -> None:
        for c in self.ds.customers:
            if self.r.random() > 0.35:
                continue
            no = f"HT-{self.next_id('k', '')}"
            amount = self.money(5000, 80000)
            due = self.day(date(2026, 1, 1), date(2027, 2, 28))
            self.ds.contracts.append(
                dict(
                    contract_no=no,
                    customer_id=c["customer_id"],
                    signed_on=due - timedelta(days=60),
                    amount=amount,
                    due_on=due,
                )
            )
            plan = self.r.choice(("full", "split", "partial", "none", "other_memo"))
            if plan == "full":
                self.pay(amount, f"货款 {no}")
            elif plan == "split":
                half = (amount / 3).quantize(Decimal("0.01"))
                self.pay(half, f"{no} 第一笔")
                self.pay(amount - half, f"第二笔{no}尾款")
            elif plan == "partial":
                self.pay((amount / 2).quantize(Decimal("0.01")), f"{no}")
            elif plan == "other_memo":
                self.pay(amount, "货款（未注明合同）")
        # the LIKE trap: '_' in a contract number must not match any character
        c = self.ds.customers[10]
        self.ds.contracts.append(
            dict(
                contract_no="HT_S_01",
                customer_id=c["customer_id"],
                signed_on=date(2026, 1, 1),
                amount=Decimal("5000.00"),
                due_on=date(2026, 3, 1),
            )
        )
        self.pay(Decimal("5000.00"), "付款HTxSx01")
        # due today is not overdue yet; due yesterday is
        for d, cid in ((date(2026, 11, 23), 11), (date(2026, 11, 22), 12)):
            no = f"HT-EDGE-{cid}"
            self.ds.contracts.append(
                dict(
                    contract_no=no,
                    customer_id=self.ds.customers[cid]["customer_id"],
                    signed_on=date(2026, 9, 1),
                    amount=Decimal("100.30"),
                    due_on=d,
                )
            )
            self.pay(Decimal("100.10"), no)
            self.pay(Decimal("0.10"), no)  # 100.20 of 100.30: still short by ten cents

    def pay(self, amount: Decimal, memo: str) -> None:
        self.ds.payments.append(
            dict(
                txn_id=self.next_id("x", "T"),
                paid_on=self.day(date(2026, 1, 1)),
                amount=amount,
                payer=None,
                memo=memo,
            )
        )

    def tickets(self) -> None:
        for c in self.ds.customers:
            for _ in range(self.r.choice((0, 0, 0, 1, 1, 2))):
                opened = self.when(local(2026, 6, 1))
                sla = self.r.choice((4, 24, 24, 48))
                kind = self.r.choice(("fast", "late", "none"))
                responded = None
                if kind == "fast":
                    responded = opened + timedelta(hours=self.r.uniform(0.1, sla - 0.1))
                elif kind == "late":
                    responded = opened + timedelta(hours=sla + self.r.uniform(0.1, 30))
                if responded is not None and responded > NOW:
                    responded = None
                self.ticket(c, opened, responded, sla)
        cs = self.ds.customers
        self.ticket(
            cs[13], NOW - timedelta(hours=30), NOW - timedelta(hours=6), 24
        )  # answered exactly at the SLA
        self.ticket(cs[14], NOW - timedelta(hours=24), None, 24)  # unanswered, exactly the SLA has passed
        self.ticket(cs[15], NOW - timedelta(hours=24, seconds=1), None, 24)  # unanswered, one second over

    def ticket(self, c: dict[str, Any], opened: datetime, responded: datetime | None, sla: int) -> None:
        self.ds.tickets.append(
            dict(
                ticket_id=self.next_id("t", "K"),
                customer_id=c["customer_id"],
                opened_at=opened,
                responded_at=responded,
                sla_hours=sla,
            )
        )


def generate(seed: int = 7, scale: int = 1) -> Dataset:
    g = _Gen(seed, scale)
    g.users()
    g.customers()
    g.touches()
    g.boundary_touches()
    g.orders()
    g.opportunities()
    g.contracts()
    g.tickets()
    return g.ds.index()


def insert_dataset(session: Session, ds: Dataset) -> None:
    for model, rows in (
        (UserRow, ds.users),
        (CustomerRow, ds.customers),
        (VisitRow, ds.visits),
        (VisitTagRow, ds.visit_tags),
        (InteractionRow, ds.interactions),
        (OrderRow, ds.orders),
        (OpportunityRow, ds.opportunities),
        (ContractRow, ds.contracts),
        (PaymentRow, ds.payments),
        (TicketRow, ds.tickets),
    ):
        for i in range(0, len(rows), 5000):
            session.execute(insert(model), rows[i : i + 5000])
    contract_match.store_matches(session)  # as the import of contracts and payments does
    session.commit()
