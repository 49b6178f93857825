"""「看板」/「团队健康度」in chat: the asker's figures (hand-computed on the small org) and a link that carries
no token (whoever opens it signs in through WeCom: tests/bot/test_web_signin.py)."""

from __future__ import annotations

import re

from handlers.context import Ctx, HandlerDeps
from handlers.links import dashboard as dashboard_chat
from handlers.messages import Markdown, Text, TextIn
from handlers.routes import ROUTER
from storage.models import UserRow
from tests.metrics.conftest import SMALL_NOW


def _say(factory, userid: str, deps: HandlerDeps) -> list:  # noqa: ANN001
    with factory() as s:
        ctx = Ctx(
            session=s, now=SMALL_NOW, user=s.get(UserRow, userid), userid=userid, source="test", deps=deps
        )
        dashboard_chat.on_dashboard(ctx, TextIn(sender=userid, at=0, content="看板"))
        return ctx.outgoing


def test_reply_has_the_scope_figures_and_a_plain_link(small_org):
    out = _say(small_org, "rm1", HandlerDeps(public_base_url="https://crm.example.cn/"))
    assert len(out) == 1 and isinstance(out[0][1], Markdown)
    text = out[0][1].content
    assert "范围：吴经理（区域经理）及下属共5人负责的客户" in text
    assert "客户信息鲜度：50.0%（2/4）" in text
    assert "过程数据可信度：50.0%（2/4）（本月拜访完整率）" in text
    assert "商机转化漏斗完整率：33.3%（1/3）（本月进入的商机）" in text
    assert re.search(r"\]\(https://crm\.example\.cn/dashboard\)（经企业微信登录后查看", text)


def test_unconfigured_link_says_so(small_org, monkeypatch):
    out = _say(small_org, "rep4", HandlerDeps())
    assert "范围：钱七（业务员）本人负责的客户" in out[0][1].content
    assert "客户信息鲜度：无数据（0/0）" in out[0][1].content
    assert out[0][1].content.endswith(dashboard_chat.NOT_CONFIGURED)


def test_unknown_user(small_org):
    out = _say(small_org, "ghost", HandlerDeps())
    assert isinstance(out[0][1], Text) and out[0][1].content == dashboard_chat.UNKNOWN


def test_registered_words():
    words = [p for p, fn in ROUTER.text_commands if fn is dashboard_chat.on_dashboard]
    assert words and all(words[0].search(w) for w in ("看板", "团队健康度", "健康度"))
    assert not words[0].search("看板怎么用")
