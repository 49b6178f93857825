"""Adjusting a store's target within the bound (docs/targets.md § Adjustments): the words of the chat command,
and the rule.

「调整目标 <客户编号或名称> <+5% | -3.5%> [周期] <理由> [链接]」. The percentage is of the store's *committed*
target (as cascaded or imported), so adjustments never creep: after each one the store's target is
committed × (1 + pct), rounded half up to the fen, with |pct| ≤ limit checked exactly (no float).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from core.targets.baseline import round_half_up

COMMAND = r"^\s*(调整目标|目标调整)"
_PARSE = re.compile(
    r"^\s*(?:调整目标|目标调整)\s*(?P<store>\S+)\s+(?P<pct>[+＋\-−－]?\s*\d+(?:\.\d+)?)\s*[%％]\s*(?P<rest>.*)$",
    re.S,
)
_PERIOD = re.compile(r"(?<![\d])(\d{4}\s*[Qq][1-4]|\d{4}-\d{1,2})(?![\d])")
_LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class AdjustCommand:
    store: str  # a customer id or name, as typed
    pct: Fraction  # +5 for +5%
    period: str | None  # 2026Q2 / 2026-05 when typed
    reason: str
    link: str | None  # an http(s) link in the text: evidence


def parse_command(text: str) -> AdjustCommand | None:
    m = _PARSE.match(text or "")
    if m is None:
        return None
    raw = m.group("pct").replace(" ", "").replace("＋", "+").replace("−", "-").replace("－", "-")
    pct = Fraction(Decimal(raw))
    rest = m.group("rest")
    link_m = _LINK.search(rest)
    link = link_m.group(0) if link_m else None
    if link_m:
        rest = rest.replace(link_m.group(0), " ")
    period_m = _PERIOD.search(rest)
    period = period_m.group(1).replace(" ", "") if period_m else None
    if period_m:
        rest = rest.replace(period_m.group(0), " ")
    reason = re.sub(r"\s+", " ", rest).strip(" ，,。;；:：")
    return AdjustCommand(store=m.group("store"), pct=pct, period=period, reason=reason, link=link)


def adjusted(committed_fen: int, pct: Fraction) -> int:
    """committed × (1 + pct/100), rounded half up to the fen."""
    return round_half_up(committed_fen * (1 + pct / 100))


def within_bound(pct: Fraction, limit_pct: Fraction) -> bool:
    """|pct| ≤ limit, exactly (Fractions): +5% passes a 5% limit, +5.01% does not."""
    return abs(pct) <= limit_pct


def percent_words(pct: Fraction) -> str:
    sign = "+" if pct > 0 else ("-" if pct < 0 else "")
    text = f"{abs(float(pct)):.2f}".rstrip("0").rstrip(".")
    return f"{sign}{text}%"
