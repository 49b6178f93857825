"""A person who left is deactivated (by an admin in chat, or by import 在职=否): no answer in chat, and their
calendar feed stops and their web sessions end at once; 启用 brings them back. Audited."""

from __future__ import annotations

from sqlalchemy import select

from core import ics_token
from storage.models import AuditRow, UserRow
from tests.support.db import import_texts
from tests.support.factories import org
from tests.support.harness import Harness
from tests.support.web import sign_in


def _links(h: Harness, userid: str, now) -> tuple[str, str]:  # noqa: ANN001
    ics = ics_token.feed_path(ics_token.derive_key(h.services.settings.WECOM_SECRET), userid)
    return ics, "/dashboard"


def test_an_admin_deactivates_and_restores_a_person_in_chat(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        s.commit()
    ics, _ = _links(h, "rep01", clock.now())
    _, dash = _links(h, "sup01", clock.now())
    sign_in(h, "sup01")  # signed in to the dashboard through WeCom
    assert h.http.get(ics).status_code == 200 and h.http.get(dash).status_code == 200

    h.peer.text("rep02", "停用 rep01")
    h.tick()
    assert h.texts("rep02")[-1] == "只有管理员可以停用或启用账号。"

    h.peer.text("admin", "停用 rep01")
    h.peer.text("admin", "停用 sup01")
    h.tick()
    assert h.texts("admin")[-2].startswith("已停用 ")
    assert h.http.get(ics).status_code == 404  # at once
    assert h.http.get(dash, follow_redirects=False).status_code == 302  # the session ended: sign in again
    h.peer.text("rep01", "我的待办")
    h.tick()
    assert h.texts("rep01")[-1].startswith("你的账号已停用")

    h.peer.text("admin", "启用 rep01")
    h.tick()
    assert h.texts("admin")[-1].startswith("已启用 ")
    assert h.http.get(ics).status_code == 200
    with h.session_factory() as s:
        rows = s.scalars(
            select(AuditRow).where(AuditRow.entity == "user", AuditRow.entity_id == "rep01")
        ).all()
        assert [r.action for r in rows] == ["deactivate", "activate"]
        assert rows[0].before["active"] is True and rows[0].after["active"] is False


def test_an_import_with_zaizhi_no_deactivates(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    users = "userid,name,role,manager_userid,在职\nsup9,王主管,supervisor,,是\nrep9,小李,rep,sup9,否\n"
    import_texts(h.session_factory, tmp_path / "import", clock.now(), {"users.csv": users})
    with h.session_factory() as s:
        assert s.get(UserRow, "sup9").active and not s.get(UserRow, "rep9").active
    ics, _ = _links(h, "rep9", clock.now())
    assert h.http.get(ics).status_code == 404
    h.peer.text("rep9", "帮助")
    h.tick()
    assert h.texts("rep9")[-1].startswith("你的账号已停用")
