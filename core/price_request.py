"""What a rep's customer asked for on price, read from the rep's line: `parse_price_request(text)`.

A price objection (价格异议) goes to approval; the approver needs to see what was asked. Four kinds, each
with its value as a `Decimal`:

- `discount`    — a 折 figure: 9折, 九折, 打8.5折, 八五折, 85折 (= 8.5). Value in 折 (0 < v < 10).
- `percent_off` — a reduction in per cent: 降5%, 便宜5个点, 让3个点, 降价百分之五, 优惠10％. Needs a word of
  reduction or asking before the number (降, 便宜, 优惠, 让, 减, 下调, 少, 要): 「毛利20%」 is not a request.
- `unit_price`  — the price asked per unit: 单价降到12元, 价格做到11.5元, 要12块一箱, 10元一件.
- `amount_off`  — an amount off: 降价3块, 便宜2元, 每箱便宜五块, 少收3块钱, 降5毛 (= 0.5 元).

Numbers are digits (half- or full-width) or Chinese numerals (五, 十二, 两, 三块五 = 3.5, 三块半 = 3.5). The
first request in the text wins (by position); none found → None. Pure: no I/O, standard library only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

KINDS = ("discount", "percent_off", "unit_price", "amount_off")

_CN = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_DIGIT = "零〇一二两三四五六七八九"
_NUM = rf"(?:\d+(?:\.\d+)?|[{_CN_DIGIT}十]+(?:点[{_CN_DIGIT}]+)?)"
_YUAN = r"(?:块钱|块|元钱|元|毛钱|毛|角)"
_CUT = r"(?:降价|降低|降|下调|便宜|优惠|让利|让|减价|减|少收|少)"
_ASK = r"(?:要求|希望|想要|要|能不能|可否|能否)"
_UNIT = r"(?:件|箱|瓶|包|个|袋|斤|盒|提|罐|桶|支|条|份|公斤|千克)"
# a trailing small figure after 块/元 is tenths: 三块五 = 3.5, 1块2 = 1.2, 三块半 = 3.5 (not 3块一箱)
_TENTHS = rf"(?P<tenths>(?:[{_CN_DIGIT}]|\d(?!\d)|半)(?!\s*{_UNIT}))?"
_MONEY = rf"(?P<n>{_NUM})\s*(?P<unit>{_YUAN}){_TENTHS}"

# (kind, pattern): groups n (or cn), unit, tenths; several patterns may read one kind
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("discount", re.compile(rf"(?<![\d.])(?P<n>\d{{1,2}}(?:\.\d)?|[{_CN_DIGIT}]{{1,2}})\s*折(?!扣|旧)")),
    (
        "percent_off",
        re.compile(
            rf"(?:{_CUT}|{_ASK})\s*(?:了|个|到)?\s*"
            rf"(?:百分之(?P<cn>{_NUM})|(?P<n>{_NUM})\s*(?:%|个点|点(?![{_CN_DIGIT}\d])))"
        ),
    ),
    ("unit_price", re.compile(rf"(?:降到|降至|调到|调至|改成|改为|做到|给到|压到|谈到|到)\s*{_MONEY}")),
    ("unit_price", re.compile(rf"{_MONEY}\s*(?:钱\s*)?(?:一|每|1)\s*{_UNIT}")),
    ("unit_price", re.compile(rf"(?:单价|进价|报价|价格)\s*(?:要|要求|只给|给)?\s*{_MONEY}")),
    ("amount_off", re.compile(rf"{_CUT}\s*(?:了|个)?\s*{_MONEY}")),
)


@dataclass(frozen=True)
class PriceRequest:
    kind: str  # one of KINDS
    value: Decimal  # 折 for discount, per cent for percent_off, 元 for unit_price and amount_off
    phrase: str  # the words it was read from (as folded: half-width digits)


def _cn_number(text: str) -> Decimal | None:
    """五 → 5, 十二 → 12, 二十 → 20, 二十五 → 25, 八五 → 85 (digit by digit), 三点五 → 3.5."""
    whole, _, frac = text.partition("点")
    if not whole:
        return None
    if "十" in whole:
        tens, _, ones = whole.partition("十")
        if "十" in ones or (tens and tens not in _CN) or (ones and ones not in _CN):
            return None
        n = (_CN[tens] if tens else 1) * 10 + (_CN[ones] if ones else 0)
    elif all(ch in _CN for ch in whole):
        n = int("".join(str(_CN[ch]) for ch in whole))
    else:
        return None
    if frac:
        if not all(ch in _CN for ch in frac):
            return None
        return Decimal(f"{n}.{''.join(str(_CN[ch]) for ch in frac)}")
    return Decimal(n)


def _number(text: str | None) -> Decimal | None:
    if not text:
        return None
    if text[0].isdigit():
        try:
            return Decimal(text)
        except InvalidOperation:
            return None
    return _cn_number(text)


def _tenths(text: str | None) -> Decimal:
    if not text:
        return Decimal(0)
    if text == "半":
        return Decimal("0.5")
    digit = int(text) if text.isdigit() else _CN[text]
    return Decimal(digit) / 10


def _yuan(n: Decimal, unit: str, tenths: str | None) -> Decimal:
    if unit in ("毛", "毛钱", "角"):
        return n / 10
    return n + _tenths(tenths)


def _read(kind: str, m: re.Match[str]) -> Decimal | None:
    g = m.groupdict()
    if kind == "discount":
        raw = g["n"]
        n = _number(raw)
        if n is None:
            return None
        if n >= 10 and "." not in raw:  # 85折 / 八五折: eight and a half
            n = n / 10
        return n if 0 < n < 10 else None
    if kind == "percent_off":
        n = _number(g.get("cn") or g.get("n"))
        return n if n is not None and 0 < n < 100 else None
    n = _number(g.get("n"))
    if n is None:
        return None
    value = _yuan(n, g["unit"], g.get("tenths"))
    return value if value > 0 else None


def _clean(value: Decimal) -> Decimal:
    """10.0 → 10, 8.50 → 8.5 (never 1E+1)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)  # full-width digits and ％ → half-width


def parse_price_request(text: str) -> PriceRequest | None:
    """The first price or discount request in `text`, or None."""
    folded = _fold(text or "")
    found: list[tuple[int, int, PriceRequest]] = []
    for rank, (kind, pattern) in enumerate(_PATTERNS):
        for m in pattern.finditer(folded):
            value = _read(kind, m)
            if value is not None:
                found.append((m.start(), rank, PriceRequest(kind, _clean(value), m.group(0).strip())))
                break
    if not found:
        return None
    return min(found, key=lambda f: (f[0], f[1]))[2]


def format_value(value: Decimal) -> str:
    """12 → "12", 8.50 → "8.5", 0.5 → "0.5" (no exponent, no trailing zeros)."""
    return format(_clean(value), "f")
