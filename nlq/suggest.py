"""One next action after an answer, and the nearest answerable questions after a refusal."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rapidfuzz import fuzz, process

from nlq.spec import QuerySpec

EXAMPLES = (
    "上月流失但NPS>70的客户",
    "超过72小时未更新的客户",
    "超过30天没跟进的客户有多少",
    "本周各大区的拜访完整率",
    "本月每个业务员的拜访次数",
    "客户信息鲜度",
    "各大区的客户信息鲜度",
    "本季度商机转化漏斗完整率",
    "本月提过价格异议的客户",
    "今年各渠道的销售额",
    "上月销售额前5的业务员",
    "NPS最高的10个客户",
    "本月买过饮料的客户",
    "服务响应超时的客户有哪些",
    "逾期未回款的合同有多少",
    "回款逾期的客户有哪些",
    "NPS低于30的客户",
    "最近7天没有拜访的客户",
)


def nearest_questions(
    question: str, k: int = 3, *, answerable: Callable[[str], bool] | None = None
) -> list[str]:
    """The nearest questions the layer answers, built from the question's own words first (its period, its
    place or person, its figure: 本月华东的平均NPS → 本月华东的客户数, 本月华东的销售额 …), each checked by
    `answerable` (the parser) when given; then the nearest of the fixed examples."""
    out: list[str] = []
    if answerable is not None:
        for q in own_word_questions(question):
            if q not in out and q != question and answerable(q):
                out.append(q)
            if len(out) == k:
                return out
    hits = process.extract(question, EXAMPLES, scorer=fuzz.partial_ratio, limit=k + len(out))
    out += [h[0] for h in hits if h[0] not in out]
    return out[:k]


_PERIOD_WORDS = re.compile(
    r"今天|昨天|本周|这周|上周|本月|这个月|上个?月|本季度|上季度|今年|去年|最近\d+天|近\d+天|\d{1,2}月份?|第?[1-4一二三四]季度|上半年|下半年"
)
_FIGURE_WORDS = (
    "拜访完整率",
    "客户信息鲜度",
    "销售额",
    "业绩",
    "拜访次数",
    "拜访",
    "下单",
    "订单",
    "回款",
    "欠款",
    "逾期",
    "工单",
    "投诉",
    "商机",
    "合同",
    "流失",
    "NPS",
    "新客户",
    "签到",
)
_FIGURE_QUESTIONS = {
    "拜访完整率": ("拜访完整率", "各业务员的拜访完整率"),
    "客户信息鲜度": ("客户信息鲜度", "各大区的客户信息鲜度"),
    "销售额": ("销售额", "各业务员的销售额", "销售额环比"),
    "业绩": ("销售额", "各业务员的销售额"),
    "拜访次数": ("拜访次数", "各业务员的拜访次数"),
    "拜访": ("拜访次数", "拜访完整率", "拜访了多少家店"),
    "下单": ("下单次数", "没有下单的客户"),
    "订单": ("下单次数", "销售额"),
    "回款": ("回款金额", "回款逾期的客户"),
    "欠款": ("欠款一共多少", "欠款最多的5个客户"),
    "逾期": ("回款逾期的客户", "逾期金额"),
    "工单": ("工单数", "服务响应超时的客户"),
    "投诉": ("工单数", "未处理的工单"),
    "商机": ("商机数", "赢单率"),
    "合同": ("签了多少合同", "合同金额"),
    "流失": ("流失客户", "流失客户有几家"),
    "NPS": ("NPS低于30的客户", "NPS最高的10个客户"),
    "新客户": ("新增了几家客户",),
    "签到": ("签到次数", "谁还没签到"),
}
_DEFAULT_FIGURES = ("客户数", "销售额", "拜访完整率")


def own_word_questions(question: str) -> list[str]:
    """Questions made of the asked question's own period, place/person words and figure words."""
    q = question.replace(" ", "")
    period = (_PERIOD_WORDS.search(q) or [""])[0]
    figures = [w for w in _FIGURE_WORDS if w.lower() in q.lower()]
    rest = q
    for w in [period, *figures]:
        if w:
            rest = rest.replace(w, " ")
    # the words before the first figure word that are neither period nor filler: a place or a person (华东, 张伟)
    head = re.split(r"[ 的]|客户|哪些|多少|有|是|和|或|，|,|？|\?", rest.strip())[0][:6]
    subject = f"{head}的" if head and not re.search(r"[吗呢啊吧怎什为预删改把给]", head) else ""
    out: list[str] = []
    for f in figures or ["客户"]:
        for tail in _FIGURE_QUESTIONS.get(f, _DEFAULT_FIGURES):
            out.append(f"{period}{subject}{tail}")
    for tail in _DEFAULT_FIGURES:
        out.append(f"{period}{subject}{tail}")
    return out


def refusal_suggestion(question: str, answerable: Callable[[str], bool] | None = None) -> str:
    return "可以这样问：" + "、".join(f"「{q}」" for q in nearest_questions(question, answerable=answerable))


def suggest(
    spec: QuerySpec, answer: dict[str, Any], *, asker: str = "", names: dict[str, str] | None = None
) -> tuple[str | None, dict[str, Any] | None]:
    """(what to do next in words, the same as a machine-usable action) — (None, None) if the data supports none.
    `asker` and `names` (userid → name) let a figure about one person suggest that person's next question."""
    kind, rows = answer["kind"], answer["rows"]
    f = spec.customer
    if kind == "list" and rows:
        ids = [r["customer_id"] for r in rows]
        by_owner: dict[str, list[str]] = {}
        for r in rows:
            by_owner.setdefault(r["owner"], []).append(r["customer_id"])
        remind = {"type": "remind_owners", "customer_ids": ids, "by_owner": by_owner}
        if any(not t.present for t in f.touches):
            return (
                f"给这{len(ids)}位客户的负责人（{len(by_owner)}人）各发一条跟进提醒。",
                {**remind, "reason": "stale"},
            )
        if f.overdue is not None:
            return f"提醒{len(by_owner)}位负责人跟进这些客户的逾期回款。", {**remind, "reason": "overdue"}
        if f.ticket_timeout is not None:
            return f"提醒{len(by_owner)}位负责人跟进这些客户的超时工单。", {
                **remind,
                "reason": "ticket_timeout",
            }
        if f.lost_period is not None or f.status == "lost":
            return (
                "请负责人回访这些流失客户，了解原因并尝试挽回。",
                {"type": "schedule_visits", "customer_ids": ids, "reason": "win_back"},
            )
        if f.tags:
            tag = f.tags[0].tag
            return (
                f"请负责人针对「{tag}」回访这些客户。",
                {"type": "schedule_visits", "customer_ids": ids, "reason": f"tag:{tag}"},
            )
        return None, None
    if kind == "figure":
        return _after_figure(spec, answer, asker=asker, names=names or {})
    if (
        kind == "groups"
        and rows
        and spec.is_rate
        and spec.figure in _RATE_WORDS
        and spec.group_by not in _NO_DETAIL
    ):
        known = [r for r in rows if r.get("value") is not None]
        if known:
            low = min(known, key=lambda r: (r["value"], str(r["key"])))
            return _ask(
                f"看看{low.get('name') or low['key']}的明细：这一组的比率最低（{low['value']:.0%}）。",
                _detail_question(spec, low),
            )
    return None, None


def _after_figure(
    spec: QuerySpec, answer: dict[str, Any], *, asker: str = "", names: dict[str, str] | None = None
) -> tuple[str | None, dict[str, Any] | None]:
    v = answer.get("value")
    if v is None:
        return None, None
    if spec.figure == "complete_rate" and v < 0.9:
        one = _one_person(spec)
        if one is not None:  # one person's rate: by week, not 各业务员 (a rep sees only themself)
            who = "我" if one == asker else (names or {}).get(one)
            if who:
                return _ask(
                    "按周看拜访完整率，找出是哪几周的记录没补全（照片不足3张或没有需求标签）。",
                    f"{who}{_WEEKS_OF.get(spec.period.kind if spec.period else '', '最近8周')}每周的拜访完整率",
                )
            return None, None
        return _ask("按业务员看拜访完整率，找出记录不完整的人。", "各业务员的拜访完整率")
    if spec.figure == "freshness" and v < 0.9:
        return _ask("看看哪些客户超过30天没跟进。", "超过30天没跟进的客户")
    if spec.figure == "funnel_rate" and v < 0.9:
        return _ask("按业务员看漏斗完整率，找出卡在需求确认的商机。", "各业务员的商机转化漏斗完整率")
    if spec.entity == "tickets" and spec.timeout_only and v > 0:
        return _ask("看看是哪些客户的工单超时了。", "服务响应超时的客户有哪些")
    if spec.entity == "contracts" and spec.contract_scope == "overdue" and v > 0:
        return _ask("看看是哪些客户回款逾期。", "回款逾期的客户有哪些")
    return None, None


_RATE_WORDS = {
    "complete_rate": "拜访完整率",
    "freshness": "客户信息鲜度",
    "funnel_rate": "商机转化漏斗完整率",
    "win_rate": "赢单率",
}
_NO_DETAIL = ("week", "month", "team")  # a bucket or a team is not a name a question can carry


_WEEKS_OF = {"this_month": "本月", "last_month": "上月"}


def _one_person(spec: QuerySpec) -> str | None:
    people = {*spec.reps, *spec.customer.owners}
    return next(iter(people)) if len(people) == 1 and not spec.customer.under else None


def _detail_question(spec: QuerySpec, row: dict[str, Any]) -> str:
    what = _RATE_WORDS[spec.figure]
    return f"{row.get('name') or row['key']}的{what}"


def _ask(text: str, question: str) -> tuple[str, dict[str, Any]]:
    return f"{text}可以接着问：「{question}」", {"type": "ask", "question": question}
