"""The monthly collaboration health report (协作健康月报) through the emulator, on a moved clock: two contracts
signed in chat, teams claiming, finishing and blocking (one reason with markdown and HTML in it), one SLA
breached; on the 1st the sales director gets the picture (Chinese drawn, not tofu) and the lines, equal to a
hand count; the dashboard shows the same report and the contracts' progress bars, each in the viewer's scope,
with the colours of the chat card and each stage's log one click away. SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from bot.web import brief_png as B
from core.clock import SHANGHAI
from core.web_session import SESSION_COOKIE
from storage.contracts.models import DepartmentRow, WorkOrderRow
from storage.models import ContractRow, UserRow
from tests.support.factories import org
from tests.support.harness import Harness
from tests.support.web import open_session

TEAM = [("jf_head", "陈工"), ("jf1", "孙工"), ("cw_head", "刘会计"), ("sh_head", "何工")]
REASON = "客户网络<不通>*防火墙*"  # user text: escaped in markdown and HTML
MARKS = {"🟢": "green", "🟡": "yellow", "🔴": "red"}
TITLE_BOX = (B.M, 20, B.M + 330, 100)  # where 协作健康月报 is drawn


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    clock.set(datetime(2026, 11, 10, 10, 0, tzinfo=SHANGHAI))
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
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
        for no, customer in (("HT-1", "C001"), ("HT-2", "C004")):
            s.add(
                ContractRow(
                    contract_no=no,
                    customer_id=customer,
                    signed_on=date(2026, 11, 1),
                    amount=Decimal("500000"),
                    due_on=date(2027, 3, 1),
                    terms="签约后30天付50%，验收后付尾款",
                    sales_status="pending",
                )
            )
        s.commit()
    return h


def _click(h: Harness, who: str, no: str, team: str, verb: str) -> None:
    with h.session_factory() as s:
        wo = s.scalars(
            select(WorkOrderRow).where(WorkOrderRow.contract_no == no, WorkOrderRow.team == team)
        ).one()
    card = next(c for c in h.cards(who) if any(b["key"].endswith(f":{wo.id}") for b in c["button_list"]))
    key = next(b["key"] for b in card["button_list"] if b["key"].startswith(f"wo:{verb}:"))
    h.peer.card_click(who, card["task_id"], key)
    h.tick()


def _month_of_handoffs(h: Harness) -> None:
    h.peer.text("rep01", "合同签署完成 HT-1")
    h.peer.text("rep02", "合同签署完成 HT-2")
    h.tick()
    h.clock.advance(hours=2)
    _click(h, "jf1", "HT-1", "delivery", "claim")  # 2 h
    _click(h, "cw_head", "HT-1", "finance", "done")  # 2 h
    h.clock.advance(hours=2)
    _click(h, "cw_head", "HT-2", "finance", "claim")  # 4 h
    for no in ("HT-1", "HT-2"):
        _click(h, "sh_head", no, "after_sales", "block")  # 4 h
        h.peer.text("sh_head", REASON)
        h.tick()
    h.clock.advance(hours=4)
    _click(h, "jf1", "HT-1", "delivery", "done")  # 8 h
    _click(h, "cw_head", "HT-2", "finance", "done")  # 8 h
    h.clock.advance(hours=20)
    h.tick()  # HT-2's delivery order: never answered, past its 24 h
    h.tick()


def test_the_director_gets_the_report_on_the_first(h):
    _month_of_handoffs(h)
    h.clock.set(datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI))
    h.tick()  # books the report (09:20 on the 1st)
    assert not [t for t in h.texts("director") if t.startswith("**协作健康月报")]
    h.clock.set(datetime(2026, 12, 1, 9, 21, tzinfo=SHANGHAI))
    h.tick()
    h.tick()
    texts = [t for t in h.texts("director") if t.startswith("**协作健康月报")]
    assert texts == [
        "\n".join(
            [
                "**协作健康月报 · 2026年11月**",
                "交接工单6张，超时未响应1次",
                "销售→交付：2张，首次响应平均2.0小时，认领平均2.0小时，完成平均8.0小时，超时1次，受阻0次",
                "销售→财务：2张，首次响应平均3.0小时，认领平均4.0小时，完成平均5.0小时，超时0次，受阻0次",
                "销售→售后：2张，首次响应平均4.0小时，认领平均—，完成平均—，超时0次，受阻2次",
                "受阻原因TOP3：①客户网络＜不通＞＊防火墙＊（2次）",
                "建议：交付环节超时最多（1次），建议核对该团队的接单人手与响应时限。"
                "最常见的受阻原因：客户网络＜不通＞＊防火墙＊（2次）。",
            ]
        )
    ]
    assert [m["msgtype"] for m in h.replies("director")][-2:] == ["image", "markdown"]
    png = Path(h.services.settings.DATA_DIR) / "reports" / "handoffs" / "2026-11.png"
    img = Image.open(png)
    assert img.size == (1920, 1080) and img.format == "PNG"
    got, ref = _coverage(img, TITLE_BOX), _coverage(_reference_title(), TITLE_BOX)
    assert 0.08 < ref < 0.5 and abs(got - ref) < 0.01  # the Chinese title, glyph for glyph
    for who in ("rep01", "sup01", "jf_head"):
        assert not [t for t in h.texts(who) if t.startswith("**协作健康月报")], who
    h.clock.set(datetime(2027, 1, 1, 9, 21, tzinfo=SHANGHAI))
    h.tick()
    h.tick()
    later = [t for t in h.texts("director") if t.startswith("**协作健康月报")]
    assert len(later) == 2 and later[1].startswith("**协作健康月报 · 2026年12月**\n交接工单0张")


def _coverage(img: Image.Image, box) -> float:  # noqa: ANN001
    region = img.crop(box).convert("L")
    return sum(1 for p in region.getdata() if p > 160) / (region.width * region.height)


def _reference_title() -> Image.Image:
    path, index = B.cjk_font()
    img = Image.new("RGB", (B.W, 132), B.NAVY)
    font = ImageFont.truetype(path, 50, index=index)
    ImageDraw.Draw(img).text(
        (B.M, 26), "协作健康月报", font=font, fill=B.WHITE, stroke_width=1, stroke_fill=B.WHITE
    )
    return img


def test_the_dashboard_shows_the_report_and_the_progress_bars_scoped(h):
    _month_of_handoffs(h)

    def get(user, path):  # noqa: ANN001, ANN202 - signed in as `user`
        h.http.cookies.set(SESSION_COOKIE, open_session(h.session_factory, user, h.clock.now()))
        return h.http.get(path)

    page = get("director", "/dashboard/handoffs?month=2026-11")
    assert page.status_code == 200
    assert "交接工单6张，超时未响应1次" in page.text
    assert 'src="/dashboard/handoffs.png?month=2026-11"' in page.text  # the browser may load it (CSP img-src)
    assert any(d.strip() == "img-src 'self'" for d in page.headers["content-security-policy"].split(";"))
    assert "受阻原因TOP3：①客户网络&lt;不通&gt;*防火墙*（2次）" in page.text and "<不通>" not in page.text
    pic = get("director", "/dashboard/handoffs.png?month=2026-11")
    assert pic.status_code == 200 and pic.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(pic.content)).size == (1920, 1080)
    mine = get("rep02", "/dashboard/handoffs?month=2026-11")
    assert "交接工单3张，超时未响应1次" in mine.text  # HT-2 only
    assert get("rep01", "/dashboard/handoffs?month=2026-11").text.count("超时未响应0次") == 1
    assert get("nobody", "/dashboard/handoffs").status_code == 403

    bars = get("rep01", "/dashboard/contracts")
    assert bars.status_code == 200 and 'data-contract="HT-1"' in bars.text and "HT-2" not in bars.text
    card = [c for c in h.cards("rep01") if c["main_title"]["title"] == "合同进度：味源超市"][-1]
    chat = {f["keyname"]: MARKS[f["value"][0]] for f in card["horizontal_content_list"]}
    assert chat == {"签约": "green", "交付": "green", "财务": "green", "售后": "red", "回款": "yellow"}
    row = bars.text.split('data-contract="HT-1"', 1)[1].split("</tr>", 1)[0]
    shown = {
        k: row.split(f'data-stage="{k}" data-colour="', 1)[1].split('"', 1)[0]
        for k in ("sign", "delivery", "finance", "after_sales", "pay")
    }
    assert shown == {
        "sign": "green",
        "delivery": "green",
        "finance": "green",
        "after_sales": "red",
        "pay": "yellow",
    }
    director = get("director", "/dashboard/contracts").text
    two = director.split('data-contract="HT-2"', 1)[1].split("</tr>", 1)[0]
    assert 'data-stage="delivery" data-colour="red"' in two and "超时未响应" in two

    log = get("rep01", "/dashboard/contracts/log?no=HT-1&stage=after_sales")
    assert log.status_code == 200 and "售后工单受阻：客户网络&lt;不通&gt;*防火墙*" in log.text
    assert "交付工单" not in log.text
    pay = get("rep01", "/dashboard/contracts/log?no=HT-1&stage=pay")
    assert "签约后30天付50%：¥250,000.00，已付¥0.00，2026-12-10到期" in pay.text
    assert get("rep01", "/dashboard/contracts/log?no=HT-2").status_code == 404  # rep02's contract
    assert "HT-2" in get("sup01", "/dashboard/contracts").text
