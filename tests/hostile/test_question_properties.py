"""Any text a manager may type — random unicode, or a jumble of the words questions are made of — gets an
answer or a refusal from nlq.answer.ask: never an exception, never a row outside the asker's scope, never a
write (row counts unchanged, on both databases)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlq.answer import ask
from tests.hostile.planted import TEAM_A_OWNERS, row_counts, seed

TOKENS = [
    "上月",
    "本月",
    "本周",
    "上周",
    "今年",
    "去年",
    "最近30天",
    "3个月",
    "昨天",
    "今天",
    "11月",
    "2026年",
    "Q3",
    "流失",
    "客户",
    "名单",
    "数",
    "多少",
    "拜访",
    "完整率",
    "销售额",
    "下单",
    "NPS",
    ">",
    "<",
    "=",
    "70",
    "大于",
    "小于",
    "超过",
    "72小时",
    "未跟进",
    "没跟进",
    "按",
    "各",
    "大区",
    "城市",
    "渠道",
    "业务员",
    "排名",
    "前10",
    "最多",
    "华东",
    "西南",
    "上海",
    "张伟",
    "王强",
    "郑主管",
    "价格异议",
    "逾期",
    "回款",
    "合同",
    "工单",
    "超时",
    "商机",
    "漏斗",
    "但",
    "和",
    "或",
    "不",
    "的",
    "？",
    "，",
    " ",
    "%",
    "SELECT",
    "DROP",
    "'",
    ";",
    "--",
    "\\",
    "\u200b",
    "\ufeff",
    "ｎｐｓ",
    "𝟕𝟎",
    "٧٠",
    "七十",
    "零",
    "两",
    "百",
    "千万",
    "1e309",
    "-1",
    "0",
    "99999999999999999999",
]
QUESTION = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(TOKENS), max_size=14).map("".join),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)), max_size=10).map("".join),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(question=QUESTION, asker=st.sampled_from(["sup_a", "rm_east", "rep_a1", "director"]))
def test_any_question_is_answered_or_refused_without_writing(session_factory, clock, question, asker):
    with session_factory() as s:
        if not row_counts(s)["users"]:
            seed(s, clock.now())
        before = row_counts(s)
        answer = ask(s, asker=asker, question=question, now=clock.now())
        assert row_counts(s) == before
    assert answer["kind"] in ("list", "groups", "figure", "refusal")
    assert answer["question"] == question and answer["asked_by"] == asker
    if answer["kind"] == "refusal":
        assert answer["reason"] and not answer["rows"]
    if asker != "director":
        visible = {asker} if asker.startswith("rep") else TEAM_A_OWNERS | {asker}
        assert all(r.get("owner", asker) in visible for r in answer["rows"]), answer["rows"]
