"""The rules of a check-in location (core/visits.py): its grade, what completes a visit, what is missing; how
names are compared and distances said (core/geo.py)."""

from __future__ import annotations

import pytest

from core.geo import distance_words
from core.visits import (
    AT_STORE,
    GPS_WITHIN,
    MAP_WITHIN,
    OUTSIDE,
    UNMEASURED,
    grade_location,
    is_complete,
    missing_pieces,
    normalise_name,
)


@pytest.mark.parametrize(
    ("source", "distance", "precision", "grade"),
    [
        ("gps", 0.0, 10.0, GPS_WITHIN),
        ("gps", 350.0, 60.0, GPS_WITHIN),  # the fix's precision widens the circle to 360 m
        ("gps", 370.0, 60.0, OUTSIDE),
        ("map", 0.0, None, MAP_WITHIN),  # a 0 m map pick is an honest check-in
        ("map", 300.0, None, MAP_WITHIN),
        ("map", 350.0, 60.0, OUTSIDE),  # precision widens GPS only
        ("map", 19_800.0, None, OUTSIDE),
        ("import", None, None, UNMEASURED),  # no store position to measure against: taken as given
        ("gps", None, 10.0, UNMEASURED),
        (None, None, None, None),  # no location at all
    ],
)
def test_grade(source, distance, precision, grade):
    assert grade_location(source=source, distance_m=distance, precision_m=precision) == grade


def test_only_a_location_at_the_store_completes():
    assert OUTSIDE not in AT_STORE and None not in AT_STORE
    for grade in AT_STORE:
        assert is_complete(location_grade=grade, valid_photos=3, tags=["库存不足"])
    assert not is_complete(location_grade=OUTSIDE, valid_photos=5, tags=["库存不足"])
    assert missing_pieces(location_grade=OUTSIDE, valid_photos=3, tags=["x"]) == [
        "在门店的签到位置（到店后再发一次位置）"
    ]
    assert missing_pieces(location_grade=None, valid_photos=3, tags=["x"]) == ["签到位置"]
    assert missing_pieces(location_grade=MAP_WITHIN, valid_photos=3, tags=["x"]) == []


def test_names_compare_without_width_case_spaces_or_punctuation():
    assert (
        normalise_name("老街面馆（静安店）")
        == normalise_name("老街面馆(静安店)")
        == normalise_name(" 老街 面馆 静安店")
    )
    assert normalise_name("ＡＢＣ便利店") == normalise_name("abc便利店")
    assert normalise_name("湘里人家饭店") != normalise_name("湘里人家")


def test_distance_words():
    assert [distance_words(m) for m in (0.4, 33.2, 999.4, 1000, 19_793, 123_456)] == [
        "约1米",
        "约33米",
        "约999米",
        "约1.0公里",
        "约19.8公里",
        "约123公里",
    ]
