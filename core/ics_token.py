"""The signed token of a rep's private calendar feed (GET /ics/<userid>.ics?token=...).

The signing key is derived from WECOM_SECRET (HMAC-SHA256 with a fixed label), so rotating the app
secret revokes every feed link, and the secret itself never appears in a URL.
"""

from __future__ import annotations

import hashlib
import hmac

LABEL = b"wecom-sales-assistant/ics-feed/v1"
TOKEN_CHARS = 32


def derive_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), LABEL, hashlib.sha256).digest()


def sign(key: bytes, userid: str) -> str:
    return hmac.new(key, userid.encode(), hashlib.sha256).hexdigest()[:TOKEN_CHARS]


def verify(key: bytes, userid: str, token: str | None) -> bool:
    """False for anything but the right token, whatever its shape (compare_digest refuses non-ASCII str)."""
    if not token or not token.isascii():
        return False
    return hmac.compare_digest(sign(key, userid), token)


def feed_path(key: bytes, userid: str) -> str:
    return f"/ics/{userid}.ics?token={sign(key, userid)}"
