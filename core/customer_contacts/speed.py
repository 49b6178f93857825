"""What the member's WeChat figures are worth on the scorecard's 响应速度 (response speed) component.

WeCom exposes, without 会话存档, per member and per day (`externalcontact/get_user_behavior_data`): chats, messages
sent, 已回复聊天占比 `reply_percentage` (chats the customer started that the member answered within the day, %) and
平均首次回复时长 `avg_reply_time` (minutes, only on days with chats). Not per customer, not per message.
The assistant adds, per linked contact, the hours from the 添加客户 event to the rep's first follow-up record
(a visit or an interaction that is not the add itself). docs/customer-contacts.md § Response speed.

Points (0-100), from the owner's figures over the window (the scorecard's `ticket_days`), each part present only
when its data is:
- reply part = reply_percentage (chats weighted: Σ reply% × chats ÷ Σ chats);
- time part = 100 at ≤ `full_minutes` (30) average first reply, 0 at ≥ `zero_minutes` (1440, a day), linear;
- follow-up part = 100 when the first follow-up came within `follow_full_hours` (24) of the add, 0 at
  ≥ `follow_zero_hours` (168, a week) or none yet after that long, linear, averaged over the contacts.
The WeCom points are the mean of the parts present; None when none is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DayFigures:
    chat_cnt: int = 0
    message_cnt: int = 0
    reply_percentage: float | None = None
    avg_reply_time: float | None = None  # minutes


@dataclass(frozen=True)
class SpeedRules:
    full_minutes: float = 30
    zero_minutes: float = 1440
    follow_full_hours: float = 24
    follow_zero_hours: float = 168


@dataclass(frozen=True)
class WeComSpeed:
    """A member's figures over the window (None: no data of that kind)."""

    chats: int = 0
    messages: int = 0
    reply_percentage: float | None = None
    avg_reply_minutes: float | None = None
    first_follow_hours: tuple[float | None, ...] = ()  # per contact added in the window; None: not yet

    @property
    def present(self) -> bool:
        return (
            self.reply_percentage is not None
            or self.avg_reply_minutes is not None
            or bool(self.first_follow_hours)
        )


def combine(days: Iterable[DayFigures]) -> WeComSpeed:
    """The window's figures from its days: sums, and chat-weighted means of the two rates."""
    chats = messages = 0
    reply_w = reply_n = time_w = time_n = 0.0
    for d in days:
        chats += d.chat_cnt
        messages += d.message_cnt
        if d.chat_cnt > 0 and d.reply_percentage is not None:
            reply_w += d.reply_percentage * d.chat_cnt
            reply_n += d.chat_cnt
        if d.chat_cnt > 0 and d.avg_reply_time is not None:
            time_w += d.avg_reply_time * d.chat_cnt
            time_n += d.chat_cnt
    return WeComSpeed(
        chats=chats,
        messages=messages,
        reply_percentage=reply_w / reply_n if reply_n else None,
        avg_reply_minutes=time_w / time_n if time_n else None,
    )


def _linear(value: float, full: float, zero: float) -> float:
    if value <= full:
        return 100.0
    if value >= zero:
        return 0.0
    return 100.0 * (zero - value) / (zero - full)


def follow_points(hours: float | None, rules: SpeedRules) -> float:
    return 0.0 if hours is None else _linear(hours, rules.follow_full_hours, rules.follow_zero_hours)


def wecom_points(speed: WeComSpeed, rules: SpeedRules = SpeedRules()) -> float | None:
    parts: list[float] = []
    if speed.reply_percentage is not None:
        parts.append(max(0.0, min(100.0, speed.reply_percentage)))
    if speed.avg_reply_minutes is not None:
        parts.append(_linear(speed.avg_reply_minutes, rules.full_minutes, rules.zero_minutes))
    if speed.first_follow_hours:
        parts.append(
            sum(follow_points(h, rules) for h in speed.first_follow_hours) / len(speed.first_follow_hours)
        )
    return sum(parts) / len(parts) if parts else None


def wecom_detail(speed: WeComSpeed) -> str:
    """Chinese: what the WeCom points came from."""
    bits: list[str] = []
    if speed.reply_percentage is not None:
        bits.append(f"企业微信聊天{speed.chats}个，回复率{speed.reply_percentage:.0f}%")
    if speed.avg_reply_minutes is not None:
        bits.append(f"平均首次回复{speed.avg_reply_minutes:.0f}分钟")
    if speed.first_follow_hours:
        done = [h for h in speed.first_follow_hours if h is not None]
        if done:
            bits.append(f"加好友后首次跟进平均{sum(done) / len(done):.0f}小时")
        if len(done) < len(speed.first_follow_hours):
            bits.append(f"{len(speed.first_follow_hours) - len(done)}个新加好友尚未跟进")
    return "，".join(bits)
