"""Output is data, not markup: names, tags and notes that an import or a user supplied reach WeCom markdown,
WeCom text, template cards, the dashboard's HTML and the ICS feed as literal text — never as a link, bold, a
quote, a coloured font, a mention, an HTML element or an extra calendar property.

An organisation is imported (tests/support/db.py import_texts) with hostile people and customer names; the
assistant runs its own clock through the WeCom emulator (stale alerts and their digest, the 08:30 brief, the
Monday brief) and answers in chat (看板, 我的待办, a question); then every stored outbox payload is read back."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.web.ics import render_calendar
from bot.wecom.render import digest_line, render_send
from core import ics_token
from core.clock import SHANGHAI
from core.markup import escape_md, escape_text
from handlers.messages import Card, Markdown, Text
from storage.models import OutboxRow, PromiseRow
from tests.support.db import import_texts
from tests.support.harness import Harness
from tests.support.web import sign_in

LINK = "[点我](http://evil.example)"
HOSTILE = [
    LINK,
    '<a href="http://evil.example">链接</a>',
    "**加粗**超市",
    "`代码`便利店",
    "> 引用商行",
    '<font color="warning">红字</font>',
    "@all 全体",
    "# 标题餐馆",
    "<script>alert(1)</script>",
    '"><img src=x>',
    "味源\r\nATTACH:http://evil.example",
]
N_CUSTOMERS = 24  # more stale alerts than one person may get in a minute: the rest is merged into a digest

USERS = f"""userid,name,role,manager_userid,region,city
director,周总,sales_director,,,
rm_east,吴经理,regional_manager,director,华东,
sup01,"{LINK}",supervisor,rm_east,华东,上海
rep01,"**张伟** @all",rep,sup01,华东,上海
"""


def _csv(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def customers_csv() -> str:
    rows = ["customer_id,name,owner_userid,created_on,region"]
    for i in range(N_CUSTOMERS):
        rows.append(f"C{i:03d},{_csv(HOSTILE[i % len(HOSTILE)] + str(i))},rep01,2026-01-05,华东")
    return "\n".join(rows) + "\n"


MD_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\n]*)\)")


def assert_plain_markdown(content: str, base_url: str) -> None:
    """Only our own links and marks: every [text](url) is ours, no font tag, code span, mention or raw tag."""
    for text, url in MD_LINK.findall(content):
        assert text in ("查看详情", "打开完整看板") and url.startswith(base_url), (text, url, content)
    for bad in (
        "<font",
        "<a ",
        "<script",
        "`",
        "@all",
        "**加粗",
        "**张伟",
        "\n> 引用",
        "\n# 标题",
        "\nATTACH",
    ):
        assert bad not in content, (bad, content)
    for line in content.splitlines():
        assert not line.startswith("#"), content
        assert not line.startswith(">") or re.match(r"> [^＞]*：", line), content  # a card field of ours


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock, monkeypatch):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    import_texts(
        harness.session_factory,
        tmp_path / "import",
        clock.now(),
        {"users.csv": USERS, "customers.csv": customers_csv()},
    )
    return harness


def _payloads(h) -> list[dict]:
    with h.session_factory() as s:
        return [
            json.loads(p) for p in s.scalars(select(OutboxRow.payload).where(OutboxRow.payload.is_not(None)))
        ]


def test_hostile_names_never_become_markup_in_what_wecom_is_sent(h, clock):
    base = h.services.settings.PUBLIC_BASE_URL
    with h.session_factory() as s:
        s.add_all(
            [
                PromiseRow(
                    kind="promise",
                    visit_id=None,
                    customer_id="C000",
                    rep_userid="rep01",
                    text=f"送样品{LINK}**急**",
                    due_at=clock.now() + timedelta(days=1),
                    status="open",
                    created_at=clock.now(),
                )
            ]
        )
        s.commit()
    h.tick()  # books the recurring timers: the hourly stale scan (:07), the 08:30 brief, the Monday brief
    clock.set(clock.now() + timedelta(minutes=8))
    h.tick()  # 24 stale-customer cards for rep01: 14 sent as cards, the rest merged into one markdown digest
    h.peer.text("rep01", "我的待办")
    h.peer.text("sup01", "看板")
    h.peer.text("sup01", "超过72小时未跟进的客户")
    h.tick()
    clock.set(datetime(2026, 11, 24, 8, 50, tzinfo=SHANGHAI))
    h.tick()  # Tuesday's 08:30 brief to sup01: a card without buttons, sent as markdown
    clock.set(datetime(2026, 11, 30, 8, 41, tzinfo=SHANGHAI))
    h.tick()
    clock.set(datetime(2026, 11, 30, 8, 43, tzinfo=SHANGHAI))
    h.tick()  # the Monday brief: a picture and markdown

    sent = _payloads(h)
    markdown = [m["markdown"]["content"] for m in sent if m["msgtype"] == "markdown"]
    titles = {c.splitlines()[0] for c in markdown}
    for title in ("**你有", "**我的待办", "**团队健康度**", "**今日简报", "**上周经营简报"):
        assert any(t.startswith(title) for t in titles), (title, titles)
    for content in markdown:
        assert_plain_markdown(content, base)
    shown = "\n".join(markdown)
    assert "［点我］(http://evil.example)" in shown  # the data is there, as text
    assert "＊＊加粗＊＊超市" in shown and "｀代码｀便利店" in shown and "＜font color=" in shown
    assert (
        "范围：［点我］(http://evil.example)（销售主管）" in shown
    )  # the supervisor's own name, in 看板 and the brief

    cards = [m["template_card"] for m in sent if m["msgtype"] == "template_card"]
    assert len(cards) >= 14
    for card in cards:  # plain-text fields: the name verbatim, and the only URL one of ours
        assert card.get("card_action", {}).get("url", base).startswith(base)
        assert "url" not in json.dumps(card.get("horizontal_content_list", []))
    assert any(card["main_title"]["title"] == f"客户还没有跟进过：{LINK}0" for card in cards)

    texts = [m["text"]["content"] for m in sent if m["msgtype"] == "text"]
    answer = next(t for t in texts if t.startswith("理解为："))
    assert "<a " not in answer and "＜a href=" in answer  # a text message reads <a> tags: none is left


def test_the_dashboard_pages_escape_every_name(h, clock):
    sign_in(h, "sup01")
    for path in ("/dashboard", "/dashboard/customers", "/dashboard/visits"):
        page = h.http.get(path)
        assert page.status_code == 200, path
        html = page.text
        assert (
            "<script" not in html
            and "<img" not in html
            and "<font" not in html
            and '<a href="http://evil' not in html
        )
        assert (
            "[点我](http://evil.example)" in html
        )  # the supervisor's name in the subtitle and the team filter
    customers = h.http.get("/dashboard/customers").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in customers and "&quot;&gt;&lt;img src=x&gt;" in customers
    assert "&lt;a href=&quot;http://evil.example&quot;&gt;" in customers


def test_the_ics_feed_keeps_every_value_on_its_own_line(h, clock):
    with h.session_factory() as s:
        for i, cid in enumerate(("C010", "C008", "C001")):  # 味源\r\nATTACH…, <script>, <a href…>
            s.add(
                PromiseRow(
                    kind="promise",
                    visit_id=None,
                    customer_id=cid,
                    rep_userid="rep01",
                    text="送样品;\rATTACH:http://evil.example,\\N" + "\u2028END:VEVENT" * (i == 0),
                    due_at=clock.now() + timedelta(days=i + 1),
                    status="open",
                    created_at=clock.now(),
                )
            )
        s.commit()
    key = ics_token.derive_key(h.services.settings.WECOM_SECRET)
    feed = h.http.get(ics_token.feed_path(key, "rep01"))
    assert feed.status_code == 200
    body = feed.text
    lines = body.replace("\r\n ", "").split("\r\n")
    assert lines[-1] == "" and lines.count("BEGIN:VEVENT") == 3 and lines.count("END:VEVENT") == 3
    for line in lines[:-1]:  # every content line is one of ours: NAME[;params]:value
        assert re.match(
            r"^(BEGIN|END|VERSION|PRODID|CALSCALE|METHOD|X-WR-CALNAME|X-WR-TIMEZONE|UID|DTSTAMP|"
            r"DTSTART|DTEND|SUMMARY|DESCRIPTION|ACTION|TRIGGER):",
            line,
        ), line
        assert "\r" not in line and "\n" not in line and "\u2028" not in line
    assert "味源\\nATTACH:http://evil.example10" in body.replace("\r\n ", "")
    assert "送样品\\;\\nATTACH:http://evil.example\\,\\\\N" in body.replace("\r\n ", "")


def test_escape_md_neutralises_each_construct_wecom_markdown_reads():
    assert escape_md(LINK) == "［点我］(http://evil.example)"
    assert escape_md("![图](http://evil.example/x.png)") == "!［图］(http://evil.example/x.png)"
    assert escape_md("**粗** `码` > 引 # 题 @all") == "＊＊粗＊＊ ｀码｀ ＞ 引 ＃ 题 ＠all"
    assert escape_md('<font color="info">绿</font>') == '＜font color="info"＞绿＜/font＞'
    assert escape_md("味源超市（旗舰店）") == "味源超市（旗舰店）" and escape_md(None) == ""
    assert (
        escape_text('看<a href="http://evil.example">这里</a>，价格<5元')
        == '看＜a href="http://evil.example">这里＜/a>，价格<5元'
    )
    assert escape_text("< A HREF='x'>") == "＜ A HREF='x'>"


def test_the_renderer_escapes_card_notices_digest_lines_and_texts_but_not_our_markdown():
    notice = render_send(
        Card(
            title=f"拜访完成：{LINK}",
            description="**备注** @all\n# 二行",
            fields=[("客户", '<font color="warning">x</font>')],
            url="https://crm.example.com/d",
        ),
        touser="u",
        agent_id=1,
        outbox_id=1,
    )["markdown"]["content"]
    assert notice.splitlines() == [
        "**拜访完成：［点我］(http://evil.example)**",
        "＊＊备注＊＊ ＠all",
        "＃ 二行",
        '> 客户：＜font color="warning"＞x＜/font＞',
        "[查看详情](https://crm.example.com/d)",
    ]
    ours = render_send(
        Markdown(content="**标题**\n[打开完整看板](https://crm.example.com/d)"),
        touser="u",
        agent_id=1,
        outbox_id=2,
    )["markdown"]["content"]
    assert (
        ours == "**标题**\n[打开完整看板](https://crm.example.com/d)"
    )  # markdown is the handler's, escaped there
    text = render_send(
        Text(content=f'<a href="http://evil.example">{LINK}</a>'), touser="u", agent_id=1, outbox_id=3
    )
    assert text["text"]["content"] == f'＜a href="http://evil.example">{LINK}＜/a>'  # text reads no markdown
    card = render_send(Card(title=LINK, buttons=[]), touser="u", agent_id=1, outbox_id=4)
    assert card["msgtype"] == "markdown"
    assert (
        digest_line(Card(title=LINK, description="**x**").to_dict())
        == "- ［点我］(http://evil.example)：＊＊x＊＊"
    )
    assert digest_line(Text(content=f"{LINK}\n第二行").to_dict()) == "- ［点我］(http://evil.example)"
    assert digest_line(Markdown(content="**团队健康度**\n范围").to_dict()) == "- 团队健康度"


def test_calendar_text_values_are_escaped_per_rfc_5545():
    at = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)
    from bot.web.ics import FeedEvent

    body = render_calendar(
        [FeedEvent(uid="u1", start=at, end=at, summary="a,b;c\\d\re\nf\r\ng\x00h\x1b", description="x")],
        name="日历",
        now=at,
    )
    assert "SUMMARY:a\\,b\\;c\\\\d\\ne\\nf\\ng" + "h\r\n" in body
