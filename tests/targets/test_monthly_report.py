"""The monthly penetration report: on the 1st the sales director gets the picture (Chinese text rendered, not
tofu) and the lines — the chain from the organisation to the reps computed (0.0% lost by a cascade that keeps
every yuan; an adjustment shows), attainment per region, the risk points. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

import main
from bot.web import brief_png as B
from core.clock import SHANGHAI
from core.targets.split import yuan
from storage.targets.models import TargetRow
from storage.targets.report import penetration
from tests.support.db import import_texts
from tests.support.harness import Harness
from tests.targets import fixture as fx

TITLE_BOX = (B.M, 20, B.M + 330, 100)  # where 目标穿透月报 is drawn


def _coverage(img: Image.Image, box) -> float:  # noqa: ANN001
    region = img.crop(box).convert("L")
    return sum(1 for p in region.getdata() if p > 160) / (region.width * region.height)


def _reference_title() -> Image.Image:
    path, index = B.cjk_font()
    img = Image.new("RGB", (B.W, 132), B.NAVY)
    ImageDraw.Draw(img).text(
        (B.M, 26),
        "目标穿透月报",
        font=ImageFont.truetype(path, 50, index=index),
        fill=B.WHITE,
        stroke_width=1,
        stroke_fill=B.WHITE,
    )
    return img


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock, monkeypatch, capsys):
    clock.set(datetime(2026, 3, 25, 10, 0, tzinfo=SHANGHAI))
    h = Harness(db_url, tmp_path, redis_server, clock)
    import_texts(h.session_factory, tmp_path / "in", clock.now(), fx.csv_files())
    monkeypatch.setenv("DATABASE_URL", db_url)
    args = ["targets", "cascade", "--period", "2026Q2", "--amount", "400000", "--now", "2026-03-25T10:00"]
    assert main.main([*args, "--apply"]) == 0
    capsys.readouterr()
    return h


def test_the_director_gets_the_report_on_the_first(h):
    h.clock.set(datetime(2026, 4, 20, 10, 0, tzinfo=SHANGHAI))
    h.peer.text("sup01", "调整目标 C01 +5% 竞品促销 https://example.com/p")
    h.tick()
    h.clock.set(datetime(2026, 5, 1, 8, 0, tzinfo=SHANGHAI))
    h.tick()  # books the report (09:10 on the 1st)
    h.clock.set(datetime(2026, 5, 1, 9, 11, tzinfo=SHANGHAI))
    h.tick()
    h.tick()
    texts = [t for t in h.texts("director") if t.startswith("**目标穿透月报")]
    assert len(texts) == 1
    text = texts[0]
    assert text.startswith("**目标穿透月报 · 2026年第2季度**（销售数据截至2026-04-30）")
    assert (
        "目标传递：集团¥400,000.00（+0.0%） → 大区合计¥400,000.00（+0.0%） → 城市合计¥400,000.00（+0.0%）"
        in text
    )
    with h.session_factory() as s:
        r = penetration(s, "2026Q2", as_of=date(2026, 4, 30))
        c01 = s.get(TargetRow, "2026Q2|store|C01")
    delta = c01.amount_fen - c01.committed_fen
    chain = {w: (f, d) for w, f, d in r.chain}
    assert delta > 0 and chain["门店合计"][0] == chain["个人合计"][0] == 40_000_000 + delta  # the +5% on C01
    assert chain["城市合计"] == (40_000_000, 0.0)  # shows at the store level, nowhere above
    assert f"门店合计{yuan(40_000_000 + delta)}（{chain['门店合计'][1]:+.1f}%）" in text
    assert "各大区：华东" in text
    images = [m for m in h.replies("director") if m["msgtype"] == "image"]
    assert images, "the picture was sent"
    png = Path(h.services.settings.DATA_DIR) / "reports" / "targets" / "2026-05-01.png"
    img = Image.open(png)
    assert img.size == (1920, 1080) and img.format == "PNG"
    got, ref = _coverage(img, TITLE_BOX), _coverage(_reference_title(), TITLE_BOX)
    assert 0.08 < ref < 0.5 and abs(got - ref) < 0.01  # the Chinese title, glyph for glyph
    assert h.texts("rep01") and not [t for t in h.texts("rep01") if t.startswith("**目标穿透月报")]


def test_the_same_report_on_the_dashboard_scoped(h):
    from core.web_session import SESSION_COOKIE
    from tests.support.web import open_session

    h.clock.set(datetime(2026, 4, 20, 10, 0, tzinfo=SHANGHAI))

    def get(user, path):  # signed in as `user` (a session as the WeCom callback opens it)
        h.http.cookies.set(SESSION_COOKIE, open_session(h.session_factory, user, h.clock.now()))
        return h.http.get(path)

    page = get("director", "/dashboard/targets")
    assert page.status_code == 200 and "目标传递：集团¥400,000.00（+0.0%）" in page.text
    # the browser may load the picture: same origin, and the page's policy lets images come from it
    assert 'src="/dashboard/targets.png"' in page.text
    assert any(d.strip() == "img-src 'self'" for d in page.headers["content-security-policy"].split(";"))
    png = get("director", "/dashboard/targets.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(__import__("io").BytesIO(png.content)).size == (1920, 1080)
    mine = get("rep01", "/dashboard/targets")
    assert (
        mine.status_code == 200 and "目标传递" not in mine.text
    )  # organisation totals: org-wide viewers only
    assert "刘洋" not in mine.text and "张伟" in mine.text  # only what rep01 may see
    assert get("nobody", "/dashboard/targets").status_code == 403
