"""The weekly brief PNG: renders Chinese with a real CJK font (no tofu), at slide size, for a full and an
empty brief; compared with an independently rendered reference by structure, not by bytes."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from PIL import Image, ImageChops, ImageDraw, ImageFont

from bot.web import brief_png as B
from core.periods import resolve_period
from storage.metrics.figures import Funnel, Rate, RepLine, Viewer, WeeklyBrief
from storage.scorecard import ScoredCustomer

NOW = datetime(2026, 11, 23, 0, 40, tzinfo=UTC)  # Monday 08:40 Shanghai
TITLE_BOX = (B.M, 20, B.M + 330, 100)  # where 上周经营简报 is drawn


def brief(full: bool = True) -> WeeklyBrief:
    viewer = Viewer("sup1", "王主管", "supervisor", frozenset({"sup1", "rep1", "rep2", "rep3"}))
    trend = [
        (f"{d.month}/{d.day}周", d, Rate(60 + k * 3, 100) if full else Rate())
        for k, d in enumerate(NOW - timedelta(days=7 * (8 - k)) for k in range(8))
    ]
    red = (
        [
            ScoredCustomer(
                f"C{k}",
                f"红色客户{k}号店",
                "rep1",
                "张三",
                "华东",
                20.0 + k,
                "red",
                NOW,
                "下单频次0分（近90天下单0次）",
            )
            for k in range(7)
        ]
        if full
        else []
    )
    return WeeklyBrief(
        viewer=viewer,
        week=resolve_period("last_week", NOW),
        funnel_period=resolve_period("last_90_days", NOW),
        freshness_now=Rate(84, 100) if full else Rate(),
        freshness_trend=trend,
        completeness=Rate(47, 90) if full else Rate(),
        reps=[RepLine(f"rep{k}", f"业务员{k}", 20 - k, 10 - k // 2) for k in range(12)] if full else [],
        tags_top=[("价格异议", 30), ("库存不足", 21), ("新品兴趣", 9)] if full else [],
        funnel=Funnel(120, 70, 40, 22) if full else Funnel(),
        red=red,
        red_total=len(red) * 3,
        generated_at=NOW,
    )


def _coverage(img: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Share of pixels in box that are light (text on the navy header)."""
    region = img.crop(box).convert("L")
    light = sum(1 for p in region.getdata() if p > 160)
    return light / (region.width * region.height)


def _reference_title() -> Image.Image:
    """上周经营简报 drawn straight with Pillow and the CJK font file, on the header's colour."""
    path, index = B.cjk_font()
    img = Image.new("RGB", (B.W, 132), B.NAVY)
    ImageDraw.Draw(img).text(
        (B.M, 26),
        "上周经营简报",
        font=ImageFont.truetype(path, 50, index=index),
        fill=B.WHITE,
        stroke_width=1,
        stroke_fill=B.WHITE,
    )
    return img


def test_png_renders_chinese_at_slide_size(tmp_path):
    out = B.render_weekly_brief(brief(), tmp_path / "brief.png")
    img = Image.open(out)
    assert img.format == "PNG" and img.size == (1920, 1080) and img.mode == "RGB"
    got, ref = _coverage(img, TITLE_BOX), _coverage(_reference_title(), TITLE_BOX)
    assert 0.08 < ref < 0.5
    assert abs(got - ref) < 0.01  # the same glyphs in the same place
    # every panel drew something: the mid and low rows are not blank
    for box in ((B.M, 340, B.M + 1080, 670), (1152, 340, 1872, 670), (B.M, 700, B.M + 820, 1036)):
        extrema = img.crop(box).convert("L").getextrema()
        assert extrema[1] - extrema[0] > 100


def test_cjk_glyphs_are_real_not_tofu():
    f = B.font(40)
    masks = [bytes(f.getmask(ch)) for ch in "上周经营简报客户"]
    assert len(set(masks)) == len(masks)  # missing glyphs would all be the same .notdef box
    assert f.getname()[0] == "Noto Sans CJK SC"


def test_empty_brief_renders_placeholders():
    png = B.render_weekly_brief_png(brief(full=False))
    img = Image.open(io.BytesIO(png))
    assert img.size == (1920, 1080)
    full = Image.open(io.BytesIO(B.render_weekly_brief_png(brief())))
    assert ImageChops.difference(img.crop(TITLE_BOX), full.crop(TITLE_BOX)).getbbox() is None  # same title
    assert ImageChops.difference(img, full).getbbox() is not None


def test_a_long_figure_stays_inside_its_tile():
    """¥46,266,976.17 in a quarter-width tile: drawn smaller, never past the tile's right edge."""
    from bot.web.brief_png import PANEL, Canvas, _tile

    c = Canvas()
    box = (40, 40, 380, 204)  # the 目标穿透 picture's tiles are about 340 px wide
    _tile(c, box, "目标缺口", "¥46,266,976.17", "目标 − 已完成", (230, 126, 34))
    right = [
        c.img.getpixel((x, y))
        for x in range(box[2] - 14, box[2] - 2)
        for y in range(box[1] + 50, box[1] + 110)
    ]
    assert all(p == PANEL for p in right)  # nothing drawn in the last 14 px of the tile
    inside = [
        c.img.getpixel((x, y))
        for x in range(box[0] + 30, box[0] + 200)
        for y in range(box[1] + 50, box[1] + 110)
    ]
    assert any(p != PANEL for p in inside)  # the figure is there
