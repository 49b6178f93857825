"""The weekly brief as one 1920×1080 PNG (a slide): KPI tiles, the 8-week freshness trend, the
opportunity funnel, visits and completeness per rep, the top tags, and the red-tier customers.

Drawn with Pillow (already a dependency for photos) — a dozen shapes do not need a plotting library.
Chinese is set in Noto Sans CJK SC from the `noto-cjk-sans-otc` PyPI package (OFL); Debian's
fonts-noto-cjk is the fallback. Without a CJK font the renderer refuses (no tofu boxes in a brief).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.web.charts import nice_range
from core.periods import SHANGHAI
from storage.metrics.figures import Rate, WeeklyBrief

W, H = 1920, 1080
M = 48  # outer margin
NAVY = (31, 58, 95)
BLUE = (47, 111, 237)
BLUE_LIGHT = (214, 227, 252)
GREEN = (46, 158, 107)
ORANGE = (240, 140, 46)
RED = (214, 69, 69)
INK = (33, 37, 41)
GREY = (91, 101, 112)
GREY_LIGHT = (150, 158, 168)
PANEL = (244, 246, 249)
GRID = (227, 231, 237)
WHITE = (255, 255, 255)
FUNNEL_COLOURS = ((47, 111, 237), (76, 134, 240), (112, 160, 244), (46, 158, 107))

SYSTEM_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
)
MAX_REPS = 9
MAX_RED = 6


class NoCJKFont(RuntimeError):
    pass


@lru_cache(maxsize=1)
def cjk_font() -> tuple[str, int]:
    """(path, face index) of Noto Sans CJK SC: the PyPI package first, then Debian's fonts-noto-cjk."""
    candidates: list[str] = []
    try:
        from noto_cjk_sans_otc import FONT_PATH

        candidates.append(str(FONT_PATH))
    except ImportError:
        pass
    candidates += [p for p in SYSTEM_FONTS if Path(p).exists()]
    for path in candidates:
        for index in range(10):
            try:
                font = ImageFont.truetype(path, 12, index=index)
            except OSError:
                break
            if font.getname()[0] == "Noto Sans CJK SC":
                return path, index
    raise NoCJKFont("没有找到中文字体：请安装 noto-cjk-sans-otc（pip）或 fonts-noto-cjk（apt）")


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    path, index = cjk_font()
    return ImageFont.truetype(path, size, index=index)


def footnote(c: Canvas, text: str) -> None:
    """The picture's bottom line: how its figures are defined (every report picture has one)."""
    c.text((M, H - 20), text, 16, GREY_LIGHT, anchor="lm")


def png_bytes(img: Image.Image) -> bytes:
    """A rendered picture as PNG bytes (what is sent to WeCom and served by the dashboard)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


class Canvas:
    def __init__(self) -> None:
        self.img = Image.new("RGB", (W, H), WHITE)
        self.d = ImageDraw.Draw(self.img)

    def text(
        self,
        xy: tuple[float, float],
        s: str,
        size: int,
        fill=INK,
        *,
        bold: bool = False,  # noqa: ANN001
        anchor: str = "la",
    ) -> None:
        self.d.text(
            xy, s, font=font(size), fill=fill, anchor=anchor, stroke_width=1 if bold else 0, stroke_fill=fill
        )

    def width(self, s: str, size: int) -> float:
        return self.d.textlength(s, font=font(size))

    def fit(self, s: str, size: int, max_w: float) -> str:
        if self.width(s, size) <= max_w:
            return s
        while s and self.width(s + "…", size) > max_w:
            s = s[:-1]
        return s + "…"

    def panel(self, box: tuple[int, int, int, int], title: str, note: str = "") -> None:
        self.d.rounded_rectangle(box, radius=14, fill=PANEL)
        self.text((box[0] + 24, box[1] + 18), title, 26, NAVY, bold=True)
        if note:
            self.text((box[2] - 24, box[1] + 24), note, 18, GREY, anchor="ra")


def _pct(rate: Rate) -> str:
    return rate.percent() if rate.denominator else "无数据"


def _header(c: Canvas, b: WeeklyBrief) -> None:
    c.d.rectangle((0, 0, W, 132), fill=NAVY)
    c.text((M, 26), "上周经营简报", 50, WHITE, bold=True)
    week = b.week.label.split("（", 1)[-1].rstrip("）")
    c.text((M + c.width("上周经营简报", 50) + 28, 46), week, 30, (200, 214, 235))
    c.text((M, 94), c.fit(b.viewer.heading, 22, 1200), 22, (200, 214, 235))
    if b.generated_at is not None:
        stamp = b.generated_at.astimezone(SHANGHAI).strftime("数据截至 %Y-%m-%d %H:%M")
        c.text((W - M, 52), stamp, 22, (200, 214, 235), anchor="ra")
    c.text((W - M, 94), "企业微信销售助手", 22, (200, 214, 235), anchor="ra")


def _tile(c: Canvas, box: tuple[int, int, int, int], label: str, value: str, sub: str, colour) -> None:  # noqa: ANN001
    x0, y0, x1, y1 = box
    c.d.rounded_rectangle(box, radius=14, fill=PANEL)
    c.d.rounded_rectangle((x0, y0, x0 + 8, y1), radius=4, fill=colour)
    c.text((x0 + 30, y0 + 16), label, 24, GREY)
    size = 54  # a long figure (¥46,266,976.17) gets smaller rather than cut at the tile's edge
    while size > 28 and c.width(value, size) > x1 - x0 - 50:
        size -= 2
    c.text((x0 + 30, y0 + 50 + (54 - size) // 2), value, size, colour, bold=True)
    c.text((x0 + 30, y1 - 34), c.fit(sub, 20, x1 - x0 - 50), 20, GREY)


def _tiles(c: Canvas, b: WeeklyBrief) -> None:
    y0, y1 = 148, 312
    w = (W - 2 * M - 3 * 24) // 4
    trend = b.freshness_trend
    old = trend[0][2] if trend else Rate()
    delta = ""
    if old.denominator and b.freshness_now.denominator:
        pts = (b.freshness_now.value - old.value) * 100
        delta = f"，较8周前{'+' if pts >= 0 else ''}{pts:.1f}个百分点"
    funnel = Rate(b.funnel.quoted, b.funnel.total)
    tiles = [
        (
            "客户信息鲜度",
            _pct(b.freshness_now),
            f"{b.freshness_now.numerator}/{b.freshness_now.denominator}{delta or ' 位正常客户近30天有跟进'}",
            BLUE,
        ),
        (
            "过程数据可信度",
            _pct(b.completeness),
            f"上周完整拜访 {b.completeness.numerator}/{b.completeness.denominator} 次",
            GREEN,
        ),
        (
            "商机转化漏斗完整率",
            _pct(funnel),
            f"最近90天 {funnel.numerator}/{funnel.denominator} 个商机到达方案报价",
            ORANGE,
        ),
        (
            "红色客户",
            f"{b.red_total}位",
            "客户评分低于60分，需重点跟进" if b.red_total else "没有红色客户",
            RED,
        ),
    ]
    for i, (label, value, sub, colour) in enumerate(tiles):
        x0 = M + i * (w + 24)
        _tile(c, (x0, y0, x0 + w, y1), label, value, sub, colour)


def _trend(c: Canvas, b: WeeklyBrief, box: tuple[int, int, int, int]) -> None:
    c.panel(box, "客户信息鲜度 · 近8周趋势", "每周末时点")
    x0, y0, x1, y1 = box[0] + 70, box[1] + 92, box[2] - 40, box[3] - 56
    lo, hi = nice_range([r.value for _, _, r in b.freshness_trend if r.value is not None])
    for k in range(5):
        y = y1 - (y1 - y0) * k / 4
        c.d.line((x0, y, x1, y), fill=GRID, width=2)
        c.text((x0 - 12, y), f"{lo + (hi - lo) * k / 4:.0f}%", 18, GREY_LIGHT, anchor="rm")

    def ypos(v: float) -> float:
        return y1 - (y1 - y0) * (v * 100 - lo) / (hi - lo)

    pts = b.freshness_trend
    if not pts:
        return
    step = (x1 - x0) / max(1, len(pts) - 1)
    xy = []
    for i, (label, _, rate) in enumerate(pts):
        x = x0 + i * step
        c.text((x, y1 + 14), label, 18, GREY, anchor="ma")
        if rate.value is not None:
            xy.append((x, ypos(rate.value), rate))
    if len(xy) >= 2:
        c.d.polygon([(xy[0][0], y1), *[(x, y) for x, y, _ in xy], (xy[-1][0], y1)], fill=BLUE_LIGHT)
        c.d.line([(x, y) for x, y, _ in xy], fill=BLUE, width=5, joint="curve")
    for i, (x, y, rate) in enumerate(xy):
        c.d.ellipse((x - 8, y - 8, x + 8, y + 8), fill=WHITE, outline=BLUE, width=4)
        first = i == 0 and x - x0 < 30  # keep the first label clear of the axis labels
        c.text((x - 6 if first else x, y - 16), rate.percent(), 19, NAVY, anchor="ld" if first else "md")
    if not xy:
        c.text(((x0 + x1) / 2, (y0 + y1) / 2), "暂无客户数据", 24, GREY_LIGHT, anchor="mm")


def _funnel(c: Canvas, b: WeeklyBrief, box: tuple[int, int, int, int]) -> None:
    c.panel(box, "商机转化漏斗", "最近90天进入的商机")
    steps = b.funnel.steps()
    if not b.funnel.total:
        c.text(
            ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + 20),
            "最近90天没有新商机",
            24,
            GREY_LIGHT,
            anchor="mm",
        )
        return
    top = max(1, steps[0][1])
    x0, y0, x1 = box[0] + 150, box[1] + 78, box[2] - 150
    full = x1 - x0
    h, gap = 52, 14
    cx = (x0 + x1) / 2
    for i, (label, n) in enumerate(steps):
        y = y0 + i * (h + gap)
        w = max(24.0, full * n / top) if n else 24.0
        colour = FUNNEL_COLOURS[i] if n else GRID
        c.d.rounded_rectangle((cx - w / 2, y, cx + w / 2, y + h), radius=8, fill=colour)
        c.text((box[0] + 24, y + h / 2), label, 22, INK, anchor="lm")
        c.text((cx, y + h / 2), str(n), 24, WHITE if n else GREY, bold=True, anchor="mm")
        if i:
            prev = steps[i - 1][1]
            conv = f"{n / prev * 100:.0f}%" if prev else "—"
            c.text((box[2] - 24, y + h / 2), f"转化 {conv}", 20, GREY, anchor="rm")


def _reps(c: Canvas, b: WeeklyBrief, box: tuple[int, int, int, int]) -> None:
    reps = [r for r in b.reps if r.visits] or b.reps
    shown = reps[:MAX_REPS]
    more = len(reps) - len(shown)
    c.panel(
        box,
        "上周拜访与完整率 · 按业务员",
        f"另有{more}人，见看板" if more > 0 else "柱长=拜访次数，右侧=完整率",
    )
    x_name, x_bar, x_end = box[0] + 24, box[0] + 150, box[2] - 250
    y = box[1] + 74
    row = min(28.0, (box[3] - 48 - y) / max(1, len(shown)))
    top = max([r.visits for r in shown] + [1])
    if not shown:
        c.text(
            ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + 20),
            "上周没有拜访记录",
            24,
            GREY_LIGHT,
            anchor="mm",
        )
    for r in shown:
        mid = y + row / 2
        c.text((x_name, mid), c.fit(r.name, 20, x_bar - x_name - 12), 20, INK, anchor="lm")
        w = (x_end - x_bar) * r.visits / top
        c.d.rounded_rectangle((x_bar, mid - 9, x_bar + max(w, 4), mid + 9), radius=5, fill=BLUE_LIGHT)
        if r.visits:
            cw = w * r.complete / r.visits
            if cw > 0:
                c.d.rounded_rectangle((x_bar, mid - 9, x_bar + max(cw, 4), mid + 9), radius=5, fill=GREEN)
        c.text((x_bar + max(w, 4) + 10, mid), str(r.visits), 18, GREY, anchor="lm")
        rate = r.rate
        colour = (
            GREY_LIGHT
            if rate.value is None
            else (GREEN if rate.value >= 0.8 else ORANGE if rate.value >= 0.5 else RED)
        )
        c.text((box[2] - 24, mid), f"{_pct(rate)}（{r.complete}/{r.visits}）", 19, colour, anchor="rm")
        y += row
    lx = box[0] + 24
    ly = box[3] - 26
    for colour, label in ((GREEN, "完整拜访"), (BLUE_LIGHT, "其他拜访")):
        c.d.rounded_rectangle((lx, ly - 8, lx + 26, ly + 8), radius=4, fill=colour)
        c.text((lx + 34, ly), label, 18, GREY, anchor="lm")
        lx += 34 + c.width(label, 18) + 24


def _tags(c: Canvas, b: WeeklyBrief, box: tuple[int, int, int, int]) -> None:
    c.panel(box, "需求标签 TOP3", "上周拜访")
    tags: Sequence[tuple[str, int]] = b.tags_top
    if not tags:
        c.text(((box[0] + box[2]) / 2, box[1] + 100), "上周没有标签", 22, GREY_LIGHT, anchor="mm")
        return
    top = max(n for _, n in tags)
    x_bar, x_end = box[0] + 24, box[2] - 80
    for i, (tag, n) in enumerate(tags):
        y = box[1] + 84 + i * 82
        c.text((box[0] + 24, y), f"{i + 1}. {tag}", 22, INK, anchor="lm")
        y += 34
        w = (x_end - x_bar) * n / top
        c.d.rounded_rectangle((x_bar, y - 10, x_bar + max(w, 4), y + 10), radius=5, fill=ORANGE)
        c.text((x_bar + max(w, 4) + 10, y), f"{n}次", 19, GREY, anchor="lm")


def _red(c: Canvas, b: WeeklyBrief, box: tuple[int, int, int, int]) -> None:
    c.panel(box, "红色客户", f"共{b.red_total}位，分数最低在前" if b.red_total else "")
    if not b.red:
        c.text(
            ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + 16), "没有红色客户", 22, GREY_LIGHT, anchor="mm"
        )
        return
    y = box[1] + 66
    row = 46
    shown = b.red[: max(1, min(MAX_RED, int((box[3] - y - 6) // row)))]
    inner = box[2] - box[0] - 72
    for cust in shown:
        c.d.ellipse((box[0] + 24, y + 8, box[0] + 36, y + 20), fill=RED)
        c.text(
            (box[0] + 46, y + 14),
            c.fit(f"{cust.name}（{cust.owner_name}）", 20, inner - 80),
            20,
            INK,
            anchor="lm",
        )
        c.text((box[2] - 24, y + 14), f"{cust.score:.0f}分", 20, RED, bold=True, anchor="rm")
        c.text((box[0] + 46, y + 36), c.fit("最弱：" + cust.weakest, 16, inner), 16, GREY, anchor="lm")
        y += row


def render_weekly_brief_image(b: WeeklyBrief) -> Image.Image:
    c = Canvas()
    _header(c, b)
    _tiles(c, b)
    mid_y0, mid_y1 = 336, 672
    split = M + 1080
    _trend(c, b, (M, mid_y0, split, mid_y1))
    _funnel(c, b, (split + 24, mid_y0, W - M, mid_y1))
    low_y0, low_y1 = 696, 1040
    _reps(c, b, (M, low_y0, M + 820, low_y1))
    _tags(c, b, (M + 844, low_y0, M + 1214, low_y1))
    _red(c, b, (M + 1238, low_y0, W - M, low_y1))
    footnote(
        c,
        "口径：客户信息鲜度=近30天有跟进的正常客户÷正常客户；过程数据可信度=完整拜访（在门店定位、≥3张照片、≥1个标签）÷拜访；"
        "漏斗完整率=到达方案报价的商机÷全部商机。与对话中提问的答案一致。",
    )
    return c.img


def render_weekly_brief_png(b: WeeklyBrief) -> bytes:
    return png_bytes(render_weekly_brief_image(b))


def render_weekly_brief(b: WeeklyBrief, path: Path) -> Path:
    """Write the brief's PNG to `path` (the form handlers.sop.weekly_brief.install takes)."""
    path = Path(path)
    path.write_bytes(render_weekly_brief_png(b))
    return path
