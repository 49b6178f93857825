"""A realistic, deterministic sample organisation in the import format (docs/import-format.md).

An FMCG distributor with three regions: a director, regional managers, supervisors and 28 reps with
easy demo userids (rep01.., sup01.., rm_east, finance, director, admin), their customers (Chinese
store names, valid unified social credit codes, locations near their city), about six months of
visits, interactions, orders, opportunities, contracts with payments, and service tickets.
Same seed and size, same bytes. `customers=100_000` gives about a million visits for benchmarks.
"""

from __future__ import annotations

import csv
import random
from bisect import bisect
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any

from core.clock import SHANGHAI, as_utc

# --- unified social credit code (GB 32100-2015) -------------------------------------------------

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organisation code, chars 9-17 of the USCC


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def make_uscc(rng: random.Random, division: str) -> str:
    """A valid code: 91 (enterprise registered with market regulation) + division + organisation code."""
    body = "".join(rng.choice("0123456789") for _ in range(8))
    c9 = 11 - sum(int(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    org = body + {10: "X", 11: "0"}.get(c9, str(c9))
    first17 = "91" + division + org
    return first17 + uscc_check_char(first17)


# --- the organisation ---------------------------------------------------------------------------

CITIES: dict[str, dict[str, Any]] = {
    "上海": {
        "region": "华东",
        "centre": (31.2304, 121.4737),
        "divisions": ("310101", "310104", "310115"),
        "districts": ("黄浦", "徐汇", "长宁", "静安", "闵行"),
        "roads": ("南京西路", "淮海中路", "世纪大道", "张杨路"),
    },
    "杭州": {
        "region": "华东",
        "centre": (30.2741, 120.1551),
        "divisions": ("330102", "330106"),
        "districts": ("上城", "西湖", "拱墅", "滨江"),
        "roads": ("延安路", "文三路", "庆春路", "江南大道"),
    },
    "苏州": {
        "region": "华东",
        "centre": (31.2990, 120.5853),
        "divisions": ("320505", "320508"),
        "districts": ("姑苏", "虎丘", "吴中", "相城"),
        "roads": ("干将路", "人民路", "星湖街", "东环路"),
    },
    "南京": {
        "region": "华东",
        "centre": (32.0603, 118.7969),
        "divisions": ("320102", "320106"),
        "districts": ("玄武", "秦淮", "鼓楼", "建邺"),
        "roads": ("中山路", "汉中路", "江东中路", "龙蟠路"),
    },
    "广州": {
        "region": "华南",
        "centre": (23.1291, 113.2644),
        "divisions": ("440103", "440106"),
        "districts": ("越秀", "天河", "海珠", "荔湾"),
        "roads": ("中山五路", "天河路", "江南大道", "环市东路"),
    },
    "深圳": {
        "region": "华南",
        "centre": (22.5431, 114.0579),
        "divisions": ("440303", "440305"),
        "districts": ("福田", "南山", "罗湖", "宝安"),
        "roads": ("深南大道", "华强北路", "科技园路", "宝安大道"),
    },
    "东莞": {
        "region": "华南",
        "centre": (23.0207, 113.7518),
        "divisions": ("441900",),
        "districts": ("南城", "东城", "莞城", "长安"),
        "district_suffix": "",
        "roads": ("鸿福路", "东纵大道", "莞太路", "长青路"),
    },
    "北京": {
        "region": "华北",
        "centre": (39.9042, 116.4074),
        "divisions": ("110101", "110105"),
        "districts": ("东城", "西城", "朝阳", "海淀"),
        "roads": ("建国路", "中关村大街", "朝阳北路", "西单北大街"),
    },
    "天津": {
        "region": "华北",
        "centre": (39.0842, 117.2009),
        "divisions": ("120101", "120104"),
        "districts": ("和平", "河西", "南开", "河东"),
        "roads": ("南京路", "友谊路", "卫津路", "津塘路"),
    },
    "济南": {
        "region": "华北",
        "centre": (36.6512, 117.1201),
        "divisions": ("370102", "370103"),
        "districts": ("历下", "市中", "槐荫", "天桥"),
        "roads": ("泉城路", "经十路", "解放路", "二环东路"),
    },
}

REGIONAL_MANAGERS = (("rm_east", "华东"), ("rm_south", "华南"), ("rm_north", "华北"))
# supervisor → (regional manager, [(city, number of reps)])
SUPERVISORS = (
    ("sup01", "rm_east", (("上海", 4),)),
    ("sup02", "rm_east", (("杭州", 2), ("苏州", 2))),
    ("sup03", "rm_east", (("南京", 4),)),
    ("sup04", "rm_south", (("广州", 4),)),
    ("sup05", "rm_south", (("深圳", 2), ("东莞", 2))),
    ("sup06", "rm_north", (("北京", 4),)),
    ("sup07", "rm_north", (("天津", 2), ("济南", 2))),
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢"
)
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
    "平",
    "刚",
    "秀英",
    "桂英",
    "建华",
    "志强",
    "丽娟",
    "晓东",
    "海燕",
    "文博",
    "子轩",
    "梓涵",
    "欣怡",
    "浩然",
    "俊杰",
    "雨桐",
    "思远",
    "佳怡",
    "国强",
    "玉兰",
    "建国",
    "红梅",
    "春生",
    "秋云",
    "宏伟",
    "立新",
    "晓明",
    "美玲",
)

CHANNELS = (("连锁商超", 18), ("社区生鲜", 24), ("餐饮", 26), ("便利店", 20), ("批发", 12))
STORE_NAMES = {
    "连锁商超": (
        (
            "味源",
            "华联",
            "家乐",
            "百佳",
            "联华",
            "佳惠",
            "万家福",
            "惠民",
            "好又多",
            "永辉优选",
            "大润达",
            "新一佳",
        ),
        ("超市", "购物广场", "生活超市", "量贩"),
    ),
    "社区生鲜": (
        ("鲜丰", "绿叶", "菜鲜生", "邻里", "果蔬园", "每日鲜", "鲜多多", "田园", "谷雨", "小菜园"),
        ("社区生鲜", "生鲜店", "鲜果蔬菜"),
    ),
    "餐饮": (
        (
            "老王",
            "张记",
            "川味坊",
            "湘里人家",
            "粤香",
            "老北京",
            "兰州",
            "东北人",
            "海底",
            "福满楼",
            "小龙坎",
            "外婆家常",
        ),
        ("餐馆", "饭店", "面馆", "火锅", "烧烤", "私房菜"),
    ),
    "便利店": (
        ("好邻居", "快客", "喜士多", "每一天", "美宜家", "易捷", "便利蜂", "红旗", "邻家"),
        ("便利店", "24小时便利店"),
    ),
    "批发": (
        ("宏达", "金利", "城南", "恒丰", "顺发", "永盛", "四海", "鸿运"),
        ("食品批发部", "商贸行", "副食批发", "粮油批发"),
    ),
}
CATEGORIES = ("饮料", "零食", "乳品", "调味品", "方便食品", "酒水", "粮油", "冷冻食品")
DECISION_ROLES = ("老板", "采购", "店长", "财务")
VISIT_TAGS = ("价格异议", "库存不足", "新品兴趣", "账期协商", "竞品活动", "陈列问题")
NOTES = (
    "店长反馈本月客流下降",
    "新品试吃效果不错",
    "要求下周补货",
    "竞品在做买二送一",
    "端架陈列已调整",
    "老板不在，下次再谈",
    "已提交报价",
    "账期希望延长到60天",
    "冷柜位置需要调整",
    "",
)
STAGES = (("need_confirmed", 30), ("quoted", 25), ("negotiating", 18), ("won", 15), ("lost", 12))
INTERACTION_CHANNELS = (("wecom", 50), ("call", 35), ("email", 5), ("other", 10))

HISTORY_DAYS = 182  # about six months


def write_sample_dataset(folder: Path, *, seed: int = 7, customers: int = 4000, now: datetime) -> None:
    """Write users.csv, customers.csv, visits.csv, … into folder (created if missing)."""
    _Generator(random.Random(seed), customers, as_utc(now).astimezone(SHANGHAI)).write(Path(folder))


class _Generator:
    def __init__(self, rng: random.Random, n_customers: int, now: datetime):
        self.rng = rng
        self.n_customers = n_customers
        self.now = now
        self.today = now.date()
        self.now_local = now.replace(tzinfo=None)  # times are written naive: Asia/Shanghai
        self.names_used: set[str] = set()
        self.branches: dict[tuple[str, str], int] = {}  # (store name, district) → branches so far

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        users, reps = self.users()
        customers = self.customers(reps)
        _write(folder / "users.csv", ("userid", "name", "role", "manager_userid", "region", "city"), users)
        _write(
            folder / "customers.csv",
            (
                "customer_id",
                "name",
                "license_no",
                "channel",
                "region",
                "city",
                "address",
                "lat",
                "lng",
                "owner_userid",
                "status",
                "lost_on",
                "nps",
                "categories",
                "decision_roles",
                "created_on",
            ),
            (c["row"] for c in customers),
        )
        _write(
            folder / "visits.csv",
            (
                "visit_id",
                "customer_id",
                "rep_userid",
                "checked_in_at",
                "lat",
                "lng",
                "photo_count",
                "tags",
                "note",
            ),
            self.visits(customers),
        )
        _write(
            folder / "interactions.csv",
            ("interaction_id", "customer_id", "rep_userid", "at", "channel"),
            self.interactions(customers),
        )
        _write(
            folder / "orders.csv",
            ("order_id", "customer_id", "ordered_on", "amount", "category"),
            self.orders(customers),
        )
        _write(
            folder / "opportunities.csv",
            ("opportunity_id", "customer_id", "stage", "entered_on", "amount"),
            self.opportunities(customers),
        )
        contracts, payments = self.contracts_and_payments(customers)
        _write(
            folder / "contracts.csv",
            ("contract_no", "customer_id", "signed_on", "amount", "due_on"),
            contracts,
        )
        _write(folder / "payments.csv", ("txn_id", "paid_on", "amount", "payer", "memo"), payments)
        _write(
            folder / "tickets.csv",
            ("ticket_id", "customer_id", "opened_at", "responded_at", "sla_hours"),
            self.tickets(customers),
        )
        # the hand-off teams (docs/contracts.md), headed by people already in the org so the org's size stays
        _write(
            folder / "departments.csv",
            ("dept_id", "name", "kind", "head_userid", "members"),
            [
                ("D-DELIVERY", "交付部", "delivery", "admin", ""),
                ("D-FINANCE", "财务部", "finance", "finance", ""),
                ("D-AFTERSALES", "售后部", "after_sales", "admin", ""),
            ],
        )
        # leads last, so the earlier files stay as they were for a seed
        _write(
            folder / "products.csv",
            ("product_id", "name", "category", "industries", "pain_keywords", "pitch", "competitors"),
            PRODUCTS,
        )
        _write(
            folder / "leads.csv",
            (
                "lead_id",
                "company",
                "contact_name",
                "contact_role",
                "phone",
                "industry",
                "region",
                "source",
                "credit_grade",
                "inquiries",
                "downloads",
                "pain_words",
                "first_contact_at",
                "owner_userid",
                "stage",
                "lost_reason",
                "last_effective_at",
            ),
            self.leads(reps),
        )

    # -- leads --

    def leads(self, reps: list[dict[str, str]]) -> Iterable[tuple]:
        rng = self.rng
        for n in range(1, max(20, self.n_customers // 10) + 1):
            industry = rng.choice(LEAD_INDUSTRIES)
            first = self.now_local - timedelta(days=rng.randint(0, 30), minutes=rng.randint(0, 600))
            owner = rng.choice(reps)["userid"] if rng.random() < 0.85 else ""
            stage = rng.choices(("new", "contacted", "proposal", "lost"), (5, 3, 1, 1))[0]
            last = ""
            if stage != "new" and rng.random() < 0.8:
                last = (first + timedelta(hours=rng.randint(1, 200))).isoformat(sep=" ", timespec="minutes")
            yield (
                f"L{n:05d}",
                f"{rng.choice(LEAD_PLACES)}{rng.choice(LEAD_NAMES)}{industry}{rng.choice(LEAD_SUFFIXES)}",
                self.person(),
                rng.choice(LEAD_ROLES),
                f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}",
                industry,
                rng.choice(("华东", "华南", "华北")),
                rng.choice(LEAD_SOURCES),
                rng.choice(("A", "B", "B", "C", "")),
                rng.choices((0, 1, 2, 3, 5), (4, 3, 2, 1, 1))[0],
                rng.choices((0, 1, 2), (5, 3, 1))[0],
                ";".join(rng.sample(LEAD_PAINS, rng.randint(0, 2))),
                first.isoformat(sep=" ", timespec="minutes"),
                owner if stage != "lost" or owner else rng.choice(reps)["userid"],
                stage,
                rng.choice(LOSS_REASONS) if stage == "lost" else "",
                last,
            )

    # -- people --

    def person(self) -> str:
        while True:
            name = self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)
            if name not in self.names_used:
                self.names_used.add(name)
                return name

    def users(self) -> tuple[list[tuple], list[dict[str, str]]]:
        rows: list[tuple] = [
            ("admin", self.person(), "admin", "", "", ""),
            ("director", self.person(), "sales_director", "", "", ""),
            ("finance", self.person(), "finance_director", "", "", ""),
        ]
        for userid, region in REGIONAL_MANAGERS:
            rows.append((userid, self.person(), "regional_manager", "director", region, ""))
        reps: list[dict[str, str]] = []
        for sup, rm, cities in SUPERVISORS:
            first_city = cities[0][0]
            rows.append((sup, self.person(), "supervisor", rm, CITIES[first_city]["region"], first_city))
            for city, count in cities:
                for _ in range(count):
                    userid = f"rep{len(reps) + 1:02d}"
                    rows.append((userid, self.person(), "rep", sup, CITIES[city]["region"], city))
                    reps.append({"userid": userid, "city": city})
        return rows, reps

    # -- customers --

    def store_name(self, channel: str, district: str) -> str:
        """A unique store name: 老王餐馆, 味源超市（静安店）, 味源超市（静安二店）…"""
        brands, kinds = STORE_NAMES[channel]
        base = self.rng.choice(brands) + self.rng.choice(kinds)
        if channel == "餐饮" and base not in self.names_used:
            self.names_used.add(base)
            return base
        n = self.branches.get((base, district), 0)
        while True:
            n += 1
            name = f"{base}（{district}{'' if n == 1 else _CN_ORDINAL.get(n, str(n))}店）"
            if name not in self.names_used:
                self.branches[(base, district)] = n
                self.names_used.add(name)
                return name

    def customers(self, reps: list[dict[str, str]]) -> list[dict[str, Any]]:
        rng = self.rng
        out: list[dict[str, Any]] = []
        for i in range(self.n_customers):
            rep = reps[i % len(reps)] if i < len(reps) else rng.choice(reps)
            city = rep["city"]
            info = CITIES[city]
            channel = _weighted(rng, CHANNELS)
            cid = f"C{i + 1:06d}"
            lat, lng = info["centre"]
            lat, lng = round(lat + rng.uniform(-0.08, 0.08), 6), round(lng + rng.uniform(-0.09, 0.09), 6)
            located = rng.random() < 0.95
            created = self.today - timedelta(days=rng.randint(30, 6 * 365))
            if rng.random() < 0.05:
                created = self.today - timedelta(days=rng.randint(1, 29))
            lost_on = None
            if rng.random() < 0.08:
                lost_on = self.today - timedelta(days=rng.randint(1, HISTORY_DAYS))
                lost_on = max(lost_on, created + timedelta(days=1))
            nps = None
            if rng.random() < 0.70:
                nps = min(100, max(0, int(rng.gauss(68, 18))))
            cats = rng.sample(CATEGORIES, rng.randint(1, 4))
            roles = [f"{r}:{self.person_name()}" for r in rng.sample(DECISION_ROLES, rng.randint(1, 3))]
            licence = make_uscc(rng, rng.choice(info["divisions"])) if rng.random() < 0.85 else ""
            district = rng.choice(info["districts"])
            road = f"{rng.choice(info['roads'])}{rng.randint(1, 999)}号"
            address = f"{city}市{district}{info.get('district_suffix', '区')}{road}"
            row = (
                cid,
                self.store_name(channel, district),
                licence,
                channel,
                info["region"],
                city,
                address,
                _f6(lat) if located else "",
                _f6(lng) if located else "",
                rep["userid"],
                "lost" if lost_on else "active",
                _d(lost_on),
                "" if nps is None else nps,
                ";".join(cats),
                ";".join(roles),
                _d(created),
            )
            out.append(
                {
                    "id": cid,
                    "rep": rep["userid"],
                    "lat": lat,
                    "lng": lng,
                    "channel": channel,
                    "lost_on": lost_on,
                    "created": created,
                    "categories": cats,
                    "name": row[1],
                    "row": row,
                }
            )
        return out

    def person_name(self) -> str:
        """A contact as reps write them down: 王芳, or 王总 / 李姐."""
        surname = self.rng.choice(SURNAMES)
        if self.rng.random() < 0.3:
            return surname + self.rng.choice(("总", "经理", "姐", "哥", "老板"))
        return surname + self.rng.choice(GIVEN)

    # -- history --

    def moment(self, start: date, end: date, *, work_hours: bool = True) -> datetime | None:
        """A random local time between two dates (inclusive), weekdays in office hours; None if empty."""
        span = (end - start).days
        if span < 0:
            return None
        r = self.rng.random
        d = start + timedelta(days=int(r() * (span + 1)))
        if work_hours and d.weekday() >= 5 and r() < 0.8:
            d -= timedelta(days=d.weekday() - 4)  # most weekend touches move to Friday
            if d < start:
                return None
        first_hour, hours = (9, 9) if work_hours else (7, 15)
        at = datetime(d.year, d.month, d.day, first_hour) + timedelta(seconds=int(r() * hours * 3600))
        return at if at <= self.now_local else None

    def history_window(self, c: dict[str, Any], days: int = HISTORY_DAYS) -> tuple[date, date]:
        start = max(self.today - timedelta(days=days), c["created"])
        end = c["lost_on"] or self.today
        return start, end

    def visits(self, customers: list[dict[str, Any]]) -> Iterable[tuple]:
        rng = self.rng
        n = 0
        for c in customers:
            start, end = self.history_window(c)
            count = 0 if rng.random() < 0.06 else rng.randint(2, 20)  # some never visited: stale alerts
            if c["lost_on"]:
                count //= 2
            for _ in range(count):
                at = self.moment(start, end)
                if at is None:
                    continue
                n += 1
                has_location = rng.random() < 0.85
                lat = c["lat"] + rng.uniform(-0.0012, 0.0012) if has_location else None
                lng = c["lng"] + rng.uniform(-0.0012, 0.0012) if has_location else None
                photos = bisect(_PHOTO_CUM, rng.random())
                tags = rng.sample(VISIT_TAGS, bisect(_TAG_COUNT_CUM, rng.random()))
                yield (
                    f"V{n:07d}",
                    c["id"],
                    c["rep"],
                    _t(at),
                    "" if lat is None else _f6(lat),
                    "" if lng is None else _f6(lng),
                    photos,
                    ";".join(tags),
                    rng.choice(NOTES),
                )

    def interactions(self, customers: list[dict[str, Any]]) -> Iterable[tuple]:
        rng = self.rng
        n = 0
        for c in customers:
            start, end = self.history_window(c)
            for _ in range(rng.randint(0, 6)):
                at = self.moment(start, end, work_hours=False)
                if at is None:
                    continue
                n += 1
                yield f"I{n:07d}", c["id"], c["rep"], _t(at), _weighted(rng, INTERACTION_CHANNELS)

    def orders(self, customers: list[dict[str, Any]]) -> Iterable[tuple]:
        rng = self.rng
        n = 0
        scale = {"连锁商超": 20_000, "社区生鲜": 4_000, "餐饮": 2_500, "便利店": 3_000, "批发": 40_000}
        for c in customers:
            start, end = self.history_window(c)
            for _ in range(rng.randint(0, 10)):
                at = self.moment(start, end)
                if at is None:
                    continue
                n += 1
                amount = Decimal(str(round(scale[c["channel"]] * rng.uniform(0.2, 2.5), 2)))
                yield f"O{n:07d}", c["id"], _d(at.date()), f"{amount:.2f}", rng.choice(c["categories"])

    def opportunities(self, customers: list[dict[str, Any]]) -> Iterable[tuple]:
        rng = self.rng
        n = 0
        for c in customers:
            if rng.random() >= 0.3:
                continue
            start, end = self.history_window(c)
            at = self.moment(start, end)
            if at is None:
                continue
            n += 1
            amount = round(rng.uniform(5_000, 300_000), -2)
            yield f"OP{n:06d}", c["id"], _weighted(rng, STAGES), _d(at.date()), f"{amount:.2f}"

    def contracts_and_payments(self, customers: list[dict[str, Any]]) -> tuple[list[tuple], list[tuple]]:
        rng = self.rng
        contracts: list[tuple] = []
        payments: list[tuple] = []
        year = self.today.year
        for c in customers:
            if rng.random() >= 0.2:
                continue
            start, end = self.history_window(c, days=HISTORY_DAYS + 60)
            at = self.moment(start, end)
            if at is None:
                continue
            no = f"HT{year}-{len(contracts) + 1:05d}"
            signed = at.date()
            due = signed + timedelta(days=rng.choice((30, 45, 60, 90)))
            amount = Decimal(round(rng.uniform(20_000, 500_000), -2)).quantize(Decimal("0.01"))
            contracts.append((no, c["id"], _d(signed), f"{amount}", _d(due)))
            fate = rng.random()  # 55% paid in full, 15% partly, 30% nothing yet (overdue once past due)
            if fate < 0.55:
                parts = [amount] if rng.random() < 0.7 else _split(amount, 2)
            elif fate < 0.70:
                parts = [(amount * Decimal(rng.choice(("0.3", "0.5", "0.6")))).quantize(Decimal("0.01"))]
            else:
                parts = []
            for k, part in enumerate(parts):
                paid = signed + timedelta(days=rng.randint(5, (due - signed).days + 20))
                if paid > self.today:
                    paid = self.today - timedelta(days=rng.randint(0, 3))
                if paid < signed:
                    continue
                memo = rng.choice((f"货款 {no}", f"{no} 第{k + 1}期", f"合同{no}回款", f"付{no}货款"))
                payments.append((None, _d(paid), f"{part}", c["name"], memo))
        for _ in range(max(3, len(contracts) // 10)):  # money nobody can match to a contract
            paid = self.today - timedelta(days=rng.randint(0, HISTORY_DAYS))
            c = rng.choice(customers)
            amount = round(rng.uniform(500, 20_000), 2)
            payments.append(
                (None, _d(paid), f"{amount:.2f}", c["name"], rng.choice(("货款", "预付款", "转账", "")))
            )
        payments.sort(key=lambda p: p[1])
        numbered = [(f"TXN{p[1].replace('-', '')}{i + 1:06d}", *p[1:]) for i, p in enumerate(payments)]
        return contracts, numbered

    def tickets(self, customers: list[dict[str, Any]]) -> Iterable[tuple]:
        rng = self.rng
        n = 0
        for c in customers:
            if rng.random() >= 0.4:
                continue
            start, end = self.history_window(c, days=90)
            at = self.moment(start, end, work_hours=False)
            if at is None:
                continue
            n += 1
            sla = rng.choices((24, 4, 8, 48), weights=(70, 10, 10, 10))[0]
            fate = rng.random()  # 70% in time, 17% late, 13% not answered
            responded = None
            if fate < 0.70:
                responded = at + timedelta(minutes=rng.randint(10, sla * 60))
            elif fate < 0.87:
                responded = at + timedelta(hours=sla, minutes=rng.randint(30, 72 * 60))
            if responded is not None and responded > self.now_local:
                responded = None
            yield f"T{n:06d}", c["id"], _t(at), "" if responded is None else _t(responded), sla


_PHOTO_CUM = tuple(accumulate((0.10, 0.08, 0.12, 0.25, 0.22, 0.13)))  # 0..6 photos, 6 with 0.10
_TAG_COUNT_CUM = tuple(accumulate((0.20, 0.50, 0.24)))  # 0..3 tags, 3 with 0.06
_CN_ORDINAL = {2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九", 10: "十"}


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _split(amount: Decimal, parts: int) -> list[Decimal]:
    first = (amount / parts).quantize(Decimal("0.01"))
    return [first] * (parts - 1) + [amount - first * (parts - 1)]


def _d(d: date | None) -> str:
    return "" if d is None else d.isoformat()


def _t(at: datetime) -> str:
    return at.isoformat(timespec="seconds")  # naive: Asia/Shanghai local time, as the contract reads it


def _f6(x: float) -> str:
    return f"{x:.6f}"


PRODUCTS = (
    (
        "P01",
        "智能变频空压机",
        "空压机",
        "机械;汽车;电子",
        "能耗;停机",
        "一级能效，比工频机省电30%",
        "比进口品牌便宜20%，交期2周",
    ),
    (
        "P02",
        "设备预测性维护平台",
        "软件",
        "机械;汽车;冶金",
        "停机;故障;维修",
        "提前72小时预警故障",
        "按台订阅，无需更换设备",
    ),
    (
        "P03",
        "余热回收系统",
        "节能",
        "化工;冶金;机械",
        "能耗;排放",
        "回收60%余热，两年回本",
        "同类方案回本期3年以上",
    ),
    (
        "P04",
        "能源管理平台",
        "软件",
        "化工;食品;医药",
        "能耗;超标;排放",
        "分项计量，超标自动告警",
        "支持政府能耗在线监测对接",
    ),
    ("P05", "食品级润滑油", "耗材", "食品;医药", "磨损;安全;停机", "NSF H1认证", "换油周期比竞品长50%"),
    (
        "P06",
        "视觉质检系统",
        "设备",
        "电子;汽车;纺织",
        "质量;良率;人工",
        "漏检率低于0.1%",
        "部署一周，按产线收费",
    ),
    ("P07", "AGV物流小车", "设备", "电子;汽车;食品", "人工;效率;成本", "替代2班搬运工", "导航无需改造地面"),
    ("P08", "低噪音风机", "设备", "建材;纺织;食品", "噪音;能耗", "噪音低于70分贝", "比同功率竞品低8分贝"),
)
LEAD_INDUSTRIES = ("机械", "汽车", "化工", "电子", "食品", "医药", "纺织", "建材", "冶金")
LEAD_PLACES = ("杭州", "宁波", "苏州", "无锡", "佛山", "东莞", "天津", "青岛", "合肥", "常州")
LEAD_NAMES = ("华力", "恒通", "瑞丰", "中科", "金达", "宏远", "新创", "永盛", "博雅", "鼎信", "天成", "联合")
LEAD_SUFFIXES = ("有限公司", "股份有限公司", "集团", "厂")
LEAD_ROLES = ("总经理", "厂长", "采购总监", "设备部经理", "采购", "工程师", "生产主管", "老板", "")
LEAD_SOURCES = ("展会", "官网", "转介绍", "广告", "陌拜", "400电话", "老客户介绍", "")
LEAD_PAINS = ("产线停机", "能耗超标", "人工成本高", "良率低", "设备故障多", "交期紧", "排放超标", "噪音大")
LOSS_REASONS = ("价格太高", "选了竞品", "预算取消", "价格太高", "需求不明确", "选了竞品")


def _write(path: Path, header: tuple[str, ...], rows: Iterable[tuple]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:  # the BOM makes Excel read UTF-8
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
