"""Relative-day words against a table of cases, `now` given in Asia/Shanghai (core/date_words.py through the
rep's line), and which lines typed during a visit are questions (core/rep_line.py line_intent)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.clock import SHANGHAI
from core.rep_line import line_intent, parse_line


def sh(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


def at(text: str) -> datetime:
    """'2026-11-30 09:00' Shanghai local → aware UTC."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI).astimezone(UTC)


# the week of Monday 2026-11-23; November has 30 days, December 31
MON, TUE, WED, THU, FRI, SAT, SUN = (sh(2026, 11, 23 + i, 10) for i in range(7))

# (now, line, promise due or None, follow-up or None)
TABLE = [
    # 下周一: Monday of next week, from any weekday (weeks start on Monday, so on a Sunday it is tomorrow)
    *[(day, "下周一再去", None, "2026-11-30 09:00") for day in (MON, TUE, WED, THU, FRI, SAT, SUN)],
    (sh(2026, 11, 22, 21), "下周一再去", None, "2026-11-23 09:00"),  # Sunday evening: tomorrow
    (SUN, "下周一前给方案", "2026-11-30 18:00", None),
    # 下下周三: Wednesday of the week after next
    (MON, "下下周三回访", None, "2026-12-09 09:00"),
    (SUN, "下下周三回访", None, "2026-12-09 09:00"),
    # 这周五 on a Friday is today
    (FRI, "这周五前送样", "2026-11-27 18:00", None),
    (FRI, "这周五回访", None, "2026-11-27 10:00"),  # 09:00 already gone: the follow-up is due now
    (MON, "这周五回访", None, "2026-11-27 09:00"),
    # 本周日: this week's Sunday
    (MON, "本周日回访", None, "2026-11-29 09:00"),
    (sh(2026, 11, 29, 8), "本周日回访", None, "2026-11-29 09:00"),
    # 月底: the last day of this month, on the 31st and on the 30th of a 30-day month
    (sh(2026, 12, 31, 10), "月底前回款", "2026-12-31 18:00", None),
    (sh(2026, 12, 31, 8), "月底回访", None, "2026-12-31 09:00"),
    (sh(2026, 11, 30, 10), "月底前回款", "2026-11-30 18:00", None),
    (sh(2026, 11, 30, 8), "月底回访", None, "2026-11-30 09:00"),
    (sh(2026, 11, 29, 10), "月底回访", None, "2026-11-30 09:00"),
    # 下个月初: the first days of next month
    (MON, "下个月初回访", None, "2026-12-01 09:00"),
    (sh(2026, 12, 31, 10), "下个月初回访", None, "2027-01-01 09:00"),
    (MON, "下个月初前送样", "2026-12-05 18:00", None),
    # 明天 after midnight: the local calendar day + 1 (00:30 Tuesday is Monday 16:30 UTC)
    (sh(2026, 11, 24, 0, 30), "明天送货", "2026-11-25 18:00", None),
    (sh(2026, 11, 24, 0, 30), "明天回访", None, "2026-11-25 09:00"),
    (datetime(2026, 11, 23, 16, 30, tzinfo=UTC), "明天回访", None, "2026-11-25 09:00"),
    (sh(2026, 11, 24, 0, 30), "后天回访", None, "2026-11-26 09:00"),
    (MON, "后天送货", "2026-11-25 18:00", None),
    (MON, "大后天回访", None, "2026-11-26 09:00"),
    (SAT, "大后天回访", None, "2026-12-01 09:00"),
    # N天后
    (MON, "3天后回访", None, "2026-11-26 09:00"),
    (MON, "十天后回访", None, "2026-12-03 09:00"),
    (sh(2026, 11, 30, 10), "2天后送样", "2026-12-02 18:00", None),
    # 周五前 / 下周五之前: a promise due by then (18:00 that day)
    (MON, "周五前送样品", "2026-11-27 18:00", None),
    (FRI, "周五前送样品", "2026-11-27 18:00", None),
    (SAT, "周五前送样品", "2026-12-04 18:00", None),  # this week's Friday is past: next week's
    (MON, "下周五之前送样品", "2026-12-04 18:00", None),
    (SUN, "下周五之前送样品", "2026-12-04 18:00", None),
    # 15天后回访
    (MON, "15天后回访", None, "2026-12-08 09:00"),
    (sh(2026, 11, 23, 23, 50), "15天后回访", None, "2026-12-08 09:00"),
    (sh(2026, 11, 24, 0, 30), "15天后回访", None, "2026-12-09 09:00"),
]


@pytest.mark.parametrize(
    ("now", "line", "promise", "follow_up"),
    TABLE,
    ids=[f"{now:%a%d-%H%M}-{line}" for now, line, _, _ in TABLE],
)
def test_relative_days(now, line, promise, follow_up):
    parsed = parse_line(line, now=now)
    assert [p.due_at for p in parsed.promises] == ([at(promise)] if promise else [])
    assert parsed.follow_up_at == (at(follow_up) if follow_up else None)
    assert parsed.note == ""


INTENTS = [
    ("我这个月拜访完整率多少", "question"),
    ("今天拜访了哪些", "question"),
    ("我的客户里哪些超过30天没跟进", "question"),
    ("本周拜访排名", "question"),
    ("完整率多少？", "question"),
    ("哪些客户缺货？", "unclear"),
    ("下周一再去吗", "unclear"),
    ("新品什么时候到？", "unclear"),
    ("客户问新品什么时候到", "visit"),  # the customer's question, with a tag: a visit fact
    ("价格异议 库存不足，承诺周五前送样品，15天后回访", "visit"),
    ("嫌贵 3天内报价", "visit"),
    ("店里人多，排面乱", "visit"),
    ("客户说没什么问题", "visit"),
    ("下周一再去", "visit"),
]


@pytest.mark.parametrize(("line", "intent"), INTENTS)
def test_line_intent(line, intent):
    assert line_intent(line, parse_line(line, now=MON)) == intent
