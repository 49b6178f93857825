"""Normalised question text → tokens. Every character must be consumed by a recogniser or be a filler word;
whatever is left makes the question unreadable (refused, never guessed).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nlq import calendar_words as CW
from nlq import lexicon as L
from nlq.spec import NpsCondition, OrderCondition, Period, TouchCondition
from nlq.timewords import PERIOD_PATTERNS, match_period, span_of
from nlq.vocab import Vocab

_USED = "\x00"
_SKIP = object()


@dataclass(frozen=True)
class Tok:
    kind: str
    start: int
    end: int
    val: Any = None


class Unreadable(ValueError):
    def __init__(self, leftover: str):
        super().__init__(leftover)
        self.leftover = leftover


class _Scanner:
    def __init__(self, text: str):
        self.buf = list(text)
        self.toks: list[Tok] = []

    def take(
        self,
        pattern: str | re.Pattern[str],
        kind: str | None,
        make: Callable[[re.Match[str]], Any] | None = None,
    ) -> None:
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        for m in list(rx.finditer("".join(self.buf))):
            if m.end() == m.start():
                continue
            val = make(m) if make else m.group(0)
            if val is _SKIP:
                continue
            if kind is not None:
                self.toks.append(Tok(kind, m.start(), m.end(), val))
            self.buf[m.start() : m.end()] = _USED * (m.end() - m.start())

    def leftover(self) -> str:
        return "".join(self.buf).replace(_USED, " ").strip()


def _alt(words: list[str] | set[str] | frozenset[str]) -> str:
    return _alt_of(frozenset(words))


@functools.lru_cache(maxsize=256)
def _alt_of(words: frozenset[str]) -> str:
    """The alternation of the words, longest first (the same organisation's names at every question: built
    once; re caches the compiled pattern)."""
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)) if w)


@functools.lru_cache(maxsize=256)
def _folded(values: frozenset[str]) -> dict[str, str]:
    """Values as they appear in normalised text (NFKC, lower case) → the stored value. Shared: never mutated."""
    return {unicodedata.normalize("NFKC", v).lower(): v for v in values if v}


def _touch_kind(word: str) -> str:
    return "visit" if word in ("拜访", "回访", "签到", "跑店") else "any"


def _stale(
    amount: str, unit: str, touch: str, strict_word: str | None, inclusive_word: str | None
) -> TouchCondition:
    inclusive = inclusive_word in L.AGE_INCLUSIVE or strict_word in L.AGE_INCLUSIVE
    if strict_word in ("超过", "多于", "大于"):
        inclusive = False
    return TouchCondition(
        present=False,
        kind=_touch_kind(touch),
        age_inclusive=inclusive,
        period=Period(kind="rolling", span=span_of(amount, unit)),
    )


def _window(m: re.Match[str], present: bool) -> TouchCondition:
    g = [x for x in m.groups() if x is not None]  # amount, unit, touch
    return TouchCondition(
        present=present, kind=_touch_kind(g[2]), period=Period(kind="rolling", span=span_of(g[0], g[1]))
    )


def _nps_prefix(m: re.Match[str]) -> Any:
    op, num, suffix, op2, num2 = m.groups()
    sym = L.OPS[op]
    if suffix:
        implied = L.SUFFIX_OPS[suffix]
        if sym == "=":  # 'NPS是70以上'
            sym = implied
        elif sym[0] != implied[0]:  # '大于70以下': contradictory, leave it unread
            return _SKIP
    out = [NpsCondition(op=sym, value=int(num))]
    if op2 is not None:
        if L.OPS[op2] == "=":
            return _SKIP
        out.append(NpsCondition(op=L.OPS[op2], value=int(num2)))
    return out


def _region_pattern(vocab: Vocab) -> tuple[str, dict[str, set[str]]]:
    base: dict[str, set[str]] = {}
    for r in vocab.regions:
        b = re.sub(r"(大区|地区|区域|区)$", "", r) or r
        base.setdefault(b, set()).add(r)
    return rf"({_alt(set(base))})(?:大区|地区|区域|片区|区)?", base


def _person_pattern(vocab: Vocab) -> str:
    names = set(_folded(frozenset(u.name for u in vocab.users.values() if len(u.name) >= 2)))
    ids = {u.userid.lower() for u in vocab.users.values()}
    parts = []
    if names:
        parts.append(_alt(names))
    if ids:
        parts.append(rf"(?<![a-z0-9_.@-])(?:{_alt(ids)})(?![a-z0-9_.@-])")
    if not parts:
        return r"(?!x)x"
    return rf"{L.PERSON_TITLE}({'|'.join(parts)})(?:本人)?"


def _person(vocab: Vocab, word: str) -> Any:
    named = vocab.users_named(word)
    if len(named) == 1:
        return named[0].userid
    if len(named) > 1:  # reps first: the likeliest subject of a sales question
        ids = tuple(u.userid for u in sorted(named, key=lambda u: (u.role != "rep", u.userid)))
        return ("ambiguous", word, ids)
    u = vocab.user_by_id(word)
    return u.userid if u else _SKIP


def _trend_unit(word: str) -> str | None:
    if "周" in word or "星期" in word:
        return "week"
    return "month" if "月" in word else None  # 趋势 / 走势 alone: the unit comes from elsewhere, else months


def _days(amount: str, unit: str) -> int:
    return int(amount) * {"小时": 0, "天": 1, "日": 1, "周": 7, "星期": 7, "个月": 30, "月": 30}[unit] or 1


def _total(word: str, op: str | None, number: str, unit: str | None, suffix: str | None = None) -> Any:
    """A threshold on a per-customer (or per-person) total: (measure, op, value)."""
    measure = L.TOTAL_WORDS[word]
    if measure == "order?":  # 下单超过3次 is a count; 下单超过1万 an amount
        measure = "order_count" if unit in ("次", "单", "笔", "回") else "sales"
    sym = L.V2_OPS[op] if op else None
    if suffix:
        implied = L.SUFFIX_OPS.get(suffix) or (">=" if "上" in suffix else "<=")
        if sym is None or sym == "=":
            sym = implied
        elif sym[0] != implied[0]:
            return _SKIP
    if sym is None:
        return _SKIP
    return (measure, sym, float(number))


def _with_category(total: Any, category: str) -> Any:
    return _SKIP if total is _SKIP else (*total, category)


def _rate_having(m: re.Match[str]) -> Any:
    figure = L.RATE_FIGURES_OF[m.group(1)]
    value = float(m.group(3))
    if m.group(4) or value > 1:
        value /= 100
    return (figure, L.V2_OPS[m.group(2)], value)


def scan(text: str, *, vocab: Vocab, now: datetime) -> list[Tok]:
    """Tokens of a normalised question, in text order; raises Unreadable with what is left over."""
    s = _Scanner(text)
    s.take(L.POLITE, None)
    s.take(L.YES_NO, None)
    # NPS
    s.take(
        L.NPS_RANGE,
        "nps",
        lambda m: [
            NpsCondition(op=">=", value=int(m.group(1))),
            NpsCondition(op="<=", value=int(m.group(2))),
        ],
    )
    s.take(L.NPS_PREFIX, "nps", _nps_prefix)
    s.take(L.NPS_SUFFIX, "nps", lambda m: [NpsCondition(op=L.SUFFIX_OPS[m.group(2)], value=int(m.group(1)))])
    s.take(
        L.NPS_KEY,
        "rank",
        lambda m: {"by": "nps", "desc": m.group(1) is None, "limit": None, "superlative": False},
    )
    s.take(
        L.NPS_RANK,
        "rank",
        lambda m: {
            "by": "nps",
            "desc": {"最高": True, "最低": False}.get(m.group(1), L.RANK_WORDS.get(m.group(1), True)),
            "limit": int(m.group(2)) if m.group(2) else None,
            "superlative": m.group(1) in ("最高", "最低"),
        },
    )
    s.take(L.ALL_LOST, None)
    s.take(L.STATUS_ALL, "status_all")
    s.take(L.STATUS_ACTIVE, "status_active")
    # v2, before the measures: days overdue, stuck opportunities, thresholds on totals, trends, 业绩怎么样
    s.take(
        L.STUCK,
        "stuck",
        lambda m: (L.STAGES[m.group(1)], _days(m.group(2), m.group(3))),
    )
    s.take(
        L.OVERDUE_DAYS_RANK,
        "rank_overdue_days",
        lambda m: int(m.group(1) or m.group(2)) if (m.group(1) or m.group(2)) else None,
    )
    s.take(
        L.OVERDUE_DAYS,
        "overdue_days",
        lambda m: _days(m.group(2), m.group(3)) - (1 if (m.group(1) in L.AGE_INCLUSIVE or m.group(4)) else 0),
    )
    s.take(
        L.NONE_AT_ALL,
        "total",
        lambda m: _total(m.group(2) or ("下单" if m.group(1) else "拜访"), "<", "1", "次"),
    )
    s.take(
        L.ORDER_SPAN,
        "order_span",
        lambda m: OrderCondition(
            present=False, period=Period(kind="rolling", span=span_of(m.group(2), m.group(3)))
        ),
    )
    s.take(L.DONE_BEST, "measure", lambda m: ("orders", "sales"))
    s.take(L.PEOPLE_RATE, "rate_having", lambda m: _rate_having(m))
    cats = _folded(vocab.categories)
    if cats:  # 最近三个月买饮料超过5千的店: a threshold on the customer's orders of that category
        s.take(
            rf"{L.TOTAL_CATEGORY_VERB}({_alt(set(cats))})(?:类|产品|品类)?(?:的)?(?:金额|额|次数)?"
            rf"(?:已经|已)?({L.V2_OPS_RE}){L.TNUM}({L.COUNT_UNITS})?(以上|以下|及以上|及以下)?",
            "total",
            lambda m: _with_category(
                _total(m.group(1), m.group(3), m.group(4), m.group(5), m.group(6)), cats[m.group(2)]
            ),
        )
    s.take(
        L.TOTAL_OP_FIRST,
        "total",
        lambda m: _total(m.group(1), m.group(2), m.group(3), m.group(4), m.group(5)),
    )
    s.take(L.TOTAL_NUM_FIRST, "total", lambda m: _total(m.group(1), None, m.group(2), m.group(3), m.group(4)))
    s.take(
        L.TREND_N,
        "trend",
        lambda m: ("week" if "周" in m.group(2) or "星期" in m.group(2) else "month", int(m.group(1))),
    )
    s.take(L.OVERVIEW_EARLY, "overview")
    s.take(L.COMPARE_YOY, "compare", lambda m: "year_ago")
    s.take(L.COMPARE_PREV, "compare", lambda m: "previous")
    s.take(L.CHANGE_RANK, "change_rank", lambda m: m.group(1) is not None)
    # measures
    for entity_figure in L.MEASURES:
        pat, entity, figure = entity_figure[:3]
        extra = entity_figure[3] if len(entity_figure) > 3 else None  # type: ignore[misc]
        x = tuple(sorted(extra.items())) if extra else None
        s.take(pat, "measure", lambda m, e=entity, f=figure, x=x: (e, f, x) if x else (e, f))
    s.take(L.MONEY_Q, "money_q")
    # touches with an age or a window
    s.take(
        L.LONGEST_UNTOUCHED,
        "rank",
        lambda m: {
            "by": "last_visit" if _touch_kind(m.group(1)) == "visit" else "last_touch",
            "desc": False,
            "limit": int(m.group(2)) if m.group(2) else None,
            "superlative": True,
        },
    )
    s.take(L.STALE_WINDOW, "touch_full", lambda m: _window(m, present=False))
    s.take(L.TOUCHED_WINDOW, "touch_full", lambda m: _window(m, present=True))
    s.take(
        L.LAST_TOUCH_AGE,
        "touch_full",
        lambda m: _stale(m.group(3), m.group(4), m.group(1), m.group(2), m.group(5)),
    )
    s.take(
        L.STALE_SPAN_FIRST,
        "touch_full",
        lambda m: _stale(m.group(2), m.group(3), m.group(5), m.group(1), m.group(4)),
    )
    s.take(
        L.STALE_SPAN_AFTER,
        "touch_full",
        lambda m: _stale(m.group(3), m.group(4), m.group(1), m.group(2), m.group(5)),
    )
    s.take(
        L.SLEEP_SPAN,
        "touch_full",
        lambda m: _stale(
            m.group(2) or m.group(6),
            m.group(3) or m.group(7),
            "互动",
            m.group(1) or m.group(5),
            m.group(4) or m.group(8),
        ),
    )
    s.take(L.SLEEP_BARE, "sleep_bare")
    # periods: v2's calendar words first (a day before its month, 上上周 before 上周), then v1's, then 16号
    for rx in CW.PATTERNS[:-1]:
        s.take(rx, "period", lambda m: CW.match(m, now=now) or _SKIP)
    for rx in PERIOD_PATTERNS:
        s.take(rx, "period", lambda m: match_period(m, now=now) or _SKIP)
    s.take(CW.PATTERNS[-1], "period", lambda m: CW.match(m, now=now) or _SKIP)
    s.take(CW.RANGE_FROM, None)
    s.take(CW.RANGE_JOINT, "range")
    s.take(L.COMPARE_REF, "compare_ref")
    s.take(L.COMPARE_REF_TAIL, None)
    s.take(L.CHANGE_WORDS, "change")
    s.take(L.TREND, "trend", lambda m: (_trend_unit(m.group(0)), None))
    s.take(L.TREND_WHICH, "trend_which", lambda m: "week" if m.group(1) == "周" else "month")
    s.take(L.PEOPLE_WORDS, "people")
    s.take(L.TEAM_BARE, "group", lambda m: "team")
    s.take(_person_pattern(vocab) + L.UNDER_WORDS_RE, "under", lambda m: _person(vocab, m.group(1)))
    # ranking, limits, groups
    s.take(
        rf"{L.TOP_SUPER}(?:的)?({L.GROUP_NOUNS_RE})?",
        "top",
        lambda m: {
            "limit": int(m.group(2)),
            "desc": L.SUPERLATIVES[m.group(1)],
            "superlative": True,
            "group": L.GROUP_NOUNS.get(m.group(3) or "")
            or ("week" if m.group(0).endswith("周") else "month" if m.group(0).endswith("月") else None),
        },
    )
    s.take(
        rf"(?:{L.TOP_N})(?:的)?({L.GROUP_NOUNS_RE})?",
        "top",
        lambda m: {
            "limit": int(
                m.group(1) or m.group(2) or m.group(3) or (10 if m.group(0).startswith("top") else 1)
            ),
            "desc": not m.group(0).startswith("倒数"),
            "superlative": False,
            "group": L.GROUP_NOUNS.get(m.group(4) or ""),
        },
    )
    s.take(
        rf"({L.SUPER_RE})(?:的)?({L.GROUP_NOUNS_RE})?",
        "super",
        lambda m: {"desc": L.SUPERLATIVES[m.group(1)], "group": L.GROUP_NOUNS.get(m.group(2) or "")},
    )
    s.take(rf"({_alt(set(L.RANK_WORDS))})(?:排列|排序|排)?", "rankword", lambda m: L.RANK_WORDS[m.group(1)])
    s.take(L.GROUP_EACH, "group", lambda m: L.GROUP_NOUNS[m.group(1)])
    s.take(
        L.GROUP_WHICH, "group_which", lambda m: (L.GROUP_NOUNS[m.group(2)], m.group(1) in ("哪些", "哪几个"))
    )
    s.take(L.LIST_MANY, "list_many")
    s.take(L.LIST_ONE, "list_one")
    s.take(L.WHO, "who")
    # conditions
    s.take(L.NOT_LOST, "not_lost")
    s.take(L.LOST, "lost")
    s.take(L.ORDER_NEG, "order", lambda m: False)
    s.take(L.ORDER_POS, "order", lambda m: True)
    s.take(L.TIMEOUT, "timeout")
    s.take(L.UNHANDLED, "unhandled")
    s.take(L.NEW_CUSTOMERS, "new_customers")
    s.take(L.OVERDUE, "overdue")
    s.take(L.STAGE_RE, "stage", lambda m: L.STAGES[m.group(1)])
    s.take(L.TOUCH_NEG, "touch_neg", lambda m: _touch_kind(m.group(1)))
    s.take(L.TOUCH_POS, "touch_pos", lambda m: _touch_kind(m.group(1) or m.group(2)))
    # the organisation's own words
    tags = {**_folded(vocab.tags), **L.TAG_SYNONYMS}
    s.take(rf"{L.TAG_VERB}({_alt(set(tags))}){L.TAG_TAIL}", "tag", lambda m: tags[m.group(1)])
    s.take(_person_pattern(vocab), "person", lambda m: _person(vocab, m.group(1)))
    if vocab.regions:
        region_re, region_base = _region_pattern(vocab)
        s.take(region_re, "region", lambda m: sorted(region_base[m.group(1)]))
    for kind, values, tail in (
        ("city", vocab.cities, "(?:市)?"),
        ("channel", vocab.channels, "(?:渠道)?"),
        ("category", vocab.categories, "(?:品类|类产品|类|产品)?"),
    ):
        folded = _folded(values)
        if folded:
            s.take(rf"({_alt(set(folded))}){tail}", kind, lambda m, f=folded: f[m.group(1)])
    s.take(L.GROUP_BARE, "group", lambda m: L.GROUP_NOUNS.get(m.group(0), "rep"))
    # who is asking about whom, nouns, shapes, joints
    s.take(L.SELF, "self")
    s.take(L.TEAM, "team")
    s.take(L.ME, "me")
    s.take(L.NOUNS_RE, "noun", lambda m: L.NOUNS[m.group(0)])
    s.take(L.COUNT_CUE, "count")
    s.take(L.CONJ_OR, "or")
    s.take(L.CONJ_AND, "and")
    s.take(L.OVERVIEW, "overview")
    s.take(L.FILLERS, None)
    left = s.leftover()
    if left:
        raise Unreadable(left)
    return sorted(s.toks, key=lambda t: t.start)
