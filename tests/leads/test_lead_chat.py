"""Leads through the emulator only: a lead typed in chat is scored, graded and explained; an A+ lead's golden
sequence fires on time and escalates a missed step to the supervisor exactly once; a lead with only a sticker
for 72 hours goes to the nurture pool; a rep at the cap cannot claim; recommendations; the lead board."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.leads.models import LeadRow, LeadSopStepRow
from storage.models import AuditRow, OrgConfigRow, TimerRow
from tests.sop.conftest import seed_org
from tests.support.db import import_texts
from tests.support.harness import Harness

HOT = "新线索 杭州华力机械有限公司 王强 总经理 13812345678 机械制造 转介绍 信用:A 询价:3 下载:2 产线停机 能耗超标"
PRODUCTS = """产品编号,产品名称,品类,适用行业,痛点关键词,卖点,竞品对比
P1,智能变频空压机,空压机,机械;汽车,能耗;停机,节能30%,比进口品牌便宜20%
P2,设备预测性维护,软件,机械;电子,停机;故障,提前72小时预警,
P3,食品级润滑油,耗材,食品,磨损,食品级认证,
P4,余热回收系统,节能,化工;机械,能耗;排放,回收60%余热,
"""


def _harness(db_url, tmp_path, redis_server, clock) -> Harness:
    h = Harness(db_url, tmp_path, redis_server, clock)
    seed_org(h.session_factory)
    return h


def _say(h: Harness, user: str, text: str) -> None:
    h.peer.text(user, text)
    h.tick()


def _at(h: Harness, start, **delta) -> None:
    h.clock.set(start + timedelta(**delta))
    h.tick()


def test_a_typed_lead_is_scored_graded_and_explained(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    _say(h, "rep1", HOT)
    card = h.texts("rep1")[0].splitlines()
    assert card[0] == "**新线索已登记：杭州华力机械有限公司（A+类，100分）**"
    # the explanation is the hand computation: 20 + 15 + 20 + 20 + 15 + 10 = 100
    assert card[1:8] == [
        "评分明细：",
        "来源（转介绍）：20/20分",
        "信用等级（A）：15/15分",
        "询价频次（3次）：20/20分",
        "联系人角色（总经理）：20/20分",
        "行业指数（机械制造）：15/15分",
        "资料下载（2次）：10/10分",
    ]
    assert card[8:] == [
        "> 联系人：王强 总经理",
        "> 电话：13812345678",
        "> 行业：机械制造",
        "> 来源：转介绍",
        "> 痛点：产线停机、能耗超标",
        "> 下一步：首次电话（15分钟内）",
    ]
    with h.session_factory() as s:
        lead = s.scalars(select(LeadRow)).one()
        assert (lead.owner_userid, lead.grade, lead.score) == ("rep1", "A+", 100.0)
        assert (
            s.scalars(
                select(AuditRow.action).where(AuditRow.entity == "lead", AuditRow.entity_id == lead.lead_id)
            ).all()[0]
            == "create"
        )

    _say(h, "rep1", "新线索 王总")  # no company: the format in words
    assert h.texts("rep1")[-1].startswith("请这样登记线索")


def test_golden_four_hours_on_time_late_and_escalated_once(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    import_texts(h.session_factory, tmp_path / "imp", clock.now(), {"products.csv": PRODUCTS})
    start = clock.now()
    _say(h, "rep1", HOT)
    countdown = h.cards("rep1")[0]
    assert countdown["main_title"]["title"] == "A+类线索 首次电话：杭州华力机械有限公司"
    assert {f["keyname"]: f["value"] for f in countdown["horizontal_content_list"]}["剩余"] == "15分钟"
    _at(h, start, minutes=14)
    assert h.texts("sup1") == []
    _at(h, start, minutes=15, seconds=1)  # 首次电话 missed: the owner told, the supervisor alerted
    assert h.texts("rep1")[-1].startswith("已超时：杭州华力机械有限公司 的「首次电话」")
    assert [t.splitlines()[0].strip("*") for t in h.texts("sup1")] == [
        "下属线索超时：杭州华力机械有限公司 的「首次电话」"
    ]
    for minutes in (16, 30, 60):
        _at(h, start, minutes=minutes)
    assert len(h.texts("sup1")) == 1  # exactly once

    _say(h, "rep1", "跟进线索 华力 电话 聊了空压机需求")  # the matching interaction marks the late step done
    said = h.texts("rep1")
    assert said[-3] == "已记录杭州华力机械有限公司的电话（有效跟进）。"
    proposal = h.cards("rep1")[-1]
    assert proposal["main_title"]["title"] == "A+类线索 定制方案：杭州华力机械有限公司"
    # the proposal step comes with the three best products, each with its pitch
    assert said[-1].splitlines()[:3] == [
        "**推荐产品：杭州华力机械有限公司**",
        "1. **智能变频空压机**（7分：行业机械，痛点能耗、停机）",
        "   卖点：节能30%",
    ]
    assert [line.split("（")[0] for line in said[-1].splitlines() if line[:1].isdigit()] == [
        "1. **智能变频空压机**",
        "2. **设备预测性维护**",
        "3. **余热回收系统**",
    ]
    # 定制方案 done from the card's button before its 2 h
    h.peer.card_click("rep1", proposal["task_id"], proposal["button_list"][0]["key"])
    h.tick()
    said = h.texts("rep1")
    done = said.index("已记录：杭州华力机械有限公司 的「定制方案」已完成。")
    # the confirmation first, then the next step's card
    assert said[done + 1].startswith("A+类线索 同类客户案例：杭州华力机械有限公司"), said[done:]
    assert h.cards("rep1")[-1]["main_title"]["title"] == "A+类线索 同类客户案例：杭州华力机械有限公司"
    _at(h, start, hours=2, minutes=1)
    assert len(h.texts("sup1")) == 1  # the proposal was on time
    _at(h, start, hours=24, minutes=1)  # 同类客户案例 missed
    assert [t.splitlines()[0].strip("*") for t in h.texts("sup1")][
        -1
    ] == "下属线索超时：杭州华力机械有限公司 的「同类客户案例」"
    _at(h, start, hours=30)
    assert len([t for t in h.texts("sup1") if "下属线索超时" in t]) == 2
    # the daily brief (due 08:3x, fired by the 09:01 tick, when 同类客户案例 is already past its time)
    brief = next(t for t in h.texts("sup1") if "今日简报" in t)
    assert "线索A+/A/B/C：1/0/0/0" in brief and "超时线索SOP步骤：1个" in brief
    with h.session_factory() as s:
        steps = s.execute(
            select(LeadSopStepRow.step, LeadSopStepRow.status, LeadSopStepRow.escalated_to).order_by(
                LeadSopStepRow.seq
            )
        ).all()
        assert steps == [("first_call", "done", "sup1"), ("proposal", "done", None), ("case", "late", "sup1")]
        fired = s.scalars(
            select(TimerRow.outcome).where(TimerRow.kind == "lead_step").order_by(TimerRow.due_at)
        ).all()
        assert fired == ["late, escalated to sup1", "step done", "late, escalated to sup1"]


def test_only_a_sticker_in_72_hours_goes_to_the_nurture_pool(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    start = clock.now()
    _say(h, "rep1", "新线索 宁波小五金厂 李明 采购 13900001111 五金 陌拜")
    _say(h, "rep2", "新线索 温州电子科技有限公司 陈工 13900002222 电子 展会")
    _at(h, start, hours=10)
    _say(h, "rep1", "跟进线索 宁波小五金厂 表情")
    assert h.texts("rep1")[-1] == "已记录宁波小五金厂的表情（不算有效跟进：群发消息和表情不计入）。"
    _say(h, "rep2", "跟进线索 温州电子 微信 发了资料")
    _at(h, start, hours=71)
    assert not any("培育池" in t for t in h.texts("rep1"))
    _at(h, start, hours=73, minutes=10)  # the hourly scan after 72 h
    assert any(
        t.startswith("1条线索超过72小时没有有效互动（群发、表情不算），已转入培育池：宁波小五金厂")
        for t in h.texts("rep1")
    )
    assert not any("培育池" in t for t in h.texts("rep2"))
    nurture = [t.splitlines()[0] for t in h.texts("rep1") if t.startswith("**培育：")]
    assert nurture == ["**培育：宁波小五金厂 —— 行业案例**"]
    with h.session_factory() as s:
        lead = s.scalars(select(LeadRow).where(LeadRow.company == "宁波小五金厂")).one()
        assert (lead.pool, lead.owner_userid) == ("nurture", "rep1")
        moves = [
            a
            for a in s.scalars(
                select(AuditRow).where(AuditRow.entity == "lead", AuditRow.entity_id == lead.lead_id)
            )
            if a.before and a.before.get("pool") != a.after.get("pool")
        ]
        assert [(m.before["pool"], m.after["pool"], m.actor) for m in moves] == [
            (None, "nurture", "system:leads")
        ]
    _say(h, "rep1", "跟进线索 宁波小五金厂 电话 约了下周")  # an effective interaction brings it back
    assert "线索已从培育池回到你的跟进中。" in h.texts("rep1")[-1]


def test_claim_from_the_pool_within_the_cap_and_refused_over_it(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        s.add(OrgConfigRow(key="leads", value={"claim_cap": 2}))
        s.commit()
    leads = "线索编号,公司名称,行业,来源\nP01,公海甲机械,机械,展会\nP02,公海乙化工,化工,官网\nP03,公海丙食品,食品,广告\n"
    import_texts(h.session_factory, tmp_path / "imp", clock.now(), {"leads.csv": leads})
    _say(h, "rep1", "新线索 自有丁公司 13900003333")
    _say(h, "rep1", "线索公海")
    pool_card = h.cards("rep1")[-1]
    assert pool_card["main_title"]["title"] == "线索公海：3条可领取"
    assert pool_card["main_title"]["desc"] == "你已持有1条，上限2条。点按钮领取，或发「领取线索 编号」。"
    h.peer.card_click(
        "rep1", pool_card["task_id"], pool_card["button_list"][0]["key"]
    )  # the best: 公海甲机械
    h.tick()
    assert any(
        t.startswith("已领取：公海甲机械") and "你现在持有2条（上限2条）" in t for t in h.texts("rep1")
    )
    _say(h, "rep1", "领取线索 P02")
    assert (
        h.texts("rep1")[-1]
        == "领取失败：你已持有2条在跟进的线索，达到每人上限2条。请先转化、输单或跟进已有线索后再领取。"
    )
    _say(h, "rep2", "领取线索 公海甲机械")
    assert h.texts("rep2")[-1].startswith("没有找到") or "已不在公海" in h.texts("rep2")[-1]
    with h.session_factory() as s:
        assert s.get(LeadRow, "P01").owner_userid == "rep1" and s.get(LeadRow, "P02").pool == "public"


def test_recommendations_and_the_lead_board(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    import_texts(h.session_factory, tmp_path / "imp", clock.now(), {"products.csv": PRODUCTS})
    _say(h, "rep1", "推荐产品 机械制造 产线停机 能耗超标")
    text = h.texts("rep1")[-1]
    # P1: 3 + 2×2 = 7; P2: 3 + 2 = 5; P4: 3 + 2 = 5 (P2 before P4 by id); P3: 0
    assert text.splitlines()[0] == "**推荐产品：机械制造 产线停机 能耗超标**"
    assert [line.split("（")[0] for line in text.splitlines() if line[:1].isdigit()] == [
        "1. **智能变频空压机**",
        "2. **设备预测性维护**",
        "3. **余热回收系统**",
    ]
    assert "（7分：行业机械，痛点能耗、停机）" in text
    _say(h, "rep1", HOT)
    _say(h, "rep1", "新线索 宁波小五金厂 李明 采购 13900001111 五金 陌拜")
    _say(h, "rep2", "新线索 温州电子科技有限公司 陈工 13900002222 电子 展会")
    _say(h, "rep2", "线索输单 温州电子 价格太高")
    h.clock.set(clock.now() + timedelta(minutes=20))
    _say(h, "sup1", "线索看板")
    board = next(t for t in h.texts("sup1") if t.startswith("**线索看板"))
    assert "等级分布（在跟进）：A+ 1，A 0，B 0，C 1，未评级 0" in board
    assert "输单原因TOP3：价格太高（1）" in board
    assert "超时未完成的SOP步骤：1个：杭州华力机械有限公司 首次电话" in board
    assert "- 张三：A+ 1 / A 0 / B 0 / C 1" in board
    _say(h, "rep2", "线索看板")
    mine = next(t for t in h.texts("rep2") if t.startswith("**线索看板"))
    assert "等级分布（在跟进）：A+ 0，A 0，B 0，C 0，未评级 0" in mine and "超时未完成的SOP步骤：0个" in mine


def test_a_changed_score_card_regrades_every_lead_at_the_next_scan(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    start = clock.now()
    _say(h, "rep1", "新线索 宁波小五金厂 李明 采购 13900001111 五金 展会")
    with h.session_factory() as s:
        lead = s.scalars(select(LeadRow)).one()
        # 展会 16 + 信用 4.5 + 0 + 采购 8 + 五金 4.5 + 0 = 33 → C
        assert (lead.score, lead.grade) == (33.0, "C")
        s.add(
            OrgConfigRow(
                key="leads",
                value={
                    "dimensions": [
                        {"key": "source", "label": "来源", "weight": 60, "table": {"展会": 1}},
                        {"key": "contact_role", "label": "联系人角色", "weight": 40, "table": {"采购": 0.5}},
                    ]
                },
            )
        )
        s.commit()
    _at(h, start, hours=1, minutes=10)  # the next scan: 60 + 20 = 80 → A
    with h.session_factory() as s:
        lead = s.scalars(select(LeadRow)).one()
        assert (lead.score, lead.grade) == (80.0, "A")
        assert list(lead.score_detail.values()) == [60.0, 20.0]
        audit = s.scalars(
            select(AuditRow)
            .where(AuditRow.entity == "lead", AuditRow.entity_id == lead.lead_id)
            .order_by(AuditRow.id)
        ).all()[-1]
        assert (audit.before, audit.after) == ({"score": 33.0, "grade": "C"}, {"score": 80, "grade": "A"})
    _say(h, "rep1", "线索看板")
    assert "等级分布（在跟进）：A+ 0，A 1，B 0，C 0" in h.texts("rep1")[-1]


def test_hostile_lead_text_is_shown_literally(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    import_texts(h.session_factory, tmp_path / "imp", clock.now(), {"products.csv": PRODUCTS})
    evil = "恶意[点我](javascript:x)机械有限公司"
    _say(h, "rep1", f"新线索 {evil} 13900004444 机械 展会 停机<a href='x'>")
    _say(h, "rep1", f"推荐产品 {evil}")
    _say(h, "rep1", "线索输单 恶意 **价格**[x](http://evil.example)")
    _say(h, "sup1", "线索看板")
    for who in ("rep1", "sup1"):
        for m in h.replies(who):
            md, text = m.get("markdown", {}).get("content", ""), m.get("text", {}).get("content", "")
            assert "](javascript:x)" not in md and "](http://evil.example)" not in md  # no link in markdown
            assert "<a href" not in md + text  # no link tag in a text message either
    assert any("输单原因TOP3" in t and "价格" in t for t in h.texts("sup1"))
    assert any(t.startswith("**推荐产品：恶意") for t in h.texts("rep1"))


def test_the_dashboard_shows_the_lead_board(db_url, tmp_path, redis_server, clock):
    from tests.support.web import sign_in

    h = _harness(db_url, tmp_path, redis_server, clock)
    _say(h, "rep1", HOT)
    _say(h, "rep3", "新线索 温州电子科技有限公司 陈工 13900002222 电子 展会")
    _say(h, "rep1", "新线索 宁波小五金厂 李明 采购 13900001111 五金 陌拜")
    _say(h, "rep1", "线索输单 宁波小五金厂 选了竞品")
    h.clock.set(clock.now() + timedelta(minutes=30))
    sign_in(h, "sup1")
    page = h.http.get("/dashboard").text
    section = page[page.index('data-section="leads"') :]
    assert "等级分布（在跟进）：A+ 1 · A 0 · B 0 · C 0 · 未评级 0" in section  # rep3's lead is not sup1's
    assert "输单原因TOP3：选了竞品（1）" in section and "超时未完成的SOP步骤：1个" in section
    assert "杭州华力机械有限公司" in section


def test_an_added_external_contact_becomes_a_lead_once(db_url, tmp_path, redis_server, clock):
    from tests.support.db import TEST_CORP

    h = _harness(db_url, tmp_path, redis_server, clock)

    def added(external: str) -> None:
        plain = (
            f"<xml><ToUserName><![CDATA[{TEST_CORP['WECOM_CORP_ID']}]]></ToUserName>"
            "<FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{int(h.clock.now().timestamp())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
            f"<UserID><![CDATA[rep1]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>"
            "<State><![CDATA[expo]]></State><WelcomeCode><![CDATA[WC]]></WelcomeCode></xml>"
        )
        params, body = h.peer.seal(plain)
        assert h.peer.raw_post(params, body).status_code == 200
        h.tick()

    added("wmAbCdEf123456")
    said = h.texts("rep1")
    assert said[0].startswith("**新线索已登记：企业微信客户123456（C类，")
    assert (
        said[1]
        == "你新加的企业微信客户已登记为线索 WXwmAbCdEf123456。请补充：跟进线索 WXwmAbCdEf123456 补充 公司:… 联系人:… 职务:… 行业:…"
    )
    h.clock.advance(seconds=5)
    added("wmAbCdEf123456")  # added again: still one lead
    assert len(h.texts("rep1")) == 2
    _say(
        h, "rep1", "跟进线索 WXwmAbCdEf123456 补充 公司:杭州华力机械有限公司 职务:总经理 行业:机械制造 信用:A"
    )
    said = h.texts("rep1")
    assert said[-2].startswith("已更新杭州华力机械有限公司：公司、职务、行业、信用。")
    assert said[-1].startswith(
        "B类线索 首次联系：杭州华力机械有限公司"
    )  # re-graded C → B: B's sequence starts
    with h.session_factory() as s:
        lead = s.get(LeadRow, "WXwmAbCdEf123456")
        assert (lead.owner_userid, lead.source, lead.company) == (
            "rep1",
            "企业微信加好友（expo）",
            "杭州华力机械有限公司",
        )


def test_a_broken_lead_setting_falls_back_to_the_defaults_in_chat(db_url, tmp_path, redis_server, clock):
    h = _harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        s.add(OrgConfigRow(key="leads", value={"claim_cap_typo": 1}))
        s.commit()
    _say(h, "rep1", HOT)  # scored with the documented defaults, its sequence started
    assert h.texts("rep1")[0].startswith("**新线索已登记：杭州华力机械有限公司（A+类，100分）**")
    assert h.cards("rep1")[0]["main_title"]["title"] == "A+类线索 首次电话：杭州华力机械有限公司"
