"""The customer scorecard (客户评分卡): four components, each 0-100, weighted into one score and a tier.

Components and how each maps to 0-100 (the defaults; an organisation overrides them in
org_config["scorecard"], see ScoreRules.from_config):

1. 下单频次 order_frequency (weight 30%): orders with `ordered_on` on one of the last `orders_days` (90)
   dates, today included. points = 100 × min(1, orders / orders_target); orders_target = 3 (one order a
   month gives full marks: 0 → 0, 1 → 33, 2 → 67, 3+ → 100).
2. 新品兴趣 new_product_interest (25%): the customer's visits in the last `interest_days` (90) days
   (checked_in_at in [now − 90 d, now]) that carry the tag 新品兴趣. points = 100 × min(1, tagged visits /
   interest_target); interest_target = 1 (any recent 新品兴趣 gives full marks; set 2 to want it twice).
   No visit at all gives 0: nobody heard any interest.
   (Targets calibrated on the sample organisation: about a third of customers per tier.)
3. 合同按时回款率 payment_on_time (25%): contracts whose `due_on` lies in the last `payment_days` (365)
   days, before today. A contract is paid on time when its matched payments (memo contains the contract
   number, the spec's rule) dated on or before `due_on` sum to at least its amount.
   points = 100 × on-time contracts ÷ those contracts. No such contract: no data (see below).
4. 响应速度 response_speed (20%): two parts.
   - tickets opened in the last `ticket_days` (180) days that can be judged (answered, or unanswered
     with more than `sla_hours` passed): ticket part = 100 × answered within sla_hours ÷ judged
     (the complement of the spec's 服务响应超时);
   - contact recency from the latest touch (visit or interaction): 100 when the last touch is at most
     `contact_full_days` (14) days old, 0 at `contact_zero_days` (60) days or never, linear between.
   - when the customer is a linked WeChat contact of its owner (企业微信 客户联系) and WeCom's figures for the
     owner exist in the window, the WeCom part (core/customer_contacts/speed.py: reply rate, average first
     reply time, hours from 添加客户 to the first follow-up; thresholds reply_full_minutes / reply_zero_minutes /
     follow_full_hours / follow_zero_hours) takes the contact part's place; otherwise the
     contact part stands (from the imported visits and interactions).
   With judged tickets: 0.7 × ticket part + 0.3 × contact (or WeCom) part (`ticket_share`); without: that part.

Score = Σ weight × points ÷ Σ weight over the components that have data (only payment_on_time can lack
it), rounded to one decimal. Tiers: score < 60 红 (red), 60 ≤ score ≤ 80 黄 (yellow), score > 80 蓝 (blue).

A component's *contribution* is weight × points ÷ Σ weight (the share of the score it carries); the
explanation of a change names the component whose contribution moved most.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.customer_contacts.speed import SpeedRules, WeComSpeed, wecom_detail, wecom_points

COMPONENTS = ("order_frequency", "new_product_interest", "payment_on_time", "response_speed")
LABELS = {
    "order_frequency": "下单频次",
    "new_product_interest": "新品兴趣",
    "payment_on_time": "按时回款",
    "response_speed": "响应速度",
}
TIERS = ("red", "yellow", "blue")
TIER_WORDS = {"red": "红色", "yellow": "黄色", "blue": "蓝色", None: "未评分"}


@dataclass(frozen=True)
class ScoreRules:
    weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "order_frequency": 0.30,
            "new_product_interest": 0.25,
            "payment_on_time": 0.25,
            "response_speed": 0.20,
        }
    )
    orders_days: int = 90
    orders_target: int = 3
    interest_days: int = 90
    interest_target: int = 1
    interest_tag: str = "新品兴趣"
    payment_days: int = 365
    ticket_days: int = 180
    ticket_share: float = 0.7
    contact_full_days: float = 14
    contact_zero_days: float = 60
    red_below: float = 60
    blue_above: float = 80
    # the WeCom part of 响应速度 (core/customer_contacts/speed.py): full / zero marks for the average first reply
    # (minutes) and for the hours from 添加客户 to the first follow-up
    reply_full_minutes: float = 30
    reply_zero_minutes: float = 1440
    follow_full_hours: float = 24
    follow_zero_hours: float = 168

    @staticmethod
    def from_config(config: Mapping[str, Any] | None) -> ScoreRules:
        """Defaults overridden by org_config["scorecard"]. Raises ValueError on an unknown key or bad value."""
        rules = ScoreRules()
        if not config:
            return rules
        known = {f for f in rules.__dataclass_fields__}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown scorecard settings: {sorted(unknown)}")
        values = dict(config)
        if "weights" in values:
            w = dict(values["weights"])
            if set(w) - set(COMPONENTS):
                raise ValueError(f"unknown components: {sorted(set(w) - set(COMPONENTS))}")
            merged = {**rules.weights, **{k: float(v) for k, v in w.items()}}
            if any(v < 0 for v in merged.values()) or sum(merged.values()) <= 0:
                raise ValueError("weights must be ≥ 0 and not all 0")
            values["weights"] = merged
        out = replace(rules, **values)
        if not 0 <= out.red_below <= out.blue_above <= 100:
            raise ValueError("tiers need 0 ≤ red_below ≤ blue_above ≤ 100")
        if out.orders_target < 1 or out.interest_target < 1 or out.contact_zero_days <= out.contact_full_days:
            raise ValueError("targets must be ≥ 1 and contact_zero_days > contact_full_days")
        if out.reply_zero_minutes <= out.reply_full_minutes or out.follow_zero_hours <= out.follow_full_hours:
            raise ValueError(
                "reply_zero_minutes > reply_full_minutes and follow_zero_hours > follow_full_hours"
            )
        return out

    def speed_rules(self) -> SpeedRules:
        return SpeedRules(
            full_minutes=self.reply_full_minutes,
            zero_minutes=self.reply_zero_minutes,
            follow_full_hours=self.follow_full_hours,
            follow_zero_hours=self.follow_zero_hours,
        )

    def version(self) -> str:
        """A short fingerprint of the rules, stored with each score."""
        w = ",".join(f"{k}={self.weights.get(k, 0):g}" for k in COMPONENTS)
        return (
            f"{w};o{self.orders_days}/{self.orders_target};i{self.interest_days}/{self.interest_target};"
            f"p{self.payment_days};t{self.ticket_days}/{self.ticket_share:g};"
            f"c{self.contact_full_days:g}-{self.contact_zero_days:g};{self.red_below:g}/{self.blue_above:g}"
        )[:120]


@dataclass(frozen=True)
class CustomerFeatures:
    """What the scorecard reads about one customer (storage.scorecard extracts it in SQL)."""

    customer_id: str
    orders: int = 0  # in the last orders_days days
    visits: int = 0  # in the last interest_days days
    interest_visits: int = 0  # of those, carrying the interest tag
    contracts_due: int = 0  # due_on in the last payment_days days, before today
    contracts_on_time: int = 0
    tickets_judged: int = 0  # opened in the last ticket_days days, answered or past the SLA
    tickets_on_time: int = 0
    days_since_touch: float | None = None  # None: never touched
    wecom: WeComSpeed | None = None  # the owner's WeCom reply figures, when the customer is a linked contact


@dataclass(frozen=True)
class Component:
    key: str
    points: float | None  # 0-100; None: no data, left out of the score
    detail: str  # Chinese: what the points were computed from

    @property
    def label(self) -> str:
        return LABELS[self.key]


@dataclass(frozen=True)
class Scorecard:
    customer_id: str
    score: float
    tier: str
    components: tuple[Component, ...]

    def component(self, key: str) -> Component:
        return next(c for c in self.components if c.key == key)

    def to_json(self) -> dict[str, Any]:
        return {c.key: {"points": c.points, "detail": c.detail} for c in self.components}


def _clamp(x: float) -> float:
    return max(0.0, min(100.0, x))


def contact_points(days: float | None, rules: ScoreRules) -> float:
    if days is None or days >= rules.contact_zero_days:
        return 0.0
    if days <= rules.contact_full_days:
        return 100.0
    return 100.0 * (rules.contact_zero_days - days) / (rules.contact_zero_days - rules.contact_full_days)


def components_of(f: CustomerFeatures, rules: ScoreRules) -> tuple[Component, ...]:
    orders = Component(
        "order_frequency",
        _clamp(100.0 * f.orders / rules.orders_target),
        f"近{rules.orders_days}天下单{f.orders}次",
    )
    interest = Component(
        "new_product_interest",
        _clamp(100.0 * f.interest_visits / rules.interest_target),
        f"近{rules.interest_days}天拜访{f.visits}次，其中{f.interest_visits}次有{rules.interest_tag}",
    )
    if f.contracts_due:
        payment = Component(
            "payment_on_time",
            _clamp(100.0 * f.contracts_on_time / f.contracts_due),
            f"到期合同{f.contracts_due}份，按时回款{f.contracts_on_time}份",
        )
    else:
        payment = Component("payment_on_time", None, f"近{rules.payment_days}天没有到期合同")
    contact = contact_points(f.days_since_touch, rules)
    touch = "从未跟进" if f.days_since_touch is None else f"距上次跟进{f.days_since_touch:.0f}天"
    wecom = wecom_points(f.wecom, rules.speed_rules()) if f.wecom is not None else None
    if f.wecom is not None and wecom is not None:
        contact, touch = wecom, wecom_detail(f.wecom)
    if f.tickets_judged:
        tickets = 100.0 * f.tickets_on_time / f.tickets_judged
        points = rules.ticket_share * tickets + (1 - rules.ticket_share) * contact
        detail = f"工单{f.tickets_judged}张，{f.tickets_on_time}张按时响应；{touch}"
    else:
        points, detail = contact, f"近{rules.ticket_days}天无工单；{touch}"
    response = Component("response_speed", _clamp(points), detail)
    return orders, interest, payment, response


def tier_of(score: float, rules: ScoreRules = ScoreRules()) -> str:
    if score < rules.red_below:
        return "red"
    if score > rules.blue_above:
        return "blue"
    return "yellow"


def contributions(components: Mapping[str, float | None], rules: ScoreRules) -> dict[str, float]:
    """Each component's share of the score: weight × points ÷ Σ weight of the components with data."""
    total = sum(rules.weights.get(k, 0.0) for k, p in components.items() if p is not None)
    if total <= 0:
        return {k: 0.0 for k in components}
    return {
        k: (rules.weights.get(k, 0.0) * p / total if p is not None else 0.0) for k, p in components.items()
    }


def score(f: CustomerFeatures, rules: ScoreRules = ScoreRules()) -> Scorecard:
    comps = components_of(f, rules)
    value = round(sum(contributions({c.key: c.points for c in comps}, rules).values()), 1)
    return Scorecard(f.customer_id, value, tier_of(value, rules), comps)


def explain(
    before: Mapping[str, Any] | None,
    after: Scorecard,
    rules: ScoreRules = ScoreRules(),
    before_score: float | None = None,
) -> tuple[str | None, str]:
    """(component key, Chinese sentence): which component moved the score most since `before`
    (a stored Scorecard.to_json()), or for a first score the weakest component."""
    now_points = {c.key: c.points for c in after.components}
    now_share = contributions(now_points, rules)
    if not before:
        weakest = min((c for c in after.components if c.points is not None), key=lambda c: (c.points, c.key))
        return weakest.key, (
            f"首次评分{after.score:.1f}分；最弱一项：{weakest.label}{weakest.points:.0f}分"
            f"（{weakest.detail}）"
        )
    old_points = {k: (before.get(k) or {}).get("points") for k in COMPONENTS}
    old_share = contributions(old_points, rules)
    deltas = {k: now_share.get(k, 0.0) - old_share.get(k, 0.0) for k in COMPONENTS}
    key = max(COMPONENTS, key=lambda k: (abs(deltas[k]), -COMPONENTS.index(k)))
    comp = after.component(key)
    old_p, new_p = old_points.get(key), comp.points
    fmt = lambda p: "无数据" if p is None else f"{p:.0f}分"  # noqa: E731
    head = f"总分{before_score:.1f}→{after.score:.1f}；" if before_score is not None else ""
    verb = "拉低" if deltas[key] < 0 else "拉高"
    return key, (
        f"{head}变化最大：{comp.label}{fmt(old_p)}→{fmt(new_p)}（{comp.detail}），"
        f"{verb}总分{abs(deltas[key]):.1f}分"
    )
