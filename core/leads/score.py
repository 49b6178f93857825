"""The lead score card: facts → points per dimension → a score 0..100 → a grade, with the explanation.

    score(LeadFacts(source="展会", credit_grade="A", inquiries=2, contact_role="采购总监", industry="机械制造",
                    downloads=1), LeadPolicy())
    → 来源 展会 16 (20×0.8) + 信用等级 A 15 + 询价频次 2次 14 + 联系人角色 采购总监 16 + 行业指数 机械制造 15
      + 资料下载 1次 5 = 81 → A

Each dimension's points are weight × fraction rounded half-up to one decimal; the score is their sum rounded
half-up to a whole number, so the explanation adds up to the score as a person would add it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from core.leads.policy import Dimension, LeadPolicy


@dataclass(frozen=True)
class LeadFacts:
    source: str | None = None
    credit_grade: str | None = None
    inquiries: int = 0
    contact_role: str | None = None
    industry: str | None = None
    downloads: int = 0


@dataclass(frozen=True)
class Part:
    key: str
    label: str
    value: str  # the fact as read ("展会", "2次", "未提供")
    matched: str | None  # the table word or threshold that gave the fraction; None: unknown
    fraction: float
    points: float
    max: float


@dataclass(frozen=True)
class ScoreCard:
    score: int
    grade: str
    parts: tuple[Part, ...]

    def detail(self) -> dict[str, float]:
        """What `leads.score_detail` stores: the points per dimension key ({"source": 16.0, …}, ~100 bytes).
        The words (label, fact, the table word, the maximum) follow from the facts and the score card, so the
        explanation shown is `explanation()` of the card re-derived from the lead (storage/leads/store.py
        `card_of`), never text kept on every row."""
        return {p.key: p.points for p in self.parts}

    def explanation(self) -> str:
        """One line per dimension, in Chinese: 来源（展会）：16/20分."""
        return "\n".join(f"{p.label}（{p.value}）：{_num(p.points)}/{_num(p.max)}分" for p in self.parts)


def _num(x: float) -> str:
    return f"{x:g}"


def _half_up(x: float, places: str) -> Decimal:
    return Decimal(repr(x)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _table_fraction(d: Dimension, fact: str) -> tuple[str | None, float]:
    best: tuple[str | None, float] = (None, d.unknown)
    found = False
    for word, fraction in d.table:
        if word and word in fact:
            if not found or fraction > best[1]:
                best, found = (word, fraction), True
    return best


def _steps_fraction(d: Dimension, count: int) -> tuple[str | None, float]:
    best: tuple[str | None, float] = (None, d.unknown)
    for threshold, fraction in d.steps:
        if count >= threshold:
            best = (f"≥{threshold}次", fraction)
    return best


def score(facts: LeadFacts, policy: LeadPolicy) -> ScoreCard:
    parts: list[Part] = []
    total = Decimal(0)
    for d in policy.dimensions:
        raw = getattr(facts, d.key)
        if isinstance(raw, int):
            value = f"{raw}次"
            matched, fraction = _steps_fraction(d, raw)
        elif raw is None or not str(raw).strip():
            value, matched, fraction = "未提供", None, d.unknown
        else:
            value = str(raw).strip()
            matched, fraction = _table_fraction(d, value)
        points = _half_up(d.weight * fraction, "0.1")
        total += points
        parts.append(Part(d.key, d.label, value, matched, fraction, float(points), d.weight))
    whole = int(total.quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    return ScoreCard(score=whole, grade=policy.grade_of(whole), parts=tuple(parts))
