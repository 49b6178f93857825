"""Sign-in through WeCom for every web page (docs/web-sign-in.md).

    auth = WebAuth.from_settings(settings, services.session_factory, services.clock)
    app.include_router(make_signin_router(auth, services.client))
    ... a page: userid = auth.viewer(request); a Response instead means "not signed in" (return it)

A page asks `WebAuth.viewer(request)`. Without a live session it answers a redirect to WeCom: the silent
web OAuth (snsapi_base) inside the WeCom browser (User-Agent "wxwork"), the QR login in any other browser.
The round trip's `state` is random and also set in a short-lived cookie (path /auth); the callback refuses a
state that does not match it (login CSRF: a code pushed into someone else's browser). The callback exchanges
the code through `cgi-bin/auth/getuserinfo` (one use, five minutes, 40029 otherwise), checks the member is
known and active, opens a session (storage/web/sessions.py: only the SHA-256 of the cookie's random id is
stored) and goes back to the page first asked for — a local path only.

The session only says who; what they may see is recomputed from the current org on every request by the page
(storage.metrics.figures.viewer_for → core.org). A deactivated member's sessions are ended on their next
request (and at once by 停用, handlers/people_admin.py); sign-out (POST /auth/logout) ends this one.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from bot.web import dashboard_html as V
from bot.wecom.client import WeComClient, WeComError
from core.clock import Clock
from core.web_session import (
    CALLBACK_PATH,
    SESSION_COOKIE,
    STATE_COOKIE,
    authorize_url,
    in_wecom,
    new_state,
    qr_login_url,
    safe_next,
    same_state,
)
from storage.models import UserRow
from storage.web import sessions

log = logging.getLogger("assistant.web")

DEFAULT_OAUTH_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
DEFAULT_QR_LOGIN_URL = "https://login.work.weixin.qq.com/wwlogin/sso/login"
STATE_TTL = timedelta(minutes=10)
HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
OLD_LINK_PARAMS = {"t"}  # the bearer token of the links sent before sign-in (never carried on)

BAD_STATE = "登录请求已失效（超过10分钟，或来自另一个浏览器）。请重新打开看板链接。"
CANCELLED = "登录已取消。请重新打开看板链接并在企业微信中确认登录。"
BAD_CODE = "登录凭证无效或已使用。请重新打开看板链接。"
NOT_MEMBER = "仅限本企业成员登录。"
UNKNOWN = "找不到这个账号，或账号已停用。请联系管理员。"
WECOM_DOWN = "企业微信暂时无法确认你的身份，请稍后再试。"
SIGNED_OUT = "你已退出登录。再次打开看板链接即可重新登录。"


@dataclass
class WebAuth:
    session_factory: sessionmaker[Session]
    clock: Clock
    corp_id: str
    agent_id: int
    public_base_url: str
    oauth_url: str = DEFAULT_OAUTH_URL
    qr_url: str = DEFAULT_QR_LOGIN_URL
    ttl: timedelta = timedelta(hours=12)

    @classmethod
    def from_settings(cls, settings: Any, session_factory: sessionmaker[Session], clock: Clock) -> WebAuth:
        return cls(
            session_factory=session_factory,
            clock=clock,
            corp_id=settings.WECOM_CORP_ID,
            agent_id=settings.WECOM_AGENT_ID,
            public_base_url=settings.PUBLIC_BASE_URL,
            oauth_url=settings.WECOM_OAUTH_URL,
            qr_url=settings.WECOM_QR_LOGIN_URL,
            ttl=timedelta(hours=settings.WEB_SESSION_HOURS),
        )

    @property
    def secure(self) -> bool:
        """Cookies are Secure when the public address is https (a plain-http LAN or demo set-up still works)."""
        return self.public_base_url.lower().startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return self.public_base_url.rstrip("/") + CALLBACK_PATH

    # -- a page asks ---------------------------------------------------------------------------------
    def viewer(self, request: Request) -> str | Response:
        """The signed-in member's userid, or the Response to send instead: the way to sign in (no session, an
        expired or ended one), or a refusal (a deactivated or removed member — their sessions end here)."""
        now = self.clock.now()
        with self.session_factory() as s:
            row = sessions.find(s, request.cookies.get(SESSION_COOKIE), now=now)
            if row is None:
                return self.start(request)
            person = s.get(UserRow, row.userid)
            if person is None or not person.active:
                sessions.end_all(s, row.userid, now=now, reason=sessions.DEACTIVATED)
                s.commit()
                return self.refuse(UNKNOWN, clear_session=True)
            return row.userid

    def start(self, request: Request) -> Response:
        """Off to WeCom to sign in, remembering (in the state cookie) where to come back to."""
        state, via = new_state(), "oauth" if in_wecom(request.headers.get("user-agent")) else "qr"
        make = authorize_url if via == "oauth" else qr_login_url
        base = self.oauth_url if via == "oauth" else self.qr_url
        target = make(
            base, corp_id=self.corp_id, agent_id=self.agent_id, redirect_uri=self.redirect_uri, state=state
        )
        response = RedirectResponse(target, status_code=302, headers=HEADERS)
        response.set_cookie(
            STATE_COOKIE,
            _pack(state, via, _return_path(request)),
            max_age=int(STATE_TTL.total_seconds()),
            path="/auth",
            httponly=True,
            secure=self.secure,
            samesite="lax",
        )
        return response

    def refuse(self, message: str, *, clear_session: bool = False, status: int = 403) -> HTMLResponse:
        response = HTMLResponse(V.error_page(message, title="无法登录"), status_code=status, headers=HEADERS)
        response.delete_cookie(STATE_COOKIE, path="/auth", secure=self.secure, httponly=True, samesite="lax")
        if clear_session:
            self._clear_session(response)
        return response

    def _clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=self.secure, httponly=True, samesite="lax")

    def signed_in(self, userid: str, via: str, next_path: str, previous: str | None = None) -> Response:
        """Open a session for a member WeCom vouched for (known and active, else refused). `previous`: the
        session cookie this browser still held, ended now (a new sign-in never keeps an old id alive)."""
        now = self.clock.now()
        with self.session_factory() as s:
            person = s.get(UserRow, userid)
            if person is None or not person.active:
                return self.refuse(UNKNOWN, clear_session=True)
            sessions.end(s, previous, now=now)
            raw = sessions.open_session(s, userid, now=now, ttl=self.ttl, via=via)
            s.commit()
        log.info("web sign-in", extra={"userid": userid, "via": via})
        response = RedirectResponse(next_path, status_code=302, headers=HEADERS)
        response.set_cookie(
            SESSION_COOKIE,
            raw,
            max_age=int(self.ttl.total_seconds()),
            path="/",
            httponly=True,
            secure=self.secure,
            samesite="lax",
        )
        response.delete_cookie(STATE_COOKIE, path="/auth", secure=self.secure, httponly=True, samesite="lax")
        return response

    def sign_out(self, request: Request) -> Response:
        with self.session_factory() as s:
            sessions.end(s, request.cookies.get(SESSION_COOKIE), now=self.clock.now())
            s.commit()
        response = HTMLResponse(V.error_page(SIGNED_OUT, title="已退出登录"), headers=HEADERS)
        self._clear_session(response)
        return response


def _return_path(request: Request) -> str:
    """The page asked for, as a local path, without an old link's bearer token."""
    query = urlencode([(k, v) for k, v in parse_qsl(request.url.query) if k not in OLD_LINK_PARAMS])
    return safe_next(request.url.path + (f"?{query}" if query else ""))


def _pack(state: str, via: str, next_path: str) -> str:
    return f"{state}.{via}.{base64.urlsafe_b64encode(next_path.encode()).decode().rstrip('=')}"


def _unpack(value: str | None) -> tuple[str, str, str] | None:
    if not value or value.count(".") != 2 or len(value) > 2048:
        return None
    state, via, packed = value.split(".")
    try:
        next_path = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if via not in ("oauth", "qr"):
        return None
    return state, via, safe_next(next_path)


def make_signin_router(auth: WebAuth, client: WeComClient) -> APIRouter:
    router = APIRouter()

    @router.get(CALLBACK_PATH)
    async def callback(request: Request, code: str = "", state: str = "") -> Response:
        """WeCom comes back here with ?code=…&state=… (or ?state=… alone when the member declined)."""
        pending = _unpack(request.cookies.get(STATE_COOKIE))
        if pending is None or not same_state(pending[0], state):
            return auth.refuse(BAD_STATE)
        _, via, next_path = pending
        if not code or len(code) > 512:  # WeCom: a code is at most 512 bytes
            return auth.refuse(CANCELLED if not code else BAD_CODE)
        try:
            userid = await client.oauth_userid(code)
        except WeComError as exc:
            if exc.errcode in (40029, 41008):  # invalid (forged, used, expired) or missing code
                return auth.refuse(BAD_CODE)
            log.warning("auth/getuserinfo failed: %s", exc)
            return auth.refuse(WECOM_DOWN, status=503)
        if userid is None:
            return auth.refuse(NOT_MEMBER)
        previous = request.cookies.get(SESSION_COOKIE)
        return await run_in_threadpool(auth.signed_in, userid, via, next_path, previous)

    @router.post("/auth/logout")
    def logout(request: Request) -> Response:
        """Sign-out: a form button on every page (POST; the Lax cookie never rides a cross-site POST)."""
        return auth.sign_out(request)

    return router
