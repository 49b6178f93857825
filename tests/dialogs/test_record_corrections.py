"""Corrections that behave, and a question during a visit: dialog tests through the emulator, on real storage.

The record card is checked as the rep sees it after each step (`h.wecom.card_to`: the card after its
update_template_card), the record in the database, and what the SOP did about it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.clock import local
from handlers import texts
from storage.models import ApprovalRow, PromiseRow, TimerRow, VisitRow, VisitTagRow
from tests.dialogs.test_visit_dialog import photo, visit_of
from tests.support.factories import WEIYUAN, org
from tests.support.harness import Harness

REP = "rep01"
LINE = "价格异议 库存不足，承诺周五前送样品，15天后回访"  # the clock: Monday 2026-11-23 09:00 Shanghai
MISSING_TAG = "需求标签（如 价格异议、库存不足、新品兴趣、账期协商）"


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    with harness.session_factory() as s:
        org(s, touched_at=clock.now())
    return harness


def complete_visit(h, clock, line: str = LINE) -> dict:
    """Check in by GPS, three photos, the line: a complete visit. Returns the record card as sent."""
    h.peer.location_report(REP, *WEIYUAN, precision=10)
    for seed in (1, 2, 3):
        h.peer.image(REP, photo(seed, taken=clock.now() - timedelta(minutes=2)))
    h.tick()
    h.peer.text(REP, line)
    h.tick()
    assert visit_of(h).completed_at is not None
    return record_cards(h)[-1]


def record_cards(h) -> list[dict]:
    return [c for c in h.cards(REP) if c["main_title"]["title"] == "已记录：味源超市"]


def shown(card: dict) -> tuple[dict[str, str], list[str]]:
    """(fields, button texts) of a card as shown."""
    fields = {f["keyname"]: f["value"] for f in card.get("horizontal_content_list", [])}
    return fields, [b["text"] for b in card["button_list"]]


def key_of(card: dict, text: str) -> str:
    return next(b["key"] for b in card["button_list"] if b["text"] == text)


def click(h, card: dict, text: str) -> dict:
    """Click a button of the card as the rep sees it now; returns the card as it is after the click."""
    now = h.wecom.card_to(REP, card["task_id"])
    h.peer.card_click(REP, card["task_id"], key_of(now, text))
    h.tick()
    return h.wecom.card_to(REP, card["task_id"])


def say(h, text: str) -> None:
    h.peer.text(REP, text)
    h.tick()


def tags(h) -> set[str]:
    with h.session_factory() as s:
        return set(s.scalars(select(VisitTagRow.tag).where(VisitTagRow.visit_id == visit_of(h).visit_id)))


def open_promises(h) -> list[tuple[str, str, str]]:
    with h.session_factory() as s:
        rows = s.scalars(
            select(PromiseRow).where(PromiseRow.status == "open").order_by(PromiseRow.kind, PromiseRow.id)
        )
        return [(p.kind, p.text, f"{local(p.due_at):%m-%d %H:%M}") for p in rows]


def approval_status(h) -> str | None:
    with h.session_factory() as s:
        return s.scalar(select(ApprovalRow.status))


FULL = (
    {"需求标签": "价格异议、库存不足", "承诺": "送样品（11月27日 18:00）", "下次回访": "12月08日"},
    ["删除 价格异议", "删除 库存不足", "删除 送样品", "删除 下次回访"],
)
PROMISES = [("follow_up", "15天后回访", "12-08 09:00"), ("promise", "送样品", "11-27 18:00")]


def test_delete_delete_undo_undo_keeps_the_card_and_the_record_in_step(h, clock):
    card = complete_visit(h, clock)
    assert shown(card) == FULL
    assert approval_status(h) == "pending"

    # 1. 删除 库存不足: the card is replaced in place, every other piece keeps its button
    after = click(h, card, "删除 库存不足")
    assert shown(after) == (
        {"需求标签": "价格异议", "承诺": "送样品（11月27日 18:00）", "下次回访": "12月08日"},
        ["删除 价格异议", "删除 送样品", "删除 下次回访"],
    )
    assert tags(h) == {"价格异议"} and open_promises(h) == PROMISES
    assert h.texts(REP)[-1] == texts.REMOVED_PIECE.format(what="库存不足")
    assert visit_of(h).completed_at is not None  # still a tag: still complete

    # 2. 删除 价格异议 on the same card: the last tag, so the visit is incomplete and the rep is told
    after = click(h, card, "删除 价格异议")
    assert shown(after) == (
        {"承诺": "送样品（11月27日 18:00）", "下次回访": "12月08日"},
        ["删除 送样品", "删除 下次回访"],
    )
    assert tags(h) == set() and open_promises(h) == PROMISES
    assert visit_of(h).completed_at is None
    assert h.texts(REP)[-1] == texts.INCOMPLETE_AFTER_CHANGE.format(name="味源超市", missing=MISSING_TAG)
    assert approval_status(h) == "withdrawn"  # removing 价格异议 withdrew its approval

    # 3. 撤销: only the last change — 价格异议 comes back, the visit is complete again, the approval restarts
    say(h, "撤销")
    assert tags(h) == {"价格异议"} and open_promises(h) == PROMISES
    assert texts.UNDO_DONE.format(what=texts.UNDO_WHAT_REMOVAL.format(what="价格异议")) in h.texts(REP)
    assert shown(record_cards(h)[-1]) == (
        {"需求标签": "价格异议", "承诺": "送样品（11月27日 18:00）", "下次回访": "12月08日"},
        ["删除 价格异议", "删除 送样品", "删除 下次回访"],
    )
    assert visit_of(h).completed_at is not None
    assert approval_status(h) == "pending"

    # 4. 撤销 again: 库存不足 is back; the line's promise and follow-up were never touched
    say(h, "撤销")
    assert tags(h) == {"价格异议", "库存不足"} and open_promises(h) == PROMISES
    assert shown(record_cards(h)[-1]) == FULL
    assert len(record_cards(h)) == 3  # the line's card, then one after each 撤销

    # 5. a third 撤销 undoes the line itself
    say(h, "撤销")
    assert tags(h) == set() and open_promises(h) == []
    assert texts.UNDO_DONE.format(what=texts.UNDO_WHAT_TEXT) in h.texts(REP)


def test_undo_of_a_promise_deletion_puts_it_back_with_its_reminders(h, clock):
    card = complete_visit(h, clock)
    after = click(h, card, "删除 送样品")
    assert shown(after)[1] == ["删除 价格异议", "删除 库存不足", "删除 下次回访"]
    assert open_promises(h) == [PROMISES[0]]
    with h.session_factory() as s:
        removed = s.scalars(select(PromiseRow).where(PromiseRow.kind == "promise")).one()
        live = s.scalars(
            select(TimerRow).where(
                TimerRow.subject_id == str(removed.id),
                TimerRow.kind == "promise",
                TimerRow.status == "pending",
            )
        ).all()
    assert live == []  # its reminders went with it

    say(h, "撤销")
    assert open_promises(h) == PROMISES  # exactly what was removed: text and due time
    with h.session_factory() as s:
        back = s.scalars(
            select(PromiseRow).where(PromiseRow.kind == "promise", PromiseRow.status == "open")
        ).one()
        live = s.scalars(
            select(TimerRow).where(TimerRow.subject_id == str(back.id), TimerRow.status == "pending")
        ).all()
    assert {t.kind for t in live} == {"promise"}  # the visit is complete: its reminders are booked again
    assert shown(record_cards(h)[-1]) == FULL
    # the restored promise is the line's now: undoing the line takes it away too
    say(h, "撤销")
    assert open_promises(h) == []


def test_undo_of_a_note_deletion_and_of_a_follow_up_deletion(h, clock):
    card = complete_visit(h, clock, "嫌贵，老板说下周有活动，下周一再去")
    fields, buttons = shown(card)
    assert fields == {"需求标签": "价格异议", "下次回访": "11月30日", "备注": "老板说下周有活动"}
    assert buttons == ["删除 价格异议", "删除 下次回访", "删除 备注"]
    after = click(h, card, "删除 备注")
    assert shown(after) == (
        {"需求标签": "价格异议", "下次回访": "11月30日"},
        ["删除 价格异议", "删除 下次回访"],
    )
    assert visit_of(h).note is None
    after = click(h, card, "删除 下次回访")
    assert shown(after) == ({"需求标签": "价格异议"}, ["删除 价格异议"])
    say(h, "撤销")
    assert open_promises(h) == [("follow_up", "下周一再去", "11-30 09:00")]
    say(h, "撤销")
    assert visit_of(h).note == "老板说下周有活动"
    assert shown(record_cards(h)[-1]) == (fields, buttons)


def test_deleting_everything_leaves_an_undo_button(h, clock):
    card = complete_visit(h, clock, "嫌贵")
    after = click(h, card, "删除 价格异议")
    assert after["main_title"]["desc"] == texts.RECORD_EMPTY
    assert [b["text"] for b in after["button_list"]] == [texts.RECORD_UNDO_BUTTON]
    assert h.texts(REP)[-1] == texts.INCOMPLETE_AFTER_CHANGE.format(name="味源超市", missing=MISSING_TAG)
    click(h, card, texts.RECORD_UNDO_BUTTON)
    assert tags(h) == {"价格异议"} and visit_of(h).completed_at is not None
    assert any("✅ 拜访完成：味源超市" in t for t in h.texts(REP)[-3:])  # complete again: the summary


def test_undoing_a_photo_of_a_complete_visit_says_what_is_missing(h, clock):
    complete_visit(h, clock, "嫌贵")
    h.peer.image(REP, photo(9, taken=clock.now() - timedelta(minutes=1)))
    h.tick()
    say(h, "撤销")  # the fourth photo: three are left, still complete, nothing to say
    assert visit_of(h).completed_at is not None
    assert not any(t.startswith("注意：") for t in h.texts(REP))
    say(h, "撤销")  # the line: no tag any more
    assert h.texts(REP)[-1] == texts.INCOMPLETE_AFTER_CHANGE.format(name="味源超市", missing=MISSING_TAG)


def test_a_replaced_follow_up_comes_back_when_the_line_is_undone(h, clock):
    complete_visit(h, clock, "嫌贵 下周一再去")
    say(h, "15天后回访")
    assert open_promises(h) == [("follow_up", "15天后回访", "12-08 09:00")]
    say(h, "撤销")
    assert open_promises(h) == [("follow_up", "下周一再去", "11-30 09:00")]


# --- a question during a visit ---------------------------------------------------------------------------
def checked_in(h) -> VisitRow:
    say(h, "拜访 味源超市")
    return visit_of(h)


def record_of(h) -> tuple:
    v = visit_of(h)
    with h.session_factory() as s:
        promises = s.scalars(select(PromiseRow.id).where(PromiseRow.visit_id == v.visit_id)).all()
    return v.note, sorted(tags(h)), list(promises), v.completed_at


@pytest.mark.parametrize(
    "question", ["我这个月拜访完整率多少", "今天拜访了哪些", "我的客户里哪些超过30天没跟进"]
)
def test_a_question_during_a_visit_is_answered_and_the_visit_is_unchanged(h, question):
    checked_in(h)
    before = record_of(h)
    n = len(h.texts(REP))
    say(h, question)
    said = h.texts(REP)[n:]
    assert said and not any(t.startswith("已记录") or t.startswith("没太明白") for t in said)
    assert record_of(h) == before == (None, [], [], None)
    assert record_cards(h) == []


def test_an_unclear_line_asks_and_record_it_puts_it_on_the_visit(h, clock):
    checked_in(h)
    say(h, "哪些客户缺货？")
    choice = h.cards(REP)[-1]
    assert choice["main_title"]["title"] == texts.LINE_CHOICE_TITLE
    assert [b["text"] for b in choice["button_list"]] == [texts.LINE_CHOICE_VISIT, texts.LINE_CHOICE_ASK]
    assert record_of(h) == (None, [], [], None)  # nothing recorded before the rep says so
    clock.advance(minutes=2)
    after = click(h, choice, texts.LINE_CHOICE_VISIT)
    assert after["replaced_button"] == texts.LINE_CHOICE_DONE_VISIT
    assert tags(h) == {"库存不足"} and visit_of(h).note == "哪些客户缺货"
    assert shown(record_cards(h)[-1])[1] == ["删除 库存不足", "删除 备注"]
    say(h, "撤销")  # an ordinary change: 撤销 takes it back
    assert tags(h) == set() and visit_of(h).note is None
    h.peer.card_click(REP, choice["task_id"], key_of(choice, texts.LINE_CHOICE_ASK))  # the other button, late
    h.tick()
    assert h.texts(REP)[-1] == texts.LINE_CHOICE_EXPIRED


def test_an_unclear_line_asked_as_a_question_leaves_the_visit(h):
    checked_in(h)
    say(h, "下周一再去吗")
    choice = h.cards(REP)[-1]
    n = len(h.texts(REP))
    after = click(h, choice, texts.LINE_CHOICE_ASK)
    assert after["replaced_button"] == texts.LINE_CHOICE_DONE_ASK
    assert len(h.texts(REP)) > n  # an answer (or how the question was read)
    assert record_of(h) == (None, [], [], None)


def test_visit_content_and_a_plain_remark_are_still_recorded(h):
    checked_in(h)
    say(h, "客户问新品什么时候到")  # the customer's question is a visit fact
    assert tags(h) == {"新品兴趣"} and visit_of(h).note == "客户问新品什么时候到"
    say(h, "店里人多")
    assert visit_of(h).note == "客户问新品什么时候到；店里人多"
