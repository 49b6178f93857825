"""The pure lead rules: the 新线索 line (table), the score card against hand computations, the policy's
overrides and refusals, and the recommendation ranking on a fixture catalogue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.leads.parse import parse_lead
from core.leads.policy import LeadPolicy
from core.leads.recommend import Product, rank
from core.leads.score import LeadFacts, score

PARSE_TABLE = [
    (
        "新线索 杭州华力机械有限公司 王强 设备部经理 13812345678 机械制造 展会 产线停机 能耗超标",
        dict(
            company="杭州华力机械有限公司",
            contact_name="王强",
            contact_role="设备部经理",
            phone="13812345678",
            industry="机械制造",
            source="展会",
            pain_words=["产线停机", "能耗超标"],
            rest=[],
        ),
    ),
    (
        "新线索 公司:宁波海天塑机 联系人:李明 职务:采购总监 电话:0574-88776655 行业:塑料 来源:官网 痛点:能耗超标、交期长",
        dict(
            company="宁波海天塑机",
            contact_name="李明",
            contact_role="采购总监",
            phone="0574-88776655",
            industry="塑料",
            source="官网",
            pain_words=["能耗超标", "交期长"],
        ),
    ),
    (  # a titled name, a spaced mobile, a company named by its industry, labelled counts
        "新线索 华东化工 王总 138 1234 5678 转介绍 信用:a 询价:3次 下载:2",
        dict(
            company="华东化工",
            contact_name="王总",
            contact_role="总经理",
            phone="13812345678",
            industry="化工",
            source="转介绍",
            credit_grade="A",
            inquiries=3,
            downloads=2,
        ),
    ),
    (  # full-width colon after the prefix, 张工 is an engineer, +86
        "新线索：苏州精工，张工，+8615900001111，电子，停机频繁，展会",
        dict(
            company="苏州精工",
            contact_name="张工",
            contact_role="工程师",
            phone="15900001111",
            industry="电子",
            pain_words=["停机频繁"],
        ),
    ),
    (  # 总经理 is a role, not a person called 总
        "新线索 宏达制造 总经理 刘洋",
        dict(company="宏达制造", contact_role="总经理", contact_name="刘洋", phone=None),
    ),
    ("新线索", dict(company=None, phone=None, rest=[])),
    ("新线索 \x00 ？？ ###", dict(company="？？")),
]


@pytest.mark.parametrize("line,expect", PARSE_TABLE)
def test_parse_lead_table(line, expect):
    draft = parse_lead(line)
    for key, value in expect.items():
        assert getattr(draft, key) == value, key


def test_missing_facts_are_named():
    assert parse_lead("新线索 王强").missing == ["电话"]  # a lone word is the company
    assert parse_lead("新线索 13812345678").missing == ["公司"]


SCORE_TABLE = [
    # facts, points per dimension (来源, 信用, 询价, 角色, 行业, 下载), score, grade — each computed by hand
    (LeadFacts("转介绍", "A", 3, "总经理", "机械制造", 2), [20, 15, 20, 20, 15, 10], 100, "A+"),
    # 展会 20×0.8, A 15, 2次 20×0.7, 采购总监: 总监 0.8 beats 采购 0.4, 机械 15, 1次 10×0.5
    (LeadFacts("展会", "A", 2, "采购总监", "机械制造", 1), [16, 15, 14, 16, 15, 5], 81, "A"),
    # 官网 14, unknown credit 15×0.3=4.5, 0, 经理 12, 食品 9, 0 → 39.5 → 40 (half up)
    (LeadFacts("官网", None, 0, "经理", "食品", 0), [14, 4.5, 0, 12, 9, 0], 40, "C"),
    # 陌拜 6, C 6, 1次 8, 工程师 8, 纺织 7.5, 0 → 35.5 → 36
    (LeadFacts("陌拜", "C", 1, "工程师", "纺织", 0), [6, 6, 8, 8, 7.5, 0], 36, "C"),
    # unknown words take the unknown fraction: 某论坛 4, D 0, 5次 20, 实习生 4, 五金 4.5, 9次 10 → 42.5 → 43
    (LeadFacts("某论坛", "D", 5, "实习生", "五金", 9), [4, 0, 20, 4, 4.5, 10], 43, "C"),
    (LeadFacts("老客户介绍", "B", 2, "厂长", "汽车配件", 1), [20, 10.5, 14, 20, 13.5, 5], 83, "A"),
    (LeadFacts("广告", "B", 1, "主管", "化工", 0), [10, 10.5, 8, 12, 12, 0], 53, "B"),
]


@pytest.mark.parametrize("facts,points,total,grade", SCORE_TABLE)
def test_score_equals_the_hand_computation(facts, points, total, grade):
    card = score(facts, LeadPolicy())
    assert [p.points for p in card.parts] == points
    assert (card.score, card.grade) == (total, grade)
    lines = card.explanation().splitlines()
    assert len(lines) == 6 and lines[0].startswith("来源（")


def test_explanation_words():
    card = score(LeadFacts("展会", None, 2, None, "机械制造", 0), LeadPolicy())
    assert card.explanation().splitlines() == [
        "来源（展会）：16/20分",
        "信用等级（未提供）：4.5/15分",
        "询价频次（2次）：14/20分",
        "联系人角色（未提供）：4/20分",
        "行业指数（机械制造）：15/15分",
        "资料下载（0次）：0/10分",
    ]


def test_the_policy_is_configurable_and_refuses_nonsense():
    policy = LeadPolicy.from_config(
        {
            "dimensions": [
                {"key": "source", "label": "来源", "weight": 50, "table": {"展会": 1}},
                {"key": "inquiries", "label": "询价", "weight": 50, "steps": {"1": 0.5, "4": 1}},
            ],
            "grades": {"A+": 90, "A": 60, "B": 30},
            "sequences": {
                "B": [{"step": "first_call", "label": "首呼", "within_minutes": 60, "kinds": ["call"]}]
            },
            "claim_cap": 5,
            "dormant_after_hours": 48,
            "recommend": {"top": 2},
        }
    )
    card = score(LeadFacts("展会", None, 2), policy)
    assert ([p.points for p in card.parts], card.score, card.grade) == ([50, 25], 75, "A")
    assert [s.within for s in policy.sequence("B")] == [timedelta(hours=1)]
    assert [s.step for s in policy.sequence("A+")] == ["first_call", "proposal", "case"]  # defaults kept
    assert (policy.claim_cap, policy.dormant_after, policy.top) == (5, timedelta(hours=48), 2)
    for bad in (
        {"claim_cap_typo": 3},
        {"dimensions": [{"key": "source", "weight": 60, "table": {"展会": 1}}]},  # not 100
        {"effective_kinds": ["call", "sticker"]},  # a sticker never counts
        {"grades": {"A+": 50, "A": 70, "B": 30}},
        {"public_after_days": 2},  # shorter than 72 h
        {"escalate_role": "boss"},
    ):
        with pytest.raises(ValueError):
            LeadPolicy.from_config(bad)


CATALOGUE = [
    Product("P1", "智能变频空压机", industries=("机械", "汽车"), pain_keywords=("能耗", "停机")),
    Product("P2", "设备预测性维护", industries=("机械", "电子"), pain_keywords=("停机", "故障")),
    Product("P3", "食品级润滑油", industries=("食品",), pain_keywords=("磨损",)),
    Product("P4", "余热回收系统", industries=("化工", "机械"), pain_keywords=("能耗", "排放")),
    Product("P5", "能源管理平台", industries=("化工",), pain_keywords=("能耗", "超标", "排放")),
]


def test_recommendations_rank_as_by_hand():
    policy = LeadPolicy()
    got = rank(CATALOGUE, industry="机械制造", pains=["产线停机", "能耗超标"], policy=policy)
    # P1 3+2×2=7; P2 3+2=5; P4 3+2=5; P5 0+2×2=4 (能耗, 超标); P3 0 → top 3, P2 before P4 by id
    assert [(m.product.product_id, m.points, m.pains) for m in got] == [
        ("P1", 7, ("能耗", "停机")),
        ("P2", 5, ("停机",)),
        ("P4", 5, ("能耗",)),
    ]
    got = rank(CATALOGUE, industry="化工", pains=["能耗超标", "排放不达标"], policy=policy)
    # P5 3+2×3=9; P4 3+2×2=7; P1 0+2=2; P2 0; P3 0
    assert [(m.product.product_id, m.points) for m in got] == [("P5", 9), ("P4", 7), ("P1", 2)]
    assert rank(CATALOGUE, industry="纺织", pains=["交期"], policy=policy) == []
    # more matched keywords wins a tie of points
    tie = LeadPolicy(industry_points=2.0, pain_points=2.0)
    got = rank(CATALOGUE, industry="电子", pains=["停机", "能耗"], policy=tie)
    # P1 0+4=4 (2 pains); P2 2+2=4 (1 pain) → P1 first
    assert [(m.product.product_id, m.points) for m in got][:2] == [("P1", 4), ("P2", 4)]
