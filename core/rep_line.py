"""The rep's one line of text after a visit, understood offline.

    parse_line("价格异议 库存不足，承诺周五前送样品，15天后回访", now=monday_9am)
    → tags [价格异议, 库存不足], promise 送样品 due Friday 18:00, follow-up in 15 days at 09:00, note ""

What the line may hold, in any order, with or without punctuation (full- or half-width), spaces or
none, Chinese mixed with English:
- demand tags, by any synonym of the organisation's `TagMenu` (core/tags.py: longest synonym wins, a
  negated one such as `不缺货` is not a tag);
- promises: a time phrase with an action (`周五前送样品`, `3天内报价`, `下周一给方案`, `明天下午送货`,
  `送样品周五前`), optionally after 承诺/答应/许诺/保证/说好/promise;
- the next follow-up: a time phrase with a follow-up word after or before it (`15天后回访`,
  `两周后再来`, `一个月后跟进`, `回访时间:下周三`), or a time phrase standing alone (`下月初`);
- anything else, which is the note.
Date words and how they resolve are in core/date_words.py (this week's Friday if not past, 下周一 =
Monday of next week, 月底 = last day of this month, ...). Local time is Asia/Shanghai; every
instant returned is aware UTC. A promise is a deadline: due at the end of its day, 18:00 local (the
end of a business day) unless a time is written (明天上午 → 12:00, 下午3点前 → 15:00). A follow-up
is an appointment: 09:00 local on its day unless a time is written (下周三下午 → 14:00).

Rules, in the order they are applied to each time phrase, left to right:
1. A follow-up word right after the phrase (回访/复访/跟进/跟踪/拜访/再来/再去/上门/联系/看看,
   follow up, revisit...), or right before it with only 时间/定在/在/: between (`下次拜访下周三`)
   → a follow-up. A promise word just before it is swallowed too (`答应下周回访`).
2. Otherwise the phrase is a promise when it has an action — the words right after it up to the next
   punctuation, space, time phrase or promise word (`周五前送样品`) — or, for a deadline
   (前/内) or after a promise word, the words right before it (`送样品周五前`). A tag word that
   describes a state (嫌贵, 缺货: ending in 贵/价/高/少/缺/足/差/断/货...) at either edge of an action
   is a tag, not action (`周五前送样品嫌贵` → 送样品); a topic word stays (`调整陈列`). An action
   made only of tag words counts with a deadline, a promise word, or when it starts like a deed
   (`周五前补货`, `下周一补货` are promises; `下周一嫌贵` is not). Words that start like a statement
   (有/没/是/不/已/可能...: `下周有活动`) are not an action. A promise word with a phrase and no
   action is still a promise, its text the words as written (`答应后天`).
3. Otherwise a phrase with nothing but tags or filler next to it is a follow-up candidate
   (`嫌贵 下月初`); one inside a sentence (`老板说下周有活动`) stays in the note.
4. Weak phrases (`7天` without 后/内, a time of day alone such as `下午`) count only through rules 1
   and 2 (a weak number also with an adjacent action: `3天报价`); `试销3个月` stays in the note.
5. The first follow-up marked by a follow-up word wins, else the first standing alone; any other
   follow-up phrase stays in the note. A follow-up word with no time phrase (`记得回访`) is note.
6. Past phrases (昨天, 上周五, 3天前) are never scheduled and stay in the note.
The note is what is left: words already read as tags, promises or the follow-up are taken out, a run
(between spaces and punctuation) made only of tags and filler words (客户, 老板, 有点, 嫌, 了, 和,
严重, 不好...) is dropped, a run that merely contains a tag keeps its words (`老板说缺货很严重` is
tagged 库存不足 and is the note); the pieces left are joined with `，` (`, ` between Latin words).

`parse_line` never raises for any `str`: text it cannot read is note.

Question or visit? (`line_intent`, for a line typed while a visit is open)
- No question sign (no ?/？, no question word such as 多少/哪些/几家/什么/怎么/是否/有没有/吗, no figure word
  such as 完整率/排名/占比/统计) → "visit": the line is recorded as always (tags, promises, follow-up, note).
- A question sign and the rep asks about their own book or a figure (the line starts with 我/我的/帮我/查 or
  a report period such as 今天/本周/这个月/最近7天, or holds a figure word), and nobody is being quoted → "question": answered, the visit untouched. Date words
  inside such a question are not a follow-up (`我这个月拜访完整率多少` has no appointment in it).
- A question sign after a quoted person (客户问…, 老板说…: the customer's question is a visit fact) with a
  tag or a promise → "visit" (`客户问新品什么时候到` → 新品兴趣).
- Any other line with a question sign → "unclear": the rep chooses (记到拜访里 / 当作提问).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from core.clock import SHANGHAI, as_utc
from core.date_words import TimePhrase, find_time_phrases, resolve
from core.tags import DEFAULT_MENU, TagHit, TagMenu, fold


@dataclass(frozen=True)
class Promise:
    text: str  # the action as the rep wrote it: 送样品
    due_at: datetime  # aware UTC
    due_text: str  # the time phrase as written: 周五前


@dataclass(frozen=True)
class ParsedLine:
    tags: list[str] = field(default_factory=list)  # canonical, in order found, no duplicates
    promises: list[Promise] = field(default_factory=list)
    follow_up_at: datetime | None = None  # aware UTC
    follow_up_text: str | None = None  # the follow-up as written: 15天后回访
    note: str = ""


# --- vocabulary (on folded text) --------------------------------------------------------------------
_FU_CORE = (
    r"回访|复访|再访|回放|回防|会访|回方|跟进|跟近|根进|跟踪|拜访|来访|上门|过来|联系|回电|复查|"
    r"来看看|去看看|来看|去看|看看|见面|碰面|沟通"
)
_FU = (
    r"(?:(?:(?:再次|再|还要|需要|需|要|得|去|来|安排|进行|电话|打电话|上门)\s?)?(?:" + _FU_CORE + r")"
    r"|再次?\s?(?:来|去|说|谈|聊|议|定|看|约))(?:一下|一次|一趟|看看)?"
    r"|(?<![a-z])(?:follow\s?-?\s?up|followup|f/u|revisit|visit\s+again|visit|check\s?back|call\s?back)(?![a-z])"
)
_FU_AFTER = re.compile(r"\s{0,2}(?:的时候|时)?(?:" + _FU + r")")
_FU_BEFORE = re.compile(
    r"(?:(?:下次|下回)\s?(?:" + _FU + r")|" + _FU + r"|下次|下回|(?<![a-z])next\s+visit)"
    r"[\s:]*(?:时间|日期)?[\s:]*(?:定在|定于|安排在|约在|改在|改到|放在|在|是|为|于)?[\s:]*$"
)
_MARKER = re.compile(
    r"承诺|承若|答应|答允|应承|许诺|保证|说好|约好|约定"
    r"|(?<![a-z])(?:promised?|committed|commit)(?![a-z])"
)
_HARD = set(",;。!?、\n\r\t|()[]{}<>【】《》「」『』\"'“”‘’·…:")
_FILLER = re.compile(
    r"(?:客户|顾客|老板娘|老板|店主|店长|对方|他们|他|她|说|觉得|反映|反馈|表示|有点儿?|有些|比较|非常|很|太|还是|还|也|又|都"
    r"|了|的|啊|呀|吧|呢|哦|哈|嗯|和|跟|及|以及|并且|而且|另外|然后|同时|还有|且|在|于|要求|要|会|就|先|再|给|需要|需|等|嫌"
    r"|严重|厉害|不好|不行|很差|差|多|大|偏高|太高|高"
    r"|(?<![a-z])(?:and|also|but|the|is|too|so|very|high|low|bad)(?![a-z])"
    r"|[\s&+/\-~_*#.,;:!?()\[\]{}<>'\"`=^%$@|\\，。、；：！？（）【】《》「」『』“”‘’·…—～])+"
)
_ACTION_LEAD = re.compile(r"(?:[\s\-~>]|会|要|就|再|先|得|需要|需|必须|一定|去|来)+")
# an action does not start like a statement (下周有活动, 月底可能涨价): those stay in the note
_STATEMENT = re.compile(
    r"\s*(?:有|没|是|不|还|才|也|都|已|刚|正在|在|会有|可能|应该|估计|大概|据说|听说|开始|要涨|涨价)"
)
# an action made only of tag words still counts when it starts like a deed (下周一补货, 周三试销)
_DEED_START = set("补送发给交做调换试上铺退办签回打拿备到约")
# tag words ending like these describe a state and are cut off the edge of an action (送样品嫌贵)
_STATE_CHARS = set("贵价高低少缺足差断慢紧够货")
_ACTION_TAIL = re.compile(r"(?:[\s.~]|了|吧|的|哈|呢|啊|哦|嗯)+$")
_MAX_LOOKBACK = 24


def _is_hard(folded: str, i: int) -> bool:
    ch = folded[i]
    if ch in _HARD:
        return True
    if ch == ".":  # a full stop, not a decimal point
        return not (0 < i < len(folded) - 1 and folded[i - 1].isdigit() and folded[i + 1].isdigit())
    return False


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class _Line:
    """Working state over one folded line."""

    def __init__(self, text: str, menu: TagMenu, now_local: datetime):
        self.text = text
        self.folded = fold(text)
        self.n = len(self.folded)
        self.now = now_local
        self.consumed = bytearray(self.n)
        self.phrases = find_time_phrases(self.folded, now_local)
        inside = bytearray(self.n)
        for p in self.phrases:
            inside[p.start : p.end] = b"\x01" * (p.end - p.start)
        self.in_phrase = inside
        self.phrase_starts = {p.start for p in self.phrases}
        self.tags = [h for h in menu.find(self.folded) if not any(inside[h.start : h.end])]
        self.tag_start = {h.start: h for h in self.tags}
        self.tag_end = {h.end: h for h in self.tags}
        self.markers = [m for m in _MARKER.finditer(self.folded) if not any(inside[m.start() : m.end()])]
        self.marker_starts = {m.start() for m in self.markers}
        self.marker_list_starts = [m.start() for m in self.markers]

    # --- chunks ------------------------------------------------------------------------------------
    def boundary(self, i: int) -> bool:
        f = self.folded
        if self.consumed[i] or self.in_phrase[i] or _is_hard(f, i):
            return True
        if f[i].isspace():
            return not (0 < i < self.n - 1 and _latin(f[i - 1]) and _latin(f[i + 1]))
        return False

    def chunk_right(self, pos: int, skip_space: bool) -> tuple[int, int]:
        a = pos
        if skip_space:
            while a < self.n and self.folded[a].isspace() and not self.consumed[a]:
                a += 1
        b = a
        while (
            b < self.n
            and not self.boundary(b)
            and (b == a or (b not in self.phrase_starts and b not in self.marker_starts))
        ):
            b += 1
        return a, b

    def chunk_left(self, lo: int, pos: int) -> tuple[int, int]:
        b = pos
        while b > lo and self.folded[b - 1].isspace() and not self.consumed[b - 1]:
            b -= 1
        a = b
        while a > lo and not self.boundary(a - 1):
            a -= 1
        return a, b

    def trim(self, a: int, b: int) -> tuple[int, int, bool]:
        """Strip filler and edge tags from an action; also say whether only tags were left."""
        f = self.folded
        while True:
            start = (a, b)
            m = _ACTION_LEAD.match(f, a, b)
            if m:
                a = m.end()
            m = _ACTION_TAIL.search(f[a:b])
            if m:
                b = a + m.start()
            hit = self.tag_start.get(a)
            if hit is not None and hit.end < b and self.is_state(hit):
                a = hit.end
            hit = self.tag_end.get(b)
            if hit is not None and hit.start > a and self.is_state(hit):
                b = hit.start
            if (a, b) == start:
                break
        only_tags = a < b
        i = a
        while i < b:
            hit = self.tag_start.get(i)
            if hit is None or hit.end > b:
                only_tags = False
                break
            i = hit.end
        return a, b, only_tags

    def is_state(self, hit: TagHit) -> bool:
        """A tag word that describes the customer's state (嫌贵, 缺货, price), not a topic (陈列, 新品)."""
        last = self.folded[hit.end - 1]
        return last in _STATE_CHARS or last.isascii()

    def clause_start(self, pos: int) -> int:
        lo = max(0, pos - _MAX_LOOKBACK)
        for i in range(pos - 1, lo - 1, -1):
            if (
                self.consumed[i]
                or (self.in_phrase[i])
                or (_is_hard(self.folded, i) and self.folded[i] != ":")
            ):
                return i + 1
        return lo

    def consume(self, a: int, b: int) -> None:
        self.consumed[a:b] = b"\x01" * (b - a)

    def original(self, a: int, b: int) -> str:
        return self.text[a:b].strip()


@dataclass
class _FollowUp:
    start: int
    end: int
    phrase: TimePhrase
    by_word: bool


_QUESTION_MARK = re.compile(r"[?？]")
_QUESTION_WORD = re.compile(
    r"多少|哪些|哪几|哪个|哪家|哪位|哪里|几家|几个|几次|几位|几单|(?<!没)什么|啥|怎么|怎样|如何|为什么|是否|是不是|有没有|多久"
    r"|[吗呢]\s*$"
)
_FIGURE_WORD = re.compile(
    r"完整率|拜访率|完成率|达成率|转化率|排名|排行|占比|比例|统计|汇总|总共|一共|合计|平均|同比|环比"
    r"|销售额|业绩|欠款|应收|回款|到账|逾期金额|客单价|赢单率|成交率|鲜度|拜访数|拜访次数|签到次数|下单金额|工单数"
)
# a clause that tells, not asks: something happened (坏了, 说了) or may (可能, 要晚点) — with a figure word and no
# question word, the line may be the visit's remark as well as a question: the rep chooses
_REMARK_CLAUSE = re.compile(r"坏了|坏掉|说了|说过|可能|估计|要晚|会晚|晚点|晚些|推迟|拖到|下次|改天")
_SELF_START = re.compile(
    r"\s*(?:我的|我们|我|帮我|请帮我|麻烦|查一下|查查|查|看看我|列出|给我"
    r"|今天|今日|昨天|本周|这周|本月|这个?月|上周|上个?月|最近|近[0-9一二三四五六七八九十]+天|今年)"
)
_QUOTED = re.compile(
    r"(?:客户|顾客|老板娘|老板|店主|店长|对方|采购|他们|他|她)\s?(?:问|说|想知道|关心|反映|反馈|提到|担心)"
)

Intent = Literal["visit", "question", "unclear"]


def line_intent(text: str, parsed: ParsedLine) -> Intent:
    """Is a line typed during an open visit part of the visit, a question to the assistant, or unclear?
    (the rule is in the module docstring)."""
    folded = fold(text)
    asks = bool(_QUESTION_MARK.search(text) or _QUESTION_WORD.search(folded))
    figure = bool(_FIGURE_WORD.search(folded))
    if not asks and not figure:
        return "visit"
    quoted = bool(_QUOTED.search(folded))
    deeds = [
        p for p in parsed.promises if not _FIGURE_WORD.fullmatch(fold(p.text))
    ]  # 本月销售额 is no promise
    visit_words = bool(parsed.tags or deeds)
    if not quoted and figure and not asks and visit_words:
        return "visit"  # 回款慢 价格异议: a figure word inside a visit remark (v2: figure words without visit words ask)
    if not quoted and figure and not asks and _REMARK_CLAUSE.search(folded):
        return "unclear"  # 店里冰柜坏了 回款可能要晚点: a remark on the store beside the figure word
    if not quoted and (figure or _SELF_START.match(folded)):
        return "question"
    if quoted and (parsed.tags or parsed.promises):
        return "visit"
    return "unclear"


def parse_line(text: str, *, now: datetime, menu: TagMenu = DEFAULT_MENU) -> ParsedLine:
    """Tags, promises, the next follow-up and the note in one line of a rep's text (see module doc)."""
    now_local = as_utc(now).astimezone(SHANGHAI)
    line = _Line(text, menu, now_local)
    promises: list[Promise] = []
    follow_ups: list[_FollowUp] = []
    reserved = bytearray(line.n)
    for p in line.phrases:
        if p.past:
            continue
        decided = _decide(line, p, reserved)
        if decided is None:
            continue
        kind, a, b, action = decided
        if kind == "promise":
            try:
                due = resolve(p, now_local, "promise")
            except (OverflowError, ValueError):  # beyond the calendar (year 9999): not a date
                continue
            promises.append(Promise(action, due, line.original(p.start, p.end)))
            line.consume(a, b)
        else:
            follow_ups.append(_FollowUp(a, b, p, kind == "follow_up_word"))
            reserved[a:b] = b"\x01" * (b - a)
    chosen = next((f for f in follow_ups if f.by_word), None) or next(iter(follow_ups), None)
    follow_up_at = follow_up_text = None
    if chosen is not None:
        try:
            follow_up_at = resolve(chosen.phrase, now_local, "follow_up")
        except (OverflowError, ValueError):  # beyond the calendar (year 9999): not a date
            chosen = None
    if chosen is not None:
        follow_up_text = line.original(chosen.start, chosen.end)
        line.consume(chosen.start, chosen.end)
    tags: list[str] = []
    for hit in line.tags:
        if not hit.negated and hit.tag not in tags:
            tags.append(hit.tag)
    note = _note(line)
    return ParsedLine(tags, promises, follow_up_at, follow_up_text, note)


def _decide(line: _Line, p: TimePhrase, reserved: bytearray) -> tuple[str, int, int, str] | None:
    f = line.folded
    lo = line.clause_start(p.start)
    while lo < p.start and reserved[lo]:
        lo += 1
    marker = None
    k = bisect_right(line.marker_list_starts, p.start)
    while k > 0 and line.markers[k - 1].start() >= lo:
        m = line.markers[k - 1]
        k -= 1
        if m.end() <= p.start and not line.consumed[m.start()] and not reserved[m.start()]:
            marker = m
            break
    between = (marker.end(), p.start) if marker else (p.start, p.start)
    between_is_filler = _FILLER.fullmatch(f, *between) is not None or between[0] == between[1]
    # 1. a follow-up word after or before the phrase
    after = _FU_AFTER.match(f, p.end)
    if after and not any(line.consumed[p.end : after.end()]) and not any(reserved[p.end : after.end()]):
        start = marker.start() if marker and between_is_filler else p.start
        return "follow_up_word", start, after.end(), ""
    before = _FU_BEFORE.search(f, lo, p.start)
    if before and not any(reserved[before.start() : p.start]):
        start = before.start()
        if marker and marker.end() <= start and _FILLER.fullmatch(f, marker.end(), start) is not None:
            start = marker.start()
        return "follow_up_word", start, p.end, ""
    # 2. an action
    strong = marker is not None or p.deadline
    ra, rb = line.chunk_right(p.end, skip_space=strong)
    adjacent = ra == p.end
    statement = marker is None and _STATEMENT.match(f, ra, rb) is not None
    ra, rb, right_only_tags = line.trim(ra, rb)
    right_ok = (
        ra < rb and not statement and (not right_only_tags or strong or (adjacent and f[ra] in _DEED_START))
    )
    if p.weak == "marker" and marker is None:
        return None
    if p.weak == "action" and marker is None and not (right_ok and adjacent):
        return None
    if right_ok:
        text = line.original(ra, rb)
        if marker and not between_is_filler:
            ba, bb, _ = line.trim(*between)
            if ba < bb:
                text = line.original(ba, bb) + text
        start = marker.start() if marker else p.start
        return "promise", start, rb, text
    la, lb = line.chunk_left(marker.end() if marker else lo, p.start)
    left_adjacent = lb == p.start
    la, lb, left_only_tags = line.trim(la, lb)
    if strong:
        if la < lb and not left_only_tags and _STATEMENT.match(f, la, lb) is None:
            start = marker.start() if marker else la
            return "promise", start, p.end, line.original(la, lb)
        if marker:
            return "promise", marker.start(), p.end, line.original(marker.start(), p.end)
    # 3. standing alone: nothing but tags or filler right next to it
    right_empty = ra >= rb or right_only_tags or not adjacent
    left_empty = not left_adjacent or la >= lb or left_only_tags or _FILLER.fullmatch(f, la, lb) is not None
    if right_empty and left_empty:
        return "follow_up_alone", p.start, p.end, ""
    return None


def _strip_punct(text: str) -> str:
    a, b = 0, len(text)
    while a < b and _is_punct(text[a]):
        a += 1
    while b > a and _is_punct(text[b - 1]) and not _ends_a_number(text, b):
        b -= 1
    return text[a:b]


def _ends_a_number(text: str, b: int) -> bool:
    """A percent or per-mille sign right after a digit belongs to the number (「要求降5%」)."""
    return text[b - 1] in "%％‰" and b >= 2 and text[b - 2].isdigit()


def _is_punct(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PZ" or ch in "~～+|=^`"


def _note(line: _Line) -> str:
    f, n = line.folded, line.n
    # runs of unconsumed text between spaces, punctuation and consumed spans
    i = 0
    tagged = bytearray(n)
    for hit in line.tags:
        if not hit.negated:
            tagged[hit.start : hit.end] = b"\x01" * (hit.end - hit.start)
    while i < n:
        if line.consumed[i] or f[i].isspace() or _is_hard(f, i):
            i += 1
            continue
        j = i
        while j < n and not (line.consumed[j] or f[j].isspace() or _is_hard(f, j)):
            j += 1
        rest = "".join(ch for k, ch in enumerate(f[i:j], start=i) if not tagged[k])
        if not rest or _FILLER.fullmatch(rest):
            line.consume(i, j)
        i = j
    pieces: list[str] = []
    i = 0
    while i < n:
        if line.consumed[i]:
            i += 1
            continue
        j = i
        while j < n and not line.consumed[j]:
            j += 1
        piece = _strip_punct(line.text[i:j])
        if piece and not _FILLER.fullmatch(fold(piece)):
            pieces.append(piece)
        i = j
    note = ""
    for piece in pieces:
        if note:
            note += ", " if (note[-1].isascii() and piece[0].isascii()) else "，"
        note += piece
    return note
