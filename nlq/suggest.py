"""One next action after an answer, and the nearest answerable questions after a refusal."""

from __future__ import annotations

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


def nearest_questions(question: str, k: int = 3) -> list[str]:
    hits = process.extract(question, EXAMPLES, scorer=fuzz.partial_ratio, limit=k)
    return [h[0] for h in hits]


def refusal_suggestion(question: str) -> str:
    return "可以这样问：" + "、".join(f"「{q}」" for q in nearest_questions(question))


def suggest(spec: QuerySpec, answer: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """(what to do next in words, the same as a machine-usable action) — (None, None) if the data supports none."""
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
        return _after_figure(spec, answer)
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


def _after_figure(spec: QuerySpec, answer: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    v = answer.get("value")
    if v is None:
        return None, None
    if spec.figure == "complete_rate" and v < 0.9:
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


def _detail_question(spec: QuerySpec, row: dict[str, Any]) -> str:
    what = _RATE_WORDS[spec.figure]
    return f"{row.get('name') or row['key']}的{what}"


def _ask(text: str, question: str) -> tuple[str, dict[str, Any]]:
    return f"{text}可以接着问：「{question}」", {"type": "ask", "question": question}
