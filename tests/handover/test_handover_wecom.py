"""Hand-over end to end through the emulator: an admin deactivates a rep, their manager picks the successor on
the card, the book moves (audited), the calendar entries are re-made in the successor's WeCom calendar, and
WeCom's 离职继承 moves their WeChat customers; a rep moved by an import gets 在职继承. Plain Chinese reports."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.bootstrap import on_imported
from handlers.context import Ctx
from handlers.sop import calendar
from storage.db import writer_session
from storage.handover.book import leftovers
from storage.handover.models import HandoverRow
from storage.importer.run import import_paths
from storage.leads.models import LeadRow
from storage.models import AuditRow, CustomerRow, PromiseRow
from tests.support.factories import org
from tests.support.harness import Harness

EMPTY = {"customers": 0, "promises": 0, "leads": 0, "lead_steps": 0, "work_orders": 0, "timers": 0}


def _pick(h: Harness, manager: str, button_text: str) -> None:
    card = h.cards(manager)[-1]
    key = next(b["key"] for b in card["button_list"] if b["text"] == button_text)
    h.peer.card_click(manager, card["task_id"], key)
    for _ in range(3):  # the click; the relay's calendar and transfer calls; the transfer's report
        h.tick()


def test_a_departure_is_handed_over_with_its_calendar_and_wecom_customers(
    db_url, tmp_path, redis_server, clock
):
    h = Harness(db_url, tmp_path, redis_server, clock, WECOM_CUSTOMER_CONTACT=True)
    now = clock.now()
    with writer_session(h.session_factory) as s:
        org(s, touched_at=now)
        p = PromiseRow(
            kind="promise",
            customer_id="C001",
            rep_userid="rep01",
            text="送样品",
            due_at=now + timedelta(days=2),
            status="open",
            created_at=now,
        )
        s.add(p)
        s.add(
            LeadRow(
                lead_id="WXwmA1",
                company="味源采购部",
                contact_name="王芳",
                owner_userid="rep01",
                created_at=now,
                quiet_since=now,
                stage_since=now,
                stage="new",
            )
        )
        s.flush()
        calendar.sync_calendar(Ctx(session=s, now=now, user=None, userid="system:test", source="test"), p)
        pid = p.id
        s.commit()
    h.tick()
    [(old_id, entry)] = h.wecom.schedules.items()
    assert entry["attendees"] == [{"userid": "rep01"}]
    h.wecom.transfers.add_contact("rep01", "wmA1")
    h.wecom.transfers.add_contact("rep01", "wmB2")
    h.wecom.transfers.resign("rep01")  # WeCom's own record of the departure

    h.peer.text("admin", "停用 rep01")
    h.tick()
    assert "已请郑主管选择接手人" in h.texts("admin")[-1]
    card = h.texts("sup01")[-1]
    assert (
        card.startswith("客户交接：张伟（离职）")
        and "味源超市" in card
        and "日历日程：1" in card
        and "客户：3家：味源超市" in card
    )
    assert h.cards("sup01")[-1]["task_id"]
    _pick(h, "sup01", "李娜")

    with h.session_factory() as s:
        assert leftovers(s, "rep01") == EMPTY
        assert {
            c.owner_userid for c in s.scalars(select(CustomerRow)) if c.customer_id.startswith("C00")
        } >= {"rep02"}
        row = s.scalars(select(HandoverRow)).one()
        assert (row.status, row.successor, row.decided_by) == ("done", "rep02", "sup01")
        assert sorted(c["external_userid"] for c in row.wecom["customers"]) == ["wmA1", "wmB2"]
        handed = s.scalars(select(AuditRow).where(AuditRow.reason == f"handover:{row.id}")).all()
        assert {a.entity for a in handed} >= {"customer", "promise", "lead", "handover"}
        assert s.get(PromiseRow, pid).schedule_id not in (None, old_id)
    schedules = h.wecom.schedules
    assert old_id not in schedules  # the departed rep's entry deleted
    assert [e["attendees"] for e in schedules.values()] == [[{"userid": "rep02"}]]
    [call] = h.wecom.calls_to("externalcontact/resigned/transfer_customer")
    assert call.body["handover_userid"] == "rep01" and call.body["takeover_userid"] == "rep02"
    assert h.wecom.calls_to("externalcontact/get_unassigned_list")

    told = h.texts("rep02")
    assert any(t.startswith("【客户交接】张伟（离职）名下的工作已交给你：客户") for t in told)
    report = next(t for t in told if t.startswith("【企业微信离职继承】"))
    assert "已提交2位，未成功0位" in report and "王芳：等待接替" in report
    assert any(t.startswith("【客户交接】已将张伟（离职）名下的工作交给李娜") for t in h.texts("sup01"))
    assert any(t.startswith("【企业微信离职继承】") for t in h.texts("sup01"))
    assert not [t for t in h.texts("rep01") if "交接" in t]  # nothing addressed to the departed rep

    clock.advance(hours=25)
    assert h.wecom.transfers.followers_of("wmA1") == ["rep02"]


def test_a_rep_moved_by_an_import_is_handed_over_with_wecom_on_the_job_transfer(
    db_url, tmp_path, redis_server, clock
):
    h = Harness(db_url, tmp_path, redis_server, clock, WECOM_CUSTOMER_CONTACT=True)
    with writer_session(h.session_factory) as s:
        org(s, touched_at=clock.now())
        s.commit()
    h.wecom.transfers.add_contact("rep01", "wmC3")
    h.wecom.transfers.add_contact("rep02", "wmD4")  # another rep's contact: not part of the transfer
    folder = tmp_path / "import"
    folder.mkdir()
    (folder / "users.csv").write_text(
        "userid,name,role,manager_userid,region\nsup02,孙主管,supervisor,rm_east,华南\nrep01,张伟,rep,sup02,华南\n",
        encoding="utf-8",
    )
    import_paths(
        h.session_factory, [folder / "users.csv"], now=clock.now(), progress=False, on_imported=on_imported
    )
    h.tick()
    with h.session_factory() as s:
        row = s.scalars(select(HandoverRow)).one()
        assert (row.reason, row.decider, row.detail["manager"], row.detail["region"]) == (
            "moved",
            "sup01",
            "sup01",
            "华东",
        )
    card = h.texts("sup01")[-1]
    assert card.startswith("客户交接：张伟（调岗）") and "调岗前：郑主管" in card
    _pick(h, "sup01", "李娜")

    with h.session_factory() as s:
        assert leftovers(s, "rep01")["customers"] == 0
        assert s.get(CustomerRow, "C001").owner_userid == "rep02"
    [call] = h.wecom.calls_to("externalcontact/transfer_customer")
    assert call.body["external_userid"] == ["wmC3"] and call.body["takeover_userid"] == "rep02"
    assert h.wecom.calls_to("externalcontact/transfer_result")
    assert any(
        t.startswith("【企业微信在职继承】张伟的企业微信客户转给李娜：已提交1位") for t in h.texts("rep02")
    )
    assert any(t.startswith("【客户交接】你调岗前名下的工作已交给李娜") for t in h.texts("rep01"))
