"""Price-objection approvals end to end through the inbox worker: approve, reject (with the asked-for
reason, or typed), repeated clicks, strangers, and the SLA reminder and escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from core.clock import SHANGHAI
from core.events import VisitCompleted
from handlers.routes import ROUTER
from storage.models import ApprovalRow, ApprovalStepRow, AuditRow, CustomerNoteRow, VisitTagRow
from tests.sop.conftest import add_customer, add_visit, click, messages, say, sweep, timers_of, unit_of_work

VISIT_AT = datetime(2026, 11, 23, 8, 40, tzinfo=SHANGHAI)


def _start(sf, clock) -> int:
    add_customer(sf, "c1", "rep1", name="味源超市")
    add_visit(sf, "v1", "c1", "rep1", VISIT_AT, tags=("价格异议", "库存不足"), note="客户嫌贵，要求降价5%")
    with unit_of_work(sf, clock, "rep1", source="inbox:1") as ctx:
        ROUTER.publish(ctx, VisitCompleted("v1"))
    with unit_of_work(sf, clock, "rep1", source="inbox:2") as ctx:
        ROUTER.publish(ctx, VisitCompleted("v1"))  # idempotent: still one approval
    with sf() as s:
        assert s.scalar(select(func.count()).select_from(ApprovalRow)) == 1
        return s.scalars(select(ApprovalRow)).one().id


def _card(sf, who, n=-1):
    return messages(sf, who, kind="card")[n].message


def _texts(sf, who):
    return [m.message["content"] for m in messages(sf, who, kind="text")]


def _updates(sf, who):
    return [
        (m.message["response_code"], m.message["replace_name"]) for m in messages(sf, who, kind="card_update")
    ]


def test_chain_approved_end_to_end_and_clicks_recorded_once(org, clock):
    approval_id = _start(org, clock)
    card = _card(org, "sup1")
    assert card["title"] == "价格异议审批：味源超市"
    assert card["description"] == "张三拜访时客户提出价格异议，请销售主管审批。"
    fields = dict(tuple(f) for f in card["fields"])
    assert fields["需求标签"] == "价格异议、库存不足" and fields["拜访记录"] == "客户嫌贵，要求降价5%"
    assert fields["客户要求"] == "降价5%"  # read from the line (core/price_request.py)
    assert [(b["text"], b["style"]) for b in card["buttons"]] == [("通过", 1), ("通过并附言", 2), ("驳回", 3)]
    rep_card = _card(org, "rep1")  # the rep's own card: what was asked, who decides, 撤回申请
    assert rep_card["title"] == "价格异议审批已提交：味源超市"
    assert rep_card["description"].startswith("已提交给销售主管王主管审批")
    assert dict(tuple(f) for f in rep_card["fields"])["客户要求"] == "降价5%"
    assert [b["text"] for b in rep_card["buttons"]] == ["撤回申请"]
    assert _texts(org, "rep1") == []

    clock.advance(minutes=10)
    click(org, clock, "sup1", card["buttons"][0]["key"], response_code="RC-S", times=3)  # WeCom retries
    assert _updates(org, "sup1") == [("RC-S", "已通过")]
    assert _texts(org, "sup1") == ["已通过，已转交区域经理吴经理审批。"]
    assert _texts(org, "rep1") == [
        "你的价格异议申请（味源超市）销售主管王主管已通过，已转交区域经理吴经理审批。"
    ]
    rm_card = _card(org, "rm1")
    assert dict(tuple(f) for f in rm_card["fields"])["前序意见"] == "销售主管：（无意见）"
    click(org, clock, "sup1", card["buttons"][0]["key"], response_code="RC-S2")  # a later, separate click
    assert _texts(org, "sup1")[-1] == "该审批已处理：已通过。"

    click(org, clock, "rm1", rm_card["buttons"][0]["key"], response_code="RC-R")
    say(org, clock, "fin", "通过 同意按5%执行")
    with org() as s:
        approval = s.get(ApprovalRow, approval_id)
        assert approval.status == "approved" and approval.decided_at == clock.now()
        steps = s.scalars(select(ApprovalStepRow).order_by(ApprovalStepRow.step_no)).all()
        assert [(st.step_no, st.role, st.approver_userid, st.status) for st in steps] == [
            (1, "supervisor", "sup1", "approved"),
            (2, "regional_manager", "rm1", "approved"),
            (3, "finance_director", "fin", "approved"),
        ]
        notes = s.scalars(select(CustomerNoteRow.text).order_by(CustomerNoteRow.id)).all()
        assert notes[-1] == "价格异议审批·财务总监钱财务已通过：同意按5%执行"
        assert len(notes) == 3
    assert (
        _texts(org, "rep1")[-1] == "你的价格异议申请（味源超市）已审批通过。审批意见：财务总监：同意按5%执行"
    )
    assert _texts(org, "fin") == ["已通过，审批完成，已通知张三。"]
    clock.set(VISIT_AT + timedelta(days=5))  # no SLA timer is left to fire
    sweep(org, clock)
    assert not [
        m for m in messages(org, kind="card") if "审批" in m.message["title"] and "提醒" in m.message["title"]
    ]
    assert all(t.status == "cancelled" for t in timers_of(org, kind="approval_sla"))


def test_reject_asks_for_the_reason_and_tells_the_rep(org, clock):
    approval_id = _start(org, clock)
    key = _card(org, "sup1")["buttons"][-1]["key"]
    click(org, clock, "sup1", key, response_code="RC-NO")
    assert _texts(org, "sup1") == ["请回复驳回原因（必填）；回复「取消」放弃驳回。"]
    assert _updates(org, "sup1") == []  # the card waits for the reason
    say(org, clock, "sup1", "取消")
    assert _texts(org, "sup1")[-1] == "已取消驳回，审批仍待你处理。"
    click(org, clock, "sup1", key, response_code="RC-NO2")
    say(org, clock, "sup1", "价格低于公司底线")
    with org() as s:
        assert s.get(ApprovalRow, approval_id).status == "rejected"
        step = s.scalars(select(ApprovalStepRow)).one()
        assert (step.status, step.comment, step.decided_by) == ("rejected", "价格低于公司底线", "sup1")
        assert (
            s.scalars(select(CustomerNoteRow.text)).one()
            == "价格异议审批·销售主管王主管已驳回：价格低于公司底线"
        )
        audited = s.scalars(select(AuditRow.entity).where(AuditRow.actor == "sup1")).all()
        assert {"approval_step", "approval", "customer_note"} <= set(audited)
    assert _updates(org, "sup1") == [("RC-NO2", "已驳回")]
    assert (
        _texts(org, "rep1")[-1] == "你的价格异议申请（味源超市）被销售主管王主管驳回，原因：价格低于公司底线"
    )
    assert _texts(org, "sup1")[-1] == "已驳回，已通知张三。"
    assert messages(org, "rm1") == []


def test_typed_reject_and_strangers(org, clock):
    approval_id = _start(org, clock)
    key = _card(org, "sup1")["buttons"][0]["key"]
    click(org, clock, "rep2", key)
    assert _texts(org, "rep2") == ["你不是这条审批的审批人。"]
    say(org, clock, "sup1", "驳回 先按原价供货")
    with org() as s:
        assert s.get(ApprovalRow, approval_id).status == "rejected"
    say(org, clock, "sup1", "驳回 再驳回一次")
    assert _texts(org, "sup1")[-1] == "你当前没有待审批的事项。"


def test_sla_reminds_then_escalates_to_the_approvers_manager(org, clock):
    approval_id = _start(org, clock)
    start = clock.now()
    clock.set(start + timedelta(hours=23))
    sweep(org, clock)
    assert len(messages(org, "sup1", kind="card")) == 1
    clock.set(start + timedelta(hours=24, minutes=10))
    sweep(org, clock)
    sweep(org, clock)
    remind = _card(org, "sup1")
    assert remind["title"] == "审批提醒：味源超市" and "24小时" in remind["description"]
    assert messages(org, "rm1") == []
    clock.set(start + timedelta(hours=48, minutes=20))
    sweep(org, clock)
    sweep(org, clock)
    escalated = _card(org, "rm1")
    assert escalated["title"] == "审批升级：味源超市"
    assert escalated["description"] == "王主管超过48小时未处理价格异议审批，已转由你审批。"
    assert _texts(org, "sup1") == [
        "价格异议审批（味源超市）超时未处理，已升级给吴经理。你仍可在原卡片上处理。"
    ]
    with org() as s:
        steps = s.scalars(select(ApprovalStepRow).order_by(ApprovalStepRow.id)).all()
        assert [(st.step_no, st.approver_userid, st.status) for st in steps] == [
            (1, "sup1", "escalated"),
            (1, "rm1", "pending"),
        ]
    # the regional manager decides step 1; the chain's regional-manager role is then skipped (already asked)
    click(org, clock, "rm1", escalated["buttons"][0]["key"], response_code="RC-RM")
    assert _card(org, "fin")["title"] == "价格异议审批：味源超市"
    # the original approver's old card is settled now
    click(org, clock, "sup1", remind["buttons"][0]["key"], response_code="RC-OLD")
    assert _texts(org, "sup1")[-1] == "该审批已处理：已通过。"
    with org() as s:
        assert s.get(ApprovalRow, approval_id).current_step == 2
    clock.set(start + timedelta(days=10))
    sweep(org, clock)
    sweep(org, clock)
    # finance was reminded at +24 h and escalated at +48 h: nobody above finance → nothing more
    assert [m.message["title"] for m in messages(org, "fin", kind="card")] == [
        "价格异议审批：味源超市",
        "审批提醒：味源超市",
    ]


def test_the_original_approver_may_still_decide_after_escalation(org, clock):
    approval_id = _start(org, clock)
    original = _card(org, "sup1")
    clock.set(clock.now() + timedelta(hours=49))
    sweep(org, clock)
    sweep(org, clock)
    escalated = _card(org, "rm1")
    click(org, clock, "sup1", original["buttons"][0]["key"], response_code="RC-LATE")
    assert _texts(org, "sup1")[-1] == "已通过，已转交区域经理吴经理审批。"
    click(org, clock, "rm1", escalated["buttons"][-1]["key"], response_code="RC-RM")  # step 1 is settled
    assert _texts(org, "rm1")[-1] == "该审批已处理：已通过。"
    assert _updates(org, "rm1") == [("RC-RM", "已通过")]
    with org() as s:
        steps = s.scalars(select(ApprovalStepRow).order_by(ApprovalStepRow.id)).all()
        assert [(st.step_no, st.approver_userid, st.status, st.decided_by) for st in steps] == [
            (1, "sup1", "escalated", None),
            (1, "rm1", "approved", "sup1"),
            (2, "rm1", "pending", None),
        ]
        assert s.get(ApprovalRow, approval_id).current_step == 2
        assert (
            s.scalars(select(CustomerNoteRow.text)).one() == "价格异议审批·销售主管王主管已通过：（无意见）"
        )


def test_taking_the_tag_off_withdraws_the_approval_and_putting_it_back_restarts_it(org, clock):
    approval_id = _start(org, clock)
    card = _card(org, "sup1")
    clock.advance(minutes=5)
    click(org, clock, "rep1", "fix:tag:v1:价格异议")  # the rep's correction card: the tag was a mistake
    with org() as s:
        approval = s.get(ApprovalRow, approval_id)
        assert (approval.status, approval.decided_at) == ("withdrawn", clock.now())
        assert [st.status for st in s.scalars(select(ApprovalStepRow))] == ["withdrawn"]
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditRow)
                .where(
                    AuditRow.entity == "approval",
                    AuditRow.entity_id == str(approval_id),
                    AuditRow.action == "update",
                )
            )
            == 1
        )
    assert _texts(org, "sup1") == [
        "价格异议审批已撤回（味源超市）：张三撤销了这次拜访的「价格异议」标签，无需再审批。"
    ]
    assert all(t.status == "cancelled" for t in timers_of(org, kind="approval_sla"))
    clock.set(VISIT_AT + timedelta(days=3))
    sweep(org, clock)  # no reminder or escalation for a withdrawn approval
    assert [m.recipient for m in messages(org, kind="card") if "审批" in m.message["title"]] == [
        "sup1",
        "rep1",
    ]
    click(
        org, clock, "sup1", card["buttons"][0]["key"], response_code="RC-late"
    )  # a late click on the old card
    assert _updates(org, "sup1") == [("RC-late", "已撤回")]
    assert _texts(org, "sup1")[-1] == "该审批已处理：已撤回。"

    with org() as s:  # the tag is back
        s.add(VisitTagRow(visit_id="v1", tag="价格异议"))
        s.commit()
    with unit_of_work(org, clock, "rep1", source="inbox:9") as ctx:
        ROUTER.publish(ctx, VisitCompleted("v1"))
    with org() as s:
        assert s.get(ApprovalRow, approval_id).status == "pending"
        steps = s.scalars(select(ApprovalStepRow).order_by(ApprovalStepRow.step_no)).all()
        assert [(st.step_no, st.approver_userid, st.status) for st in steps] == [
            (1, "sup1", "withdrawn"),
            (2, "sup1", "pending"),
        ]
    assert len(messages(org, "sup1", kind="card")) == 2
    rep_cards = [
        m for m in messages(org, "rep1", kind="card") if m.message["title"].startswith("价格异议审批已提交")
    ]
    assert len(rep_cards) == 2  # a new card for the rep too


def test_cards_still_in_the_outbox_when_the_approval_ends_go_final_once_sent(org, clock):
    """Nothing is sent in these unit-of-work tests: when the approval ends, its cards wait in the outbox, so an
    approval_cards timer retries; once the relay has sent them (their send's response_code stored), the timer
    puts each in its final state, once."""
    from storage.models import ApprovalCardRow, OutboxRow

    _start(org, clock)
    say(org, clock, "sup1", "驳回 价格低于公司底线")
    (retry,) = timers_of(org, kind="approval_cards")
    assert retry.status == "pending"
    with org() as s:  # the relay sends them meanwhile (what bot/wecom/relay.py records on success)
        for n, row in enumerate(s.scalars(select(OutboxRow).where(OutboxRow.kind == "card"))):
            row.status, row.response_code = "sent", f"RC-SEND-{n}"
        s.commit()
    clock.advance(minutes=3)
    sweep(org, clock)
    updates = {m.recipient: m.message for m in messages(org, kind="card_update")}
    assert set(updates) == {"sup1", "rep1"}
    for message in updates.values():
        assert message["response_code"].startswith("RC-SEND-")
        card = message["card"]
        assert card["replace_text"] == "已驳回" and card["task_id"].startswith("appr-")
        assert dict(tuple(f) for f in card["fields"])["审批结果"] == "已驳回（销售主管王主管）"
    with org() as s:
        assert all(c.final_at is not None for c in s.scalars(select(ApprovalCardRow)))
    clock.advance(minutes=10)
    sweep(org, clock)
    assert len(messages(org, kind="card_update")) == 2  # once each
