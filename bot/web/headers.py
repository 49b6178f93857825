"""Security headers on every response of the assistant's ordinary routes (dashboard, lists, ICS, health…).

A plain ASGI middleware (cheaper than BaseHTTPMiddleware): it adds each header the response does not set
itself. The callback's fast lane (bot/app.py: POST /wecom/callback) does not pass through it, by design.

The policy fits the dashboard (bot/web/dashboard_html.py): one self-contained page, CSS in a <style> element
and style attributes, charts as inline SVG, no script, no font file, a GET form to itself and the sign-out
POST (bot/web/signin.py); the report pages (目标穿透, 协作健康月报) show their picture from the same origin
(/dashboard/targets.png, /dashboard/handoffs.png). So nothing may load but inline style and the assistant's
own images (a browser refused them before img-src 'self' was added: the pictures showed as broken); no one may frame the page
(no clickjacking of 退出登录); a page's address with its filters never leaves as a Referer.
"""

from __future__ import annotations

from typing import Any

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
