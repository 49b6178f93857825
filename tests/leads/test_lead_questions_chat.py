"""Questions about leads in the chat, through the emulator only: a lead typed by a rep, its first step missed on
a moved clock, then a manager asks in their own words (nlq/domains) and gets 理解为…, the scope line and a next
action; a supervisor of another team does not see it; a rep asking about their own leads is answered too."""

from __future__ import annotations

from datetime import timedelta

from tests.leads.test_lead_chat import HOT, _harness, _say


def test_managers_ask_about_leads_in_their_own_words(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    start = clock.now()
    _say(h, "rep1", HOT)
    h.clock.set(start + timedelta(minutes=16))  # 首次电话 (15 minutes) missed
    h.tick()

    _say(h, "sup1", "超时未跟进的线索")
    reply = h.texts("sup1")[-1]
    lines = reply.splitlines()
    assert lines[0].startswith("理解为：") and "黄金4小时" in lines[0]
    assert lines[1].startswith("范围：王主管")
    assert "杭州华力机械有限公司（张三（rep1））" in reply and "共1个" in reply
    assert lines[-1].startswith("建议：提醒这1位负责人")

    _say(h, "sup2", "超时未跟进的线索有多少")  # another team: scoped inside the query
    assert "结果：0" in h.texts("sup2")[-1]

    _say(h, "dir", "各等级线索数")
    by_grade = h.texts("dir")[-1]
    assert "A+：1" in by_grade and "B：0" in by_grade and "共5组" in by_grade

    _say(h, "rep1", "我的线索有多少？")
    assert "结果：1" in h.texts("rep1")[-1]
