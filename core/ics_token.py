"""The signed token of a rep's private calendar feed (GET /ics/<userid>.ics?token=...).

The signing key is derived from WECOM_SECRET (HMAC-SHA256 with a fixed label), so rotating the app
secret revokes every feed link, and the secret itself never appears in a URL. Each person's feed also has a
generation (storage/web/feeds.py): 「重置日历订阅」 moves it on, and every URL signed for an earlier generation
stops at once, that person's only. Generation 0 (never reset) signs the userid alone, as before generations.
Calendar apps cannot sign in through WeCom, hence a secret in the URL (docs/web-sign-in.md §4).
"""

from __future__ import annotations

import hashlib
import hmac

LABEL = b"wecom-sales-assistant/ics-feed/v1"
TOKEN_CHARS = 32


def derive_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), LABEL, hashlib.sha256).digest()


def sign(key: bytes, userid: str, generation: int = 0) -> str:
    body = userid if generation == 0 else f"{userid}|{generation}"
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:TOKEN_CHARS]


def verify(key: bytes, userid: str, token: str | None, generation: int = 0) -> bool:
    """False for anything but the right token of this generation, whatever its shape (compare_digest refuses
    non-ASCII str)."""
    if not token or not token.isascii():
        return False
    return hmac.compare_digest(sign(key, userid, generation), token)


def feed_path(key: bytes, userid: str, generation: int = 0) -> str:
    return f"/ics/{userid}.ics?token={sign(key, userid, generation)}"
