"""The address-book sync hands over too: a member who leaves WeCom (delete_user) and a rep moved to another team
(update_user) each open a hand-over card to the manager they had; a rep whose manager left is not moved."""

from __future__ import annotations

from sqlalchemy import select

from storage.db import writer_session
from storage.handover.models import HandoverRow
from storage.models import CustomerRow
from tests.contacts.corp import corp, sync
from tests.support.harness import Harness


def _handovers(h: Harness) -> list[tuple[str, str, str | None]]:
    with h.session_factory() as s:
        return [
            (r.from_userid, r.reason, r.decider)
            for r in s.scalars(select(HandoverRow).order_by(HandoverRow.id))
        ]


def test_the_sync_opens_hand_overs_for_who_left_and_who_moved(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    corp(h)
    sync(h)
    with writer_session(h.session_factory) as s:
        s.add_all(
            [
                CustomerRow(customer_id=f"K{u}", name=f"{u}的客户", owner_userid=u)
                for u in ("rep1", "rep2", "rep3")
            ]
        )
        s.commit()

    h.wecom.book.delete_member("rep2")
    h.peer.change_contact("delete_user", userid="rep2")
    h.tick()
    assert _handovers(h) == [("rep2", "left", "sup2")]
    assert h.texts("sup2")[-1].startswith("客户交接：李娜（离职）")

    h.wecom.book.update_member("rep3", department=[3])  # 华南 → 上海组: a new manager, the old one stays
    h.peer.change_contact("update_user", userid="rep3", fields=["department"])
    h.tick()
    assert _handovers(h)[-1] == ("rep3", "moved", "sup3")
    assert h.texts("sup3")[-1].startswith("客户交接：王强（调岗）")

    h.wecom.book.delete_member("sup2")  # rep1's manager leaves: rep1 goes to the one above, keeps the book
    h.peer.change_contact("delete_user", userid="sup2")
    h.tick()
    assert [x for x in _handovers(h) if x[0] == "rep1"] == []
