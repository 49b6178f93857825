"""The dashboard's contract pages (docs/contracts.md), added to the dashboard's router:

GET /dashboard/contracts       the progress bar of every contract in the viewer's scope: 签约 / 交付 / 财务 / 售后 /
                               回款 green, yellow or red exactly as the chat card (handlers/contracts/progress.py
                               `stages`), each stage a link to its log
GET /dashboard/contracts/log   one contract's log (?no=HT-001, optional &stage=sign|delivery|finance|after_sales|pay)
GET /dashboard/handoffs        the collaboration health report (协作健康月报) of a month (?month=2026-11; default
                               this month so far) for the viewer's scope; its picture at /dashboard/handoffs.png

The scope is the signed-in viewer's (the dashboard's `open_viewer`), applied inside the queries
(storage/contracts/queries.py); a contract outside it is 404, like one that does not exist. Read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from html import escape

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from bot.web import dashboard_html as V
from core.clock import ORG_ZONE
from core.org import Scope
from storage.contracts import queries

HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
COLOURS = {"green": "#2e9e6b", "yellow": "#f08c2e", "red": "#d64545", None: "#c8ced6"}
COLOUR_WORDS = {"green": "已完成", "yellow": "进行中", "red": "受阻或超时", None: "未开始"}
STAGES = ("sign", "delivery", "finance", "after_sales", "pay")
MONTH = r"^(|\d{4}-(0[1-9]|1[0-2]))$"

# (session, request) → (now, the viewer's scope, the viewer's name), or the response that refuses
OpenViewer = Callable[[Session, Request], "tuple[datetime, Scope, str] | Response"]


def _ok(html: str) -> Response:
    return HTMLResponse(html, headers=HEADERS)


def _month(value: str, now: datetime) -> date:
    if value:
        return date(int(value[:4]), int(value[5:7]), 1)
    return now.astimezone(ORG_ZONE).date().replace(day=1)


def _shift(month: date, months: int) -> date:
    n = month.year * 12 + month.month - 1 + months
    return date(n // 12, n % 12 + 1, 1)


def progress_view(rows: list[tuple[str, str, list]]) -> str:  # noqa: ANN001 - (no, customer, StageView list)
    legend = "".join(
        f'<span class="muted" style="margin-right:12px"><span style="display:inline-block;width:12px;height:12px;'
        f'border-radius:3px;background:{COLOURS[k]}"></span> {w}</span>'
        for k, w in COLOUR_WORDS.items()
    )
    head = "".join(f"<th>{escape(w)}</th>" for w in ("签约", "交付", "财务", "售后", "回款"))
    body = []
    for no, customer, stages in rows:
        cells = []
        for v in stages:
            href = f"/dashboard/contracts/log?no={escape(no, quote=True)}&amp;stage={v.key}"
            cells.append(
                f'<td data-stage="{v.key}" data-colour="{v.colour or "none"}">'
                f'<a href="{href}" title="{escape(v.state, quote=True)}" style="display:block;padding:6px 8px;'
                f'border-radius:6px;color:#fff;background:{COLOURS[v.colour]};text-decoration:none">'
                f"{escape(v.state)}</a></td>"
            )
        body.append(
            f'<tr data-contract="{escape(no, quote=True)}"><td><a href="/dashboard/contracts/log?no='
            f'{escape(no, quote=True)}">{escape(no)}</a><div class="muted">{escape(customer)}</div></td>'
            f"{''.join(cells)}</tr>"
        )
    rows_html = "".join(body) or '<tr><td class="muted" colspan="6">没有进行中的合同</td></tr>'
    return (
        f'<section class="card"><p>{legend}</p><table><thead><tr><th>合同</th>{head}</tr></thead>'
        f"<tbody>{rows_html}</tbody></table>"
        '<p class="muted">颜色与对话中的合同进度卡片一致；点一个环节看它的日志。</p></section>'
    )


def add_contract_pages(
    router: APIRouter, session_factory: sessionmaker[Session], open_viewer: OpenViewer
) -> None:
    from handlers.contracts import progress
    from handlers.contracts.health_report import month_label, summary_lines

    @router.get("/dashboard/contracts", response_class=HTMLResponse)
    def contracts(request: Request) -> Response:
        with session_factory() as s:
            try:
                opened = open_viewer(s, request)
                if isinstance(opened, Response):
                    return opened
                now, scope, name = opened
                rows = [
                    (c.contract_no, customer, progress.stages(s, c, now))
                    for c, customer in queries.progress_contracts(s, scope)
                ]
            finally:
                s.rollback()
        return _ok(V.page("合同进度", scope.name or "合同", progress_view(rows), account=name))

    @router.get("/dashboard/contracts/log", response_class=HTMLResponse)
    def contract_log(
        request: Request,
        no: str = Query("", max_length=64),
        stage: str = Query("", pattern="^(|sign|delivery|finance|after_sales|pay)$"),
    ) -> Response:
        with session_factory() as s:
            try:
                opened = open_viewer(s, request)
                if isinstance(opened, Response):
                    return opened
                _, scope, name = opened
                contract = queries.visible_contract(s, scope, no)
                if contract is None:
                    return HTMLResponse(V.error_page("没有找到这份合同，或它不在你可以查看的范围内。"), 404)
                lines = progress.log_lines(s, contract, stage or None)
            finally:
                s.rollback()
        words = dict(zip(STAGES, ("签约", "交付", "财务", "售后", "回款"), strict=True))
        what = f"{words[stage]}环节" if stage else "全部环节"
        items = "".join(f"<li>{escape(x)}</li>" for x in lines) or '<li class="muted">还没有记录</li>'
        body = (
            f'<section class="card"><p><a href="/dashboard/contracts">← 返回合同进度</a></p>'
            f'<ul id="log">{items}</ul></section>'
        )
        return _ok(V.page(f"合同{no}的日志", what, body, account=name))

    @router.get("/dashboard/handoffs", response_class=HTMLResponse)
    def handoffs(request: Request, month: str = Query("", pattern=MONTH)) -> Response:
        with session_factory() as s:
            try:
                opened = open_viewer(s, request)
                if isinstance(opened, Response):
                    return opened
                now, scope, name = opened
                first = _month(month, now)
                health = queries.handoff_health(s, scope, first)
            finally:
                s.rollback()
        prev, nxt = _shift(first, -1), _shift(first, 1)
        nav = (
            f'<p><a href="/dashboard/handoffs?month={prev:%Y-%m}">← {month_label(prev)}</a>　'
            f'<a href="/dashboard/handoffs?month={nxt:%Y-%m}">{month_label(nxt)} →</a></p>'
        )
        img = f'<img alt="协作健康月报" style="width:100%" src="/dashboard/handoffs.png?month={first:%Y-%m}">'
        lines = "".join(f"<p>{escape(x)}</p>" for x in summary_lines(health))
        body = f'<section class="card">{nav}{img}<div id="figures">{lines}</div></section>'
        return _ok(V.page("协作健康月报", f"{scope.name} · {month_label(first)}", body, account=name))

    @router.get("/dashboard/handoffs.png")
    def handoffs_png(request: Request, month: str = Query("", pattern=MONTH)) -> Response:
        from bot.web.handoff_png import render_handoff_png

        with session_factory() as s:
            try:
                opened = open_viewer(s, request)
                if isinstance(opened, Response):
                    return opened
                now, scope, _ = opened
                health = queries.handoff_health(s, scope, _month(month, now))
            finally:
                s.rollback()
        return Response(render_handoff_png(health), media_type="image/png", headers=HEADERS)
