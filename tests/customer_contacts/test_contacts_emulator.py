"""客户联系 through the emulator only (docs/customer-contacts.md): an added WeChat contact suggested and confirmed
becomes an interaction of the right customer; edits, deletions and 客户群 changes; 不是客户 and 其他客户; the daily
behaviour figures feeding the scorecard's response speed; a permission error answered with the console step."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from core.clock import SHANGHAI
from core.scorecard import score
from storage.customer_contacts.models import ContactBehaviorRow, ExternalChatRow, ExternalContactRow
from storage.leads.models import LeadRow
from storage.models import AuditRow, CustomerRow, InteractionRow
from storage.models_scorecard import CustomerScoreRow
from storage.scorecard import extract_features, load_rules, recompute
from tests.sop.conftest import seed_org
from tests.support.harness import Harness

HUALI, HAIDA, OTHER = "C-HL", "C-HD", "C-R2"


def _harness(db_url, tmp_path, redis_server, clock) -> Harness:
    h = Harness(db_url, tmp_path, redis_server, clock)
    seed_org(h.session_factory)
    with h.session_factory() as s:
        for cid, name, owner, phones, roles in (
            (
                HUALI,
                "杭州华力机械有限公司",
                "rep1",
                ["0571-8888 1234", "13812345678"],
                [{"role": "采购", "name": "王芳"}],
            ),
            (HAIDA, "宁波海达贸易有限公司", "rep1", [], []),
            (
                OTHER,
                "杭州华力机械有限公司二厂",
                "rep2",
                ["13812345678"],
                [],
            ),  # rep2's: never suggested to rep1
        ):
            s.add(
                CustomerRow(
                    customer_id=cid,
                    name=name,
                    owner_userid=owner,
                    status="active",
                    created_on=date(2026, 1, 1),
                    contact_phones=phones,
                    decision_roles=roles,
                )
            )
        s.commit()
    return h


def _card(h: Harness, user: str) -> dict:
    return h.cards(user)[-1]


def _click(h: Harness, user: str, card: dict, text: str) -> None:
    key = next(b["key"] for b in card["button_list"] if b["text"] == text)
    h.peer.card_click(user, card["task_id"], key)
    h.tick()


def _contact(h: Harness, user: str, external: str) -> ExternalContactRow:
    with h.session_factory() as s:
        row = s.get(ExternalContactRow, (external, user))
        assert row is not None
        s.expunge(row)
        return row


def _interactions(h: Harness, customer_id: str) -> list[InteractionRow]:
    with h.session_factory() as s:
        return list(
            s.scalars(
                select(InteractionRow)
                .where(InteractionRow.customer_id == customer_id)
                .order_by(InteractionRow.at)
            )
        )


def test_an_added_contact_is_suggested_confirmed_and_counted(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    h.peer.add_external_contact(
        "rep1", "wmWangQiang01", name="王强", remark="华力 王总", remark_mobiles=["+86 138-1234-5678"]
    )
    h.tick()
    card = _card(h, "rep1")
    assert card["main_title"]["title"] == "新加的微信联系人：王强"
    assert (
        "是你的客户「杭州华力机械有限公司」吗？（依据：手机号一致、备注含客户名）"
        in card["main_title"]["desc"]
    )
    # rep2's customer with the same phone is not rep1's to link
    assert [b["text"] for b in card["button_list"]] == ["是 杭州华力机械有限公司", "其他客户", "不是客户"]
    assert _interactions(h, HUALI) == []  # nothing counted before the rep confirms

    _click(h, "rep1", card, "是 杭州华力机械有限公司")
    assert h.texts("rep1")[-1].startswith(
        "已关联：微信联系人「王强（备注：华力 王总）」→ 客户「杭州华力机械有限公司」"
    )
    row = _contact(h, "rep1", "wmWangQiang01")
    assert (row.status, row.customer_id, row.decided_by) == ("linked", HUALI, "rep1")
    added = _interactions(h, HUALI)
    assert [(i.channel, i.rep_userid, i.at) for i in added] == [
        ("wecom", "rep1", h.clock.now().replace(microsecond=0))
    ]
    with h.session_factory() as s:
        link_audit = s.scalars(
            select(AuditRow).where(AuditRow.entity == "external_contact", AuditRow.action == "link")
        ).one()
        assert link_audit.before["status"] == "pending" and link_audit.after["customer_id"] == HUALI
        assert s.scalars(select(AuditRow).where(AuditRow.entity == "interaction")).first() is not None

    # a manager's question about 互动 counts it (nlq: 互动 = a visit or an interaction)
    h.peer.text("sup1", "今天有互动的客户有哪些")
    h.tick()
    assert "1. 杭州华力机械有限公司（张三） · 最后跟进 2026-11-23\n共1个" in h.texts("sup1")[-1]

    # the rep edits the remark: one more interaction of the same customer
    h.clock.advance(hours=2)
    h.peer.edit_external_contact("rep1", "wmWangQiang01", remark="华力 王总 采购部", description="月底要报价")
    h.tick()
    assert len(_interactions(h, HUALI)) == 2
    assert _contact(h, "rep1", "wmWangQiang01").description == "月底要报价"

    # a 客户群 with the contact in it: created, then dismissed
    h.clock.advance(hours=1)
    h.peer.external_chat(
        "wrHuali01", "create", name="华力采购群", owner="rep1", members=[("rep1", 1), ("wmWangQiang01", 2)]
    )
    h.tick()
    assert len(_interactions(h, HUALI)) == 3
    h.peer.external_chat("wrHuali01", "dismiss")
    h.tick()
    with h.session_factory() as s:
        chat = s.get(ExternalChatRow, "wrHuali01")
        assert (chat.name, chat.owner_userid, chat.customer_ids, chat.status) == (
            "华力采购群",
            "rep1",
            [HUALI],
            "dismissed",
        )

    # the customer deletes the rep: marked, the rep told; the link and its interactions stay
    h.clock.advance(hours=1)
    h.peer.customer_deletes_member("rep1", "wmWangQiang01")
    h.tick()
    assert (
        h.texts("rep1")[-1]
        == "提醒：客户「杭州华力机械有限公司」的微信联系人「王强（备注：华力 王总 采购部）」已把你从微信好友中删除。"
    )
    row = _contact(h, "rep1", "wmWangQiang01")
    assert (row.removed_by, row.status, row.customer_id) == ("customer", "linked", HUALI)
    assert len(_interactions(h, HUALI)) == 3
    assert h.services.session_factory  # sanity: nothing else sent to sys
    assert h.wecom.messages_to("sys") == []


def test_not_a_customer_and_another_customer_typed(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    h.peer.add_external_contact("rep1", "wmFriend", name="王芳", remark="老同学")
    h.tick()
    card = _card(h, "rep1")
    assert "依据：决策链联系人同名" in card["main_title"]["desc"]
    _click(h, "rep1", card, "不是客户")
    assert h.texts("rep1")[-1].startswith("已记录：「王芳（备注：老同学）」不是客户，不计入客户互动。")
    assert _contact(h, "rep1", "wmFriend").status == "not_customer"
    assert _interactions(h, HUALI) == []
    with h.session_factory() as s:
        assert s.scalars(select(LeadRow)).first() is None  # 不是客户 is no lead either
    h.clock.advance(minutes=5)
    h.peer.edit_external_contact(
        "rep1", "wmFriend", remark="老同学 华力"
    )  # decided: still no card, no interaction
    h.tick()
    assert len(h.cards("rep1")) == 1 and _interactions(h, HUALI) == []

    # another contact, the suggestion is wrong: 其他客户, then the name typed
    h.peer.add_external_contact("rep1", "wmHaida", name="陈总", corp_name="杭州华力机械")
    h.tick()
    card = _card(h, "rep1")
    assert [b["text"] for b in card["button_list"]][0] == "是 杭州华力机械有限公司"
    _click(h, "rep1", card, "其他客户")
    assert (
        h.texts("rep1")[-1]
        == "请回复客户名称（你名下的客户），我来关联「陈总 · 杭州华力机械」。回复「取消」放弃。"
    )
    h.peer.text("rep1", "海达")
    h.tick()
    assert h.texts("rep1")[-1].startswith(
        "已关联：微信联系人「陈总 · 杭州华力机械」→ 客户「宁波海达贸易有限公司」"
    )
    assert [i.rep_userid for i in _interactions(h, HAIDA)] == ["rep1"]

    # the rep deletes a contact: marked removed by the member
    h.peer.delete_external_contact("rep1", "wmHaida")
    h.tick()
    assert _contact(h, "rep1", "wmHaida").removed_by == "member"


def test_behaviour_figures_feed_the_scorecards_response_speed(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    h.peer.add_external_contact("rep1", "wmWangQiang01", name="王强", remark_mobiles=["13812345678"])
    h.tick()
    _click(h, "rep1", _card(h, "rep1"), "是 杭州华力机械有限公司")
    today = h.clock.now().astimezone(SHANGHAI).date()
    h.wecom.external.set_behavior(
        "rep1", today, chat_cnt=10, message_cnt=42, reply_percentage=90, avg_reply_time=20
    )

    # the next morning's 06:40 timer asks for each member's figures; the worker fetches and stores them
    h.clock.set(
        datetime.combine(today + timedelta(days=1), datetime.min.time(), SHANGHAI)
        + timedelta(hours=6, minutes=41)
    )
    h.tick()
    h.tick()
    with h.session_factory() as s:
        day = s.get(ContactBehaviorRow, ("rep1", today))
        assert (day.chat_cnt, day.message_cnt, day.reply_percentage, day.avg_reply_time) == (
            10,
            42,
            90.0,
            20.0,
        )
        calls = h.wecom.calls_to("externalcontact/get_user_behavior_data")
        assert [c.body["userid"] for c in calls if c.errcode == 0] == [["rep1"]]  # once (a refresh aside)

        now = h.clock.now()
        feats = extract_features(s, now=now, rules=load_rules(s), customer_ids=[HUALI, HAIDA])
        linked = score(feats[HUALI]).component("response_speed")
        # reply 90 and first reply 20 min (100); the add 22 h ago and no follow-up yet: not judged
        assert linked.points == 95.0
        assert linked.detail == "近180天无工单；企业微信聊天10个，回复率90%，平均首次回复20分钟"
        unlinked = score(feats[HAIDA]).component("response_speed")
        assert (
            unlinked.detail == "近180天无工单；从未跟进"
        )  # no WeCom link: the imported interactions, as before

        # the nightly recompute stores it with the figures it came from
        recompute(s, now=now)
        s.commit()
        stored = s.get(CustomerScoreRow, HUALI)
        assert stored.components["response_speed"]["points"] == 95.0
        assert stored.features["wecom"]["reply_percentage"] == 90.0
        assert s.get(CustomerScoreRow, HAIDA).features.get("wecom") is None

    # two more days and still no follow-up record after the add: the follow-up part counts, against the rep
    h.clock.advance(days=2)
    with h.session_factory() as s:
        feats = extract_features(s, now=h.clock.now(), rules=load_rules(s), customer_ids=[HUALI])
        comp = score(feats[HUALI]).component("response_speed")
        assert comp.points is not None and comp.points < 95.0
        assert "加好友后首次跟进平均" in comp.detail


def test_a_permission_error_is_answered_with_the_console_step(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    h.wecom.external.granted = False  # the app is not in 客户联系 → 可调用应用
    h.peer.add_external_contact("rep1", "wmNoGrant01", name="王强", remark_mobiles=["13812345678"])
    h.tick()
    said = h.texts("rep1")
    assert (
        said[0]
        == "暂时读不到这位微信联系人的资料：企业微信拒绝了客户联系接口（48002 应用无此接口权限）。已通知管理员处理。"
    )
    assert said[1].startswith("**新线索已登记：")  # nothing to match on: a lead, as without 客户联系 data
    admin = h.texts("adm")
    assert len(admin) == 1 and "客户与上下游→客户联系→API" in admin[0] and "「可调用应用」" in admin[0]
    h.clock.advance(minutes=10)
    h.peer.add_external_contact("rep1", "wmNoGrant02", name="李雷")
    h.tick()
    assert len(h.texts("adm")) == 1  # told once a day
    assert [c.errcode for c in h.wecom.calls_to("externalcontact/get")] == [48002, 48002]


def test_the_demo_page_adds_a_wechat_contact(db_url, tmp_path, redis_server, clock):
    from fastapi.testclient import TestClient

    from bot.emulator import create_emulator_app

    h = _harness(db_url, tmp_path, redis_server, clock)
    page = TestClient(
        create_emulator_app(h.wecom, peer=h.peer, users=[{"userid": "rep1", "name": "张三", "role": "rep"}])
    )
    answer = page.post(
        "/emu/external_contact", json={"user": "rep1", "name": "王强", "mobile": "13812345678"}
    )
    assert answer.json()["ok"]
    h.tick()
    assert _card(h, "rep1")["main_title"]["title"] == "新加的微信联系人：王强"
    items = page.get("/emu/poll", params={"user": "rep1"}).json()["items"]
    assert [i["fields"]["name"] for i in items if i.get("kind") == "add_external_contact"] == ["王强"]
