"""The first day of a real team: the first import of history, then the SOP's own clock.

Through the real callback and the WeCom emulator, on real storage: what is already stale or overdue at
import time becomes one catch-up digest per person (no flood), items that fall due after the import alert
as before, stale alerts speak in days, a customer younger than the stale window is never stale, and
已跟进 needs evidence (a touch since the alert, or how it was followed up)."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.bootstrap import on_imported
from core.clock import SHANGHAI
from nlq.cli import run_ask
from storage.importer.run import import_paths
from storage.importer.sample import write_sample_dataset
from storage.models import AuditRow, CustomerNoteRow, InteractionRow, OrgConfigRow, TimerRow
from tests.support.harness import Harness

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # the clock fixture's start
DIGEST_HEAD = "历史数据已导入。"


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    return Harness(db_url, tmp_path, redis_server, clock)


def _import(h, folder: Path, now: datetime) -> None:
    import_paths(h.session_factory, [folder], now=now, progress=False, on_imported=on_imported)


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).replace(tzinfo=None).isoformat(timespec="seconds")


def _run(h, clock, until: datetime, step: timedelta = timedelta(hours=1)) -> None:
    """Beat the worker every `step` of clock time up to `until` (the hourly stale scan runs at :07)."""
    at = clock.now()
    while at < until:
        at = min(at + step, until)
        clock.set(at)
        h.tick()


def _by_user(h) -> dict[str, list[dict]]:
    """What every member received so far, by userid."""
    out: dict[str, list[dict]] = {}
    for d in h.wecom.all_deliveries():
        out.setdefault(d.userid, []).append(d.body)
    return out


def _ask(h, asker: str, question: str, now: datetime) -> str:
    out = io.StringIO()
    assert (
        run_ask(h.session_factory, asker=asker, question=question, now=now, out=out, err=io.StringIO()) == 0
    )
    return out.getvalue()


# --- 1. the first import of six months of history ---------------------------------------------------


def test_first_import_of_six_months_is_one_catch_up_digest_per_person(h, clock, tmp_path):
    folder = tmp_path / "sample"
    write_sample_dataset(folder, customers=600, now=NOW)
    _import(h, folder, NOW)
    h.tick()  # the first sweep
    first = _by_user(h)
    assert first, "the digest went out"
    for user, msgs in first.items():
        assert len(msgs) == 1, (user, [m["msgtype"] for m in msgs])
        assert msgs[0]["msgtype"] == "text" and msgs[0]["text"]["content"].startswith(DIGEST_HEAD)
    with h.session_factory() as s:
        held = Counter(
            t.kind for t in s.scalars(select(TimerRow).where(TimerRow.outcome.like("held for catch_up:%")))
        )
        backlog_customers = set(
            s.scalars(
                select(TimerRow.subject_id).where(
                    TimerRow.kind == "stale", TimerRow.outcome.like("held for catch_up:%")
                )
            )
        )
    assert held["stale"] > 100 and held["payment_overdue"] > 10  # the flood that did not happen
    assert {"rep01", "sup01", "rm_east", "finance"} <= set(first)

    # the rep's digest: a count, the oldest few, and a question that lists the rest — which it answers
    rep_text = first["rep01"][0]["text"]["content"]
    n = int(re.search(r"你名下超过72小时未跟进的客户：(\d+)家", rep_text).group(1))
    assert len(re.findall(r"^\d\. ", rep_text, flags=re.M)) == min(3, n)
    assert "「超过72小时未跟进的客户」" in rep_text
    assert re.search(r"（已\d+天未跟进）|（还没有跟进过）", rep_text)
    answer = _ask(h, "rep01", "超过72小时未跟进的客户", clock.now())
    assert n > 5 and f"共{n}个" in answer
    h.peer.text("rep01", "超过72小时未跟进的客户")  # typed in the chat, it is a question, not a visit line
    h.tick()
    chat = h.texts("rep01")[1:]
    assert chat[0].startswith("理解为：超过72小时没有跟进") and f"共{n}个" in chat[0]

    # finance: the overdue contracts, counted as the question counts them
    fin_text = first["finance"][0]["text"]["content"]
    contracts = int(re.search(r"回款逾期的合同：(\d+)份", fin_text).group(1))
    assert "「回款逾期的合同」" in fin_text
    assert f"结果：{contracts}" in _ask(h, "finance", "逾期未回款的合同有多少", clock.now())
    assert _ask(h, "finance", "回款逾期的合同", clock.now()).startswith("理解为：有回款逾期的合同的客户")
    sup_text = first["sup01"][0]["text"]["content"]
    assert "团队超过72小时未跟进的客户" in sup_text and "回款逾期的合同" in sup_text
    assert len(sup_text.encode()) < 2048  # one WeCom text message, not clipped

    # a day and a half of scans and ladders: nothing more about the same backlog
    _run(h, clock, NOW + timedelta(hours=20))
    later = Counter()
    for user, msgs in _by_user(h).items():
        for m in msgs[len(first.get(user, [])) :]:
            later[m["msgtype"]] += 1
            if m["msgtype"] == "text":
                assert not m["text"]["content"].startswith(DIGEST_HEAD), user
            if m["msgtype"] == "markdown":
                assert not m["markdown"]["content"].startswith("**回款逾期"), (
                    user
                )  # none falls due in these hours
    assert later["template_card"] > 0  # the SOP runs on: customers going stale after the import are alerted
    with h.session_factory() as s:
        alerted = set(
            s.scalars(
                select(TimerRow.subject_id).where(
                    TimerRow.kind == "stale", TimerRow.status == "done", TimerRow.outcome.not_like("held%")
                )
            )
        )
    assert not alerted & backlog_customers  # live alerts only for customers that went stale after the import


# --- items that fall due after the import --------------------------------------------------------------

USERS = """userid,name,role,manager_userid
director,周总,sales_director,
finance,钱总监,finance_director,director
rm_east,吴经理,regional_manager,director
sup01,郑主管,supervisor,rm_east
rep01,张伟,rep,sup01
"""


def _small_history(folder: Path, now: datetime) -> Path:
    customers = (
        "customer_id,name,owner_userid,created_on\n"
        "C1,味源超市,rep01,2025-03-01\n"  # last visit 94 days ago: stale at import
        "C2,好邻居便利店,rep01,2025-03-01\n"  # last visit 70 hours ago: goes stale 2 hours after the import
        "C3,鲜丰社区生鲜,rep01,\n"  # no 建档日期 and never touched: came in with this import
    )
    visits = (
        "visit_id,customer_id,rep_userid,checked_in_at\n"
        f"V1,C1,rep01,{_local(now - timedelta(days=94))}\n"
        f"V2,C2,rep01,{_local(now - timedelta(hours=70))}\n"
    )
    contracts = (
        "contract_no,customer_id,signed_on,amount,due_on\n"
        "HT-OLD,C1,2026-09-01,10000,2026-10-20\n"  # overdue at import
        "HT-NEW,C2,2026-11-01,5000,2026-11-24\n"  # due tomorrow: alerts when overdue
    )
    payments = "txn_id,paid_on,amount,memo\nT1,2026-10-25,4000,货款 HT-OLD\n"
    return _write(
        folder,
        {
            "users.csv": USERS,
            "customers.csv": customers,
            "visits.csv": visits,
            "contracts.csv": contracts,
            "payments.csv": payments,
        },
    )


def _cards(h, user: str) -> list[str]:
    return [c["main_title"]["title"] for c in h.cards(user)]


def _overdue_alerts(h, user: str) -> list[str]:
    """Payment alerts (a card without buttons goes out as markdown): their titles."""
    return [t.splitlines()[0].strip("*") for t in h.texts(user) if t.startswith("**回款逾期")]


def test_items_due_after_the_import_alert_as_before(h, clock, tmp_path):
    _import(h, _small_history(tmp_path / "history", NOW), NOW)
    h.tick()
    assert [m["msgtype"] for m in h.replies("rep01")] == ["text"]
    digest = h.texts("rep01")[0]
    assert "你名下超过72小时未跟进的客户：1家" in digest and "味源超市（已94天未跟进）" in digest
    assert "好邻居便利店" not in digest and "鲜丰社区生鲜" not in digest
    fin = h.texts("finance")
    assert len(fin) == 1 and "回款逾期的合同：1份，未回款合计¥6,000.00" in fin[0] and "HT-OLD" in fin[0]
    assert "HT-NEW" not in fin[0]

    _run(h, clock, NOW + timedelta(hours=3))  # C2 went stale at 70 + 2 hours: the scan at 11:07 alerts it
    assert _cards(h, "rep01") == ["客户已3天未跟进：好邻居便利店"]
    _run(h, clock, NOW + timedelta(hours=72, minutes=30))  # C3 came in with the import: stale 72 h later
    assert _cards(h, "rep01")[-1] == "客户还没有跟进过：鲜丰社区生鲜"
    assert "下属客户已4天未跟进：好邻居便利店" in _cards(h, "sup01")  # the ladder climbs as before
    assert (
        _overdue_alerts(h, "finance") == _overdue_alerts(h, "sup01") == ["回款逾期：好邻居便利店"]
    )  # HT-NEW, after its due day and the grace period
    assert not any("味源超市" in t for t in _cards(h, "rep01") + _cards(h, "sup01") + _cards(h, "rm_east"))
    assert sum(t.startswith(DIGEST_HEAD) for t in h.texts("rep01")) == 1


def test_an_import_can_still_alert_item_by_item_when_the_organisation_says_so(h, clock, tmp_path):
    with h.session_factory() as s:
        s.add(OrgConfigRow(key="sop", value={"import_backlog": "alerts"}))
        s.commit()
    _import(h, _small_history(tmp_path / "history", NOW), NOW)
    _run(h, clock, NOW + timedelta(hours=1, minutes=30))
    assert not any(t.startswith(DIGEST_HEAD) for t in h.texts("rep01"))
    assert _cards(h, "rep01") == ["客户已94天未跟进：味源超市"]
    assert _overdue_alerts(h, "finance") == ["回款逾期：味源超市"]


def test_a_second_import_digests_only_its_own_backlog(h, clock, tmp_path):
    _import(h, _small_history(tmp_path / "history", NOW), NOW)
    h.tick()
    clock.set(NOW + timedelta(hours=1))
    more = _write(
        tmp_path / "more",
        {
            "customers.csv": "customer_id,name,owner_userid,created_on\nC9,老街副食店,rep01,2024-05-01\n",
            "visits.csv": f"visit_id,customer_id,rep_userid,checked_in_at\nV9,C9,rep01,{_local(NOW - timedelta(days=30))}\n",
        },
    )
    _import(h, more, clock.now())
    h.tick()
    digests = [t for t in h.texts("rep01") if t.startswith(DIGEST_HEAD)]
    assert len(digests) == 2
    assert "老街副食店（已30天未跟进）" in digests[1] and "味源超市" not in digests[1]
    assert h.texts("finance") == h.texts("finance")[:1]  # nothing new for finance


# --- 2. a customer younger than the stale window ------------------------------------------------------


def test_a_customer_created_ten_minutes_ago_is_not_stale(h, clock, tmp_path):
    _import(h, _write(tmp_path / "org", {"users.csv": USERS}), NOW - timedelta(days=30))
    h.tick()
    created = NOW - timedelta(minutes=10)
    _import(
        h,
        _write(
            tmp_path / "new",
            {"customers.csv": "customer_id,name,owner_userid\nC7,新开小卖部,rep01\n"},  # no 建档日期
        ),
        created,
    )
    _run(h, clock, NOW + timedelta(hours=2))  # two scans
    assert h.replies("rep01") == []
    _run(h, clock, created + timedelta(hours=72, minutes=70))
    assert _cards(h, "rep01") == ["客户还没有跟进过：新开小卖部"]


def test_stale_alerts_speak_in_hours_below_48(h, clock, tmp_path):
    with h.session_factory() as s:
        s.add(OrgConfigRow(key="sop", value={"stale_after_hours": 24}))
        s.commit()
    history = {
        "users.csv": USERS,
        "customers.csv": "customer_id,name,owner_userid,created_on\nC1,味源超市,rep01,2025-03-01\n",
        "visits.csv": f"visit_id,customer_id,rep_userid,checked_in_at\nV1,C1,rep01,{_local(NOW - timedelta(hours=20))}\n",
    }
    _import(h, _write(tmp_path / "h", history), NOW)
    _run(h, clock, NOW + timedelta(hours=5))  # stale from 13:00: the scan due at 12:07 runs at the 13:00 beat
    assert _cards(h, "rep01") == ["客户超24小时未跟进：味源超市"]


# --- 3. 已跟进 needs evidence ------------------------------------------------------------------------------


def _stale_card(h, clock, tmp_path) -> dict:
    _import(h, _write(tmp_path / "org", {"users.csv": USERS}), NOW - timedelta(days=30))
    h.tick()
    with h.session_factory() as s:
        s.add(OrgConfigRow(key="sop", value={"stale_ladder": []}))  # the owner's card only
        s.commit()
    _write(
        tmp_path / "c",
        {
            "customers.csv": "customer_id,name,owner_userid,created_on\nC1,味源超市,rep01,2025-03-01\n",
            "visits.csv": f"visit_id,customer_id,rep_userid,checked_in_at\nV1,C1,rep01,{_local(NOW - timedelta(hours=60))}\n",
        },
    )
    _import(h, tmp_path / "c", NOW)
    _run(h, clock, NOW + timedelta(hours=13))  # 73 hours after the visit
    assert _cards(h, "rep01") == ["客户已3天未跟进：味源超市"]
    return h.cards("rep01")[0]


def _followed_key(card: dict) -> str:
    return next(b["key"] for b in card["button_list"] if b["text"] == "已跟进")


def test_followed_without_a_touch_asks_how_before_the_clock_restarts(h, clock, tmp_path):
    card = _stale_card(h, clock, tmp_path)
    h.peer.card_click("rep01", card["task_id"], _followed_key(card))
    h.tick()
    assert h.texts("rep01")[-1].startswith("好的！系统里还没看到味源超市的新拜访或互动记录")
    with h.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(InteractionRow)) == 0
        pending = s.scalars(
            select(TimerRow).where(TimerRow.kind == "stale", TimerRow.status == "pending")
        ).all()
        assert pending == []  # not restarted on a tap alone
    h.peer.text("rep01", "  ")
    h.tick()
    assert h.texts("rep01")[-1].startswith("跟进情况不能为空")
    h.peer.text("rep01", "电话联系了王老板，周五送货")
    h.tick()
    assert h.texts("rep01")[-1] == "已记录跟进：味源超市，72小时计时重新开始。"
    with h.session_factory() as s:
        note = s.scalars(select(CustomerNoteRow)).one()
        assert (note.kind, note.text, note.author_userid) == (
            "followed",
            "未跟进提醒·已跟进：电话联系了王老板，周五送货",
            "rep01",
        )
        interaction = s.scalars(select(InteractionRow)).one()
        assert interaction.channel == "card" and interaction.at == clock.now()
        audited = {(a.entity, a.action) for a in s.scalars(select(AuditRow).where(AuditRow.actor == "rep01"))}
        assert {("customer_note", "create"), ("interaction", "create")} <= audited
        restarted = s.scalars(
            select(TimerRow).where(TimerRow.kind == "stale", TimerRow.status == "pending")
        ).one()
        assert restarted.due_at == clock.now() + timedelta(hours=72)


def test_followed_with_a_visit_since_the_alert_needs_no_reason(h, clock, tmp_path):
    card = _stale_card(h, clock, tmp_path)
    h.peer.text("rep01", "拜访 味源超市")  # a check-in: a touch since the alert
    h.tick()
    clock.set(clock.now() + timedelta(minutes=20))
    h.peer.card_click("rep01", card["task_id"], _followed_key(card))
    h.tick()
    assert re.fullmatch(
        r"已看到味源超市在11月23日 \d\d:\d\d的跟进记录，72小时计时已从那次跟进重新开始。",
        h.texts("rep01")[-1],
    )
    with h.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(CustomerNoteRow)) == 0
        ack = s.scalars(select(AuditRow).where(AuditRow.action == "acknowledge")).one()
        assert ack.actor == "rep01" and ack.after["followed"] == "touch" and ack.before["stale_episode"] > 0


def test_followed_then_cancel_keeps_the_reminder(h, clock, tmp_path):
    card = _stale_card(h, clock, tmp_path)
    h.peer.card_click("rep01", card["task_id"], _followed_key(card))
    h.peer.text("rep01", "取消")
    h.tick()
    assert h.texts("rep01")[-1] == "好的，未记录跟进，提醒照常进行。"
    with h.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(InteractionRow)) == 0
