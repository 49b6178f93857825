"""The three newer domains on top of tests/nlq/dataset.py, as plain Python objects, for the question layer's
evaluation (tests/nlq/v2/cases_domains.yaml): store and rep targets with weekly health checks (docs/targets.md),
leads with their SOP steps (docs/leads.md), and hand-off work orders, instalments, bank lines matched to them and
finance's unmatched lines for signed contracts (docs/contracts.md).

Nothing here changes a row the v1/v2 sets read: new tables, plus the two status columns of some contracts; the
bank lines matched to instalments carry no contract number (so the memo rule of 回款 never sees them) and are
not in `Dataset.payments`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from tests.nlq.dataset import NOW, Dataset, local

PERIODS = ("2026-11", "2026Q4", "2026-10")
SOURCES = ("展会", "官网", "转介绍", "陌拜", "广告")
INDUSTRIES = ("机械", "汽车", "化工", "食品")
GRADES = ("A+", "A", "B", "C", None)
STAGES = ("new", "new", "contacted", "proposal", "converted", "lost")


@dataclass
class Domains:
    targets: list[dict[str, Any]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)  # contract_no → sales/finance view
    work_orders: list[dict[str, Any]] = field(default_factory=list)
    instalments: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)  # bank lines matched to instalments
    allocations: list[dict[str, Any]] = field(default_factory=list)
    todos: list[dict[str, Any]] = field(default_factory=list)


def _region_key(region: str | None) -> str:
    return (region or "").strip() or "未分区"


def generate_domains(ds: Dataset, seed: int = 11) -> Domains:
    r = random.Random(seed)
    d = Domains()
    set_at = local(2026, 9, 30)
    reps = [u for u in ds.users if u["role"] == "rep"]
    # --- targets: every active store, three periods; reps' development targets (rep_s5 owns nothing)
    for period in PERIODS:
        for c in ds.customers:
            if c["status"] != "active" or (period == "2026-10" and r.random() < 0.5):
                continue
            fen = r.randrange(200, 3000) * 1000 * (3 if "Q" in period else 1)
            d.targets.append(
                dict(
                    target_id=f"{period}|store|{c['customer_id']}",
                    period=period,
                    level="store",
                    node_key=c["customer_id"],
                    parent_id=None,
                    name=c["name"],
                    amount_fen=fen,
                    committed_fen=fen,
                    baseline_fen=fen,
                    development_fen=0,
                    factors={},
                    rationale="",
                    source="import",
                    set_by="dir",
                    set_at=set_at,
                )
            )
        for k, u in enumerate(reps):
            dev = (0, 500000, 1200000)[k % 3] if period != "2026-10" else 0
            d.targets.append(
                dict(
                    target_id=f"{period}|rep|{u['userid']}",
                    period=period,
                    level="rep",
                    node_key=u["userid"],
                    parent_id=None,
                    name=u["name"],
                    amount_fen=dev,
                    committed_fen=dev,
                    baseline_fen=None,
                    development_fen=dev,
                    factors={},
                    rationale="",
                    source="import",
                    set_by="dir",
                    set_at=set_at,
                )
            )
    # weekly checks of the month's rep targets: the latest (11-16) decides the light
    for u in reps:
        for checked, light in ((date(2026, 11, 9), r.choice(("green", "red"))), (date(2026, 11, 16), None)):
            light = light or r.choice(("green", "yellow", "red"))
            d.health.append(
                dict(
                    period="2026-11",
                    level="rep",
                    node_key=u["userid"],
                    checked_on=checked,
                    target_fen=0,
                    sales_fen=0,
                    pace=0.5 if light == "red" else 1.0,
                    light=light,
                    at=local(checked.year, checked.month, checked.day, 9),
                )
            )
    # --- leads
    owners = [u["userid"] for u in reps if u["userid"] != "rep_s5"] + ["sup_e1"]
    for k in range(1, 91):
        created = NOW - timedelta(hours=r.randrange(2, 24 * 120))
        stage = r.choice(STAGES)
        pool = r.choice((None, None, None, "nurture", "public"))
        owner = None if pool == "public" else r.choice(owners)
        if stage in ("converted", "lost"):
            pool = None
            owner = owner or r.choice(owners)
        effective = None if r.random() < 0.3 else created + timedelta(hours=r.randrange(0, 100))
        if effective is not None and effective > NOW:
            effective = None
        quiet = effective or created
        grade = r.choice(GRADES)
        d.leads.append(
            dict(
                lead_id=f"L{k:04d}",
                company=f"线索公司{k:03d}",
                industry=r.choice(INDUSTRIES),
                region=r.choice(("华东", "华南")),
                source=None if k % 23 == 0 else r.choice(SOURCES),
                created_at=created,
                owner_userid=owner,
                pool=pool,
                pool_since=quiet if pool else None,
                quiet_since=quiet,
                last_effective_at=effective,
                score=None if grade is None else float(r.randrange(30, 100)),
                grade=grade,
                stage=stage,
                stage_since=quiet,
                lost_reason=r.choice(("价格太高", "选了竞品")) if stage == "lost" else None,
                converted_at=quiet if stage == "converted" else None,
            )
        )
    # the 72-hour boundary: exactly 72 h quiet is not "more than 72 h"; one second more is
    for k, quiet in ((91, NOW - timedelta(hours=72)), (92, NOW - timedelta(hours=72, seconds=1))):
        d.leads.append(
            dict(
                lead_id=f"L{k:04d}",
                company=f"线索公司{k:03d}",
                industry="机械",
                region="华东",
                source="展会",
                created_at=quiet,
                owner_userid="rep_e1",
                pool=None,
                pool_since=None,
                quiet_since=quiet,
                last_effective_at=None,
                score=90.0,
                grade="A+",
                stage="new",
                stage_since=quiet,
                lost_reason=None,
                converted_at=None,
            )
        )
    # SOP steps of graded leads: some past due and not done (the golden-4-hours breaches), some done, some
    # due later; a lead claimed away from the step's owner does not count
    sid = 0
    for lead in d.leads:
        if lead["grade"] not in ("A+", "A") or lead["owner_userid"] is None or lead["lead_id"] > "L0090":
            continue
        start = lead["created_at"]
        for seq, (step, label, minutes) in enumerate(
            (("first_call", "首次电话", 15 if lead["grade"] == "A+" else 240), ("proposal", "定制方案", 120)),
            start=1,
        ):
            sid += 1
            due = start + timedelta(minutes=minutes)
            status = r.choice(("open", "late", "done", "cancelled"))
            owner = lead["owner_userid"] if sid % 11 else "rep_e3"
            d.steps.append(
                dict(
                    lead_id=lead["lead_id"],
                    gen=1,
                    seq=seq,
                    step=step,
                    label=label,
                    grade=lead["grade"],
                    owner_userid=owner,
                    due_at=due,
                    done_at=due if status == "done" else None,
                    status=status,
                )
            )
    for k, lead_id in enumerate(("L0091", "L0092")):  # an A+ step still running vs one just missed
        d.steps.append(
            dict(
                lead_id=lead_id,
                gen=1,
                seq=1,
                step="first_call",
                label="首次电话",
                grade="A+",
                owner_userid="rep_e1",
                due_at=NOW + timedelta(minutes=5) if k == 0 else NOW - timedelta(minutes=5),
                done_at=None,
                status="open",
            )
        )
    # --- signed contracts: the two views, the three hand-offs, instalments and their bank lines
    signed = [k for k in ds.contracts if k["contract_no"].startswith("HT-0")][:36]
    names = {c["customer_id"]: c["name"] for c in ds.customers}
    txn = 0
    for n, k in enumerate(signed):
        no = k["contract_no"]
        fin = ("esigned", "matching", "matching", "received")[n % 4]
        d.statuses[no] = dict(sales_status="signed", finance_status=fin)
        opened = NOW - timedelta(hours=r.randrange(1, 24 * 40))
        if n == 0:
            opened = NOW - timedelta(hours=24)  # due exactly now: past its SLA (due_at <= now)
        for team in ("delivery", "finance", "after_sales"):
            status = r.choice(("open", "open", "claimed", "done", "blocked"))
            d.work_orders.append(
                dict(
                    contract_no=no,
                    team=team,
                    status=status,
                    items=[],
                    sla_hours=24,
                    due_at=opened + timedelta(hours=24),
                    created_at=opened,
                    claimed_at=opened + timedelta(hours=3) if status != "open" else None,
                    blocked_reason="客户网络未就绪" if status == "blocked" else None,
                    escalated=1 if status == "open" and opened + timedelta(hours=24) < NOW else 0,
                )
            )
        half = (k["amount"] / 2).quantize(Decimal("0.01"))
        for seq, (amount, due) in enumerate(
            ((half, date(2026, 10, 5 + n % 20)), (k["amount"] - half, date(2026, 11, 1 + n % 28))), start=1
        ):
            paid = Decimal(0)
            iid = len(d.instalments) + 1
            plan = r.choice(("full", "part", "none", "late"))
            if fin == "received":
                plan = "full"
            for part, day in (
                ((amount, due),)
                if plan == "full"
                else ((amount / 2, due),)
                if plan == "part"
                else ((amount, due + timedelta(days=40)),)
                if plan == "late"
                else ()
            ):
                part = Decimal(part).quantize(Decimal("0.01"))
                if day > NOW.date():
                    continue
                txn += 1
                line = f"BK{txn:05d}"
                d.lines.append(
                    dict(
                        txn_id=line, paid_on=day, amount=part, payer=names[k["customer_id"]], memo="银行流水"
                    )
                )
                d.allocations.append(
                    dict(instalment_id=iid, txn_id=line, amount=part, how="amount_payer", matched_at=NOW)
                )
                paid += part
            d.instalments.append(
                dict(
                    id=iid,
                    contract_no=no,
                    seq=seq,
                    label=None,
                    events="signed",
                    rule={},
                    words=f"第{seq}期付50%",
                    share=Decimal("0.5"),
                    amount=amount,
                    due_on=due,
                    paid=paid,
                    status="paid" if paid >= amount else "open",
                    paid_on=due if paid >= amount else None,
                )
            )
    for k, (day, left) in enumerate(((date(2026, 11, 3), "1200.00"), (date(2026, 11, 20), "830.50"))):
        txn += 1
        d.lines.append(
            dict(txn_id=f"BK{txn:05d}", paid_on=day, amount=Decimal(left), payer="某公司", memo="")
        )
        d.todos.append(
            dict(
                business_key=f"unmatched:BK{txn:05d}",
                kind="unmatched_payment",
                ref=f"BK{txn:05d}",
                payload={"paid_on": day.isoformat(), "left": left, "amount": left},
                status="open",
                created_at=NOW - timedelta(days=1 + k),
                created_by="timer:reconcile",
            )
        )
    return d


def insert_domains(session: Session, d: Domains) -> None:
    from storage.contracts.models import FinanceTodoRow, InstalmentPaymentRow, InstalmentRow, WorkOrderRow
    from storage.leads.models import LeadRow, LeadSopStepRow
    from storage.models import ContractRow, PaymentRow
    from storage.targets.models import TargetHealthRow, TargetRow

    for model, rows in (
        (TargetRow, d.targets),
        (TargetHealthRow, d.health),
        (LeadRow, d.leads),
        (LeadSopStepRow, d.steps),
        (WorkOrderRow, d.work_orders),
        (InstalmentRow, d.instalments),
        (PaymentRow, d.lines),
        (InstalmentPaymentRow, d.allocations),
        (FinanceTodoRow, d.todos),
    ):
        if rows:
            session.execute(insert(model), rows)
    for no, views in d.statuses.items():
        session.execute(update(ContractRow).where(ContractRow.contract_no == no).values(**views))
    session.commit()
