"""Distances on the earth's surface (WGS-84 / GCJ-02 coordinates are both close enough at 300 m)."""

from __future__ import annotations

from math import asin, cos, radians, sin, sqrt

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = radians(lat1), radians(lat2)
    dp, dl = p2 - p1, radians(lng2 - lng1)
    h = sin(dp / 2) ** 2 + cos(p1) * cos(p2) * sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * asin(min(1.0, sqrt(h)))


def valid_coordinates(lat: float | None, lng: float | None) -> bool:
    return (
        lat is not None
        and lng is not None
        and -90 <= lat <= 90
        and -180 <= lng <= 180
        and (lat, lng) != (0, 0)
    )


def distance_words(metres: float) -> str:
    """A distance as a person says it: 约850米, 约19.8公里 (kilometres from 1 km on, one decimal)."""
    if metres < 1000:
        return f"约{max(1, round(metres))}米"
    km = metres / 1000
    return f"约{km:.1f}公里" if km < 100 else f"约{round(km)}公里"
