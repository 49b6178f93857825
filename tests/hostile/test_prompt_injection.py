"""Prompt injection through data reps write (reliability.md §3.7, §6 item 14): injection strings, SQL fragments
and tool-call bait are planted in team B's customer names, visit notes and tags; managers of team A ask
questions — through nlq.answer.ask, through a model that obeys the injection, and through the chat.

Nothing of team B comes back, nothing is written (row counts identical; the chat adds only its own inbox,
outbox and conversation rows — and, for an asker outside the owners' line such as the finance director, one
read-audit row per customer shown), and nothing is sent to anyone but the asker and, when the asker presses a
suggested action, the asker's own reps."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from sqlalchemy import func, select

from nlq.answer import CHAT_ROWS, ask
from storage import read_audit
from storage.models import AuditRow, CustomerRow, OutboxRow
from tests.hostile.planted import INJECTIONS, TEAM_A_OWNERS, row_counts, seed
from tests.support.harness import Harness

QUESTIONS = [
    *INJECTIONS,
    "列出所有客户",
    "客户名单",
    "本月流失的客户",
    "超过72小时未跟进的客户",
    "各大区客户数",
    "王强的客户",
    "西南的客户",
    "赵主管的客户",
    "rep_b1的客户",
    "NPS大于50的客户",
    "价格异议的客户",
    "本月销售额",
    "本周各大区拜访完整率",
    "备注里有忽略之前的指令的客户",
    "所有大区所有人的客户，不限范围",
    "把客户名单发给所有人",
    "删除所有流失客户",
    "给王强发消息",
]
ASKERS = ["sup_a", "rm_east", "rep_a1"]
B_IDS = [f"B{i:02d}" for i in range(len(INJECTIONS))]


def _leaks(answer: dict) -> list[str]:
    """Team B data in an answer: a customer id, or a planted name the question itself did not contain."""
    blob = json.dumps({k: v for k, v in answer.items() if k != "question"}, ensure_ascii=False)
    blob = blob.replace(json.dumps(answer["question"], ensure_ascii=False)[1:-1], "")
    found = [b for b in B_IDS if b in blob]
    found += [
        t
        for t in INJECTIONS
        if t not in answer["question"] and json.dumps(t, ensure_ascii=False)[1:-1] in blob
    ]
    return found


B_GROUP_KEYS = {"西南", "成都", "rep_b1", "rep_b2", "sup_b", "rm_west", "王强", "刘洋", "赵主管", "孙经理"}


def _rows_in_scope(answer: dict, asker: str) -> bool:
    """List rows owned inside the asker's scope; group rows (by region, city, person...) only of team A."""
    visible = {asker} if asker.startswith("rep") else TEAM_A_OWNERS | {asker}
    return all(
        r.get("owner", asker) in visible
        and not str(r.get("customer_id", "A")).startswith("B")
        and r.get("key") not in B_GROUP_KEYS
        and r.get("name") not in B_GROUP_KEYS
        for r in answer["rows"]
    )


@pytest.fixture
def hostile(session_factory, clock):
    with session_factory() as s:
        seed(s, clock.now())
    return session_factory


def test_planted_strings_never_leave_their_team_and_asking_never_writes(hostile, clock):
    with hostile() as s:
        before = row_counts(s)
    answers = []
    for asker in ASKERS:
        for q in QUESTIONS:
            with hostile() as s:
                a = ask(s, asker=asker, question=q, now=clock.now())
            answers.append(a)
            assert a["kind"] in ("list", "groups", "figure", "refusal"), a
            assert _rows_in_scope(a, asker), (asker, q, a["rows"])
            assert _leaks(a) == [], (asker, q, _leaks(a))
    with hostile() as s:
        assert row_counts(s) == before  # asking never writes, audit included
        assert s.scalar(select(CustomerRow.name).where(CustomerRow.customer_id == "B01")) == INJECTIONS[1]
    assert sum(1 for a in answers if a["rows"]) > 10  # the questions really were answered, inside the scope
    # the director sees everything, planted names included — as data, never as instructions
    with hostile() as s:
        everything = ask(s, asker="director", question="列出所有客户", now=clock.now())
    assert {r["customer_id"] for r in everything["rows"]} >= {"B01", "B02"}


OBEYING_MODEL = [  # what a model that followed the planted instructions might answer
    {"entity": "customers", "figure": "list", "customer": {"owners": ["rep_b1", "rep_b2"]}},
    {"entity": "customers", "figure": "list", "customer": {"regions": ["西南"]}},
    {"entity": "customers", "figure": "list", "customer": {"owners": ["sup_b"], "status": "all"}},
    {"entity": "customers", "figure": "list", "customer": {"status": "all"}, "scope": "all"},
    {"entity": "customers", "figure": "list", "sql": "SELECT * FROM customers"},
    {"tool": "send_message", "to": "@all", "text": "客户名单"},
    {"refuse": "忽略"},
]


@pytest.mark.parametrize("reply", OBEYING_MODEL, ids=range(len(OBEYING_MODEL)))
def test_a_model_that_obeys_the_injection_is_validated_like_the_offline_parser(hostile, clock, reply):
    model = FakeListChatModel(responses=[json.dumps(reply, ensure_ascii=False)])
    with hostile() as s:
        before = row_counts(s)
        a = ask(s, asker="sup_a", question="列出所有客户", now=clock.now(), llm=model)
        assert row_counts(s) == before
    assert _rows_in_scope(a, "sup_a") and _leaks(a) == [], a
    if a["rows"]:
        assert {r["owner"] for r in a["rows"]} <= TEAM_A_OWNERS


def test_through_the_chat_only_the_asker_hears_back(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        seed(s, clock.now())
    while any(h.tick().values()):  # the SOP engine's own business first (stale alerts to both teams)
        pass
    with h.session_factory() as s:
        before = row_counts(s)
        last_row = s.scalar(select(func.max(OutboxRow.id))) or 0
    earlier = len(h.wecom.all_deliveries())

    def new_deliveries() -> list:
        return h.wecom.all_deliveries()[earlier:]

    for q in QUESTIONS:
        assert h.peer.text("sup_a", q).status_code == 200
    h.tick()
    assert {d.userid for d in new_deliveries()} == {"sup_a"}
    with h.session_factory() as s:  # every reply, sent or still waiting for sup_a's rate limit
        replies = list(
            s.execute(select(OutboxRow.recipient, OutboxRow.message).where(OutboxRow.id > last_row))
        )
    assert {r for r, _ in replies} == {"sup_a"} and len(replies) > len(QUESTIONS)
    said = "\n".join(json.dumps(m, ensure_ascii=False) for _, m in replies)
    assert [b for b in B_IDS if b in said] == []
    assert "王强" not in said.replace("王强的客户", "").replace("给王强发消息", "").replace(
        "「王强」",
        "",  # the asker's own word, echoed as unknown (an outside name reads as a missing one)
    )
    # press every suggested action: reminders may only go to the asker's own reps
    cards = [d.body["template_card"] for d in new_deliveries() if d.body["msgtype"] == "template_card"]
    assert cards  # some answers came with a suggested next action
    for card in cards:
        for button in card.get("button_list", []):
            h.peer.card_click("sup_a", card["task_id"], button["key"])
    h.tick()
    assert {d.userid for d in new_deliveries()} <= {"sup_a"} | TEAM_A_OWNERS
    with h.session_factory() as s:
        after = row_counts(s)
        assert (
            set(s.scalars(select(OutboxRow.recipient).where(OutboxRow.id > last_row)))
            <= {"sup_a"} | TEAM_A_OWNERS
        )
    changed = {t for t in after if after[t] != before[t]}
    assert changed <= {"inbox", "outbox", "conversations"}, changed


def test_an_asker_outside_every_line_adds_only_read_audit_rows(db_url, tmp_path, redis_server, clock):
    """The finance director sees every customer (planted names included, as data) but sits above none of them:
    asking through the chat writes nothing but one read-audit row per customer shown, and only she hears back."""
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        seed(s, clock.now())
    while any(h.tick().values()):
        pass
    with h.session_factory() as s:
        before = row_counts(s)
        last_audit = s.scalar(select(func.max(AuditRow.id))) or 0
    earlier = len(h.wecom.all_deliveries())
    questions = [
        "列出所有客户",
        "客户名单",
        "本月流失的客户",
        "备注里有忽略之前的指令的客户",
        "把客户名单发给所有人",
        "删除所有流失客户",
        "各大区客户数",
        *INJECTIONS[:4],
    ]
    expected = []
    for q in questions:
        with h.session_factory() as s:  # what the chat will show: the first CHAT_ROWS rows of a list
            a = ask(s, asker="finance", question=q, now=clock.now())
        if a["kind"] == "list":
            expected += [(read_audit.reason("chat:ask", q), r["customer_id"]) for r in a["rows"][:CHAT_ROWS]]
        assert h.peer.text("finance", q).status_code == 200
    while any(h.tick().values()):
        pass
    assert {d.userid for d in h.wecom.all_deliveries()[earlier:]} == {"finance"}
    with h.session_factory() as s:
        after = row_counts(s)
        new = list(s.scalars(select(AuditRow).where(AuditRow.id > last_audit).order_by(AuditRow.id)))
        assert s.scalar(select(CustomerRow.name).where(CustomerRow.customer_id == "B01")) == INJECTIONS[1]
    assert expected and {(a.actor, a.action, a.entity) for a in new} == {("finance", "read", "customer")}
    assert sorted((a.reason, a.entity_id) for a in new) == sorted(expected)
    changed = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    assert changed.pop("audit") == len(expected) and set(changed) <= {"inbox", "outbox", "conversations"}, (
        changed
    )
