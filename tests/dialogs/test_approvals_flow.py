"""Approvals as approvers expect: dialog tests through the emulator, on real storage (SQLite and PostgreSQL).

The rep logs a complete visit tagged 价格异议 (tests/dialogs/test_record_corrections.py `complete_visit`); the
chain is 郑主管 (supervisor) → 吴经理 (regional manager) → 钱总监 (finance). Cards are checked as each person
sees them now (`h.wecom.card_to`: after every update_template_card), the approval in the database, and the
words the rep gets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers import texts
from handlers.sop import texts as T
from storage.models import ApprovalCardRow, ApprovalRow, ApprovalStepRow, ConversationRow
from tests.dialogs.test_record_corrections import REP, complete_visit
from tests.dialogs.test_record_corrections import click as click_record
from tests.support.factories import FAR, WEIYUAN, org
from tests.support.harness import Harness

SUP, RM, FIN = "sup01", "rm_east", "finance"
LINE = "价格异议 要求降5%，承诺周五前送样品"


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    with harness.session_factory() as s:
        org(s, touched_at=clock.now())
    return harness


def approval_cards(h, who: str) -> list[dict]:
    """The approval cards `who` received (as sent), oldest first."""
    return [c for c in h.cards(who) if "审批" in c["main_title"]["title"]]


def now_shown(h, who: str, card: dict) -> dict:
    return h.wecom.card_to(who, card["task_id"])


def fields(card: dict) -> dict[str, str]:
    return {f["keyname"]: f["value"] for f in card.get("horizontal_content_list", [])}


def tap(h, who: str, card: dict, button: str) -> None:
    shown = now_shown(h, who, card)
    key = next(b["key"] for b in shown["button_list"] if b["text"] == button)
    h.peer.card_click(who, card["task_id"], key)
    h.tick()


def say(h, who: str, text: str) -> None:
    h.peer.text(who, text)
    h.tick()


def approval(h) -> ApprovalRow:
    with h.session_factory() as s:
        return s.scalars(select(ApprovalRow).order_by(ApprovalRow.id.desc())).first()


def steps(h) -> list[tuple[int, str, str, str | None]]:
    with h.session_factory() as s:
        rows = s.scalars(select(ApprovalStepRow).order_by(ApprovalStepRow.id))
        return [(st.step_no, st.approver_userid, st.status, st.comment) for st in rows]


def is_final(card: dict, label: str) -> bool:
    """Final: its buttons greyed out under `label` (update_template_card's replace_text)."""
    return card.get("replaced_button") == label


def state_of(h, who: str) -> str:
    with h.session_factory() as s:
        row = s.get(ConversationRow, who)
        return row.state if row else "idle"


def start(h, clock, line: str = LINE) -> dict:
    """A complete visit with 价格异议: the supervisor's card."""
    complete_visit(h, clock, line)
    h.tick()
    (card,) = approval_cards(h, SUP)
    return card


# --- 1. a question survives re-entering the app and any unrelated event ------------------------------------


def test_reject_after_reentering_the_app(h, clock):
    card = start(h, clock)
    clock.advance(minutes=3)
    tap(h, SUP, card, "驳回")
    assert h.texts(SUP)[-1] == T.ASK_REJECT_REASON
    assert state_of(h, SUP) == "sop_approval_reject_reason"
    clock.advance(minutes=1)
    h.peer.enter_agent(SUP)  # the approver leaves the chat and opens the app again …
    h.tick()
    # … gets the welcome (the first opening) and is reminded of the question (a repeat: invisibly marked)
    assert h.texts(SUP)[-1].strip("\u200b\u2060") == T.ASK_REJECT_REASON
    h.peer.location_report(SUP, *FAR, precision=20)  # … which also reports where they are
    h.tick()
    assert state_of(h, SUP) == "sop_approval_reject_reason"
    clock.advance(minutes=1)
    say(h, SUP, "价格低于公司底线")
    assert approval(h).status == "rejected"
    assert steps(h) == [(1, SUP, "rejected", "价格低于公司底线")]
    assert h.texts(SUP)[-1] == T.REJECTED_DONE.format(rep="张伟")  # not an answer from the question parser
    assert state_of(h, SUP) != "sop_approval_reject_reason"  # back to the flow beneath (the GPS report's)
    assert is_final(now_shown(h, SUP, card), "已驳回")
    assert T.REP_REJECTED.format(
        customer="味源超市", role="销售主管", name="郑主管", reason="价格低于公司底线"
    ) in (h.texts(REP))


@pytest.mark.parametrize("event", ["map_location", "gps_report", "enter_agent", "image", "help"])
def test_reject_after_an_unrelated_event(h, clock, event):
    card = start(h, clock)
    tap(h, SUP, card, "驳回")
    if event == "map_location":
        h.peer.location(SUP, *WEIYUAN, label="上海市静安区")
    elif event == "gps_report":
        h.peer.location_report(SUP, *WEIYUAN, precision=10)
    elif event == "enter_agent":
        h.peer.enter_agent(SUP)
    elif event == "image":
        from tests.dialogs.test_visit_dialog import photo

        h.peer.image(SUP, photo(7))
    else:
        h.peer.text(SUP, "帮助")
    h.tick()
    assert state_of(h, SUP) == "sop_approval_reject_reason", event
    say(h, SUP, "这个价格做不了")
    assert approval(h).status == "rejected"
    assert steps(h) == [(1, SUP, "rejected", "这个价格做不了")]


def test_reject_after_another_card_click_and_a_timer(h, clock):
    """While asked for the reason of approval A: a click on approval B's 通过, and A's SLA reminder (a timer)
    arrive; the reason then still rejects A."""
    first = start(h, clock)
    clock.advance(hours=23, minutes=40)
    tap(h, SUP, first, "驳回")
    clock.advance(minutes=30)  # the 24-hour SLA reminder of A fires while the question is open
    h.tick()
    reminders = [c for c in approval_cards(h, SUP) if c["main_title"]["title"].startswith("审批提醒")]
    assert len(reminders) == 1
    assert state_of(h, SUP) == "sop_approval_reject_reason"
    say(h, SUP, "驳回 先按原价供货")  # the verb may come with the reason
    assert approval(h).status == "rejected"
    assert steps(h) == [(1, SUP, "rejected", "先按原价供货")]
    # both the first card and the reminder are final now
    assert is_final(now_shown(h, SUP, first), "已驳回")
    assert is_final(now_shown(h, SUP, reminders[0]), "已驳回")


def test_another_approvals_card_click_keeps_the_question(h, clock):
    first = start(h, clock)
    # rep02 logs a price objection at another store of the org too: a second card for the supervisor
    with h.session_factory() as s:
        from storage.models import CustomerRow

        s.get(CustomerRow, "C002").owner_userid = "rep02"
        s.commit()
    tap(h, SUP, first, "驳回")
    second = _second_approval(h, clock)
    tap(h, SUP, second, "通过")
    assert state_of(h, SUP) == "sop_approval_reject_reason"
    say(h, SUP, "降幅太大")
    with h.session_factory() as s:
        rows = s.scalars(select(ApprovalRow).order_by(ApprovalRow.id)).all()
        assert [r.status for r in rows] == ["rejected", "pending"]
        assert rows[1].current_step == 2
    assert steps(h)[0] == (1, SUP, "rejected", "降幅太大")


def _second_approval(h, clock) -> dict:
    from tests.dialogs.test_visit_dialog import photo
    from tests.support.factories import NEIGHBOUR

    clock.advance(minutes=5)
    h.peer.location_report("rep02", *NEIGHBOUR, precision=10)
    for seed in (11, 12, 13):
        h.peer.image("rep02", photo(seed, taken=clock.now() - timedelta(minutes=2)))
    h.tick()
    h.peer.text("rep02", "价格异议 要9折")
    h.tick()
    h.tick()
    cards = approval_cards(h, SUP)
    assert len(cards) == 2
    return cards[-1]


def test_a_new_command_ends_the_question(h, clock):
    card = start(h, clock)
    tap(h, SUP, card, "驳回")
    say(h, SUP, "看板")  # a deliberate new command
    assert state_of(h, SUP) == "idle"
    assert approval(h).status == "pending"
    assert T.ASK_REJECT_REASON not in h.texts(SUP)[-1]


def test_cancel_ends_the_question_and_an_unanswered_one_lapses(h, clock):
    card = start(h, clock)
    tap(h, SUP, card, "驳回")
    say(h, SUP, "取消")
    assert h.texts(SUP)[-1] == T.REJECT_CANCELLED and state_of(h, SUP) == "idle"
    tap(h, SUP, card, "驳回")
    clock.advance(hours=13)  # past dialog.QUESTION_TTL: the text is not taken as the reason
    say(h, SUP, "上周拜访了多少家客户")
    assert approval(h).status == "pending" and state_of(h, SUP) == "idle"


def test_a_step_decided_by_someone_else_ends_the_question(h, clock):
    """The supervisor taps 驳回 and leaves; the step is escalated and the regional manager approves it: the
    supervisor's next text is not a reason for a step that no longer waits for them."""
    card = start(h, clock)
    clock.advance(hours=47)
    h.tick()
    tap(h, SUP, card, "驳回")
    clock.advance(hours=2)  # escalated to 吴经理 (48 h)
    h.tick()
    escalated = [c for c in approval_cards(h, RM) if c["main_title"]["title"].startswith("审批升级")]
    tap(h, RM, escalated[-1], "通过")
    say(h, SUP, "客户要求太高")
    assert approval(h).status == "pending" and approval(h).current_step == 2
    assert state_of(h, SUP) == "idle"
    assert [st[2] for st in steps(h)][:2] == ["escalated", "approved"]


# --- 2. a withdrawn or decided approval's cards go final everywhere ------------------------------------------


def test_a_withdrawn_card_goes_final_everywhere(h, clock):
    card = start(h, clock)
    tap(h, SUP, card, "通过")  # step 1 approved: the regional manager gets the card
    (rm_card,) = approval_cards(h, RM)
    (rep_card,) = approval_cards(h, REP)
    assert [b["text"] for b in rm_card["button_list"]] == ["通过", "通过并附言", "驳回"]
    # the rep takes 价格异议 off the visit on the record card
    record = [c for c in h.cards(REP) if c["main_title"]["title"] == "已记录：味源超市"][-1]
    click_record(h, record, "删除 价格异议")
    h.tick()
    assert approval(h).status == "withdrawn"
    for who, c in ((SUP, card), (RM, rm_card), (REP, rep_card)):
        shown = now_shown(h, who, c)
        assert is_final(shown, "已撤回"), who
        assert fields(shown)["审批结果"] == T.RESULT_WITHDRAWN.format(why=T.WHY_TAG_REMOVED)
        assert fields(shown)["客户要求"] == "降价5%"
    with h.session_factory() as s:
        assert all(c.final_at is not None for c in s.scalars(select(ApprovalCardRow)))


def test_the_reps_withdraw_button_and_a_reminder_card(h, clock):
    card = start(h, clock)
    clock.advance(hours=24, minutes=30)
    h.tick()  # the SLA reminder: a second card for the supervisor
    reminder = approval_cards(h, SUP)[-1]
    assert reminder["main_title"]["title"] == "审批提醒：味源超市"
    (rep_card,) = approval_cards(h, REP)
    tap(h, REP, rep_card, "撤回申请")
    assert approval(h).status == "cancelled"  # withdrawn by the rep: it does not restart by itself
    assert h.texts(REP)[-1] == T.REP_WITHDRAWN.format(customer="味源超市")
    assert T.APPROVAL_WITHDRAWN_BY_REP.format(customer="味源超市", rep="张伟") in h.texts(SUP)
    for who, c in ((SUP, card), (SUP, reminder), (REP, rep_card)):
        assert is_final(now_shown(h, who, c), "已撤回"), (who, c["main_title"]["title"])
    tap(h, SUP, card, "通过")  # a click WeCom would not even offer: acknowledged, nothing decided
    assert h.texts(SUP)[-1] == T.ALREADY_DECIDED.format(status="已撤回")


def test_a_decided_card_goes_final_at_every_earlier_step_and_comments_reach_the_rep(h, clock):
    card = start(h, clock)
    tap(h, SUP, card, "通过并附言")
    assert h.texts(SUP)[-1] == T.ASK_APPROVE_COMMENT
    h.peer.enter_agent(SUP)
    h.tick()
    say(h, SUP, "客户是重点门店，建议支持")
    assert is_final(now_shown(h, SUP, card), "已通过")  # greyed at once (its final state comes later)
    assert T.REP_STEP_APPROVED.format(
        customer="味源超市",
        role="销售主管",
        name="郑主管",
        comment=T.STEP_COMMENT.format(comment="客户是重点门店，建议支持"),
        next_role="区域经理",
        next_name="吴经理",
    ) in h.texts(REP)
    (rm_card,) = approval_cards(h, RM)
    assert fields(rm_card)["前序意见"] == "销售主管：客户是重点门店，建议支持"
    tap(h, RM, rm_card, "通过")
    (fin_card,) = approval_cards(h, FIN)
    say(h, FIN, "驳回 超出本季度折扣额度")
    assert approval(h).status == "rejected"
    (rep_card,) = approval_cards(h, REP)
    for who, c in ((SUP, card), (RM, rm_card), (FIN, fin_card), (REP, rep_card)):
        shown = now_shown(h, who, c)
        assert is_final(shown, "已驳回"), who
        assert fields(shown)["审批结果"] == "已驳回（财务总监钱总监）", who
        assert shown["main_title"]["desc"] == "已驳回（财务总监钱总监），原因：超出本季度折扣额度"
        # a field holds 60 bytes: the comments are clipped there, whole in the rep's message
        assert fields(shown)["审批意见"].startswith("销售主管郑主管：客户是重点门店，建议支")
    assert h.texts(REP)[-1] == T.REP_REJECTED.format(
        customer="味源超市", role="财务总监", name="钱总监", reason="超出本季度折扣额度"
    )


def test_approved_with_comment_all_the_way(h, clock):
    card = start(h, clock)
    tap(h, SUP, card, "通过")
    tap(h, RM, approval_cards(h, RM)[0], "通过")
    fin_card = approval_cards(h, FIN)[0]
    tap(h, FIN, fin_card, "通过并附言")
    say(h, FIN, "同意按5%执行，下月起")
    assert approval(h).status == "approved"
    assert h.texts(REP)[-1] == T.REP_APPROVED.format(
        customer="味源超市", comments=T.COMMENTS_LINE.format(comments="财务总监：同意按5%执行，下月起")
    )
    for who, c in ((SUP, card), (FIN, fin_card), (REP, approval_cards(h, REP)[0])):
        shown = now_shown(h, who, c)
        assert is_final(shown, "已通过"), who
        assert fields(shown)["审批结果"] == T.RESULT_APPROVED.format(who="财务总监钱总监")


# --- 3. the card shows what the rep asked for ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("价格异议 客户要求单价降到12元", "单价降到12元"),
        ("太贵了 要9折 *急* <b>", "打9折"),
        ("价格异议 降价3块", "每件降3元"),
        ("价格异议 客户嫌贵", T.REQUEST_UNKNOWN),
    ],
)
def test_the_requested_price_is_on_the_card(h, clock, line, shown):
    card = start(h, clock, line)
    assert fields(card)["客户要求"] == shown
    (rep_card,) = approval_cards(h, REP)
    assert fields(rep_card)["客户要求"] == shown
    assert approval(h).request_phrase is None or approval(h).request_phrase in line


def test_help_keeps_the_question_open(h, clock):
    card = start(h, clock)
    tap(h, SUP, card, "驳回")
    say(h, SUP, "帮助")
    assert h.texts(SUP)[-1] == texts.HELP_MANAGER
    say(h, SUP, "价格低于底线")
    assert approval(h).status == "rejected"


def test_the_request_said_by_voice(h, clock):
    from tests.dialogs.test_visit_dialog import photo

    h.peer.location_report(REP, *WEIYUAN, precision=10)
    for seed in (1, 2, 3):
        h.peer.image(REP, photo(seed, taken=clock.now() - timedelta(minutes=2)))
    h.tick()
    h.peer.voice(REP, "价格异议，客户说要八五折才进货。")  # WeCom's recognition of the voice message
    h.tick()
    h.tick()
    (card,) = approval_cards(h, SUP)
    assert fields(card)["客户要求"] == "打8.5折"
