"""The nightly reconciliation at scale for `main.py bench --only reconcile`: 100,000 instalments (50,000
contracts of 20,000 customers, two instalments each, the first due) against 200,000 bank lines — by number
(whole, split in two), by payer and amount (some names mistyped), mistyped numbers, unpaid instalments, and
unrelated lines — on SQLite and the embedded PostgreSQL (target: < 60 s on PostgreSQL). `python -m tests.bench.reconcile [--quick]` runs it alone."""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

CITIES = ["杭州", "苏州", "宁波", "无锡", "上海", "南京", "合肥", "温州", "嘉兴", "常州", "绍兴", "扬州"]
WORDS = [
    "精密",
    "云帆",
    "恒通",
    "海岳",
    "立信",
    "新材",
    "华腾",
    "远航",
    "嘉禾",
    "众诚",
    "德润",
    "金石",
    "瑞丰",
    "鼎盛",
]
TRADES = ["制造", "科技", "物流", "贸易", "医疗器械", "电子", "机械", "食品", "化工", "信息技术"]
DISTRICTS = [
    "东城",
    "西湖",
    "滨江",
    "姑苏",
    "鄞州",
    "梁溪",
    "浦东",
    "鼓楼",
    "包河",
    "鹿城",
    "南湖",
    "天宁",
    "越城",
    "邗江",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"


def _names(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        name = f"{rng.choice(CITIES)}{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(TRADES)}有限公司"
        while name in seen:  # a branch: 杭州精密华腾制造有限公司西湖分公司
            name = name.split("有限公司")[0] + f"有限公司{rng.choice(DISTRICTS)}{rng.choice(DISTRICTS)}分公司"
        seen.add(name)
        out.append(name)
    return out


def _mistype(rng: random.Random, name: str) -> str:
    i = rng.randrange(2, max(3, len(name) - 4))
    return name[:i] + "某" + name[i + 1 :]


def _seed(session_factory, *, contracts: int, lines: int, seed: int = 11) -> None:  # noqa: ANN001
    from sqlalchemy import insert

    from storage.contracts.models import InstalmentRow
    from storage.models import ContractRow, CustomerRow, PaymentRow, UserRow

    rng = random.Random(seed)
    n_customers = max(1, contracts * 2 // 5)
    names = _names(rng, n_customers)
    now = datetime(2026, 12, 7, tzinfo=UTC)
    with session_factory() as s:
        s.execute(insert(UserRow), [{"userid": "rep", "name": "业务员", "role": "rep", "active": True}])
        s.execute(
            insert(CustomerRow),
            [
                {
                    "customer_id": f"C{i}",
                    "name": nm,
                    "owner_userid": "rep",
                    "status": "active",
                    "categories": [],
                    "decision_roles": [],
                }
                for i, nm in enumerate(names)
            ],
        )
        crow, irow = [], []
        for k in range(contracts):
            amount = Decimal(rng.randrange(2_000, 500_000)) * 2
            signed = date(2026, 1, 1) + timedelta(days=rng.randrange(300))
            crow.append(
                {
                    "contract_no": f"HT-{k:06d}",
                    "customer_id": f"C{k % n_customers}",
                    "signed_on": signed,
                    "amount": amount,
                    "due_on": signed + timedelta(days=30),
                    "terms": "签约后30天付50%，验收后付尾款",
                    "sales_status": "signed",
                    "finance_status": "esigned",
                    "signed_at": now,
                }
            )
            half = amount / 2
            for seq in (1, 2):
                irow.append(
                    {
                        "contract_no": f"HT-{k:06d}",
                        "seq": seq,
                        "label": None,
                        "events": "signed" if seq == 1 else "accepted",
                        "rule": {},
                        "words": "签约后30天付50%" if seq == 1 else "验收时付尾款50%",
                        "share": Decimal(50),
                        "amount": half,
                        "due_on": signed + timedelta(days=30) if seq == 1 else None,
                        "paid": Decimal(0),
                        "status": "open",
                    }
                )
        for i in range(0, len(crow), 5000):
            s.execute(insert(ContractRow), crow[i : i + 5000])
        for i in range(0, len(irow), 5000):
            s.execute(insert(InstalmentRow), irow[i : i + 5000])
        # each instalment due is paid at most once: whole by number 40%, split in two by number 20%, by payer
        # and amount 20% (a tenth of those names mistyped), a mistyped number 10%, unpaid 10%; unrelated
        # lines (other income, refunds) fill the statement up to `lines`
        prow = []
        t = 0
        for k in rng.sample(range(contracts), contracts):
            half = crow[k]["amount"] / 2
            no, cust = crow[k]["contract_no"], names[k % n_customers]
            day = date(2026, 2, 1) + timedelta(days=rng.randrange(300))
            kind = rng.random()
            if kind < 0.4:
                batch = [(half, cust, f"{no} 货款")]
            elif kind < 0.6:
                a = (half * Decimal("0.4")).quantize(Decimal("0.01"))
                batch = [(a, cust, f"{no}首付"), (half - a, cust, f"{no.lower().replace('-', '')}余款")]
            elif kind < 0.8:
                batch = [(half, _mistype(rng, cust) if rng.random() < 0.1 else cust, "货款")]
            elif kind < 0.9:
                batch = [(half, cust, f"{no[:-1]}X 货款")]
            else:
                batch = []
            for amount, payer, memo in batch:
                t += 1
                prow.append(
                    {"txn_id": f"T{t:07d}", "paid_on": day, "amount": amount, "payer": payer, "memo": memo}
                )
        while len(prow) < lines:
            t += 1
            prow.append(
                {
                    "txn_id": f"T{t:07d}",
                    "paid_on": date(2026, 2, 1) + timedelta(days=rng.randrange(300)),
                    "amount": Decimal(rng.randrange(100, 99_999)),
                    "payer": f"个人{rng.randrange(10**6)}",
                    "memo": "往来款",
                }
            )
        for i in range(0, len(prow), 5000):
            s.execute(insert(PaymentRow), prow[i : i + 5000])
        s.commit()


def _one(db: str, url: str, *, contracts: int, lines: int) -> tuple[str, str]:
    from sqlalchemy import func, select

    from storage.contracts import reconcile
    from storage.contracts.models import FinanceTodoRow, InstalmentPaymentRow
    from storage.db import make_engine, make_session_factory, writer_session
    from storage.schema import create_all

    engine = make_engine(url)
    create_all(engine)
    sf = make_session_factory(engine)
    _seed(sf, contracts=contracts, lines=lines)
    t0 = time.perf_counter()
    with writer_session(sf) as s:
        summary = reconcile.run(s, now=datetime(2026, 12, 8, tzinfo=UTC), today=date(2026, 12, 8))
        s.commit()
    took = time.perf_counter() - t0
    with sf() as s:
        allocations = s.scalar(select(func.count()).select_from(InstalmentPaymentRow))
        todos = s.scalar(select(func.count()).select_from(FinanceTodoRow))
    engine.dispose()
    return (
        f"reconcile ({db}): {contracts * 2:,} instalments × {lines:,} bank lines",
        f"{took:.1f} s (target < 60 s on PostgreSQL); {allocations:,} allocations, {summary.instalments_paid:,} "
        f"instalments paid, {todos:,} to-dos",
    )


def bench_reconcile(quick: bool) -> list[tuple[str, str]]:
    from tests.bench.load import _postgres

    contracts, lines = (10_000, 20_000) if quick else (50_000, 200_000)
    root = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    try:
        rows = [_one("SQLite", f"sqlite:///{root}/r.db", contracts=contracts, lines=lines)]
        with _postgres(root) as url:
            rows.append(_one("PostgreSQL", url, contracts=contracts, lines=lines))
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    for name, value in bench_reconcile("--quick" in sys.argv):
        print(f"{name}: {value}")
