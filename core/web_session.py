"""Sign-in to the web pages through WeCom (docs/web-sign-in.md): the pure half.

A session id is 32 random bytes (urlsafe base64) in an HttpOnly cookie; the database keeps only its SHA-256
(a leaked table opens nothing). The `state` of an OAuth round trip is random too and travels twice — in the
authorize URL and in a short-lived cookie of our own — so a code posted to the callback from another browser
(login CSRF) meets no matching cookie. Where to go after sign-in is a path of this site, never a full URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode, urlsplit

SESSION_COOKIE = "wa_session"
STATE_COOKIE = "wa_login"
CALLBACK_PATH = "/auth/wecom/callback"
MAX_COOKIE_CHARS = 128  # far above what new_secret writes (43 characters)
MAX_NEXT_CHARS = 1024
WECOM_BROWSER_MARK = "wxwork"  # WeCom's in-app browser puts wxwork/<version> in its User-Agent


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_state() -> str:
    """An OAuth state: WeCom accepts a-zA-Z0-9 only, at most 128 bytes."""
    return secrets.token_hex(24)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def well_formed(value: str | None) -> bool:
    """A cookie value that new_secret could have written (anything else is refused before any lookup)."""
    return value is not None and 0 < len(value) <= MAX_COOKIE_CHARS and value.isascii()


def same_state(expected: str | None, given: str | None) -> bool:
    if expected is None or given is None or not well_formed(expected) or not well_formed(given):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def safe_next(path: str | None, default: str = "/dashboard") -> str:
    """A local path to return to: "/x?y" only; a scheme, a host, "//host" or a backslash gives the default."""
    if not path or len(path) > MAX_NEXT_CHARS or not path.isascii() or not path.startswith("/"):
        return default
    if path.startswith("//") or "\\" in path or any(ord(c) < 0x20 for c in path):
        return default
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return default
    return path


def in_wecom(user_agent: str | None) -> bool:
    return WECOM_BROWSER_MARK in (user_agent or "").lower()


def authorize_url(base: str, *, corp_id: str, agent_id: int, redirect_uri: str, state: str) -> str:
    """WeCom's web OAuth inside its own browser: silent (snsapi_base), answers with ?code=…&state=…."""
    query = urlencode(
        {
            "appid": corp_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
            "agentid": agent_id,
        }
    )
    return f"{base}?{query}#wechat_redirect"


def qr_login_url(base: str, *, corp_id: str, agent_id: int, redirect_uri: str, state: str) -> str:
    """WeCom's QR login for a desktop browser (the member scans with the WeCom app and confirms)."""
    query = urlencode(
        {
            "login_type": "CorpApp",
            "appid": corp_id,
            "agentid": agent_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "lang": "zh",
        }
    )
    return f"{base}?{query}"
