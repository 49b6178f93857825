"""Small inline SVG charts for the dashboard (no JavaScript, no CDN: WeCom's in-app browser and any
desktop browser draw them as they are)."""

from __future__ import annotations

from html import escape

from storage.metrics.figures import Funnel, Rate

BLUE, BLUE_LIGHT, GREEN, GREY, GRID, NAVY = "#2f6fed", "#d6e3fc", "#2e9e6b", "#5b6570", "#e3e7ed", "#1f3a5f"
FUNNEL = ("#2f6fed", "#4c86f0", "#70a0f4", "#2e9e6b")


def nice_range(values: list[float]) -> tuple[int, int]:
    """A y-axis in whole percent for rates 0..1: a multiple of 20 points wide (5-point gridlines at
    quarters), from 10 points below the lowest value, within 0..100."""
    if not values:
        return 0, 100
    lo = max(0, int((min(values) * 100 - 10) // 10 * 10))
    top = max(values) * 100 + 5
    span = max(20, int(-(-(top - lo) // 20) * 20))
    hi = min(100, lo + span)
    return max(0, hi - span), hi


def trend_svg(points: list[tuple[str, Rate]], *, width: int = 480, height: int = 220) -> str:
    """A line of rates (0..1) with a label per point; points without data leave a gap."""
    left, right, top, bottom = 44, 16, 28, 34
    lo, hi = nice_range([r.value for _, r in points if r.value is not None])
    plot_w, plot_h = width - left - right, height - top - bottom
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="客户信息鲜度趋势">']
    for k in range(5):
        y = top + plot_h - plot_h * k / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{lo + (hi - lo) * k / 4:.0f}%</text>'
        )
    step = plot_w / max(1, len(points) - 1)
    xy = []
    for i, (label, rate) in enumerate(points):
        x = left + i * step
        out.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" class="axis">{escape(label)}</text>'
        )
        if rate.value is not None:
            y = top + plot_h - plot_h * (rate.value * 100 - lo) / (hi - lo)
            xy.append((x, y, rate))
    if len(xy) >= 2:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in xy)
        area = f"{xy[0][0]:.1f},{top + plot_h} {line} {xy[-1][0]:.1f},{top + plot_h}"
        out.append(f'<polygon points="{area}" fill="{BLUE_LIGHT}" opacity="0.7"/>')
        out.append(f'<polyline points="{line}" fill="none" stroke="{BLUE}" stroke-width="3"/>')
    for x, y, rate in xy:
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="#fff" stroke="{BLUE}" stroke-width="2.5">'
            f"<title>{rate.text()}</title></circle>"
        )
        first = x - left < 20  # keep the first label clear of the axis labels
        out.append(
            f'<text x="{x - 4 if first else x:.1f}" y="{y - 9:.1f}" text-anchor="{"start" if first else "middle"}" '
            f'class="val">{rate.percent()}</text>'
        )
    if not xy:
        out.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="axis">暂无数据</text>'
        )
    out.append("</svg>")
    return "".join(out)


def funnel_svg(f: Funnel, *, width: int = 420, height: int = 220) -> str:
    steps = f.steps()
    top = max(1, steps[0][1])
    label_w, conv_w = 76, 76
    bar_w = width - label_w - conv_w
    row = (height - 8) / len(steps)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="商机转化漏斗">']
    for i, (label, n) in enumerate(steps):
        y = 4 + i * row
        w = max(8.0, bar_w * n / top) if n else 8.0
        x = label_w + (bar_w - w) / 2
        fill = FUNNEL[i] if n else GRID
        out.append(f'<text x="0" y="{y + row / 2 + 5:.1f}" class="lbl">{label}</text>')
        out.append(
            f'<rect x="{x:.1f}" y="{y + 4:.1f}" width="{w:.1f}" height="{row - 10:.1f}" rx="6" fill="{fill}"/>'
        )
        out.append(
            f'<text x="{label_w + bar_w / 2:.1f}" y="{y + row / 2 + 5:.1f}" text-anchor="middle" '
            f'class="num" fill="{"#fff" if n else GREY}" data-stage="{i}">{n}</text>'
        )
        if i:
            prev = steps[i - 1][1]
            conv = f"{n / prev * 100:.0f}%" if prev else "—"
            out.append(
                f'<text x="{width}" y="{y + row / 2 + 5:.1f}" text-anchor="end" class="axis">转化 {conv}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def bar(rate: Rate, colour: str = GREEN) -> str:
    """A thin inline bar for a table cell."""
    v = rate.value
    pct = 0 if v is None else round(v * 100, 1)
    return f'<span class="bar"><span style="width:{pct}%;background:{colour}"></span></span>'
