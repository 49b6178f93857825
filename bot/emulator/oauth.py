"""WeCom's sign-in pages, emulated: 网页授权登录 (`open.weixin.qq.com/connect/oauth2/authorize`, silent inside
the WeCom browser) and 扫码登录 (`login.work.weixin.qq.com/wwlogin/sso/login`, a QR code for a desktop browser).
The code they hand back is exchanged by the assistant through `cgi-bin/auth/getuserinfo` (api.py).

Who is "signed in to WeCom" in this browser: the member the emulator's chat page opened a link as
(`GET /emu/as?user=…&next=…` sets the `emu_member` cookie, then goes to the link), as the WeCom app is
signed in as one member. Without that cookie the authorize page asks which member to be. The QR page shows a
ticket and waits; a member "scans" it from the chat page (`POST /emu/qr/scan`), and the page, polling
`/wwlogin/sso/poll`, goes on to redirect_uri?code=…&state=….
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from bot.emulator.payloads import ApiError
from bot.emulator.state import FakeWeCom, with_code

MEMBER_COOKIE = "emu_member"
AUTHORIZE_PATH = "/connect/oauth2/authorize"
QR_LOGIN_PATH = "/wwlogin/sso/login"
_STYLE = (
    "body{font:15px/1.6 system-ui,sans-serif;margin:0;background:#f5f6f7;color:#222}"
    "main{max-width:420px;margin:48px auto;background:#fff;border-radius:12px;padding:24px}"
    "h1{font-size:18px}a.member{display:block;padding:10px;border:1px solid #ddd;border-radius:8px;"
    "margin:8px 0;text-decoration:none;color:#1a5fb4}.qr{font:700 22px monospace;letter-spacing:2px;"
    "padding:24px;border:2px dashed #999;text-align:center}.err{color:#b00020}"
)


class ScanIn(BaseModel):
    user: str
    ticket: str | None = None


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>",
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _refused(message: str) -> HTMLResponse:
    return _page("无法登录", f'<p class="err" id="error">{html.escape(message)}</p>', status=400)


def create_oauth_router(state: FakeWeCom, members: list[dict[str, Any]] | None = None) -> APIRouter:
    """Mount at the app root. `members`: [{"userid", "name"}] offered when no member is chosen yet."""
    router = APIRouter()
    names = {m["userid"]: m.get("name", m["userid"]) for m in (members or [])}

    def known(userid: str) -> bool:
        if not userid:
            return False
        if names:
            return userid in names
        return state.users is None or userid in state.users

    @router.get("/emu/as")
    def open_as(user: str, next: str = "/") -> Response:  # noqa: A002 - the emulator's own parameter
        """Open `next` as member `user` (the chat page's links): this browser is now that member in WeCom."""
        if not known(user):
            raise HTTPException(400, "未知成员")
        if not next.startswith(("http://", "https://", "/")) or next.startswith("//"):
            raise HTTPException(400, "链接无效")
        response = RedirectResponse(next, status_code=302)
        response.set_cookie(MEMBER_COOKIE, user, httponly=True, samesite="lax")
        return response

    @router.get(AUTHORIZE_PATH)
    def authorize(request: Request) -> Response:
        q = request.query_params
        refused = state.check_oauth_request(q.get("appid", ""), q.get("redirect_uri", ""))
        if refused is None and q.get("response_type") != "code":
            refused = "response_type 参数错误"
        if refused is None and q.get("scope") not in ("snsapi_base", "snsapi_privateinfo"):
            refused = "scope 参数错误"
        if refused:
            return _refused(refused)
        member = request.cookies.get(MEMBER_COOKIE, "")
        if not known(member):
            here = str(request.url)
            links = "".join(
                f'<a class="member" href="/emu/as?{urlencode({"user": u, "next": here})}">'
                f"{html.escape(n)}（{html.escape(u)}）</a>"
                for u, n in names.items()
            )
            return _page("模拟企业微信：选择登录成员", f"<p>以哪位成员的身份打开？</p>{links}")
        try:
            code = state.issue_oauth_code(member)
        except ApiError:
            return _refused("该成员不在应用的可见范围内")
        return RedirectResponse(with_code(q["redirect_uri"], code, q.get("state", "")), status_code=302)

    @router.get(QR_LOGIN_PATH)
    def qr_login(request: Request) -> Response:
        q = request.query_params
        refused = state.check_oauth_request(
            q.get("appid", ""), q.get("redirect_uri", ""), q.get("agentid", "")
        )
        if refused is None and q.get("login_type", "CorpApp") != "CorpApp":
            refused = "login_type 参数错误"
        if refused:
            return _refused(refused)
        ticket = state.open_qr(q["redirect_uri"], q.get("state", ""))
        script = (
            "<script>(function(){var t="
            + json.dumps(ticket)
            + ";function p(){fetch('/wwlogin/sso/poll?ticket='"
            "+encodeURIComponent(t)).then(function(r){return r.json()}).then(function(s){"
            "if(s.status==='confirmed'){location.href=s.redirect}else if(s.status==='expired'){"
            "document.getElementById('hint').textContent='二维码已过期，请刷新页面'}else{setTimeout(p,1000)}})"
            ".catch(function(){setTimeout(p,2000)})}p()})();</script>"
        )
        body = (
            f'<p>请使用企业微信扫描二维码登录</p><div class="qr" id="qr" data-ticket="{html.escape(ticket)}">'
            f'{html.escape(ticket[:8])}</div><p id="hint">在模拟器聊天页选择成员后点击「扫码登录」。</p>{script}'
        )
        return _page("企业微信扫码登录", body)

    @router.get("/wwlogin/sso/poll")
    def qr_poll(ticket: str = "") -> JSONResponse:
        return JSONResponse(state.qr_status(ticket), headers={"Cache-Control": "no-store"})

    @router.post("/emu/qr/scan")
    def qr_scan(cmd: ScanIn) -> dict[str, Any]:
        if not known(cmd.user):
            raise HTTPException(400, "未知成员")
        try:
            ticket = state.scan_qr(cmd.user, cmd.ticket)
        except LookupError:
            return {"ok": False, "error": "没有等待扫码的登录二维码（请先在电脑浏览器打开看板链接）"}
        except ApiError:
            return {"ok": False, "error": "该成员不在应用的可见范围内，扫码时会提示无权限"}
        return {"ok": True, "ticket": ticket}

    return router
