"""Payment terms read, never typed: the terms text of a contract → instalments, or a refusal naming the part
that could not be read.

`parse_terms("签约后30天付50%，验收后付尾款")` → `Understood` with two instalments (签约 +30 天 50%, 验收 +0 天
the remaining 50%) and `words`, the Chinese sentence that says what was understood; or `Refused` with `part`
(the words it could not read, as written) and `reason`.

How a text is read (docs/contracts.md § Payment terms):
- It is cut into clauses at ，,；;。 and line breaks. Each clause yields what it says: the event a payment
  counts from (签约, 发货, 到货, 开票, 安装, 初验, 验收, 上线; 货到票到 is the later of 到货 and 开票), an offset
  (30天, 15个工作日, 3个月, 一年; 「前」 before the event), the share (50%, 三成, 一半, 三分之一, 付至95% —
  cumulative) or an amount (10万元), a label (预付款, 尾款, 质保金 …), or a monthly rule (每月5号前结清上月货款,
  月结30天, 次月15日前).
- A clause that lacks either the "when" or the "how much" is joined with the next one that supplies it
  (「验收合格后，支付30%」, 「剩余10%作为质保金，验收满一年后支付」).
- 尾款 / 余款 / 剩余 is what the other instalments leave; a text with one payment and no share is the whole
  amount (「货到票到60天」). Shares must add up to 100%.
- Every character of a clause must be accounted for: after the pieces above and the usual words of payment
  (支付, 付款, 合同总额的, 作为 …) are taken out, anything left is refused, naming the clause. Words that make a
  date uncomputable (协商, 视情况, 另行约定, 账期 without an event) are refused with their reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal

# --- events a payment counts from -----------------------------------------------------------------------

SIGNED = "signed"
SHIPPED = "shipped"
DELIVERED = "delivered"
INVOICED = "invoiced"
INSTALLED = "installed"
INITIAL_ACCEPTED = "initial_accepted"
ACCEPTED = "accepted"
LIVE = "live"

EVENT_WORDS: dict[str, str] = {
    SIGNED: "签约",
    SHIPPED: "发货",
    DELIVERED: "到货",
    INVOICED: "开票",
    INSTALLED: "安装调试完成",
    INITIAL_ACCEPTED: "初验",
    ACCEPTED: "验收",
    LIVE: "上线",
}
EVENTS: tuple[str, ...] = tuple(EVENT_WORDS)

# longest first: the first alternative that matches at a position wins
_EVENT_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"货到票到|票到货到|货票齐全|货票到齐|货票两清|到货并开票|货到并收到发票", (DELIVERED, INVOICED)),
    (r"合同签订|签订合同|合同签署|签署合同|合同生效|双方签字盖章|签字盖章|签约|签订|签署", (SIGNED,)),
    (r"发货|出库|装运", (SHIPPED,)),
    (r"收到货物|收到货|到货|货到|收货|交货|送达|交付", (DELIVERED,)),
    (r"收到(?:乙方)?(?:开具的)?(?:增值税)?(?:专用)?发票|开具发票|开票|发票|票到", (INVOICED,)),
    (r"安装调试(?:完成|完毕|合格)?|安装完成|安装完毕|调试完成|调试完毕", (INSTALLED,)),
    (r"初验|初步验收", (INITIAL_ACCEPTED,)),
    (r"终验|最终验收|竣工验收|验收", (ACCEPTED,)),
    (r"系统上线|正式上线|上线运行|上线", (LIVE,)),
)
_EVENT_TAIL = r"(?:合格|通过|完成|完毕|成功|无误|确认)?(?:之日|当日|当天|日)?"

LABELS = (
    "质保金",
    "保证金",
    "预付款",
    "首付款",
    "定金",
    "订金",
    "进度款",
    "发货款",
    "到货款",
    "验收款",
    "尾款",
)
_LABEL_ALIASES = {
    "预付": "预付款",
    "首付": "首付款",
    "余款": "尾款",
    "质保款": "质保金",
    "质量保证金": "质保金",
}
_LABEL_EVENTS = {"预付款": SIGNED, "首付款": SIGNED, "定金": SIGNED, "订金": SIGNED}

# --- what an instalment is --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instalment:
    """One payment: when (the later of `events`, then the offset, or a monthly rule) and how much."""

    seq: int
    events: tuple[str, ...]  # the payment counts from the latest of these
    share: Decimal | None = (
        None  # percent of the contract amount (resolved for 尾款 when the others are shares)
    )
    amount: Decimal | None = None  # a fixed sum in yuan
    remainder: bool = False  # 尾款: what the others leave (share set when it could be resolved)
    offset_days: int = 0  # days after (negative: before) the event
    offset_months: int = 0  # calendar months after the event (个月, 年)
    business_days: bool = False  # offset_days counts working days (Monday to Friday)
    month_day: int | None = None  # monthly: due on this day of the month after the event's month
    month_end: bool = False  # monthly: offset counted from the last day of the event's month (月结)
    before: bool = False  # due by the event (发货前), or offset_days before it
    label: str = ""

    def when_words(self) -> str:
        ev = "、".join(EVENT_WORDS[e] for e in self.events)
        if len(self.events) > 1:
            ev = f"{ev}（以晚者为准）"
        if self.month_day is not None:
            return f"{ev}当月的次月{self.month_day}日前"
        if self.month_end:
            return f"{ev}当月月底起{self.offset_days}天内" if self.offset_days else f"{ev}当月月底前"
        if self.before:
            unit = "个工作日" if self.business_days else "天"
            return f"{ev}前{-self.offset_days}{unit}" if self.offset_days else f"{ev}前"
        parts = []
        if self.offset_months:
            parts.append(
                f"{self.offset_months // 12}年"
                if self.offset_months % 12 == 0
                else f"{self.offset_months}个月"
            )
        if self.offset_days:
            parts.append(f"{self.offset_days}{'个工作日' if self.business_days else '天'}")
        return f"{ev}后{''.join(parts)}" if parts else f"{ev}时"

    def what_words(self) -> str:
        if self.amount is not None:
            if self.amount >= 10000 and self.amount % 10000 == 0:
                return f"{_num(self.amount / 10000)}万元"
            return f"{_num(self.amount)}元"
        if self.remainder:
            return f"尾款{_num(self.share)}%" if self.share is not None else "尾款（合同金额减去其余各期）"
        return f"{_num(self.share)}%"

    def words(self) -> str:
        label = f"（{self.label}）" if self.label and self.label != "尾款" else ""
        return f"{self.when_words()}付{self.what_words()}{label}"


@dataclass(frozen=True)
class Understood:
    instalments: tuple[Instalment, ...]

    @property
    def words(self) -> str:
        """What was understood, in Chinese: 「我理解为：①签约后30天内付50%；②验收时付尾款50%。」"""
        marks = "①②③④⑤⑥⑦⑧⑨⑩"
        items = [
            f"{marks[i] if i < len(marks) else str(i + 1) + '.'}{p.words()}"
            for i, p in enumerate(self.instalments)
        ]
        return "我理解为：" + "；".join(items) + "。"


@dataclass(frozen=True)
class Refused:
    part: str  # the words that could not be read, as written
    reason: str

    @property
    def words(self) -> str:
        return f"这部分我读不懂：「{self.part}」（{self.reason}）。请改写付款条件，例如「签约后30天付50%，验收后付尾款」。"


Parsed = Understood | Refused

# --- normalising the text ---------------------------------------------------------------------------------

_FULL = str.maketrans("０１２３４５６７８９％．，；：（）　", "0123456789%.,;:() ")
_CN_DIGITS = {
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
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUM = "[零〇一二两三四五六七八九十百千]+"


def cn_number(s: str) -> int:
    """三十 → 30, 十五 → 15, 一百二十 → 120, 两 → 2 (no 万: the amounts that use it are written in digits)."""
    total, digit = 0, 0
    for ch in s:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:
            total += (digit or 1) * _CN_UNITS[ch]
            digit = 0
    return total + digit


def _normalise(text: str) -> str:
    s = text.translate(_FULL)
    s = re.sub(r"\s+", "", s)
    s = s.replace("一次性", "").replace("一半", "50%").replace("半数", "50%")
    s = s.replace("半年", "6个月").replace("半个月", "15天")
    s = re.sub(
        rf"({_CN_NUM})分之({_CN_NUM})", lambda m: f"{cn_number(m.group(2))}/{cn_number(m.group(1))}", s
    )
    s = re.sub(rf"百分之({_CN_NUM}|\d+(?:\.\d+)?)", lambda m: f"{_arabic(m.group(1))}%", s)
    s = re.sub(
        rf"({_CN_NUM})(?=成|个|天|日|周|年|月|号|万|元|%|工作日|自然日)",
        lambda m: str(cn_number(m.group(1))),
        s,
    )
    s = re.sub(r"(\d+)成(?!品|本|交)", lambda m: f"{int(m.group(1)) * 10}%", s)
    return s


def _arabic(s: str) -> str:
    return s if re.fullmatch(r"\d+(?:\.\d+)?", s) else str(cn_number(s))


def _num(v: Decimal | None) -> str:
    if v is None:
        return "?"
    q = v.quantize(Decimal("0.01"))
    text = f"{q:f}".rstrip("0").rstrip(".")
    return text or "0"


# --- one clause ---------------------------------------------------------------------------------------------


@dataclass
class _Piece:
    """What one clause (or clauses joined) says; None: not said."""

    source: str
    events: tuple[str, ...] | None = None
    before: bool = False
    offset_days: int | None = None
    offset_months: int = 0
    business_days: bool = False
    month_day: int | None = None
    month_end: bool = False
    share: Decimal | None = None
    cumulative: bool = False
    amount: Decimal | None = None
    remainder: bool = False
    whole: bool = False  # 全款 / 付清 with nothing else: 100% (or what is left)
    label: str = ""
    warranty: bool = False  # 质保期 named: counts from the warranty's start
    default_events: bool = False  # events not written (a monthly rule's 到货): a later clause may name them

    @property
    def has_when(self) -> bool:
        return self.events is not None or self.month_day is not None or self.month_end

    @property
    def has_offset(self) -> bool:
        return self.offset_days is not None or self.offset_months != 0

    @property
    def has_what(self) -> bool:
        return self.share is not None or self.amount is not None or self.remainder

    @property
    def empty(self) -> bool:
        return not (
            self.has_when or self.has_offset or self.has_what or self.label or self.whole or self.warranty
        )


_UNREADABLE = (
    (
        r"协商|商议|另行约定|另议|待定|视[^，]*情况|看情况|酌情|根据[^，]*进度|资金情况|按实际",
        "没有可计算的付款时间",
    ),
    (r"承兑|汇票|以货抵款|抵扣", "付款方式不是到期付现，无法算出回款日期和金额"),
)
_FILLER = (
    "乙方",
    "由",
    "另",
    "开始计算",
    "起算",
    "甲方",
    "买方",
    "卖方",
    "需方",
    "供方",
    "向",
    "给",
    "合同总金额",
    "合同总价款",
    "合同总价",
    "合同总额",
    "合同金额",
    "合同价款",
    "合同款",
    "合同价",
    "总金额",
    "总价款",
    "总价",
    "总额",
    "合同",
    "全部",
    "价款",
    "货款",
    "款项",
    "账款",
    "费用",
    "支付",
    "付清",
    "结清",
    "付款",
    "付",
    "结算",
    "打款",
    "汇款",
    "的",
    "之",
    "以内",
    "之内",
    "内",
    "以后",
    "之后",
    "后",
    "起",
    "作为",
    "为",
    "即",
    "应",
    "须",
    "需",
    "在",
    "于",
    "再",
    "并",
    "且",
    "各",
    "前",
    "无息",
    "返还",
    "退还",
    "款",
    "计",
    "元整",
    "人民币",
    "现金",
    "电汇",
    "银行转账",
    "转账",
    "方式",
    "期满",
    "满",
    "按",
    "比例",
    "剩余",
    "剩下",
    "余下",
    "其余",
    "额",
    "到期",
    ",",
    ";",
    ":",
    "。",
    "、",
    "(",
    ")",
    "【",
    "】",
)


_FILLER_LONGEST_FIRST = sorted(_FILLER, key=len, reverse=True)


def _take(s: str, pattern: str) -> tuple[re.Match[str] | None, str]:
    """The first match of `pattern` and `s` with the match replaced by a gap marker."""
    m = re.search(pattern, s)
    if m is None:
        return None, s
    return m, s[: m.start()] + "\x00" + s[m.end() :]


def _read_clause(raw: str) -> _Piece | Refused:
    s = _normalise(raw)
    p = _Piece(source=raw)
    if not s:
        return p
    for pattern, reason in _UNREADABLE:
        if re.search(pattern, s):
            return Refused(raw, reason)

    # monthly rules first: 每月5号前结清上月货款, 次月15日前, 月结30天
    m, s = _take(
        s,
        r"每月(\d{1,2})[号日](?:之?前|以前)?(?:结清|支付|付清|付)?上(?:个)?月(?:的)?(?:货款|款项|账款|费用)?",
    )
    if m is None:
        m, s = _take(
            s,
            r"(?:次月|下月|下个月)(\d{1,2})[号日](?:之?前|以前)?(?:付清|结清|支付|付)?(?:上个?月|当月|本月)?(?:的)?(?:货款|款项|账款|费用)?",
        )
    if m is not None:
        p.month_day = int(m.group(1))
        if not 1 <= p.month_day <= 31:
            return Refused(raw, f"每月{p.month_day}日不是日历上的日子")
    else:
        m, s = _take(s, r"月结(\d+)(?:天|日)?")
        if m is not None:
            p.month_end = True
            p.offset_days = int(m.group(1))
        else:
            m, s = _take(s, r"月结|当月结清|每月结清|按月结算")
            if m is not None:
                p.month_end = True
                p.offset_days = 0
    if p.month_day is not None or p.month_end:
        p.events = (DELIVERED,)  # goods of a month: counted from their delivery, unless an event is named
        p.default_events = True

    # whole-payment idioms
    m, s = _take(s, r"款到发货|先款后货|先付款后发货")
    if m is not None:
        p.events, p.before, p.offset_days, p.whole = (SHIPPED,), True, 0, True
    m, s = _take(s, r"货到付款")
    if m is not None:
        p.events, p.offset_days, p.whole = (DELIVERED,), 0, True

    # labels (and what they imply)
    for alias, label in _LABEL_ALIASES.items():
        if alias in s and label not in s:
            s = s.replace(alias, label, 1)
    for label in LABELS:
        m, s = _take(s, re.escape(label))
        if m is not None:
            p.label = p.label or label
            if label == "尾款":
                p.remainder = True
    m, s = _take(s, r"质保期(?:届满|期满|满|结束|到期)?|保修期(?:届满|期满|满|结束|到期)?")
    if m is not None:
        p.warranty = True
    # the event (several named: the later of them, 「验收合格并收到发票后」)
    events: list[str] = []
    while True:
        found = None
        for pattern, evs in _EVENT_PATTERNS:
            m = re.search(f"(?:{pattern}){_EVENT_TAIL}", s)
            if m is not None and (found is None or m.start() < found[0].start()):
                found = (m, evs)
        if found is None:
            break
        m, evs = found
        rest = s[m.end() :]
        if re.match(r"(?:之)?前", rest):
            p.before = True
        s = s[: m.start()] + "\x00" + s[m.end() :]
        events.extend(e for e in evs if e not in events)
    if events:
        if p.events is None or p.default_events:
            p.events = tuple(events)  # a monthly rule counts from the event named (发货次月15日前)
            p.default_events = False
        else:
            p.events = tuple([e for e in p.events if e not in events] + events)
    m, s = _take(s, r"即付|立即|当即|当天|当日")
    if m is not None and p.offset_days is None:
        p.offset_days = 0

    # the offset: 30天, 15个工作日, 3个月, 1年, 2周
    while True:
        m, s2 = _take(
            s, r"(\d+)个?(工作日|自然日|天|日|周|星期|个月|月|年)(?:之?内|以内|之?后|以后|期满|到期)?"
        )
        if m is None:
            break
        n, unit = int(m.group(1)), m.group(2)
        s = s2
        if unit in ("个月", "月"):
            p.offset_months += n
        elif unit == "年":
            p.offset_months += 12 * n
        else:
            days = n * 7 if unit in ("周", "星期") else n
            if unit == "工作日":
                p.business_days = True
            p.offset_days = (p.offset_days or 0) + days

    # how much: a share, a fraction, an amount, the remainder, the whole
    m, s = _take(
        s,
        r"(?:付至|支付至|累计(?:支付|付)?至|付到|达到)(?:合同总价款|合同总价|合同总额|合同金额|合同价款|总价|总额)?的?(\d+(?:\.\d+)?)%",
    )
    if m is not None:
        p.share, p.cumulative = Decimal(m.group(1)), True
    else:
        m, s = _take(s, r"(\d+(?:\.\d+)?)%")
        if m is not None:
            p.share = Decimal(m.group(1))
        else:
            m, s = _take(s, r"(\d+)/(\d+)")
            if m is not None:
                num, den = int(m.group(1)), int(m.group(2))
                if den == 0 or num > den:
                    return Refused(raw, "分数不对")
                p.share = (Decimal(num) * 100 / Decimal(den)).quantize(Decimal("0.0001"))
    if p.share is not None and p.share > 100:
        return Refused(raw, f"比例{_num(p.share)}%超过100%")
    m, s = _take(s, r"(?:¥|￥|RMB)?(\d+(?:\.\d+)?)(万元|万|元)")
    if m is not None:
        if p.share is not None:
            return Refused(raw, "同一笔款既写了比例又写了金额")
        p.amount = Decimal(m.group(1)) * (10000 if m.group(2).startswith("万") else 1)
    m, s = _take(s, r"余款|剩余(?:款项|部分|货款|金额)?|剩下|余下|其余")
    if m is not None and not p.has_what:
        p.remainder = True
    if re.search(r"付清|结清|全款|全额|一次付|全部(?:货款|款项|价款)", s) and not p.has_what:
        p.whole = True
    m, s = _take(s, r"全款|全额")

    if re.search(r"账期|信用期|付款期", s) and p.events is None:
        return Refused(raw, "只写了账期，没有写明从哪天起算（签约、到货、开票还是验收）")
    s = re.sub(r"账期|信用期|付款期", "", s)

    if p.remainder and (p.share is not None or p.amount is not None):
        p.remainder = False  # 「尾款30%」「余款5%作为质保金」: the share is written out
    if p.before and p.offset_days:
        p.offset_days = -p.offset_days
        if p.offset_months:
            return Refused(raw, "事件之前若干个月的写法无法计算")
    unknown = [seg for seg in s.split("\x00") if _strip_filler(seg)]
    if unknown:
        return Refused(raw, "其中" + "".join(f"「{seg}」" for seg in unknown) + "我不认识")
    return p


def _strip_filler(segment: str) -> str:
    for word in _FILLER_LONGEST_FIRST:
        segment = segment.replace(word, "")
    return segment


# --- the whole text -----------------------------------------------------------------------------------------


_CLAUSE_SPLIT = re.compile(r"[，,；;。\n]+")


_EACH = re.compile(r"^(.+?)(?:后|时)?(?:各|分别)(?:付|支付|付款)?(.+)$")


def _each(clause: str) -> list[str]:
    """「签约、发货、验收后各付三分之一」 → one clause per event (each with the share)."""
    m = _EACH.match(clause)
    if m is None:
        return [clause]
    parts = [x for x in re.split(r"[、和及与]", m.group(1)) if x]
    if len(parts) < 2 or not all(any(re.search(pat, x) for pat, _ in _EVENT_PATTERNS) for x in parts):
        return [clause]
    return [f"{x}后付{m.group(2)}" for x in parts]


def _joinable(a: _Piece, b: _Piece) -> bool:
    """`b` supplies only what `a` lacks (or names the event of `a`'s monthly rule: 「月结60天，票到后起算」)."""
    if (
        a.default_events
        and b.events is not None
        and not (b.has_what or b.has_offset or b.month_day or b.month_end)
    ):
        return True
    if a.has_when and b.has_when:
        return False
    if a.has_offset and b.has_offset:
        return False
    if (a.has_what or a.whole) and (b.has_what or b.whole):
        return False
    if a.warranty and b.warranty:
        return False
    if a.label and b.label and a.label != b.label:
        return False
    return True


def _complete(p: _Piece) -> bool:
    if p.default_events:
        return False
    return (p.has_when or p.label in _LABEL_EVENTS) and (p.has_what or p.whole)


def _join(a: _Piece, b: _Piece) -> _Piece:
    return replace(
        a,
        source=f"{a.source}，{b.source}",
        events=b.events
        if a.default_events and b.events is not None
        else (a.events if a.events is not None else b.events),
        default_events=a.default_events and b.events is None,
        before=a.before or b.before,
        offset_days=a.offset_days if a.offset_days is not None else b.offset_days,
        offset_months=a.offset_months or b.offset_months,
        business_days=a.business_days or b.business_days,
        month_day=a.month_day if a.month_day is not None else b.month_day,
        month_end=a.month_end or b.month_end,
        share=a.share if a.share is not None else b.share,
        cumulative=a.cumulative or b.cumulative,
        amount=a.amount if a.amount is not None else b.amount,
        remainder=a.remainder or b.remainder,
        whole=a.whole or b.whole,
        label=a.label or b.label,
        warranty=a.warranty or b.warranty,
    )


def parse_terms(text: str | None) -> Parsed:
    """The terms text → Understood (instalments, in order) or Refused (the part not understood, and why)."""
    if text is None or not text.strip():
        return Refused("", "付款条件是空的")
    if len(text) > 500:
        return Refused(text[:20] + "…", "付款条件太长（超过500字），请只写付款部分")
    pieces: list[_Piece] = []
    clauses = [c for clause in _CLAUSE_SPLIT.split(text.strip()) for c in _each(clause.strip())]
    for clause in clauses:
        if not clause.strip():
            continue
        got = _read_clause(clause.strip())
        if isinstance(got, Refused):
            return got
        if got.empty:
            continue
        if pieces and not _complete(pieces[-1]) and _joinable(pieces[-1], got):
            pieces[-1] = _join(pieces[-1], got)
        else:
            pieces.append(got)
    if not pieces:
        return Refused(text.strip(), "没有找到付款时间或比例")
    return _instalments(pieces)


def _instalments(pieces: list[_Piece]) -> Parsed:
    only = len(pieces) == 1
    out: list[Instalment] = []
    cumulative = Decimal(0)
    said_events = {e for p in pieces for e in (p.events or ())}
    for p in pieces:
        events = p.events
        if events is None and p.label in _LABEL_EVENTS:
            events = (_LABEL_EVENTS[p.label],)
        if p.warranty and p.offset_months + (p.offset_days or 0) <= 0:
            return Refused(p.source, "写了质保期满，但没有写明质保期多长")
        if (
            events is None
            and (p.warranty or p.label in ("质保金", "保证金"))
            and p.offset_months + (p.offset_days or 0) > 0
        ):
            events = (ACCEPTED,) if ACCEPTED in said_events else (DELIVERED,)  # the warranty's start
        if events is None:
            if p.has_offset:
                return Refused(p.source, "写了期限，但没有写明从哪天起算（签约、到货、开票还是验收）")
            return Refused(p.source, "没有写明什么时候付")
        share, amount, remainder = p.share, p.amount, p.remainder
        if p.cumulative and share is not None:
            share = share - cumulative
            if share <= 0:
                return Refused(p.source, f"付至{_num(p.share)}%不多于之前累计的{_num(cumulative)}%")
        if not (share is not None or amount is not None or remainder):
            if p.whole and not only:
                remainder = True
            elif only:
                share = Decimal(100)
            else:
                return Refused(p.source, "没有写明付多少（比例或金额）")
        if share is not None and not remainder:
            cumulative += share
        out.append(
            Instalment(
                seq=len(out) + 1,
                events=events,
                share=share,
                amount=amount,
                remainder=remainder,
                offset_days=p.offset_days or 0,
                offset_months=p.offset_months,
                business_days=p.business_days,
                month_day=p.month_day,
                month_end=p.month_end,
                before=p.before,
                label=p.label or ("尾款" if remainder else ""),
            )
        )
    rest = [i for i in out if i.remainder and i.share is None]
    if len(rest) > 1:
        return Refused(pieces[-1].source, "写了不止一笔尾款")
    has_amounts = any(i.amount is not None for i in out)
    total = sum((i.share for i in out if i.share is not None and not i.remainder), Decimal(0))
    if total > 100:
        return Refused("，".join(p.source for p in pieces), f"各期比例合计{_num(total)}%，超过100%")
    if rest and len(out) == 1:
        return Refused(pieces[0].source, "只写了尾款，之前各期没有写明")
    shares = [k for k, i in enumerate(out) if i.share is not None and not i.remainder]
    if not rest and not has_amounts and shares and total != 100 and abs(total - 100) <= Decimal("0.01"):
        last = out[shares[-1]]  # thirds: 33.3333% × 3, the last takes what rounding left
        assert last.share is not None
        out[shares[-1]] = replace(last, share=last.share + (100 - total))
        total = Decimal(100)
    if rest and not has_amounts:
        left = Decimal(100) - total
        if left <= 0:
            return Refused(pieces[out.index(rest[0])].source, "其余各期已到100%，没有尾款可付")
        out = [replace(i, share=left) if i is rest[0] else i for i in out]
    elif not rest and not has_amounts and total != 100:
        return Refused(
            "，".join(p.source for p in pieces),
            f"各期比例合计只有{_num(total)}%，其余{_num(100 - total)}%没有写明何时付",
        )
    return Understood(tuple(out))
