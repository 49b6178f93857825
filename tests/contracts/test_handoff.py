"""合同签署完成 through the inbox worker and the SOP sweep on a moved clock: exactly three work orders once
(even when the click is delivered twice), each to its team as a card with 认领 / 完成 / 受阻, each SLA breach
escalating once to the head and then the sales director, the progress card changing colour."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from core.clock import SHANGHAI
from handlers.messages import CardAction, card_key
from storage.contracts.models import InstalmentRow, WorkOrderRow
from storage.models import AuditRow, ContractRow
from tests.contracts.conftest import add_contract
from tests.sop.conftest import click, messages, say, sweep, timers_of

START = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)


def _cards(sf, who):
    return [m.message for m in messages(sf, who, kind="card")]


def _texts(sf, who):
    return [m.message["content"] for m in messages(sf, who, kind="text")]


def _orders(sf):
    with sf() as s:
        return {w.team: w for w in s.scalars(select(WorkOrderRow))}


def test_signing_in_chat_opens_three_work_orders_once(org, clock):
    clock.set(START)
    add_contract(org, "HT-001")
    say(org, clock, "rep1", "合同签署完成 HT-001")
    say(org, clock, "rep1", "合同签署完成 HT-001")  # said again: nothing new
    key = card_key(CardAction.CONTRACT, "sign", "HT-001")
    click(org, clock, "rep1", key, times=2)  # the button, delivered twice by WeCom
    click(org, clock, "sup1", key)  # and the supervisor taps it too
    with org() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrderRow)) == 3
        contract = s.get(ContractRow, "HT-001")
        assert (contract.sales_status, contract.finance_status) == ("signed", "esigned")
        assert contract.signed_at == START and contract.signed_by == "rep1"
        assert contract.signed_on.isoformat() == "2026-12-07"
        inst = s.scalars(select(InstalmentRow).order_by(InstalmentRow.seq)).all()
        assert [(i.amount, i.due_on and i.due_on.isoformat()) for i in inst] == [
            (250000, "2027-01-06"),
            (250000, None),
        ]
        assert s.get(ContractRow, "HT-001").due_on.isoformat() == "2027-01-06"  # the instalment's date
    orders = _orders(org)
    assert sorted(orders) == ["after_sales", "delivery", "finance"]
    assert all(
        w.due_at == datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI) and w.status == "open"
        for w in orders.values()
    )

    told = _texts(org, "rep1")
    assert told[0].startswith(
        "已记录：合同HT-001（华东精密制造有限公司）签署完成。已通知交付、财务、售后三个团队"
    )
    assert "付款条件：我理解为：①签约后30天付50%；②验收时付尾款50%。" in told[0]
    assert (
        all(t.startswith("合同HT-001已于12月7日 10:00记录签署完成") for t in told[1:]) and len(told) == 3
    )  # the twice-delivered click is one

    for who, team in (
        ("dhead", "交付"),
        ("d1", "交付"),
        ("fhead", "财务"),
        ("f1", "财务"),
        ("ahead", "售后"),
        ("a1", "售后"),
    ):
        cards = _cards(org, who)
        assert len(cards) == 1, who
        assert cards[0]["title"] == f"{team}工单：华东精密制造有限公司"
        assert [b["text"] for b in cards[0]["buttons"]] == ["认领", "完成", "受阻"]
        assert dict(map(tuple, cards[0]["fields"]))["响应时限"] == "24小时（12月8日 10:00前）"
    finance = _texts(org, "f1")[0]  # the card's list follows it as a message
    assert finance.startswith("财务工单（合同HT-001，华东精密制造有限公司）的开票清单：")
    assert "①签约后30天付50%：¥250,000.00，应付日2027年1月6日" in finance
    assert "②验收时付尾款50%：¥250,000.00，应付日待验收后确定" in finance
    assert "网络环境是否满足安装要求" in _texts(org, "a1")[0]
    # the progress card, to the rep and the supervisor, once
    for who in ("rep1", "sup1"):
        progress = [c for c in _cards(org, who) if c["title"].startswith("合同进度")]
        assert len(progress) == 1
        assert progress[0]["description"] == "合同HT-001 ¥500,000.00｜销售：客户确认签约｜财务：电子签章完成"
        assert [tuple(f) for f in progress[0]["fields"]] == [
            ("签约", "🟢客户确认签约（12月7日 10:00）"),
            ("交付", "🟡待响应，12月8日 10:00前"),
            ("财务", "🟡待响应，12月8日 10:00前"),
            ("售后", "🟡待响应，12月8日 10:00前"),
            ("回款", "🟡到账¥0.00/¥500,000.00"),
        ]
    assert len(timers_of(org, kind="work_order_sla", status="pending")) == 3


def test_claim_done_block_and_strangers(org, clock):
    clock.set(START)
    add_contract(org, "HT-002")
    say(org, clock, "rep1", "确认签约 HT-002")
    orders = _orders(org)
    claim = card_key(CardAction.WORK_ORDER, "claim", orders["delivery"].id)
    click(org, clock, "rep2", claim)  # not in the delivery team
    assert _texts(org, "rep2")[-1] == "你不在交付团队，不能处理这张工单。"
    clock.advance(hours=2)
    click(org, clock, "d1", claim, response_code="RC1", times=2)
    click(org, clock, "dhead", claim, response_code="RC2")  # a second person, later: already claimed
    assert _texts(org, "dhead")[-1] == "该工单处理中（交付工程师孙工）。"
    updates = [m.message for m in messages(org, "d1", kind="card_update")]
    assert [(u["response_code"], u["replace_name"]) for u in updates] == [("RC1", "已认领")]
    assert "交付团队的交付工程师孙工已认领合同HT-002（华东精密制造有限公司）的工单。" in _texts(org, "rep1")

    block = card_key(CardAction.WORK_ORDER, "block", orders["after_sales"].id)
    click(org, clock, "a1", block)
    assert _texts(org, "a1")[-1].startswith("请回复受阻原因")
    say(org, clock, "a1", "客户机房网络不支持外网访问，无法安装")
    done = card_key(CardAction.WORK_ORDER, "done", orders["finance"].id)
    click(org, clock, "f1", done, response_code="RC3")
    orders = _orders(org)
    assert (orders["delivery"].status, orders["delivery"].claimed_by) == ("claimed", "d1")
    assert orders["after_sales"].status == "blocked"
    assert orders["after_sales"].blocked_reason == "客户机房网络不支持外网访问，无法安装"
    assert orders["finance"].status == "done" and orders["finance"].done_at == clock.now()
    assert (
        "售后工单受阻：合同HT-002（华东精密制造有限公司）。原因：客户机房网络不支持外网访问，无法安装（售后工程师林工）"
        in _texts(org, "ahead")
    )
    latest = dict(
        map(tuple, [c for c in _cards(org, "rep1") if c["title"].startswith("合同进度")][-1]["fields"])
    )
    assert latest["交付"] == "🟡处理中（交付工程师孙工）"
    assert latest["财务"] == "🟢已完成（出纳周会计）"
    assert latest["售后"] == "🔴受阻：客户机房网络不支持外网访问，无法安装"
    with org() as s:  # each change audited with before and after
        rows = s.scalars(
            select(AuditRow).where(AuditRow.entity == "work_order", AuditRow.action == "update")
        ).all()
        assert sorted((r.before["status"], r.after["status"]) for r in rows) == [
            ("open", "blocked"),
            ("open", "claimed"),
            ("open", "done"),
        ]


def test_sla_breach_escalates_once_to_head_then_director(org, clock):
    clock.set(START)
    add_contract(org, "HT-003")
    say(org, clock, "rep1", "合同签署完成 HT-003")
    orders = _orders(org)
    click(org, clock, "f1", card_key(CardAction.WORK_ORDER, "claim", orders["finance"].id))
    clock.advance(hours=23, minutes=59)
    sweep(org, clock)
    assert not [c for c in _cards(org, "dhead") if c["title"].startswith("工单超时")]
    clock.advance(minutes=2)  # past the 24 h
    sweep(org, clock)
    sweep(org, clock, owner="sweeper-2")  # a second sweeper: nothing twice
    breach = [c for c in _cards(org, "dhead") if c["title"].startswith("工单超时")]
    assert [c["title"] for c in breach] == ["工单超时未响应：交付·华东精密制造有限公司"]
    assert breach[0]["description"].startswith(
        "合同HT-003的交付工单已超过24小时无人响应（12月8日 10:00到期）"
    )
    assert [c["title"] for c in _cards(org, "ahead") if c["title"].startswith("工单超时")] == [
        "工单超时未响应：售后·华东精密制造有限公司"
    ]
    assert not [c for c in _cards(org, "fhead") if c["title"].startswith("工单超时")]  # finance answered
    assert not [c for c in _cards(org, "dir") if c["title"].startswith("工单超时")]
    red = dict(
        map(tuple, [c for c in _cards(org, "sup1") if c["title"].startswith("合同进度")][-1]["fields"])
    )
    assert red["交付"] == "🔴超时未响应（12月8日 10:00到期）"
    assert red["财务"] == "🟡处理中（出纳周会计）"

    click(
        org, clock, "a1", card_key(CardAction.WORK_ORDER, "claim", orders["after_sales"].id)
    )  # late, but answered
    clock.advance(hours=24)
    sweep(org, clock)
    clock.advance(hours=48)
    sweep(org, clock)
    director = [c for c in _cards(org, "dir") if c["title"].startswith("工单超时")]
    assert [c["title"] for c in director] == ["工单超时未响应：交付·华东精密制造有限公司"]
    assert (
        director[0]["description"]
        == "合同HT-003的交付工单超时未响应，已通知部门负责人交付负责人陈工，仍无人处理。"
    )
    orders = _orders(org)
    assert (orders["delivery"].escalated, orders["after_sales"].escalated, orders["finance"].escalated) == (
        2,
        1,
        0,
    )
    assert len(timers_of(org, kind="work_order_sla", status="pending")) == 0


def test_unknown_and_foreign_contracts(org, clock):
    clock.set(START)
    add_contract(org, "HT-004")
    say(org, clock, "rep3", "合同签署完成 HT-004")  # rep3 is not the owner nor above them
    assert _texts(org, "rep3")[-1] == "合同HT-004不在你负责的客户范围内，无法操作。"
    say(org, clock, "rep1", "合同签署完成 HT-999")
    assert _texts(org, "rep1")[-1].startswith("没有找到合同「HT-999」")
    say(org, clock, "rep1", "已签约 华东精密")  # not a contract number: left to the rep's line
    assert not _texts(org, "rep1")[-1].startswith("没有找到合同")
    with org() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrderRow)) == 0


def test_missing_terms_are_flagged_to_finance_and_rep(org, clock):
    clock.set(START)
    add_contract(org, "HT-005", terms=None)
    say(org, clock, "rep1", "合同签署完成 HT-005")
    assert "注意：合同没有填写付款条件" in _texts(org, "rep1")[0]
    assert "付款条件未填写" in _texts(org, "fhead")[0]
    add_contract(org, "HT-006", terms="付款视资金情况而定")
    say(org, clock, "rep1", "合同签署完成 HT-006")
    assert "这部分我读不懂：「付款视资金情况而定」（没有可计算的付款时间）" in _texts(org, "rep1")[-1]
    with org() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(InstalmentRow).where(InstalmentRow.contract_no == "HT-006")
            )
            == 0
        )


def test_two_people_signing_at_once_open_three_work_orders(org, clock):
    """The rep and the supervisor sign the same contract at the same moment, handled by two workers in
    parallel: one signing, three work orders, the other told it was recorded already."""
    import threading

    from handlers.messages import TextIn
    from handlers.worker import InboxWorker
    from storage import inbox

    clock.set(START)
    add_contract(org, "HT-010")
    with org() as s:
        for n, who in enumerate(("rep1", "sup1")):
            event = TextIn(
                sender=who, at=int(START.timestamp()), content="合同签署完成 HT-010", msg_id=f"race{n}"
            )
            inbox.put(
                s, dedupe_key=f"race:{n}", sender=who, kind=event.type, event=event.to_dict(), now=START
            )
        s.commit()
    barrier = threading.Barrier(2)

    def drain(owner: str) -> None:
        barrier.wait()
        InboxWorker(session_factory=org, clock=clock, owner=owner).drain()

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with org() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrderRow)) == 3
        signings = s.scalars(
            select(AuditRow).where(AuditRow.entity == "contracts", AuditRow.entity_id == "HT-010")
        ).all()
        assert (
            len(
                [
                    a
                    for a in signings
                    if (a.after or {}).get("signed_at") and not (a.before or {}).get("signed_at")
                ]
            )
            == 1
        )
    said = [t for who in ("rep1", "sup1") for t in _texts(org, who)]
    assert len([t for t in said if t.startswith("已记录：合同HT-010")]) == 1
    assert len([t for t in said if t.startswith("合同HT-010已于")]) == 1
    assert len(_cards(org, "d1")) == 1
