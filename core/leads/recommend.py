"""The three products that best match a lead's industry and pain words.

Ranking (docs/leads.md § Recommendations), for each product of the catalogue:
- industry: `industry_points` (3) when the lead's industry and one of the product's industries contain one
  another (机械制造 ~ 机械), else 0;
- pains: `pain_points` (2) for each of the product's pain keywords that one of the lead's pain words
  contains, or is contained in (能耗超标 ~ 能耗; 产线停机 ~ 停机);
- points = industry + pains. Products with 0 points are not recommended. Order: points (high first), then
  more matched pain keywords, then the catalogue's product id (so equal products come in a stable order).
The top `top` (3) are returned, each with the keywords that matched (the reason shown to the rep).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.leads.policy import LeadPolicy


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    category: str | None = None
    industries: tuple[str, ...] = ()
    pain_keywords: tuple[str, ...] = ()
    pitch: str | None = None
    competitors: str | None = None


@dataclass(frozen=True)
class Match:
    product: Product
    points: float
    industry: str | None  # the product industry that matched
    pains: tuple[str, ...]  # the product pain keywords that matched


def _near(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    return bool(a) and bool(b) and (a in b or b in a)


def rank(
    products: Iterable[Product], *, industry: str | None, pains: Sequence[str], policy: LeadPolicy
) -> list[Match]:
    matches: list[Match] = []
    for p in products:
        ind = next((i for i in p.industries if industry and _near(i, industry)), None)
        hit = tuple(k for k in p.pain_keywords if any(_near(k, w) for w in pains))
        points = (policy.industry_points if ind else 0.0) + policy.pain_points * len(hit)
        if points > 0:
            matches.append(Match(p, points, ind, hit))
    matches.sort(key=lambda m: (-m.points, -len(m.pains), m.product.product_id))
    return matches[: policy.top]
