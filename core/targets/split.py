"""Splitting an amount in fen by weights so the parts sum to the whole exactly (largest remainder).

The rule (docs/targets.md § Rounding): child i gets floor(A × w_i / W) fen; the fen left over (fewer than the
number of children) go one each to the children with the largest remainders A × w_i mod W, ties broken by the
order the children were given (callers pass them sorted by key). When every weight is zero the split is equal
(weights all 1). Integer arithmetic only: no float ever touches a fen.
"""

from __future__ import annotations

from collections.abc import Sequence


def split_fen(amount: int, weights: Sequence[int]) -> list[int]:
    """`amount` fen over `weights` (non-negative integers); the result sums to `amount` exactly."""
    n = len(weights)
    if n == 0:
        return []
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    if amount < 0:
        return [-x for x in split_fen(-amount, weights)]
    total = sum(weights)
    if total == 0:
        weights = [1] * n
        total = n
    parts: list[int] = []
    rems: list[int] = []
    for w in weights:
        q, r = divmod(amount * w, total)
        parts.append(q)
        rems.append(r)
    left = amount - sum(parts)
    if left:
        order = sorted(range(n), key=lambda i: (-rems[i], i))
        for i in order[:left]:
            parts[i] += 1
    return parts


def yuan(fen: int) -> str:
    """Fen as yuan with the thousands separated: ¥1,234.50 (negative: -¥12.00)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def share(part: int, whole: int) -> str:
    """A share in percent with one decimal: 12.3%."""
    return "0.0%" if whole == 0 else f"{100 * part / whole:.1f}%"
