"""统一社会信用代码 (Unified Social Credit Code, USCC), GB 32100-2015: the check a rep's input must pass.

A code is 18 characters from the 31-character set 0-9 A-H J-N P-R T U W X Y (no I, O, Z, S, V).
Character i (0-based, i < 17) has the value of its position in that set and the weight
3**i mod 31 = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]; the 18th character is
the check: value 31 - (sum mod 31), where 31 means 0.

Input is normalised first: surrounding spaces are dropped, full-width characters become half-width
and letters become upper case (a rep typing `91350100m000100y43` on a phone means the same code).
Only the check above is made — not the registration-authority, region or organisation-code segments,
whose rules have exceptions in real registers.
"""

from __future__ import annotations

import unicodedata

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {ch: i for i, ch in enumerate(CHARSET)}
LENGTH = 18


def normalize_uscc(code: str) -> str:
    """Strip, fold full-width to half-width and upper-case."""
    return unicodedata.normalize("NFKC", code).strip().upper()


def uscc_check_char(first17: str) -> str:
    """The check character for the first 17 characters (already valid and normalised)."""
    if len(first17) != LENGTH - 1 or any(ch not in _VALUE for ch in first17):
        raise ValueError("需要17位合法字符")
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def explain_uscc(code: str) -> str | None:
    """None for a valid code, else the first reason it is not, in Chinese."""
    normalized = normalize_uscc(code)
    if len(normalized) != LENGTH:
        return f"长度不是18位（现在是{len(normalized)}位）"
    bad = [ch for ch in normalized if ch not in _VALUE]
    if bad:
        shown = "、".join(dict.fromkeys(bad))
        return f"含非法字符 {shown}（不能含 I、O、Z、S、V 或其他符号）"
    expected = uscc_check_char(normalized[:17])
    if normalized[17] != expected:
        return f"校验位应为 {expected}（现在是 {normalized[17]}），请核对是否输错"
    return None


def is_valid_uscc(code: str) -> bool:
    """Whether `code` is a well-formed USCC with a correct check character (GB 32100-2015)."""
    return isinstance(code, str) and explain_uscc(code) is None
