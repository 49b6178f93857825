"""Visit rules: who is nearby, how a check-in location is graded, when a visit is complete, what is missing.

The credibility rule: a visit is complete with a location AT the store, at least 3 valid photos and at
least one demand tag. A photo flagged 疑似重复 or 非现场 does not count.

A check-in location is graded once, when it is recorded (`grade_location`), and the grade is stored on the
visit with the distance and the circle it was judged against:
- gps_within: a GPS fix within the tolerance, widened by the fix's reported precision;
- map_within: a location picked on the map (or sent from WeCom's 签到 menu) within the tolerance;
- outside: beyond the tolerance (the distance says how far) — never a complete visit;
- unmeasured: a location with no store position to measure it against (imported history, a store with no
  coordinates on record). It is taken as given, as it always was: only a location measured away from the
  store is refused, so no rep loses a visit because the store's position is missing.
`AT_STORE` are the grades that count; the chat flow, the metrics and the questions all read them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from core.geo import distance_m

MIN_PHOTOS = 3
DEFAULT_TOLERANCE_M = 300.0
MAP_PICK_TRUST = "map"  # a location picked on the map: recorded, but lower trust than GPS
GPS_TRUST = "gps"

GPS_WITHIN, MAP_WITHIN, OUTSIDE, UNMEASURED = "gps_within", "map_within", "outside", "unmeasured"
AT_STORE = (GPS_WITHIN, MAP_WITHIN, UNMEASURED)  # the grades of "a location at the store"


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


def grade_location(
    *,
    source: str | None,
    distance_m: float | None,
    precision_m: float | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> str | None:
    """The grade of a recorded location (None: no location). Only GPS precision widens the circle; anything
    that is not GPS (a map pick, an import) is judged as a map pick."""
    if source is None:
        return None
    if distance_m is None:
        return UNMEASURED
    gps = source == GPS_TRUST
    if distance_m > tolerance_for(precision_m if gps else None, tolerance_m):
        return OUTSIDE
    return GPS_WITHIN if gps else MAP_WITHIN


def at_store(grade: str | None) -> bool:
    return grade in AT_STORE


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


def normalise_name(name: str) -> str:
    """A customer's name as compared for `拜访 名称`: full/half width (NFKC), case, spaces and punctuation
    ignored, so 「味源超市（静安店）」 and 「味源超市(静安店)」 are the same name."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if not unicodedata.category(ch).startswith(("P", "Z", "C", "S")))


def is_complete(*, location_grade: str | None, valid_photos: int, tags: Iterable[str]) -> bool:
    return at_store(location_grade) and valid_photos >= MIN_PHOTOS and any(True for _ in tags)


def missing_pieces(*, location_grade: str | None, valid_photos: int, tags: Iterable[str]) -> list[str]:
    """What a rep still has to send, in Chinese, in the order they usually send it."""
    out = []
    if location_grade is None:
        out.append("签到位置")
    elif not at_store(location_grade):
        out.append("在门店的签到位置（到店后再发一次位置）")
    if valid_photos < MIN_PHOTOS:
        out.append(f"货架照片（还差{MIN_PHOTOS - valid_photos}张）")
    if not any(True for _ in tags):
        out.append("需求标签（如 价格异议、库存不足、新品兴趣、账期协商）")
    return out
