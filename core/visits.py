"""Visit rules: who is nearby, when a visit is complete, and what is still missing.

The credibility rule (the seeds'): a visit is complete with a location, at least 3 valid photos and at
least one demand tag. A photo flagged 疑似重复 or 非现场 does not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.geo import distance_m

MIN_PHOTOS = 3
DEFAULT_TOLERANCE_M = 300.0
MAP_PICK_TRUST = "map"  # a location picked on the map: recorded, but lower trust than GPS
GPS_TRUST = "gps"


@dataclass(frozen=True)
class Place:
    customer_id: str
    name: str
    lat: float
    lng: float


@dataclass(frozen=True)
class Nearby:
    place: Place
    distance_m: float


def tolerance_for(precision_m: float | None, base_m: float = DEFAULT_TOLERANCE_M) -> float:
    """GPS precision widens the circle: a fix good to ±80 m may be 80 m further than it says."""
    return base_m + max(0.0, float(precision_m or 0.0))


def nearby(
    lat: float, lng: float, places: Iterable[Place], *, tolerance_m: float
) -> tuple[list[Nearby], list[Nearby]]:
    """(candidates within tolerance, all places) — both sorted by distance."""
    ranked = sorted(
        (Nearby(p, distance_m(lat, lng, p.lat, p.lng)) for p in places), key=lambda n: n.distance_m
    )
    return [n for n in ranked if n.distance_m <= tolerance_m], ranked


CLEAR_WINNER_M = 50.0  # the nearest store is this close (plus GPS precision) …
CLEAR_WINNER_RATIO = 3.0  # … and the next one at least this many times as far: no need to ask


def clear_winner(candidates: list[Nearby], precision_m: float | None) -> Nearby | None:
    """The one candidate to check in at without asking, or None when the rep must pick."""
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        return None
    first, second = candidates[0], candidates[1]
    if first.distance_m <= CLEAR_WINNER_M + float(
        precision_m or 0
    ) and second.distance_m >= CLEAR_WINNER_RATIO * max(first.distance_m, 1.0):
        return first
    return None


def is_complete(*, has_location: bool, valid_photos: int, tags: Iterable[str]) -> bool:
    return has_location and valid_photos >= MIN_PHOTOS and any(True for _ in tags)


def missing_pieces(*, has_location: bool, valid_photos: int, tags: Iterable[str]) -> list[str]:
    """What a rep still has to send, in Chinese, in the order they usually send it."""
    out = []
    if not has_location:
        out.append("签到位置")
    if valid_photos < MIN_PHOTOS:
        out.append(f"货架照片（还差{MIN_PHOTOS - valid_photos}张）")
    if not any(True for _ in tags):
        out.append("需求标签（如 价格异议、库存不足、新品兴趣、账期协商）")
    return out
