"""The emulator's address book answers as WeCom does: the visible range, withheld fields, the contact-sync secret."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.emulator import FakeWeCom, create_api_router, create_emulator_app
from storage.models import UserRow
from tests.contacts.corp import corp, sync
from tests.support.harness import Harness


def _client(wecom: FakeWeCom) -> TestClient:
    app = FastAPI()
    app.include_router(create_api_router(wecom))
    return TestClient(app)


def test_visible_range_withheld_fields_and_the_contact_secret(clock):
    wecom = FakeWeCom(secret="app", contacts_secret="contacts", clock=clock)
    book = wecom.book
    for dept_id, name, parent in ((1, "公司", 0), (2, "华东", 1), (3, "上海", 2), (4, "华南", 1)):
        book.add_department(dept_id, name, parent)
    book.add_member("sup", "主管", [3, 4], leader_in=[3], mobile="13800000000")
    book.add_member("rep", "业务员", [4])
    book.set_visible_range([2])
    http = _client(wecom)

    def token(secret: str) -> str:
        return http.get("/cgi-bin/gettoken", params={"corpid": wecom.corp_id, "corpsecret": secret}).json()[
            "access_token"
        ]

    app, contact = token("app"), token("contacts")
    assert app != contact
    depts = http.get("/cgi-bin/department/list", params={"access_token": app}).json()["department"]
    assert [(d["id"], d["department_leader"]) for d in depts] == [(2, []), (3, ["sup"])]
    sup = http.get("/cgi-bin/user/get", params={"access_token": app, "userid": "sup"}).json()
    assert (sup["department"], sup["is_leader_in_dept"]) == ([3], [1])  # 华南 is outside the range
    assert "mobile" not in sup and "avatar" not in sup  # withheld since 2022-06-20
    assert (
        http.get("/cgi-bin/user/get", params={"access_token": app, "userid": "rep"}).json()["errcode"]
        == 60011
    )
    assert (
        http.get("/cgi-bin/user/list", params={"access_token": app, "department_id": 4}).json()["errcode"]
        == 60011
    )
    # the 通讯录同步 secret: ids only (since 2022-08-15 from a new IP)
    assert (
        http.get("/cgi-bin/user/get", params={"access_token": contact, "userid": "sup"}).json()["errcode"]
        == 48009
    )
    ids = http.post("/cgi-bin/user/list_id", params={"access_token": contact}, json={"limit": 10}).json()
    assert ids["dept_user"] == [{"userid": "sup", "department": 3}]
    simple = http.get("/cgi-bin/department/simplelist", params={"access_token": contact}).json()
    assert [d["id"] for d in simple["department_id"]] == [2, 3]


def test_the_chat_page_edits_the_address_book_and_wecom_posts_the_event(
    db_url, tmp_path, redis_server, clock
):

    h = Harness(db_url, tmp_path, redis_server, clock)
    corp(h)
    sync(h)
    page = TestClient(
        create_emulator_app(h.wecom, peer=h.peer, users=[{"userid": "admin", "name": "管理员"}])
    )
    answer = page.post(
        "/emu/contact",
        json={"change_type": "create_user", "userid": "rep7", "name": "小七", "department": [4]},
    )
    assert answer.json()["ok"] is True
    assert "rep7" in str(page.get("/emu/config").json()["groups"])  # the new member can chat from the page
    h.tick()
    with h.session_factory() as s:
        assert s.get(UserRow, "rep7").manager_userid == "sup3"
    assert (
        page.post("/emu/contact", json={"change_type": "update_user", "userid": "nobody"}).status_code == 404
    )
