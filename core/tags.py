"""Demand tags: the organisation's menu of canonical tags and the words reps use for them.

A tag is found in the rep's line by any of its synonyms (the canonical name is always one). Matching
runs on *folded* text (see `fold`): full-width → half-width, lower case, a few traditional characters →
simplified, so `ＰＲＩＣＥ`, `Price` and `price` are one word and `價格高` is `价格高`. Folding keeps the
length of the text, so a match's offsets are offsets in the rep's own text too.

At one position the longest synonym wins (`对新品感兴趣` before `新品`). A synonym right after a
negation (`不`, `没`, `没有`, `不是`, `并不`...) is found but marked `negated`: `不缺货` is not 库存不足.
A synonym written in Latin letters matches whole words only (`price` in `price太高`, not in `prices`).

`TagMenu.from_config` reads an organisation's own menu (stored in the `org_config` table):

    {"tags": [{"name": "价格异议", "synonyms": ["嫌贵", "太贵"]}, ...], "include_defaults": false}

or the short form `{"价格异议": ["嫌贵", "太贵"], ...}`. With `include_defaults` the default menu is kept
and the organisation's tags are added; a tag of the same name replaces the default one, and a synonym the
organisation gives to its own tag is taken away from any default tag.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_TAG_NAME = 32  # visit_tags.tag is String(32)
MAX_SYNONYM = 32

# Traditional → simplified, for the characters that matter in visit lines (one char → one char).
_TRAD_PAIRS = (
    "週周 後后 內内 價价 貨货 庫库 樣样 訪访 個个 禮礼 號号 點点 賬账 帳帐 陳陈 競竞 對对 銷销 試试 進进 來来 說说 應应 諾诺"
    " 報报 時时 鐘钟 兩两 幾几 間间 題题 興兴 議议 異异 斷断 補补 歡欢 單单 談谈 約约 聯联 繫系 見见 過过 機机 會会 錢钱"
    " 貴贵 產产 開开 類类"
)
_TRAD = str.maketrans({pair[0]: pair[1] for pair in _TRAD_PAIRS.split()})


def _fold_char(ch: str) -> str:
    if ch.isascii():
        return ch.lower()
    folded = unicodedata.normalize("NFKC", ch)
    if len(folded) != 1:
        folded = ch
    lowered = folded.lower()
    if len(lowered) == 1:
        folded = lowered
    return folded.translate(_TRAD)


def fold(text: str) -> str:
    """Fold text for matching; the result has exactly the length of `text` (offsets are shared)."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(ch) for ch in text)


_NEGATIONS = ("不", "没", "没有", "无", "未", "不是", "不算", "并不", "并没", "并没有", "不会", "not ", "no ")


def _is_negated(folded: str, start: int) -> bool:
    before = folded[max(0, start - 4) : start]
    return before.endswith(_NEGATIONS)


@dataclass(frozen=True)
class TagDef:
    """A canonical tag and the words that mean it."""

    name: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagHit:
    start: int
    end: int
    tag: str
    negated: bool = False


class TagMenu:
    """An ordered menu of canonical tags with synonyms; immutable once built."""

    __slots__ = ("_defs", "_lookup", "_pattern")

    def __init__(self, tags: Iterable[TagDef]):
        defs: list[TagDef] = []
        lookup: dict[str, str] = {}
        for tag in tags:
            name = tag.name.strip()
            if not name:
                raise ValueError("标签名不能为空")
            if len(name) > MAX_TAG_NAME:
                raise ValueError(f"标签名「{name}」超过{MAX_TAG_NAME}个字")
            if any(d.name == name for d in defs):
                raise ValueError(f"标签「{name}」重复")
            words: list[str] = []
            for word in (name, *tag.synonyms):
                if not isinstance(word, str):
                    raise ValueError(f"标签「{name}」的同义词必须是文字")
                key = fold(word.strip())
                if not key:
                    continue
                if len(key) > MAX_SYNONYM:
                    raise ValueError(f"同义词「{word}」超过{MAX_SYNONYM}个字")
                owner = lookup.get(key)
                if owner is not None and owner != name:
                    raise ValueError(f"同义词「{word}」同时属于「{owner}」和「{name}」")
                if owner is None:
                    lookup[key] = name
                    words.append(word.strip())
            defs.append(TagDef(name, tuple(w for w in words if w != name)))
        self._defs = tuple(defs)
        self._lookup = lookup
        self._pattern = _compile(lookup)

    # --- reading -----------------------------------------------------------------------------------
    @property
    def tags(self) -> tuple[TagDef, ...]:
        return self._defs

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self._defs)

    def canonical(self, word: str) -> str | None:
        """The canonical tag for one word (a name or a synonym), or None."""
        return self._lookup.get(fold(word.strip()))

    def find(self, folded: str) -> list[TagHit]:
        """Every synonym in already-folded text, left to right, longest first, not overlapping."""
        if self._pattern is None:
            return []
        hits = []
        for m in self._pattern.finditer(folded):
            hits.append(TagHit(m.start(), m.end(), self._lookup[m.group(0)], _is_negated(folded, m.start())))
        return hits

    def to_config(self) -> dict[str, Any]:
        return {"tags": [{"name": d.name, "synonyms": list(d.synonyms)} for d in self._defs]}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TagMenu) and self._defs == other._defs

    def __hash__(self) -> int:
        return hash(self._defs)

    def __repr__(self) -> str:
        return f"TagMenu({', '.join(self.names)})"

    # --- building ----------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TagMenu:
        """An organisation's menu from its stored config (see the module docstring for the shape)."""
        if not isinstance(config, Mapping):
            raise ValueError("标签配置必须是一个字典")
        if "tags" in config:
            raw = config["tags"]
            if not isinstance(raw, list):
                raise ValueError("标签配置的 tags 必须是列表")
            entries: list[tuple[str, list[str]]] = []
            for item in raw:
                if isinstance(item, str):
                    entries.append((item, []))
                elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
                    entries.append((item["name"], item.get("synonyms") or []))
                else:
                    raise ValueError("每个标签需要 name（文字）和 synonyms（列表）")
            include_defaults = bool(config.get("include_defaults", False))
        else:
            entries = list(config.items())
            include_defaults = False
        own: list[TagDef] = []
        for name, synonyms in entries:
            if not isinstance(name, str):
                raise ValueError("标签名必须是文字")
            if isinstance(synonyms, str) or not isinstance(synonyms, Iterable):
                raise ValueError(f"标签「{name}」的同义词必须是列表")
            own.append(TagDef(name.strip(), tuple(synonyms)))
        if not include_defaults:
            return cls(own)
        own_names = {d.name for d in own}
        taken = {fold(w.strip()) for d in own for w in (d.name, *d.synonyms) if isinstance(w, str)}
        kept = [
            TagDef(d.name, tuple(s for s in d.synonyms if fold(s) not in taken))
            for d in DEFAULT_MENU.tags
            if d.name not in own_names and fold(d.name) not in taken
        ]
        return cls([*kept, *own])


def _compile(lookup: Mapping[str, str]) -> re.Pattern[str] | None:
    if not lookup:
        return None
    parts = []
    for key in sorted(lookup, key=lambda k: (-len(k), k)):
        piece = re.escape(key)
        if key[0].isascii() and key[0].isalnum():
            piece = r"(?<![a-z0-9])" + piece
        if key[-1].isascii() and key[-1].isalnum():
            piece += r"(?![a-z0-9])"
        parts.append(piece)
    return re.compile("|".join(parts))


DEFAULT_MENU = TagMenu(
    [
        TagDef(
            "价格异议",
            (
                "嫌贵",
                "价格高",
                "太贵",
                "价格贵",
                "要降价",
                "砍价",
                "价格太高",
                "价太高",
                "价格偏高",
                "价格有点高",
                "价高",
                "偏贵",
                "太贵了",
                "贵了",
                "嫌价高",
                "嫌价格高",
                "价钱贵",
                "价钱高",
                "压价",
                "讨价还价",
                "要优惠",
                "要折扣",
                "想降价",
                "降价",
                "价格没优势",
                "没有价格优势",
                "嫌贵了",
                "闲贵",
                "价格问题",
                "price太高",
                "price高",
                "price贵",
                "price too high",
                "too expensive",
                "expensive",
                "price",
            ),
        ),
        TagDef(
            "库存不足",
            (
                "断货",
                "缺货",
                "没货",
                "库存少",
                "补货",
                "库存不够",
                "库存紧张",
                "货不够",
                "货不足",
                "缺库存",
                "卖断了",
                "断码",
                "却货",
                "段货",
                "缺或",
                "out of stock",
                "oos",
                "stockout",
                "no stock",
            ),
        ),
        TagDef(
            "新品兴趣",
            (
                "想试新品",
                "新品",
                "试销",
                "对新品感兴趣",
                "新产品",
                "想试试新品",
                "新品感兴趣",
                "想上新",
                "上新品",
                "新平",
                "试用",
                "new product interest",
                "new product",
                "new sku",
                "new item",
            ),
        ),
        TagDef(
            "账期协商",
            (
                "要账期",
                "账期",
                "赊账",
                "月结",
                "帐期",
                "要帐期",
                "赊销",
                "季结",
                "压款",
                "延期付款",
                "先货后款",
                "payment terms",
                "credit terms",
                "credit",
            ),
        ),
        TagDef(
            "竞品活动",
            (
                "竞品",
                "对手促销",
                "竞品促销",
                "竞品活动",
                "竞品降价",
                "竞争对手",
                "对手活动",
                "对手降价",
                "别家促销",
                "竟品",
                "竟品活动",
                "竞品搞活动",
                "竟品促销",
                "竞品做活动",
                "竞品在做活动",
                "竞品搞促销",
                "competitor",
                "competitors",
            ),
        ),
        TagDef(
            "陈列问题",
            (
                "陈列",
                "货架位置",
                "陈列差",
                "排面",
                "堆头",
                "端架",
                "货架",
                "位置不好",
                "陈例",
                "成列",
                "display",
                "shelf",
            ),
        ),
    ]
)
