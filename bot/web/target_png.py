"""The monthly penetration report (目标穿透月报) as one 1920×1080 PNG, drawn like the weekly brief
(bot/web/brief_png.py: Pillow, Noto Sans CJK): the chain from the organisation's target down to the reps, the
attainment tiles, attainment per region against the time elapsed, the cities, and the risk points."""

from __future__ import annotations

from pathlib import Path

from bot.web.brief_png import (
    BLUE,
    GREEN,
    GREY,
    GREY_LIGHT,
    GRID,
    INK,
    NAVY,
    ORANGE,
    RED,
    WHITE,
    Canvas,
    M,
    W,
    _tile,
    footnote,
    png_bytes,
)
from core.targets.split import yuan
from storage.targets.report import PenetrationReport


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _colour(pace: float | None) -> tuple[int, int, int]:
    if pace is None or pace >= 0.9:
        return GREEN
    return ORANGE if pace >= 0.6 else RED


def _header(c: Canvas, r: PenetrationReport) -> None:
    c.d.rectangle((0, 0, W, 132), fill=NAVY)
    c.text((M, 26), "目标穿透月报", 50, WHITE, bold=True)
    c.text(
        (M + c.width("目标穿透月报", 50) + 28, 46), f"{r.period.label}（{r.period.key}）", 30, (200, 214, 235)
    )
    c.text(
        (M, 94), "集团 → 大区 → 城市 → 门店 → 个人：目标是否完整传到每个人，完成了多少", 22, (200, 214, 235)
    )
    c.text((W - M, 52), f"销售数据截至 {r.as_of.isoformat()}", 22, (200, 214, 235), anchor="ra")
    c.text((W - M, 94), "企业微信销售助手", 22, (200, 214, 235), anchor="ra")


def _chain(c: Canvas, r: PenetrationReport, box: tuple[int, int, int, int]) -> None:
    c.panel(box, "目标传递链路", "与集团目标相比")
    top = max([fen for _, fen, _ in r.chain] + [1])
    x0, x1 = box[0] + 170, box[2] - 260
    y = box[1] + 80
    for words, fen, diff in r.chain:
        w = max(8.0, (x1 - x0) * fen / top)
        moved = abs(diff) >= 0.05
        colour = (RED if diff < 0 else ORANGE) if moved else BLUE
        c.text((box[0] + 24, y + 19), words, 22, INK, anchor="lm")
        c.d.rounded_rectangle((x0, y, x0 + w, y + 38), radius=8, fill=colour)
        c.text((x0 + w + 14, y + 19), yuan(fen), 20, INK, anchor="lm")
        c.text((box[2] - 24, y + 19), f"{diff:+.1f}%", 24, colour if moved else GREEN, bold=True, anchor="rm")
        y += 52
    if not r.chain:
        c.text(
            ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2),
            "传递链路仅对集团范围的查看者显示",
            24,
            GREY_LIGHT,
            anchor="mm",
        )
        return
    ok = all(abs(d) < 0.05 for _, _, d in r.chain)
    c.text(
        (box[0] + 24, box[3] - 30),
        "每一级目标之和等于集团目标：没有在传递中流失"
        if ok
        else "红色：目标在这一级减少；橙色：增加（门店调整或新客开发目标）",
        19,
        GREEN if ok else ORANGE,
        anchor="lm",
    )


def _tiles(c: Canvas, r: PenetrationReport, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    w = (x1 - x0 - 24) // 2
    h = (y1 - y0 - 24) // 2
    org = r.org
    tiles = [
        (
            "集团达成率",
            _pct(org.attainment if org else None),
            f"已完成{yuan(org.sales_fen if org else 0)}",
            _colour(org.pace if org else None),
        ),
        ("时间进度", _pct(org.elapsed if org else None), f"{r.period.days}天的周期", BLUE),
        ("目标缺口", yuan(org.gap_fen if org else 0), "目标 − 已完成", ORANGE),
        (
            "红灯业务员",
            f"{len(r.red_reps)}位",
            "连续两周低于进度的60%" if r.red_reps else "最近一次检查无红灯",
            RED,
        ),
    ]
    for i, (label, value, sub, colour) in enumerate(tiles):
        tx, ty = x0 + (i % 2) * (w + 24), y0 + (i // 2) * (h + 24)
        _tile(c, (tx, ty, tx + w, ty + h), label, value, sub, colour)


def _bars(c: Canvas, rows, box: tuple[int, int, int, int], title: str, limit: int) -> None:  # noqa: ANN001
    c.panel(box, title, "竖线：时间进度")
    x0, x1 = box[0] + 190, box[2] - 120
    y = box[1] + 76
    shown = rows[:limit]
    if not shown:
        c.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), "暂无目标", 24, GREY_LIGHT, anchor="mm")
        return
    for row in shown:
        c.text((box[0] + 24, y + 16), c.fit(row.name, 22, 160), 22, INK, anchor="lm")
        c.d.rounded_rectangle((x0, y, x1, y + 32), radius=6, fill=GRID)
        share = min(1.0, row.attainment or 0.0)
        if share > 0:
            c.d.rounded_rectangle((x0, y, x0 + (x1 - x0) * share, y + 32), radius=6, fill=_colour(row.pace))
        ex = x0 + (x1 - x0) * row.elapsed
        c.d.line((ex, y - 4, ex, y + 36), fill=NAVY, width=3)
        c.text((box[2] - 24, y + 16), _pct(row.attainment), 22, INK, anchor="rm")
        y += 46


def _risks(c: Canvas, r: PenetrationReport, box: tuple[int, int, int, int]) -> None:
    c.panel(box, "风险点")
    x, y = box[0] + 24, box[1] + 70
    c.text((x, y), "进度最落后的业务员", 22, NAVY, bold=True)
    y += 36
    for row in r.behind_reps:
        c.text(
            (x, y),
            c.fit(f"{row.name}  达成{_pct(row.attainment)}  差{yuan(row.gap_fen)}", 20, box[2] - x - 24),
            20,
            INK,
        )
        y += 30
    if not r.behind_reps:
        c.text((x, y), "无", 20, GREY)
        y += 30
    y += 12
    c.text((x, y), "按时间进度缺口最大的门店", 22, NAVY, bold=True)
    y += 36
    for name, gap in r.behind_stores:
        c.text((x, y), c.fit(f"{name}  落后{yuan(gap)}", 20, box[2] - x - 24), 20, INK)
        y += 30
    if not r.behind_stores:
        c.text((x, y), "无", 20, GREY)


def render_penetration_image(r: PenetrationReport):  # noqa: ANN201 - a PIL image
    c = Canvas()
    _header(c, r)
    _chain(c, r, (M, 156, M + 1100, 540))
    _tiles(c, r, (M + 1124, 156, W - M, 540))
    _bars(c, r.regions, (M, 564, M + 600, 1036), "各大区达成率", 8)
    _bars(c, r.cities, (M + 624, 564, M + 1224, 1036), "各城市达成率（前8）", 8)
    _risks(c, r, (M + 1248, 564, W - M, 1036))
    footnote(
        c,
        "口径：达成率=周期内已完成订单金额÷当前目标（门店目标之和，个人另加开发目标）；时间进度=已过天数÷周期天数；"
        "与对话中提问的答案一致（docs/targets.md）。",
    )
    return c.img


def render_penetration_png(r: PenetrationReport) -> bytes:
    return png_bytes(render_penetration_image(r))


def render_penetration(r: PenetrationReport, path: Path) -> Path:
    path = Path(path)
    path.write_bytes(render_penetration_png(r))
    return path
