"""The evidence rules for one visit photo, pure: recycled (near-duplicate) or not taken on site.

`judge_photo` decides from facts the photo gate (bot/photos.py) already extracted:
1. Duplicate — the photo's perceptual hash (64-bit pHash as hex) is within `max_distance` bits
   (Hamming distance, default 6 of 64) of ANY earlier photo's hash, whoever sent it and on whichever
   visit: a recycled photo, re-encoded, resized or lightly cropped, lands close. → 'duplicate'.
   Duplicate wins over off-site: it is the stronger signal.
2. Off site — the camera's capture time (EXIF DateTimeOriginal) is more than `max_age` (default
   12 hours) BEFORE the visit's check-in: the photo was taken earlier and elsewhere. → 'off_site'.
   A capture time after the check-in is fine (the rep checks in, then shoots), as is one up to
   `max_age` before it (a phone whose clock or time zone is off by a few hours).
3. Otherwise 'ok'. A photo without a capture time (screenshots, apps that strip EXIF) is ok, and the
   reason says the time could not be checked, so a manager reading the record knows.

The check of `earlier_hashes` is a linear scan; the caller narrows the candidates (for example by
customer, by period, or with a BK-tree in storage) when history grows large.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from core.clock import SHANGHAI, as_utc

VerdictKind = Literal["ok", "duplicate", "off_site"]
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictKind
    reason_zh: str
    distance: int | None = None  # to the nearest earlier photo, when one was compared
    matched_hash: str | None = None  # the earlier hash a duplicate matched


def _clean(h: str) -> str:
    h = h.strip().lower()
    if not h or not set(h) <= _HEX:
        raise ValueError(f"not a hex hash: {h!r}")
    return h


def hamming_hex(a: str, b: str) -> int:
    """Number of differing bits between two hex strings of the same length."""
    a, b = _clean(a), _clean(b)
    if len(a) != len(b):
        raise ValueError("hashes of different lengths")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def nearest(phash: str, earlier_hashes: Iterable[str]) -> tuple[int, str] | None:
    """(distance, hash) of the closest earlier hash; malformed or other-length hashes are skipped."""
    target = _clean(phash)
    value = int(target, 16)
    best: tuple[int, str] | None = None
    for other in earlier_hashes:
        try:
            o = _clean(other)
        except (ValueError, AttributeError):
            continue
        if len(o) != len(target):
            continue
        d = (value ^ int(o, 16)).bit_count()
        if best is None or d < best[0]:
            best = (d, o)
            if d == 0:
                break
    return best


def _local(at: datetime) -> str:
    return as_utc(at).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.0f}天"
    return f"{hours:.0f}小时"


def judge_photo(
    *,
    phash: str,
    earlier_hashes: Iterable[str],
    taken_at: datetime | None,
    checked_in_at: datetime,
    max_distance: int = 6,
    max_age: timedelta = timedelta(hours=12),
) -> Verdict:
    """The verdict on one photo (see the module docstring). Naive datetimes are Asia/Shanghai."""
    found = nearest(phash, earlier_hashes)
    if found is not None and found[0] <= max_distance:
        near, other = found
        how = "完全相同" if near == 0 else "几乎一样"
        return Verdict("duplicate", f"疑似重复：和以前提交过的一张照片{how}，请拍一张新的", near, other)
    distance = found[0] if found else None
    if taken_at is None:
        return Verdict("ok", "通过（照片没有拍摄时间信息，未核对是否现场拍摄）", distance)
    taken, checked_in = as_utc(taken_at), as_utc(checked_in_at)
    if taken < checked_in - max_age:
        return Verdict(
            "off_site",
            f"非现场：拍摄时间 {_local(taken)} 比签到时间 {_local(checked_in)} 早{_hours(checked_in - taken)}"
            f"（超过{_hours(max_age)}）",
            distance,
        )
    return Verdict("ok", "通过", distance)
