"""The address book from the emulated WeCom into the reporting tree: the first sync, each change_contact
event, a member who leaves, a department that moves, and each restriction answered with its console step."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from bot.wecom.contacts import sync_now
from core.org import scope_of
from handlers.texts import DEACTIVATED
from storage.contacts.models import WeComDepartmentRow
from storage.models import AuditRow, UserRow
from storage.people import whole_tree
from tests.contacts.corp import corp, sync
from tests.support.factories import org
from tests.support.harness import Harness


def _users(h: Harness) -> dict[str, UserRow]:
    with h.session_factory() as s:
        rows = s.scalars(select(UserRow)).all()
        s.expunge_all()
        return {r.userid: r for r in rows}


def _managers(h: Harness) -> dict[str, str | None]:
    return {u: r.manager_userid for u, r in _users(h).items()}


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    corp(harness)
    return harness


def test_the_first_sync_builds_the_tree_and_keeps_what_only_excel_holds(h):
    texts = sync(h)
    assert texts[0].startswith("正在从企业微信同步通讯录")
    summary = texts[-1]
    assert summary.startswith("通讯录同步完成：部门 4 个，成员 8 人；新增 6 人，更新 2 人")
    assert "企业微信没有返回成员的手机、邮箱" in summary and "2022年6月20日" in summary  # withheld, said so
    assert _managers(h) == {
        "admin": None,
        "boss": None,
        "sup1": "boss",
        "sup2": "sup1",
        "rep1": "sup2",  # the old manager from the import is replaced by WeCom's leader
        "rep2": "sup2",
        "sup3": "boss",
        "rep3": "sup3",
        "rep4": "sup1",  # 直属上级
    }
    users = _users(h)
    assert [users[u].role for u in ("boss", "sup2", "rep2", "sup3")] == [
        "sales_director",
        "supervisor",
        "rep",
        "supervisor",
    ]
    # the import's role, region, city and mobile stay (WeCom withheld the mobile; it holds no region)
    assert (users["sup1"].role, users["sup1"].region) == ("regional_manager", "华东")
    rep1 = users["rep1"]
    assert (rep1.role, rep1.region, rep1.city, rep1.mobile) == ("rep", "华东", "上海", "13900000009")
    with h.session_factory() as s:
        audits = s.scalars(
            select(AuditRow).where(AuditRow.entity == "user", AuditRow.entity_id == "rep1")
        ).all()
        assert [(a.actor, a.action) for a in audits] == [("wecom_sync", "update")]
        assert audits[0].before["manager_userid"] == "old_sup" and audits[0].after["manager_userid"] == "sup2"
        created = s.scalars(
            select(AuditRow).where(AuditRow.action == "create", AuditRow.entity == "user")
        ).all()
        assert sorted(a.entity_id for a in created) == ["boss", "rep2", "rep3", "rep4", "sup2", "sup3"]
    # a second sync changes nothing
    assert sync(h)[-1].startswith("通讯录同步完成：部门 4 个，成员 8 人；新增 0 人，更新 0 人")


def test_a_non_admin_cannot_sync(h):
    with h.session_factory() as s:
        s.add(UserRow(userid="rep9", name="小九", role="rep"))
        s.commit()
    assert sync(h, "rep9")[-1] == "只有管理员可以同步通讯录。"
    assert h.wecom.calls_to("department/list") == []


def test_a_new_member_is_scoped_at_once(h, clock):
    sync(h)
    h.wecom.book.add_member("rep5", "小新", [3])
    h.peer.change_contact("create_user", userid="rep5", minimal=True)  # since 2022-08-15: UserID, Department
    h.tick()
    rep5 = _users(h)["rep5"]
    assert (rep5.name, rep5.role, rep5.manager_userid, rep5.active) == ("小新", "rep", "sup2", True)
    with h.session_factory() as s:
        assert scope_of(whole_tree(s), "sup1").sees_owner("rep5")
    h.peer.text("rep5", "我的客户有哪些")
    h.peer.text("sup2", "每个业务员有多少客户")
    h.tick()
    assert "新光便利店" in h.texts("rep5")[-1]
    assert "小新" in h.texts("sup2")[-1]


def test_each_change_contact_kind(h, clock):
    sync(h)
    book = h.wecom.book
    book.update_member("rep2", department=[4])  # update_user: moved to 华南
    h.peer.change_contact("update_user", userid="rep2", fields=["department"])
    clock.advance(seconds=1)
    book.add_department(5, "杭州组", 2)  # create_party
    h.peer.change_contact("create_party", party_id=5)
    book.update_member("rep3", department=[5])
    h.peer.change_contact("update_user", userid="rep3", fields=["department"])
    book.update_member("rep4", direct_leader=[])  # 直属上级 cleared: the department's leader again
    h.peer.change_contact("update_user", userid="rep4", fields=["direct_leader"])
    h.tick()
    assert {u: m for u, m in _managers(h).items() if u in ("rep2", "rep3", "rep4")} == {
        "rep2": "sup3",
        "rep3": "sup1",  # 杭州组 has no leader: the one above
        "rep4": "sup3",
    }
    book.update_department(5, name="杭州一组")  # update_party: renamed
    h.peer.change_contact("update_party", party_id=5)
    book.update_member("rep3", department=[4])
    h.peer.change_contact("update_user", userid="rep3", fields=["department"])
    h.tick()
    book.delete_department(5)  # delete_party (WeCom deletes only empty departments)
    h.peer.change_contact("delete_party", party_id=5)
    h.tick()
    with h.session_factory() as s:
        assert s.get(WeComDepartmentRow, 5) is None
    assert _managers(h)["rep3"] == "sup3"


def test_a_department_moved_changes_the_managers_below_it(h, clock):
    sync(h)
    h.wecom.book.update_department(3, parent_id=4)  # 上海组 now under 华南大区
    h.peer.change_contact("update_party", party_id=3)
    h.tick()
    managers = _managers(h)
    assert managers["sup2"] == "sup3" and managers["rep1"] == "sup2"
    with h.session_factory() as s:
        trail = s.scalars(
            select(AuditRow).where(AuditRow.entity_id == "sup2", AuditRow.action == "update")
        ).all()
        assert trail[-1].before["manager_userid"] == "sup1" and trail[-1].after["manager_userid"] == "sup3"


def test_a_member_who_leaves_is_deactivated_and_their_scope_ends(h, clock):
    sync(h)
    h.wecom.book.delete_member("sup2")
    h.peer.change_contact("delete_user", userid="sup2")
    h.tick()
    users = _users(h)
    assert users["sup2"].active is False
    assert users["rep1"].manager_userid == "sup1"  # 上海组 has no leader now: the one above
    with h.session_factory() as s:
        gone = s.scalars(
            select(AuditRow).where(AuditRow.entity_id == "sup2", AuditRow.action == "deactivate")
        ).one()
        assert gone.actor == "wecom_sync" and gone.before["active"] is True and gone.after["active"] is False
    h.peer.text("sup2", "每个业务员有多少客户")
    h.tick()
    assert h.texts("sup2")[-1] == DEACTIVATED


def test_the_nightly_sync_reconciles_what_events_missed(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock, CONTACTS_SYNC=True)
    corp(h)
    sync(h)
    h.wecom.book.update_member("rep3", status=5)  # left; no event reached the assistant
    h.tick()  # books the nightly timer
    clock.advance(days=1)
    h.tick()
    assert _users(h)["rep3"].active is False
    assert "已停用（已离开企业微信）：王强（rep3）" in h.texts("admin")[-1]


def test_the_cli_runs_the_same_sync(h):
    code, text = asyncio.run(sync_now(h.services))
    assert code == 0 and text.startswith("通讯录同步完成：部门 4 个，成员 8 人；新增 6 人")
    assert _managers(h)["rep4"] == "sup1"


@pytest.mark.parametrize(
    ("errcode", "words"),
    [
        (60020, "应用管理→自建应用→（本应用）→企业可信IP"),
        (60011, "应用管理→自建应用→（本应用）→可见范围"),
        (301002, "WECOM_AGENT_ID"),
    ],
)
def test_a_refusal_is_answered_with_its_console_step_and_changes_nothing(h, errcode, words, caplog):
    before = _users(h)
    h.wecom.fail_for(3600, errcode, paths=["department/list"])
    with caplog.at_level(logging.WARNING, logger="assistant.contacts"):
        text = sync(h)[-1]
    assert (
        text.startswith("通讯录同步未完成：")
        and words in text
        and text.endswith("本次没有改动任何人员数据。")
    )
    assert any(words in r.getMessage() for r in caplog.records)
    assert (
        errcode != 60020
    ) or "本服务器出口IP为 127.0.0.1" in text  # the IP WeCom saw, to paste in the console
    assert {u: (r.manager_userid, r.role) for u, r in _users(h).items()} == {
        u: (r.manager_userid, r.role) for u, r in before.items()
    }


def test_the_contact_sync_secret_meets_48009_and_the_answer_names_the_app_secret(h):
    h.wecom.contacts_secret, h.wecom.secret = h.wecom.secret, "the-app-secret"  # WECOM_SECRET is 通讯录同步's
    text = sync(h)[-1]
    assert "48009" in text and "管理工具→通讯录同步" in text and "应用管理→自建应用→（本应用）→Secret" in text
    assert "rep2" not in _users(h)


def test_a_member_outside_the_visible_range_is_applied_from_the_event_and_the_admin_told(h):
    sync(h)
    h.wecom.book.add_department(9, "外包组", 1)
    h.wecom.book.set_visible_range([2, 4])  # 公司 itself (and 外包组) outside the app's range
    h.wecom.book.add_member("temp1", "临时工", [9])
    h.peer.change_contact("create_user", userid="temp1")
    h.tick()
    assert _users(h)["temp1"].name == "临时工"  # what the event carried
    assert "可见范围" in h.texts("admin")[-1] and "temp1" in h.texts("admin")[-1]


def test_the_demo_corp_syncs_back_to_its_own_tree(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        s.commit()
        h.wecom.book.seed_from_tree(
            s.execute(select(UserRow.userid, UserRow.name, UserRow.manager_userid)).all()
        )
    before = _managers(h)
    assert sync(h)[-1].startswith("通讯录同步完成：部门 3 个，成员 7 人；新增 0 人，更新 1 人")
    assert _managers(h) == {**before, "admin": "director"}  # in WeCom's root, whose leader is the director
