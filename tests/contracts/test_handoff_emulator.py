"""Through the emulator (encrypted callbacks in, message/send out), on a moved clock: a contract signed in chat
reaches the three teams in the same beat with their SLAs, a click WeCom delivers twice claims once, the
unanswered work orders escalate to their heads once and then to the sales director once, and the progress
card turns red."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from storage.contracts.models import DepartmentRow, WorkOrderRow
from storage.models import ContractRow, UserRow
from tests.support.factories import org
from tests.support.harness import Harness

TEAM = [("jf_head", "陈工"), ("jf1", "孙工"), ("cw_head", "刘会计"), ("sh_head", "何工")]


def _seed(h: Harness, now) -> None:  # noqa: ANN001
    with h.session_factory() as s:
        org(s, touched_at=now)
        s.add_all(UserRow(userid=u, name=n, role="rep") for u, n in TEAM)
        s.add_all(
            [
                DepartmentRow(
                    dept_id="JF", name="交付部", kind="delivery", head_userid="jf_head", members=["jf1"]
                ),
                DepartmentRow(dept_id="CW", name="财务部", kind="finance", head_userid="cw_head", members=[]),
                DepartmentRow(
                    dept_id="SH", name="售后部", kind="after_sales", head_userid="sh_head", members=[]
                ),
            ]
        )
        s.add(
            ContractRow(
                contract_no="HT-E2E-1",
                customer_id="C001",
                signed_on=date(2026, 1, 1),
                amount=Decimal("500000"),
                due_on=date(2026, 3, 1),
                terms="签约后30天付50%，验收后付尾款",
                sales_status="pending",
            )
        )
        s.commit()


def _breaches(h: Harness, who: str) -> list[str]:
    """The breach notices (button-less cards: markdown) a person received, by title."""
    out = []
    for m in h.replies(who):
        if m["msgtype"] == "markdown" and m["markdown"]["content"].startswith("**工单超时"):
            out.append(m["markdown"]["content"].split("\n")[0].strip("*"))
    return out


def _progress(h: Harness, who: str) -> dict[str, str]:
    card = [c for c in h.cards(who) if c["main_title"]["title"] == "合同进度：味源超市"][-1]
    return {f["keyname"]: f["value"] for f in card["horizontal_content_list"]}


def test_signed_in_chat_reaches_three_teams_and_breaches_escalate_once(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    _seed(h, clock.now())
    h.peer.text("rep01", "合同签署完成 HT-E2E-1")
    h.tick()  # one beat: the three teams have their cards
    for who, team in (("jf_head", "交付"), ("jf1", "交付"), ("cw_head", "财务"), ("sh_head", "售后")):
        titles = [c["main_title"]["title"] for c in h.cards(who)]
        assert titles == [f"{team}工单：味源超市"], who
        assert [b["text"] for b in h.cards(who)[0]["button_list"]] == ["认领", "完成", "受阻"]
    assert any(t.startswith("已记录：合同HT-E2E-1（味源超市）签署完成") for t in h.texts("rep01"))
    assert [c["main_title"]["title"] for c in h.cards("sup01")] == ["合同进度：味源超市"]
    assert _progress(h, "sup01")["交付"].startswith("🟡待响应")

    card = h.cards("cw_head")[0]
    claim = next(b["key"] for b in card["button_list"] if b["text"] == "认领")
    h.peer.card_click("cw_head", card["task_id"], claim)
    h.peer.resend()  # WeCom delivers the same click again
    h.tick()
    with h.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrderRow)) == 3
        assert s.scalars(select(WorkOrderRow.status).where(WorkOrderRow.team == "finance")).one() == "claimed"

    clock.advance(hours=24, minutes=1)
    h.tick()
    h.tick()
    assert _breaches(h, "jf_head") == ["工单超时未响应：交付·味源超市"]
    assert _breaches(h, "sh_head") == ["工单超时未响应：售后·味源超市"]
    assert _breaches(h, "cw_head") == []  # finance answered in time
    assert _breaches(h, "director") == []
    red = _progress(h, "rep01")
    assert red["交付"].startswith("🔴超时未响应") and red["售后"].startswith("🔴超时未响应")
    assert red["财务"].startswith("🟡处理中")

    clock.advance(hours=24)
    h.tick()
    h.tick()
    assert _breaches(h, "director") == ["工单超时未响应：交付·味源超市", "工单超时未响应：售后·味源超市"]
    clock.advance(days=3)
    h.tick()
    assert len(_breaches(h, "director")) == 2 and len(_breaches(h, "jf_head")) == 1
