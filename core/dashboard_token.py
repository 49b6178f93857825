"""The signed token of a dashboard link: who may open it, and until when.

`<payload>.<mac>` where payload is base64url("userid|expiry epoch seconds") and mac the first 32 hex
characters of HMAC-SHA256 over the payload. The key is derived from WECOM_SECRET with a label of its own
(rotating the app secret revokes every link; the secret never appears in a URL). Filters in the link
(period, team, region) are not signed: the viewer's scope is re-derived from the userid on every request,
so editing them can only narrow what the viewer already may see.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

LABEL = b"wecom-sales-assistant/dashboard/v1"
MAC_CHARS = 32
MAX_TOKEN_CHARS = 512  # far above any token make_token writes (a userid is at most 64 characters)
DEFAULT_TTL = timedelta(days=7)


class TokenError(Exception):
    """reason: "expired" or "invalid" (tampered, malformed, or signed with another key)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def derive_key(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, LABEL, hashlib.sha256).digest()


def _mac(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode("ascii"), hashlib.sha256).hexdigest()[:MAC_CHARS]


def make_token(key: bytes, userid: str, *, expires_at: datetime) -> str:
    body = f"{userid}|{int(expires_at.timestamp())}".encode()
    payload = base64.urlsafe_b64encode(body).decode("ascii").rstrip("=")
    return f"{payload}.{_mac(key, payload)}"


def read_token(key: bytes, token: str | None, *, now: datetime) -> tuple[str, datetime]:
    """(userid, expiry) of a valid token. Raises TokenError("invalid") or TokenError("expired"), whatever the
    string holds (non-ASCII, any length, broken base64): never another exception."""
    if not token or not token.isascii() or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenError("invalid")
    payload, mac = token.split(".")
    if not hmac.compare_digest(_mac(key, payload), mac):
        raise TokenError("invalid")
    try:
        body = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        userid, exp = body.rsplit("|", 1)
        expires_at = datetime.fromtimestamp(int(exp), tz=now.tzinfo)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise TokenError("invalid") from None
    if not userid:
        raise TokenError("invalid")
    if now >= expires_at:
        raise TokenError("expired")
    return userid, expires_at
