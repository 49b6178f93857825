"""The monthly collaboration health report (协作健康月报) as one 1920×1080 PNG, drawn with the weekly brief's
canvas (bot/web/brief_png.py: Pillow, Noto Sans CJK): per hand-off (销售→交付 / 财务 / 售后) the average time to
the first answer, to 认领 and to 完成, the SLA breaches; the three most frequent 受阻 reasons; the suggestion."""

from __future__ import annotations

from pathlib import Path

from bot.web.brief_png import (
    BLUE,
    GREEN,
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
from core.contracts.handoff import SLA_HOURS, TEAM_WORDS
from storage.contracts.queries import HandoffHealth

TITLE = "协作健康月报"


def _hours(h: float | None) -> str:
    return "—" if h is None else f"{h:.1f}小时"


def _colour(hours: float | None, breaches: int, sla: int) -> tuple[int, int, int]:
    if breaches:
        return RED
    if hours is None or hours <= sla / 2:
        return GREEN
    return ORANGE if hours <= sla else RED


def _wrap(c: Canvas, s: str, size: int, max_w: float) -> list[str]:
    lines, line = [], ""
    for ch in s:
        if c.width(line + ch, size) > max_w:
            lines.append(line)
            line = ""
        line += ch
    return [*lines, line] if line else lines


def _header(c: Canvas, h: HandoffHealth) -> None:
    c.d.rectangle((0, 0, W, 132), fill=NAVY)
    c.text((M, 26), TITLE, 50, WHITE, bold=True)
    c.text((M + c.width(TITLE, 50) + 28, 46), f"{h.start.year}年{h.start.month}月", 30, (200, 214, 235))
    c.text((M, 94), "签约之后：销售交给交付、财务、售后，每一次交接用了多久，卡在哪里", 22, (200, 214, 235))
    handed = sum(t.handed for t in h.teams)
    c.text((W - M, 52), f"交接工单 {handed} 张", 22, (200, 214, 235), anchor="ra")
    c.text((W - M, 94), "企业微信销售助手", 22, (200, 214, 235), anchor="ra")


def _tiles(c: Canvas, h: HandoffHealth, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    n = len(h.teams) + 1
    w = (x1 - x0 - 24 * (n - 1)) // n
    for i, t in enumerate(h.teams):
        tx = x0 + i * (w + 24)
        sub = f"{t.handed}张 · 超时{t.breaches}次 · 受阻{t.blocked}次"
        colour = _colour(t.average_response_hours, t.breaches, SLA_HOURS[t.team])
        _tile(
            c,
            (tx, y0, tx + w, y1),
            f"销售→{TEAM_WORDS[t.team]} 首次响应",
            _hours(t.average_response_hours),
            sub,
            colour,
        )
    breaches = sum(t.breaches for t in h.teams)
    tx = x0 + (n - 1) * (w + 24)
    _tile(
        c,
        (tx, y0, x1, y1),
        "超时未响应",
        f"{breaches}次",
        "超过时限无人认领、完成或报受阻",
        RED if breaches else GREEN,
    )


def _bars(c: Canvas, h: HandoffHealth, box: tuple[int, int, int, int]) -> None:
    c.panel(box, "各环节平均用时", "蓝：到认领　绿：到完成　竖线：时限")
    top = max(
        [v for t in h.teams for v in (t.average_claim_hours, t.average_done_hours) if v is not None]
        + [float(max(SLA_HOURS.values()))]
    )
    x0, x1 = box[0] + 200, box[2] - 150
    y = box[1] + 86
    for t in h.teams:
        c.text((box[0] + 24, y + 34), f"销售→{TEAM_WORDS[t.team]}", 24, INK, anchor="lm")
        for value, colour, dy in ((t.average_claim_hours, BLUE, 0), (t.average_done_hours, GREEN, 38)):
            c.d.rounded_rectangle((x0, y + dy, x1, y + dy + 30), radius=6, fill=GRID)
            if value:
                c.d.rounded_rectangle(
                    (x0, y + dy, x0 + max(8.0, (x1 - x0) * value / top), y + dy + 30), radius=6, fill=colour
                )
            c.text((box[2] - 24, y + dy + 15), _hours(value), 20, INK, anchor="rm")
        sla = x0 + (x1 - x0) * SLA_HOURS[t.team] / top
        c.d.line((sla, y - 6, sla, y + 74), fill=NAVY, width=3)
        y += 118


def _blocking(c: Canvas, h: HandoffHealth, box: tuple[int, int, int, int]) -> None:
    c.panel(box, "受阻原因 TOP3")
    x, y = box[0] + 24, box[1] + 84
    if not h.top_blocking:
        c.text(
            ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), "本月没有受阻的工单", 24, GREY_LIGHT, anchor="mm"
        )
        return
    for i, (reason, n) in enumerate(h.top_blocking):
        c.d.ellipse((x, y, x + 44, y + 44), fill=(RED, ORANGE, BLUE)[i])
        c.text((x + 22, y + 22), str(i + 1), 24, WHITE, bold=True, anchor="mm")
        c.text((x + 64, y + 22), c.fit(reason, 24, box[2] - x - 200), 24, INK, anchor="lm")
        c.text((box[2] - 24, y + 22), f"{n}次", 26, NAVY, bold=True, anchor="rm")
        y += 76


def _suggestion(c: Canvas, h: HandoffHealth, box: tuple[int, int, int, int]) -> None:
    c.panel(box, "建议")
    y = box[1] + 72
    for line in _wrap(c, h.suggestion, 26, box[2] - box[0] - 48)[:3]:
        c.text((box[0] + 24, y), line, 26, INK)
        y += 42


def render_handoff_image(h: HandoffHealth):  # noqa: ANN201 - a PIL image
    c = Canvas()
    _header(c, h)
    _tiles(c, h, (M, 156, W - M, 356))
    _bars(c, h, (M, 380, M + 1100, 820))
    _blocking(c, h, (M + 1124, 380, W - M, 820))
    _suggestion(c, h, (M, 844, W - M, 1030))
    footnote(
        c,
        "口径：从签约时派出工单到团队第一次认领、完成或报受阻的小时数，按工单平均；超时=时限内无人响应"
        "（docs/contracts.md）。",
    )
    return c.img


def render_handoff_png(h: HandoffHealth) -> bytes:
    return png_bytes(render_handoff_image(h))


def render_handoff_report(h: HandoffHealth, path: Path) -> Path:
    path = Path(path)
    path.write_bytes(render_handoff_png(h))
    return path
