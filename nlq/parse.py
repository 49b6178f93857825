"""The offline parser: a Chinese question → a QuerySpec, given now, the organisation's words and the asker.

Rule-based and deterministic. What it cannot read it refuses (raises Refused with a reason); it never
guesses. Time words bind to the nearest condition that follows them (else the nearest before):
'上月流失但NPS>70的客户' puts 上月 on 流失.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from core.clock import SHANGHAI
from core.roles import MANAGERS
from nlq.calendar_words import join
from nlq.describe import GROUP_WORDS
from nlq.guard import refusal_reason
from nlq.normalize import normalize
from nlq.scan import Tok, Unreadable, scan
from nlq.spec import (
    GROUPS_OF,
    CustomerFilter,
    EventCondition,
    Having,
    OrderCondition,
    QuerySpec,
    Ranking,
    StuckCondition,
    TagCondition,
    TotalCondition,
    default_list_order,
    effective_status,
)
from nlq.timewords import resolve
from nlq.vocab import Vocab

ALL = (("contract_scope", "all"),)
# a threshold's measure → the (entity, figure[, extra fields]) of the same figure per person
TOTAL_FIGURE: dict[str, tuple[Any, ...]] = {
    "sales": ("orders", "sales"),
    "order_count": ("orders", "count"),
    "visit_count": ("visits", "count"),
    "ticket_count": ("tickets", "count"),
    "timeout_tickets": ("tickets", "count", (("timeout_only", True),)),
    "outstanding": ("contracts", "outstanding", ALL),
    "overdue_amount": ("contracts", "outstanding"),
    "contract_amount": ("contracts", "amount", ALL),
    "received": ("payments", "received"),
    "visited_customers": ("visits", "distinct_customers"),
}

RANKABLE = {
    ("orders", "sales"): "sales",
    ("orders", "count"): "order_count",
    ("visits", "count"): "visit_count",
    ("tickets", "count"): "ticket_count",
    ("payments", "received"): "received",
    ("contracts", "outstanding", (("contract_scope", "all"),)): "outstanding",
    ("contracts", "outstanding"): "overdue_amount",
    ("contracts", "amount", (("contract_scope", "all"),)): "contract_amount",
}
ENTITY_WORDS = {
    "customers": "客户",
    "visits": "拜访",
    "orders": "订单",
    "opportunities": "商机",
    "tickets": "工单",
    "contracts": "合同",
}


class Refused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def protected_words(vocab: Vocab) -> list[str]:
    """Names whose characters must survive numeral conversion (张三, 一号店 …)."""
    return [u.name for u in vocab.users.values()] + [
        *vocab.regions,
        *vocab.cities,
        *vocab.channels,
        *vocab.categories,
        *vocab.tags,
    ]


def parse(question: str, *, now: datetime, vocab: Vocab, asker: str) -> QuerySpec:
    return parse_readings(question, now=now, vocab=vocab, asker=asker)[0]


def parse_readings(
    question: str, *, now: datetime, vocab: Vocab, asker: str
) -> tuple[QuerySpec, list[list[str]]]:
    """The spec, and the userids of every name in the question that more than one person has (the parser
    took the first; nlq.clarify offers the others)."""
    why = refusal_reason(question)
    if why:
        raise Refused(why)
    text = normalize(question, protected_words(vocab))
    if not text:
        raise Refused("问题是空的。")
    try:
        toks = scan(text, vocab=vocab, now=now)
        me = vocab.users.get(asker)
        reader = _Reader(toks, asker, sees_only_self=me is None or me.role not in MANAGERS, now=now)
        reader.text = text
        return reader.spec(), reader.same_names
    except Unreadable as exc:
        raise Refused(f"没看懂「{exc.leftover.replace(' ', '')}」，这不在我能回答的指标和条件里。") from None
    except ValidationError as exc:  # a number out of what the layer defines (1999年, NPS>1001, 最近4000天)
        raise Refused(out_of_range(exc)) from None


# what a value outside QuerySpec's bounds means, in words (field name in pydantic's error → the sentence)
OUT_OF_RANGE = {
    "year": "年份只能在2000年到2100年之间。",
    "month": "月份只能是1到12月。",
    "amount": "时间跨度最长3650天（约10年）。",
    "value": "NPS 是 0 到 100 之间的分数，这个数字超出了范围。",
}


def out_of_range(exc: ValidationError) -> str:
    for err in exc.errors():
        for part in reversed(err.get("loc", ())):
            if part in OUT_OF_RANGE:
                return "这个问题里的数字超出了能回答的范围：" + OUT_OF_RANGE[str(part)]
    return "这个问题里有超出范围的数字，请换一个数再问。"


class _Reader:
    def __init__(self, toks: list[Tok], asker: str, *, sees_only_self: bool, now: datetime):
        self.now = now
        self.text = ""
        self.same_names: list[list[str]] = []
        self.people_mode = False
        self.trend_mode = False
        self.measure_extra: dict[str, Any] = {}
        self.toks = toks
        self.asker = asker
        self.sees_only_self = sees_only_self

    def of(self, *kinds: str) -> list[Tok]:
        return [t for t in self.toks if t.kind in kinds]

    def after(self, tok: Tok) -> Tok | None:
        later = [t for t in self.toks if t.start >= tok.end]
        return later[0] if later else None

    # --- the steps -------------------------------------------------------------------------------
    def spec(self) -> QuerySpec:
        self._join_ranges()
        self._early_refusals()
        v2 = self._v2_shape()
        if v2.get("entity_figure"):
            entity, figure, main, rank_tok = "customers", "list", None, None
            self.measure_extra = {}
        else:
            entity, figure, main, rank_tok = self._what()
        if v2.get("entity_figure"):
            entity, figure = v2.pop("entity_figure")
            extra_fields = v2.pop("entity_extra", {})
            self.measure_extra = {**self.measure_extra, **extra_fields}
            main = v2.pop("main", main)
        periods = self._bind_periods(entity, main, rank_tok)
        customer, extra = self._conditions(entity, periods)
        group_by = self._group(entity)
        people = v2.get("people", False)
        if people and group_by not in (None, "rep"):
            raise Refused("「谁 / 哪些人」问的是业务员，不能再按其他维度分组。")
        if people:
            group_by = None
        if group_by is not None and figure == "list":
            figure = "count"
        if people and figure == "list":
            figure = "count"
        trend = v2.get("trend")
        if trend is not None:
            if group_by is not None:
                raise Refused("走势一次只看一个整体，不能同时按其他维度分组。")
            group_by = trend[0]
            if figure == "list":
                figure = "count"
        kind = "groups" if (group_by or people) else ("list" if figure == "list" else "figure")
        ranking, limit = self._ranking(kind, rank_tok, periods.get(id(rank_tok)) if rank_tok else None)
        ranking, limit = self._v2_ranking(kind, ranking, limit, v2, entity, figure)
        period = periods.get(id(main)) if main else None
        buckets = None
        if trend is not None:
            buckets = trend[1]
            if period is not None:  # 今年哪个月: the months (weeks) of that period up to now
                buckets = buckets or self._buckets_in(period, trend[0])
                period = None
        if v2.get("overview"):
            period = v2.get("overview_period", period)
        try:
            spec = QuerySpec(
                entity=entity,
                figure=figure,
                period=period,
                customer=customer,
                group_by=group_by,
                ranking=ranking,
                limit=limit,
                compare=v2.get("compare"),
                buckets=buckets,
                overview=bool(v2.get("overview")),
                people=people,
                having=v2.get("having"),
                **extra,
            )
        except ValidationError:
            raise Refused("这些条件放在一起没有明确的定义，请换个问法或拆成几个问题。") from None
        if (
            spec.kind == "list"
            and spec.limit
            and spec.ranking is None
            and default_list_order(spec.customer, effective_status(spec)) is None
        ):
            raise Refused("「前N个」要说明按什么排，例如「NPS最高的5个客户」「销售额前10的客户」。")
        return spec

    # --- version 2 -------------------------------------------------------------------------------
    def _v2_shape(self) -> dict[str, Any]:
        """The v2 shape words: comparisons, trends, overviews and people answers (spec v2). Removes the tokens
        it reads (a reference period, 怎么样) so the v1 steps see only what they know."""
        out: dict[str, Any] = {}
        measures = self.of("measure")
        # comparisons: 环比 / 同比 / 比上月 / 涨了还是跌了
        compare = {t.val for t in self.of("compare")}
        refs = [t for t in self.of("compare_ref")]
        for r in refs:
            nxt = self.after(r)
            if nxt is None or nxt.kind != "period":  # 销售额和拜访次数: a plain 和
                self.toks[self.toks.index(r)] = Tok("and", r.start, r.end, r.val)
                continue
            compare.add(self._reference_kind(nxt.val))
            self.toks = [t for t in self.toks if t is not nxt and t is not r]
        if self.of("change") or self.of("change_rank"):
            compare = compare or {"previous"}
        if len(compare) > 1:
            raise Refused("环比和同比请分开问。")
        if compare:
            out["compare"] = compare.pop()
            if not [t for t in self.of("period")]:
                raise Refused("比较要说明是哪个时间，例如「本月销售额环比」「上周拜访数比上上周」。")
        # trends
        trends = self.of("trend", "trend_which")
        trends += [t for t in self.of("top", "super") if t.val.get("group") in ("week", "month")]
        if trends:
            self.trend_mode = True
            units = {
                t.val[0] if t.kind == "trend" else t.val
                for t in trends
                if t.kind != "top" and t.kind != "super"
            }
            units -= {None}
            units |= {g for t in self.of("top", "super") if (g := t.val.get("group")) in ("week", "month")}
            if not units:
                units = {"month"}
            if len(units) > 1:
                raise Refused("走势请只按周或只按月看。")
            n = next((t.val[1] for t in trends if t.kind == "trend" and t.val[1]), None)
            for t in self.of("top", "super"):
                if t.val.get("group") in ("week", "month"):
                    self.toks[self.toks.index(t)] = Tok(t.kind, t.start, t.end, {**t.val, "group": None})
            out["trend"] = (units.pop(), n)
            if "compare" in out:
                raise Refused("走势和环比请分开问。")
        # overview: 情况 / 概况 / 怎么样 / 表现, when no figure is named
        ov = self.of("overview")
        if ov:
            strong = any(t.val.startswith(("业绩", "表现", "整体", "总体", "概况")) for t in ov)
            if (not measures or strong) and "compare" not in out and "trend" not in out:
                if not measures or all(m.val[:2] == ("orders", "sales") for m in measures):
                    out["overview"] = True
                    out["entity_figure"] = ("orders", "sales")  # a person named is the owner (X的情况)
                    self.toks = [t for t in self.toks if t.kind != "measure"]
                    self.toks = [t for t in self.toks if not (t.kind == "group" and t.val == "team")]
                    periods = self.of("period")
                    if len(periods) > 1:
                        raise Refused("概况一次只看一个时间段。")
                    if periods:
                        out["overview_period"] = periods[0].val
                        self.toks = [t for t in self.toks if t is not periods[0]]
            self.toks = [t for t in self.toks if t.kind != "overview"]
        # people (v2): 谁 / 哪些人 / 哪个销售 … or …的业务员 with a condition, as the answer. Kept as v1 read them
        # (groups by rep): 谁的X最多 / 哪个业务员的X最多 and 销售额最高的5个业务员; 客户都有谁 is a customer list.
        people = [t for t in self.of("people") if not self._after_customer_noun(t)]
        for t in self.of("people"):
            if t not in people:
                self.toks[self.toks.index(t)] = Tok("list_many", t.start, t.end, t.val)
        tail_rep = self._rep_tail()
        v1_who = (
            people
            and any(self.after(t) is not None and self.text_between(t, self.after(t)) == "的" for t in people)
            and bool(self.of("super", "top"))
            and not self.of("total", "rate_having", "touch_neg")
        )
        if v1_who:
            for t in people:
                kind, val = ("who", t.val) if t.val == "谁" else ("group_which", ("rep", False))
                self.toks[self.toks.index(t)] = Tok(kind, t.start, t.end, val)
        elif "overview" not in out and (people or (tail_rep and self._conditioned())):
            out["people"] = True
            self.people_mode = True
            drop = {id(t) for t in people} | ({id(tail_rep)} if tail_rep else set())
            self.toks = [t for t in self.toks if id(t) not in drop]
            self._people_figure(out)
        return out

    def _after_customer_noun(self, t: Tok) -> bool:
        before = [x for x in self.toks if x.end <= t.start]
        return bool(before) and before[-1].kind == "noun" and before[-1].val == "customers"

    def _conditioned(self) -> bool:
        """…的业务员 as the answer needs a condition on them (a threshold, 没签到, 有逾期客户)."""
        return bool(self.of("total", "rate_having", "touch_neg", "overdue")) or bool(
            [t for t in self.of("touch_pos") if t.val == "visit"]
        )

    def text_between(self, a: Tok, b: Tok) -> str:
        return self.text[a.end : b.start] if hasattr(self, "text") else ""

    def _rep_tail(self) -> Tok | None:
        """…的业务员 / …的人 at the end of the question: the reps are what is asked for."""
        if not self.toks:
            return None
        last = self.toks[-1]
        if (
            last.kind == "group"
            and last.val == "rep"
            and self._group_word(last) in ("业务员", "销售", "人", "销售员")
        ):
            return last
        return None

    def _group_word(self, t: Tok) -> str:
        return self.text[t.start : t.end] if hasattr(self, "text") else ""

    def _people_figure(self, out: dict[str, Any]) -> None:
        """A people answer's figure: a threshold (本月拜访不到10次), a condition (没签到), or the named figure."""
        totals, rates = self.of("total"), self.of("rate_having")
        if len(totals) + len(rates) > 1:
            raise Refused("一次只能按一个条件筛选业务员。")
        if totals:
            if len(totals[0].val) > 3:
                raise Refused("按品类的金额筛选只用于客户，例如「最近三个月买饮料超过5千的店」。")
            measure, op, value = totals[0].val
            ef = TOTAL_FIGURE[measure]
            out["entity_figure"] = ef[:2]
            out["entity_extra"] = dict(ef[2]) if len(ef) > 2 else {}
            out["main"] = totals[0]
            out["having"] = Having(op=op, value=value)
            self.toks = [t if t is not totals[0] else Tok("measure", t.start, t.end, ef) for t in self.toks]
            out["main"] = next(t for t in self.toks if t.start == totals[0].start and t.kind == "measure")
            return
        if rates:
            figure, op, value = rates[0].val
            out["entity_figure"] = figure
            out["having"] = Having(op=op, value=value)
            self.toks = [
                t if t is not rates[0] else Tok("measure", t.start, t.end, figure) for t in self.toks
            ]
            out["main"] = next(t for t in self.toks if t.start == rates[0].start and t.kind == "measure")
            return
        neg = [t for t in self.of("touch_neg") if t.val == "visit"]
        if neg:  # 今天谁还没签到 / 本周哪些人没拜访
            out["entity_figure"] = ("visits", "count")
            out["having"] = Having(op="<", value=1)
            self.toks = [
                t if t is not neg[0] else Tok("measure", t.start, t.end, ("visits", "count"))
                for t in self.toks
            ]
            out["main"] = next(t for t in self.toks if t.start == neg[0].start and t.kind == "measure")
            return
        pos = [t for t in self.of("touch_pos") if t.val == "visit"]
        if pos and not self.of("measure"):  # 今天都有谁签到了
            out["entity_figure"] = ("visits", "count")
            out["having"] = Having(op=">", value=0)
            self.toks = [
                t if t is not pos[0] else Tok("measure", t.start, t.end, ("visits", "count"))
                for t in self.toks
            ]
            out["main"] = next(t for t in self.toks if t.start == pos[0].start and t.kind == "measure")
            return
        if self.of("overdue") and not self.of("measure"):  # 哪些业务员名下有逾期的客户
            out["entity_figure"] = ("customers", "count")
            out["having"] = Having(op=">", value=0)
            return
        if not self.of("measure"):
            nouns = self.of("noun")
            if nouns and nouns[-1].val == "customers":  # 谁名下的客户最多
                out["entity_figure"] = ("customers", "count")
                return
            raise Refused(
                "要按什么看业务员？例如「本月谁拜访最多」「今天谁还没签到」「上月销售额最高的业务员」。"
            )

    def _reference_kind(self, ref: Any) -> str:
        """比去年 / 和上月比: year_ago when the reference is the same period a year earlier, else previous."""
        main = [t for t in self.of("period")]
        if not main:
            return "previous"
        a, b = resolve(main[0].val, self.now), resolve(ref, self.now)
        if a.start.year - b.start.year == 1 and (a.start.month, a.start.day) == (b.start.month, b.start.day):
            if (a.end - a.start).days < 360:
                return "year_ago"
        return "previous"

    def _buckets_in(self, period: Any, unit: str) -> int:
        w = resolve(period, self.now)
        end = min(w.end, self.now if self.now.tzinfo else w.end)
        lo = w.start.astimezone(SHANGHAI).date()
        hi = end.astimezone(SHANGHAI).date()
        if unit == "month":
            return max(1, (hi.year - lo.year) * 12 + hi.month - lo.month + 1)
        return max(1, (hi - lo).days // 7 + 1)

    def _v2_ranking(
        self,
        kind: str,
        ranking: Ranking | None,
        limit: int | None,
        v2: dict[str, Any],
        entity: str,
        figure: str,
    ) -> tuple[Ranking | None, int | None]:
        od = self.of("rank_overdue_days")
        if od:
            if kind != "list":
                raise Refused("逾期天数只能给客户名单排序，例如「逾期天数最长的5个客户」。")
            one = bool(self.of("list_one")) and not self.of("list_many")  # 哪家店逾期最久
            return Ranking(by="overdue_days", descending=True), od[0].val or limit or (1 if one else None)
        tags = self.of("tag")
        if kind == "list" and ranking is None and tags and len(tags) == 1 and self.of("super", "top"):
            sup = self.of("super", "top")[0]
            desc = sup.val["desc"]
            lim = limit or (sup.val.get("limit") if sup.kind == "top" else None) or 10
            return Ranking(by="tag_visits", tag=tags[0].val, descending=desc), lim
        cr = self.of("change_rank")
        if cr:
            if kind != "groups":
                raise Refused("「增长最快」要说明比较什么，例如「上季度销售额增长最快的城市」。")
            return Ranking(by="change", descending=cr[0].val), limit or 1
        return ranking, limit

    def _join_ranges(self) -> None:
        """period 到 period → one period from the start of the first to the end of the second."""
        out: list[Tok] = []
        i = 0
        while i < len(self.toks):
            t = self.toks[i]
            if (
                t.kind == "period"
                and i + 2 < len(self.toks)
                and self.toks[i + 1].kind == "range"
                and self.toks[i + 2].kind == "period"
            ):
                last = self.toks[i + 2]
                joined = join(t.val, last.val, now=self.now)
                if joined.end is not None and joined.start is not None and joined.end <= joined.start:
                    raise Refused("时间范围的结束早于开始，请检查「到」前后的时间。")
                out.append(Tok("period", t.start, last.end, joined))
                i += 3
                continue
            if t.kind == "range":
                raise Refused("「到」的前后要各有一个时间，例如「9月到10月」「11月1号到11月15号」。")
            out.append(t)
            i += 1
        self.toks = out

    def _early_refusals(self) -> None:
        for t in self.of("team"):  # 周杰团队 / 周杰的下属: another person's team is not a defined scope word
            before = [p for p in self.of("person") if self.after(p) is t]
            if before and t.val in ("团队", "本团队", "全团队"):
                raise Refused(
                    "「某人的团队」不是能直接筛选的范围。可以问「各业务员的客户数」（在你的可见范围内按人分组），"
                    "或直接说业务员的名字。"
                )
        if self.of("sleep_bare"):
            raise Refused("「沉睡」要说明多久，例如「沉睡超过30天的客户」或「超过30天没跟进的客户」。")
        if self.of("or"):
            raise Refused("暂不支持用「或」连接的条件，请分开问。")
        for i, t in enumerate(self.toks):  # a name two people share: the likeliest, the others as readings
            if t.kind in ("person", "under") and isinstance(t.val, tuple):
                self.same_names.append(list(t.val[2]))
                self.toks[i] = Tok(t.kind, t.start, t.end, t.val[2][0])
        if not self.toks:
            raise Refused("没有看到要查的内容。")

    def _what(self) -> tuple[str, str, Tok | None, Tok | None]:
        """(entity, figure, the token that carries the entity's own period, a measure used as a ranking)."""
        measures = self.of("measure")
        nouns = self.of("noun")
        head = nouns[-1].val if nouns else None
        rank_tok = None
        for m in measures:
            if (
                m.val in RANKABLE
                and self._ranked_after(m)
                and head in ("customers", None)
                and not self._group_tokens()
                and not self.of("trend", "trend_which", "people")
                and not self.people_mode
                and not self.trend_mode
            ):
                rank_tok = m
        rest = [m for m in measures if m is not rank_tok]
        if (
            not rest and rank_tok is None and self.of("money_q")
        ):  # 杭州的客户多少钱: sales (clarify offers 欠款)
            money = self.of("money_q")[0]
            what = ("contracts", "outstanding") if self.of("overdue") else ("orders", "sales")  # 逾期的多少钱
            self.toks[self.toks.index(money)] = Tok("measure", money.start, money.end, what)
            if self.of("overdue"):
                self.toks = [t for t in self.toks if t.kind != "overdue"]
            return self._what()
        if len(rest) > 1:
            raise Refused("一次只能问一个指标，请分开问。")
        if rank_tok is not None and rest:
            raise Refused("一次只能问一个指标，请分开问。")
        self._my_own_acts(rest[0].val[0] if rest else "customers")
        self.measure_extra = dict(rest[0].val[2]) if rest and len(rest[0].val) > 2 else {}
        if rest:
            entity, figure = rest[0].val[:2]
            return entity, figure, rest[0], None
        if rank_tok is not None:
            return "customers", "list", None, rank_tok
        counting = bool(self.of("count"))
        groups = self._group_tokens()
        tags = self.of("tag")
        if head is None and any(self._group_key(g) == "tag" for g in groups):
            return "visits", "count", groups[0], None  # 需求标签TOP3: tags by their visits
        if tags and head is None and groups and self.of("super", "top"):
            return "visits", "count", None, None  # 提到库存不足最多的城市
        new = self.of("new_customers")
        if new and head in (None, "customers"):
            if counting:
                return "customers", "new_count", new[0], None
            return "customers", "list", None, None
        if head is None and (self.of("stuck") or self.of("stage")):
            return "opportunities", "count", None, None
        if self.of("stuck") and self.of("list_many") and any(n.val == "customers" for n in nouns):
            return "customers", "list", None, None  # 哪些客户商机卡在需求确认超过60天
        if (
            head == "opportunities"
            and not counting
            and (self.of("stuck") or self.of("stage") or self._group_tokens())
        ):
            return "opportunities", "count", nouns[-1], None
        if head in ("visits", "orders", "contracts") and not counting and not self.of("overdue", "list_many"):
            return head, "count", nouns[-1], None  # 张伟的拜访 / 上周的单子: how many
        if head == "tickets" and not counting and self._group_tokens():
            return "tickets", "count", nouns[-1], None  # 本月超时工单 按业务员
        if head == "tickets" and not counting and not (self.of("timeout") or self.of("unhandled")):
            return "tickets", "count", nouns[-1], None  # 广州的工单: how many
        if (
            head == "tickets"
            and not counting
            and self.of("unhandled")
            and not self._customer_noun_after_tickets()
        ):
            return "tickets", "count", nouns[-1], None
        if head in (None, "customers"):
            if head is None and not self._has_customer_condition():
                raise Refused("没看出要查什么（客户、拜访、销售额……）。")
            if head is None and self._group_tokens():
                raise Refused(
                    "要统计什么？例如「各大区提过价格异议的客户数」或「各业务员带价格异议标签的拜访次数」。"
                )
            return "customers", "count" if counting else "list", None, None
        head_tok = nouns[-1]
        if head == "tickets" and not counting and (self.of("timeout") or self.of("unhandled")):
            return "customers", "list", None, None
        if head == "contracts" and not counting and self.of("overdue"):
            return "customers", "list", None, None
        if counting:
            return head, "count", head_tok, None
        raise Refused(f"{ENTITY_WORDS[head]}只能问数量或比率，不能列明细；可以问对应的客户名单。")

    def _group_key(self, t: Tok) -> str | None:
        if t.kind == "group":
            return str(t.val)
        if t.kind == "group_which":
            return str(t.val[0])
        if t.kind in ("top", "super"):
            return t.val.get("group")
        return "rep" if t.kind == "who" else None

    def _customer_noun_after_tickets(self) -> bool:
        nouns = self.of("noun")
        return bool(nouns) and nouns[-1].val == "customers"

    def _my_own_acts(self, entity: str) -> None:
        """'我拜访了哪些客户' from a manager: visits by the manager, not the team — not a customer condition."""
        if entity == "visits":
            return
        for t in self.of("person"):  # 张伟本月拜访过的客户: visited by 张伟, not a defined condition
            nxt = self.after(t)
            while nxt is not None and nxt.kind == "period":
                nxt = self.after(nxt)
            if nxt is not None and nxt.kind == "touch_pos":
                raise Refused(
                    "「某人拜访/跟进过的客户」只按负责人统计，不按谁拜访；可以问「张伟的客户」"
                    "「张伟的客户本月被拜访了几次」或「张伟本月拜访了多少次」。"
                )
        if self.sees_only_self:
            return
        for t in self.of("me"):
            nxt = self.after(t)
            while nxt is not None and nxt.kind == "period":  # 我本月拜访过的客户
                nxt = self.after(nxt)
            if nxt is not None and nxt.kind in ("touch_pos", "touch_neg", "touch_full", "order"):
                raise Refused(
                    "「我拜访/跟进过的客户」只按负责人统计，不按谁拜访；可以问「我自己的客户」或「我本月拜访了多少次」。"
                )

    def _ranked_after(self, m: Tok) -> bool:
        nxt = self.after(m)
        return nxt is not None and nxt.kind in ("top", "super", "rankword")

    def _group_tokens(self) -> list[Tok]:
        out = self.of("group", "group_which", "who")
        return out + [t for t in self.of("top", "super") if t.val.get("group")]

    def _has_customer_condition(self) -> bool:
        return bool(
            self.of(
                "lost",
                "not_lost",
                "nps",
                "touch_full",
                "touch_neg",
                "touch_pos",
                "order",
                "tag",
                "timeout",
                "overdue",
                "status_all",
                "status_active",
                "rank",
                "total",
                "new_customers",
                "unhandled",
                "stuck",
                "overdue_days",
                "rank_overdue_days",
                "under",
                "order_span",
            )
        )

    def _bind_periods(self, entity: str, main: Tok | None, rank_tok: Tok | None) -> dict[int, Any]:
        kinds = ["lost", "order", "touch_neg", "touch_pos", "total"] + (
            ["new_customers"] if entity == "customers" else []
        )
        consumers = [t for t in self.toks if t.kind in kinds]
        consumers += [t for t in self.of("tag") if self._customer_tag(t, entity)]
        if entity != "tickets":
            consumers += self.of("timeout")
        if entity != "contracts":
            consumers += self.of("overdue")
        if main is not None and entity != "customers":
            consumers.append(main)
        if rank_tok is not None:
            consumers.append(rank_tok)
        consumers.sort(key=lambda t: t.start)
        bound: dict[int, Any] = {}
        for p in self.of("period"):
            later = [c for c in consumers if c.start >= p.end]
            earlier = [c for c in consumers if c.end <= p.start]
            target = later[0] if later else (earlier[-1] if earlier else None)
            if target is None:
                raise Refused("问题里的时间不知道指什么（流失、下单、拜访、跟进……），请说得具体些。")
            if id(target) in bound:
                raise Refused("同一个条件出现了两个时间，请只保留一个。")
            bound[id(target)] = p.val
        self._inherit_periods(consumers, bound)
        return bound

    def _inherit_periods(self, consumers: list[Tok], bound: dict[int, Any]) -> None:
        """上月拜访超过3次但是没下单的客户: a condition joined by 但/且/和 to one that has a time takes that time."""
        conditions = ("order", "touch_neg", "touch_pos", "total")
        for c in consumers:
            if c.kind not in conditions or id(c) in bound:
                continue
            before = [t for t in self.toks if t.end <= c.start]
            while before and before[-1].kind == "and":
                before.pop()
            if (
                before
                and before[-1].kind in conditions
                and id(before[-1]) in bound
                and len(before) < len([t for t in self.toks if t.end <= c.start])
            ):
                bound[id(c)] = bound[id(before[-1])]

    def _conditions(self, entity: str, periods: dict[int, Any]) -> tuple[CustomerFilter, dict[str, Any]]:
        c: dict[str, Any] = {
            "nps": [],
            "regions": [],
            "cities": [],
            "channels": [],
            "owners": [],
            "tags": [],
            "orders": [],
            "touches": [],
        }
        extra: dict[str, Any] = dict(self.measure_extra)
        c["status"] = self._status(entity, periods, c)
        for t in self.of("nps"):
            c["nps"].extend(t.val)
        for t in self.of("region"):
            c["regions"].extend(v for v in t.val if v not in c["regions"])
        for key, kind in (("cities", "city"), ("channels", "channel")):
            for t in self.of(kind):
                if t.val not in c[key]:
                    c[key].append(t.val)
        self._people(entity, c, extra)
        for t in self.of("touch_full"):
            c["touches"].append(t.val)
        for t in self.of("touch_neg", "touch_pos"):
            if id(t) not in periods:
                raise Refused("要说明时间，例如「超过30天没跟进的客户」或「本月拜访过的客户」。")
            c["touches"].append({"present": t.kind == "touch_pos", "kind": t.val, "period": periods[id(t)]})
        self._orders_and_categories(entity, periods, c, extra)
        for t in self.of("tag"):
            if not self._customer_tag(t, entity):
                if extra.get("tag") not in (None, t.val):
                    raise Refused("一次只能按一个需求标签统计拜访。")
                extra["tag"] = t.val
            else:
                c["tags"].append(TagCondition(tag=t.val, period=periods.get(id(t))))
        for t in self.of("timeout"):
            if entity == "tickets":
                extra["timeout_only"] = True
            else:
                c["ticket_timeout"] = EventCondition(period=periods.get(id(t)))
        overdue = self.of("overdue")
        if entity == "contracts" and not overdue and not self._measure_is("contracts", "outstanding"):
            extra["contract_scope"] = "all"  # v2: 合同 by signed_on, 合同金额, 欠款 over every contract
        if entity == "contracts" and overdue:
            extra.pop("contract_scope", None)
        for t in overdue:
            if entity != "contracts":
                c["overdue"] = EventCondition(period=periods.get(id(t)))
        stages = self.of("stage")
        if stages and entity != "opportunities":
            raise Refused("商机阶段只用于商机数量和漏斗。")
        if stages:
            extra["stages"] = sorted({t.val for t in stages})
        self._v2_conditions(entity, periods, c, extra)
        return CustomerFilter(**c), extra

    def _v2_conditions(
        self, entity: str, periods: dict[int, Any], c: dict[str, Any], extra: dict[str, Any]
    ) -> None:
        for t in self.of("under"):
            if isinstance(t.val, tuple):
                raise Refused(f"有不止一位同事叫{t.val[1]}，请改用账号（userid）提问。")
            if t.val not in c.setdefault("under", []):
                c["under"].append(t.val)
        for t in self.of("new_customers"):
            if entity == "customers" and id(t) in periods and not (self.of("count") and not self.of("noun")):
                if extra.get("_new_main"):
                    continue
                c["created_period"] = periods[id(t)]
                if c.get("status") is None:
                    c["status"] = "all"
            elif entity == "opportunities":
                continue  # 本月新增商机: opportunities by entered_on
            elif entity != "customers":
                raise Refused("「新客户」只能问客户数或客户名单，例如「本月新增了几家客户」。")
            elif id(t) not in periods:
                raise Refused("「新客户」要说明时间，例如「本月新开的客户」「今年新建档的客户」。")
        for t in self.of("order_span"):
            c["orders"].append(t.val)
        for t in self.of("total"):
            measure, op, value = t.val[:3]
            category = t.val[3] if len(t.val) > 3 else None
            if measure == "visited_customers":
                raise Refused("「跑店N家」只用于业务员，例如「本月跑店不到5家的业务员」。")
            c.setdefault("totals", []).append(
                TotalCondition(
                    measure=measure, op=op, value=value, period=periods.get(id(t)), category=category
                )
            )
        if self.of("rate_having"):
            raise Refused("按比率筛选只用于业务员，例如「本月拜访完整率低于50%的业务员」。")
        if self.of("unhandled"):
            if entity == "tickets":
                extra["unhandled_only"] = True
            else:
                c["unhandled_ticket"] = True
        for t in self.of("stuck"):
            stage, days = t.val
            if entity == "opportunities":
                extra["stages"] = [stage]
                extra["stuck_days"] = days
            else:
                c["stuck"] = StuckCondition(stage=stage, days=days)
        for t in self.of("overdue_days"):
            if entity == "contracts":
                extra["overdue_days_gt"] = t.val
                extra.pop("contract_scope", None)
            else:
                c["overdue"] = EventCondition(
                    period=(c.get("overdue") or EventCondition()).period, days_gt=t.val
                )
        if self.of("rank_overdue_days") and c.get("overdue") is None and entity == "customers":
            c["overdue"] = EventCondition()

    def _customer_tag(self, t: Tok, entity: str) -> bool:
        """A tag is a customer condition ('提过价格异议的客户'), except on visits where it marks the visit —
        unless 客户 follows it ('提过价格异议的客户的拜访次数')."""
        if entity != "visits":
            return True
        nxt = self.after(t)
        return nxt is not None and nxt.kind == "noun" and nxt.val == "customers"

    def _measure_is(self, entity: str, figure: str) -> bool:
        return any(t.val == (entity, figure) for t in self.of("measure"))

    def _status(self, entity: str, periods: dict[int, Any], c: dict[str, Any]) -> str | None:
        words = set()
        for t in self.of("lost"):
            if id(t) in periods:
                if c.get("lost_period") is not None:
                    raise Refused("流失只能有一个时间。")
                c["lost_period"] = periods[id(t)]
            words.add("lost")
        words |= {"active" for _ in self.of("not_lost", "status_active")}
        words |= {"all" for _ in self.of("status_all")}
        if len(words) > 1:
            raise Refused("客户状态的说法互相矛盾（正常/流失/全部），请只说一种。")
        return words.pop() if words else None

    def _people(self, entity: str, c: dict[str, Any], extra: dict[str, Any]) -> None:
        reps: list[str] = []
        for t in self.of("person", "self"):
            who = self.asker if t.kind == "self" else t.val
            nxt = self.after(t)
            owner_of_customers = nxt is not None and nxt.kind == "noun" and nxt.val == "customers"
            target = reps if entity == "visits" and not owner_of_customers else c["owners"]
            if who not in target:
                target.append(who)
        if entity == "visits" and self.of("me") and self.asker not in reps:
            reps.append(self.asker)
        if entity == "visits":
            for t in self.of("team"):
                nxt = self.after(t)
                of_customers = nxt is not None and nxt.kind == "noun" and nxt.val == "customers"
                if t.val in ("我的",) and not of_customers and self.asker not in reps:  # 我的客户: the scope
                    reps.append(self.asker)
        if reps:
            extra["reps"] = reps

    def _orders_and_categories(
        self, entity: str, periods: dict[int, Any], c: dict[str, Any], extra: dict[str, Any]
    ) -> None:
        attached: set[int] = set()
        for t in self.of("order"):
            nxt = self.after(t)
            category = None
            if nxt is not None and nxt.kind == "category":
                category = nxt.val
                attached.add(id(nxt))
            c["orders"].append(OrderCondition(present=t.val, category=category, period=periods.get(id(t))))
        for t in self.of("category"):
            if id(t) in attached:
                continue
            if entity != "orders":
                raise Refused(f"「{t.val}」请说明是买过{t.val}的客户，还是{t.val}的销售额。")
            if extra.get("category") not in (None, t.val):
                raise Refused("一次只能按一个品类统计。")
            extra["category"] = t.val

    def _group(self, entity: str) -> str | None:
        keys = set()
        for t in self._group_tokens():
            if t.kind == "group":
                keys.add(t.val)
            elif t.kind == "group_which":
                keys.add(t.val[0])
            elif t.kind == "who":
                if not self.of("super", "top", "rankword"):
                    raise Refused("「谁」要配合排名来问，例如「谁的拜访次数最多」。")
                keys.add("rep")
            else:
                keys.add(t.val["group"])
        if len(keys) > 1:
            raise Refused("一次只能按一种维度分组（大区、城市、渠道、业务员……）。")
        if not keys:
            return None
        key = keys.pop()
        if key not in GROUPS_OF[entity]:
            raise Refused(f"{ENTITY_WORDS[entity]}不能按{GROUP_WORDS[key]}分组。")
        return key

    def _ranking(
        self, kind: str, rank_tok: Tok | None, rank_period: Any
    ) -> tuple[Ranking | None, int | None]:
        tops, supers, words = self.of("top"), self.of("super"), self.of("rankword")
        ranks = self.of("rank")
        if len(tops) > 1 or len(ranks) > 1 or (ranks and rank_tok is not None):
            raise Refused("排名的说法出现了不止一次，请只说一种排名。")
        limit = tops[0].val["limit"] if tops else None
        singular = bool(
            self.of("list_one") or [t for t in self.of("group_which") if not t.val[1]] or self.of("who")
        )
        many = bool(self.of("list_many") or [t for t in self.of("group_which") if t.val[1]])
        desc_words = [t.val["desc"] for t in tops if t.val["superlative"] or not t.val["desc"]]
        # 排名 / 排行 say only that a ranking is asked; with 倒数第一 or 最低 the direction is theirs
        plain = {"排名", "排行", "排行榜", "排序"}
        words = [
            t for t in words if not (tops + supers and self.text[t.start : t.end].rstrip("排列序") in plain)
        ]
        desc_words += [t.val["desc"] for t in supers] + [t.val for t in words]
        if len(set(desc_words)) > 1:
            raise Refused("排名方向互相矛盾（最高/最低），请只说一种。")
        desc = desc_words[0] if desc_words else True
        has_super = bool(supers) or any(t.val["superlative"] for t in tops)
        if kind == "figure":
            if tops or supers or words or ranks:
                raise Refused("一个总数不需要排名；要排名请说明按什么分组，例如「各业务员的销售额排名」。")
            return None, None
        if kind == "groups":
            if ranks:
                raise Refused("分组统计只能按统计的数排名。")
            if not (tops or supers or words or singular):
                return None, None
            if limit is None and (has_super or singular) and not many:
                limit = 1
            return Ranking(by="figure", descending=desc), limit
        # a customer list
        if ranks:
            r = ranks[0].val
            if limit is not None and r["limit"] is not None and limit != r["limit"]:
                raise Refused("排名的个数说了两个，请只说一个。")
            limit = limit or r["limit"]
            if limit is None and r["superlative"] and not many:
                limit = 1
            return Ranking(by=r["by"], descending=r["desc"]), limit
        if rank_tok is not None:
            if limit is None and has_super and not many:
                limit = 1
            return Ranking(by=RANKABLE[rank_tok.val], descending=desc, period=rank_period), limit
        tags = self.of("tag")
        if has_super and len(tags) == 1:  # 提价格异议最多的5个客户 / 价格异议最多的是哪几家店
            return Ranking(by="tag_visits", tag=tags[0].val, descending=desc), limit or (10 if many else 1)
        if has_super:
            raise Refused("「最高/最多」指的是什么？例如「NPS最高的5个客户」「销售额最高的10个客户」。")
        return None, limit
