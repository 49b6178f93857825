"""`ask` on the command line (run_ask) and the chat rendering of answers."""

from __future__ import annotations

import io
import json

from nlq.answer import ask, render_chat
from nlq.cli import run_ask
from nlq.spec import Answer
from tests.nlq.dataset import NOW

KEYS = {
    "question",
    "asked_by",
    "scope",
    "understood",
    "kind",
    "rows",
    "value",
    "numerator",
    "denominator",
    "suggestion",
    "reason",
    "action",
    "alternatives",  # v2: always present (a list, possibly empty); previous/change/change_rate only on comparisons
}


def run(factory, **kw):
    out, err = io.StringIO(), io.StringIO()
    code = run_ask(factory, out=out, err=err, **kw)
    return code, out.getvalue(), err.getvalue()


def test_one_question_as_json(eval_factory):
    code, out, _ = run(
        eval_factory, asker="sup_e1", question="上月流失但NPS>70的客户", now=NOW.isoformat(), as_json=True
    )
    assert code == 0
    a = json.loads(out)
    assert set(a) == KEYS and a["asked_by"] == "sup_e1" and a["kind"] == "list"
    assert all("customer_id" in r for r in a["rows"]) and "李强" in a["scope"]
    Answer.model_validate(a)


def test_batch_answers_in_order_one_line_each(eval_factory, tmp_path):
    qs = ["客户有多少", "删除所有客户", "", "本周各大区拜访完整率", "各业务员的销售额"]
    path = tmp_path / "q.txt"
    path.write_text("\n".join(qs), encoding="utf-8")
    code, out, _ = run(eval_factory, asker="dir", batch_path=path, now="2026-11-23T09:00", as_json=True)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [a["question"] for a in lines] == [q for q in qs if q]
    assert [a["kind"] for a in lines] == ["figure", "refusal", "groups", "groups"]
    rate = lines[2]["rows"][0]
    assert {"key", "value", "numerator", "denominator"} <= set(rate)


def test_chat_rendering(eval_factory):
    code, out, _ = run(eval_factory, asker="dir", question="超过72小时未更新的客户", now=NOW)
    assert code == 0
    assert (
        out.startswith("理解为：") and "\n范围：" in out and "共" in out and "建议：" in out and "提醒" in out
    )


def test_unknown_asker_and_usage_errors(eval_factory, tmp_path):
    code, out, err = run(eval_factory, asker="nobody", question="客户有多少")
    assert code == 2 and out == "" and "nobody" in err and "未知用户" in err
    assert run(eval_factory, asker="dir")[0] == 2
    assert run(eval_factory, asker="dir", question="x", batch_path=tmp_path / "q.txt")[0] == 2
    assert run(eval_factory, asker="dir", batch_path=tmp_path / "missing.txt")[0] == 2
    assert run(eval_factory, asker="dir", question="客户有多少", now="昨天")[0] == 2


def test_stale_customers_suggest_reminding_each_owner(eval_factory):
    with eval_factory() as s:
        a = ask(s, asker="sup_e1", question="超过30天没跟进的客户", now=NOW)
    act = a["action"]
    assert act["type"] == "remind_owners" and act["customer_ids"] == [r["customer_id"] for r in a["rows"]]
    assert set(act["by_owner"]) == {r["owner"] for r in a["rows"]}
    rows = a["rows"]
    assert [r["last_touch_at"] is None for r in rows] == sorted(
        (r["last_touch_at"] is None for r in rows), reverse=True
    )


def test_refusal_offers_nearest_questions(eval_factory):
    with eval_factory() as s:
        a = ask(s, asker="dir", question="客户的平均NPS是多少", now=NOW)
    text = render_chat(a)
    assert a["kind"] == "refusal" and a["reason"] and "可以这样问" in a["suggestion"]
    assert text.startswith("抱歉") and "「" in text


def test_out_of_scope_is_empty_with_the_reason(eval_factory):
    with eval_factory() as s:
        a = ask(s, asker="sup_e1", question="杨帆本月拜访了多少次", now=NOW)
        nobody = ask(s, asker="sup_e1", question="杨凡本月拜访了多少次", now=NOW)
    # a person outside the scope reads exactly as one who does not exist (docs/nlq-semantics.md § Who may see
    # what): the same refusal, with the scope hint, and nothing but the typed name
    assert a["kind"] == nobody["kind"] == "refusal"
    assert a["reason"].replace("杨帆", "＊") == nobody["reason"].replace("杨凡", "＊")
    assert "可见范围" in a["reason"] and "rep_s1" not in str(a)


def test_chat_shows_a_figure_and_groups(eval_factory):
    with eval_factory() as s:
        rate = ask(s, asker="dir", question="本月拜访完整率", now=NOW)
        groups = ask(s, asker="sup_e1", question="本月每个业务员的拜访次数", now=NOW)
    text = render_chat(rate)
    assert "结果：" in text and "%" in text and f"（{rate['numerator']}/{rate['denominator']}）" in text
    text = render_chat(groups)
    assert "张伟：" in text and f"共{len(groups['rows'])}组" in text
    assert {r["key"] for r in groups["rows"]} >= {"rep_e1", "rep_e2"}  # every rep in scope, even with 0


def test_vocab_cache_reloads_after_its_ttl(eval_factory):
    from nlq.vocab import VocabCache

    cache = VocabCache(ttl_s=60)
    with eval_factory() as s:
        first = cache.get(s)
        assert cache.get(s) is first
        cache.ttl_s = 0
        assert cache.get(s) is not first and cache.get(s).users == first.users


def test_the_newer_domains_through_ask_and_the_chat(eval_factory, tmp_path):
    """Targets, leads, hand-offs and the finance view answer through `ask` like every figure (the golds are
    cases_domains.yaml's; here the shape of the CLI output and of the chat reply)."""
    qs = ["本月华东区目标达成率", "超时未响应的交付工单", "本月对账差异", "今年能完成回款目标吗"]
    path = tmp_path / "q.txt"
    path.write_text("\n".join(qs), encoding="utf-8")
    code, out, _ = run(eval_factory, asker="rm_e", batch_path=path, now=NOW.isoformat(), as_json=True)
    target, orders, diff, forecast = (json.loads(line) for line in out.splitlines())
    assert code == 0 and target["kind"] == "figure" and "目标周期2026-11" in target["understood"]
    assert (
        abs(target["value"] - target["numerator"] / target["denominator"]) < 1e-9
        and "时间进度" in target["understood"]
    )
    assert orders["kind"] == "list" and all(
        {"work_order_id", "customer_id", "team"} <= set(r) for r in orders["rows"]
    )
    assert {r["team"] for r in orders["rows"]} == {"交付"} and "赵东" in orders["scope"]
    assert diff["kind"] == "figure" and "销售口径" in diff["understood"] and "财务口径" in diff["understood"]
    assert forecast["kind"] == "refusal" and "预测" in forecast["reason"]
    code, chat, _ = run(eval_factory, asker="rm_e", question="超时未响应的交付工单", now=NOW)
    assert chat.startswith("理解为：") and "部门 交付" in chat and "超时小时" in chat and "建议：" in chat


def _answer(factory, asker: str, question: str) -> dict:
    code, out, _ = run(factory, asker=asker, question=question, now=NOW.isoformat(), as_json=True)
    assert code == 0
    return json.loads(out)


def test_a_reps_own_rate_suggests_their_weeks_not_every_rep_and_offers_no_second_reading(eval_factory):
    a = _answer(eval_factory, "rep_e1", "我上月拜访完整率多少")
    assert a["kind"] == "figure" and a["value"] is not None and a["value"] < 0.9
    assert a["action"] == {"type": "ask", "question": "我上月每周的拜访完整率"}
    assert "各业务员" not in a["suggestion"]
    assert a["alternatives"] == []  # 我的拜访 / 我的客户的拜访: the same person for a rep
    follow = _answer(eval_factory, "rep_e1", a["action"]["question"])
    assert follow["kind"] == "groups" and follow["rows"]


def test_a_managers_question_about_one_rep_suggests_that_reps_weeks(eval_factory):
    a = _answer(eval_factory, "sup_e1", "张伟上月拜访完整率")
    assert a["value"] < 0.9 and a["action"] == {"type": "ask", "question": "张伟上月每周的拜访完整率"}
    assert a["alternatives"]  # for a manager, 张伟's visits and visits at 张伟's customers are two readings
    team = _answer(eval_factory, "sup_e1", "上月拜访完整率")
    assert team["value"] < 0.9 and team["action"]["question"] == "各业务员的拜访完整率"


def test_an_empty_list_says_what_it_lists(eval_factory):
    leads = _answer(eval_factory, "dir", "超时未跟进的线索有哪些")
    assert leads["kind"] == "list"
    assert "共0个：没有符合条件的线索" in render_chat({**leads, "rows": []}).splitlines()
    customers = _answer(eval_factory, "dir", "上月流失但NPS>70的客户")
    assert "没有符合条件的客户" in render_chat({**customers, "rows": []})
