"""统一社会信用代码 check (GB 32100-2015)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.licence import CHARSET, WEIGHTS, explain_uscc, is_valid_uscc, normalize_uscc, uscc_check_char


def _make(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def _reference_check(first17: str) -> str:
    """The standard's formula written out independently of the module."""
    values = [CHARSET.index(c) for c in first17]
    c18 = 31 - sum(v * w for v, w in zip(values, WEIGHTS, strict=True)) % 31
    return CHARSET[0 if c18 == 31 else c18]


# Real-looking bodies: registration authority + category, 6-digit region, 9-character organisation code.
BODIES = [
    "91350100M000100Y4",  # the standard's published example, check char 3
    "91110108MA01ABCD1",  # Beijing Haidian company
    "91310115MA1K3XYW0",  # Shanghai Pudong
    "92440300MA5F00001",  # Shenzhen 个体工商户
    "12100000400000624",  # central public institution
    "51110000500000001",  # social organisation
    "93330782MA2HQ1234",  # farmers' cooperative
    "11100000000013127",  # central state organ
    "91440101MA59AAAA0",
    "91500000MA5U0WXY9",
]


def test_published_example_is_valid():
    assert is_valid_uscc("91350100M000100Y43")
    assert explain_uscc("91350100M000100Y43") is None


def test_weights_are_powers_of_three_mod_31():
    assert list(WEIGHTS) == [pow(3, i, 31) for i in range(17)]
    assert len(CHARSET) == 31 and not set("IOZSV") & set(CHARSET)


@pytest.mark.parametrize("body", BODIES)
def test_generated_codes_are_valid(body):
    code = _make(body)
    assert uscc_check_char(body) == _reference_check(body)
    assert is_valid_uscc(code), code
    assert explain_uscc(code) is None


@pytest.mark.parametrize("body", BODIES)
def test_every_wrong_check_char_is_refused(body):
    right = uscc_check_char(body)
    for wrong in CHARSET:
        if wrong == right:
            continue
        code = body + wrong
        assert not is_valid_uscc(code)
        assert explain_uscc(code) == f"校验位应为 {right}（现在是 {wrong}），请核对是否输错"


def test_single_typo_in_the_body_is_caught():
    rnd = random.Random(32100)
    for body in BODIES:
        code = _make(body)
        for i in range(17):
            for c in rnd.sample(CHARSET, 5):
                if c == code[i]:
                    continue
                typo = code[:i] + c + code[i + 1 :]
                assert not is_valid_uscc(typo), typo  # any one substitution changes the weighted sum mod 31


def test_swapped_neighbours_are_caught():
    code = _make(BODIES[1])
    for i in range(16):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            assert not is_valid_uscc(swapped), swapped


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "长度不是18位（现在是0位）"),
        ("91350100M000100Y4", "长度不是18位（现在是17位）"),
        ("91350100M000100Y433", "长度不是18位（现在是19位）"),
        ("9135010OM000100Y43", "含非法字符 O（不能含 I、O、Z、S、V 或其他符号）"),
        ("91350100I000100Y43", "含非法字符 I（不能含 I、O、Z、S、V 或其他符号）"),
        ("91350100Z000100S43", "含非法字符 Z、S（不能含 I、O、Z、S、V 或其他符号）"),
        ("91350100M000-00Y43", "含非法字符 -（不能含 I、O、Z、S、V 或其他符号）"),
        ("91350100M000100Y44", "校验位应为 3（现在是 4），请核对是否输错"),
    ],
)
def test_explanations(code, reason):
    assert explain_uscc(code) == reason
    assert not is_valid_uscc(code)


def test_input_is_normalised():
    assert is_valid_uscc("  91350100m000100y43 ")
    assert is_valid_uscc("９１３５０１００Ｍ０００１００Ｙ４３")  # full-width, as some IMEs type it
    assert normalize_uscc(" 91350100m000100y43\n") == "91350100M000100Y43"


def test_not_a_string_is_invalid():
    assert not is_valid_uscc(None)  # type: ignore[arg-type]
    assert not is_valid_uscc(91350100)  # type: ignore[arg-type]


@given(st.text(alphabet=CHARSET, min_size=17, max_size=17))
def test_any_body_with_its_check_char_is_valid(body):
    assert is_valid_uscc(_make(body))
    assert uscc_check_char(body) == _reference_check(body)


@given(st.text(max_size=40))
def test_any_text_gives_a_bool_and_a_reason_or_none(text):
    valid = is_valid_uscc(text)
    reason = explain_uscc(text)
    assert valid == (reason is None)
