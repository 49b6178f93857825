"""Property tests: whatever bytes or text reach a parser, it answers or refuses with its declared error —
the callback's parsers only ever raise bot.wecom.crypto.CallbackRejected, the rep's one-line parser never raises
under any organisation's tag menu, and what the callback stores is strict JSON."""

from __future__ import annotations

import base64
import json
import string
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.wecom.crypto import CallbackRejected, WeComCrypto
from bot.wecom.parse import outer_encrypt, parse_inbound, parse_xml
from core.rep_line import ParsedLine, parse_line
from core.tags import DEFAULT_MENU, TagMenu
from tests.support.db import TEST_CORP

CRYPTO = WeComCrypto(
    token=TEST_CORP["WECOM_TOKEN"],
    encoding_aes_key=TEST_CORP["WECOM_AES_KEY"],
    corp_id=TEST_CORP["WECOM_CORP_ID"],
)
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- the callback --------------------------------------------------------------------------------------

XML_BITS = st.sampled_from(
    [
        "<xml>",
        "</xml>",
        "<Encrypt>",
        "</Encrypt>",
        "<![CDATA[",
        "]]>",
        "<!DOCTYPE x [",
        "<!ENTITY e SYSTEM 'file:///etc/passwd'>",
        "]>",
        "&e;",
        "&amp;",
        "&#0;",
        "&#x110000;",
        "<?xml version='1.0' encoding='",
        "gbk",
        "utf-16",
        "'?>",
        "<a b='",
        "'/>",
        "\x00",
        "\ufeff",
        "<!--",
        "-->",
        "<",
        ">",
        "&",
        '"',
        "'",
        "\n",
    ]
)
XMLISH = st.lists(st.one_of(XML_BITS, st.text(max_size=8)), max_size=30).map("".join)
ENCODINGS = st.one_of(
    st.sampled_from(
        [
            "utf-8",
            "gbk",
            "gb18030",
            "big5",
            "utf-7",
            "utf-16",
            "utf-32",
            "latin-1",
            "idna",
            "rot13",
            "base64",
            "punycode",
            "x-nope",
            "",
        ]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=12),
)
DECLARED = st.builds(lambda enc, rest: f"<?xml version='1.0' encoding='{enc}'?>{rest}", ENCODINGS, XMLISH)


def _only_declared(fn, *args) -> None:  # noqa: ANN001
    try:
        fn(*args)
    except CallbackRejected:
        pass


@FAST
@given(
    st.one_of(
        st.binary(max_size=2000),
        XMLISH.map(str.encode),
        DECLARED.map(str.encode),
        XMLISH.map(lambda t: t.encode("utf-16")),
    )
)
def test_outer_envelope_parser_raises_only_callback_rejected(body):
    _only_declared(outer_encrypt, body)


@FAST
@given(st.one_of(st.text(max_size=500), XMLISH, DECLARED))
def test_xml_parser_raises_only_callback_rejected(text):
    _only_declared(parse_xml, text)


FIELDS = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Content",
    "MsgId",
    "AgentID",
    "Event",
    "EventKey",
    "Latitude",
    "Longitude",
    "Precision",
    "Location_X",
    "Location_Y",
    "Scale",
    "Label",
    "MediaId",
    "Title",
    "TaskId",
    "CardType",
    "ResponseCode",
    "Recognition",
    "SelectedItems",
]
MSG_TYPES = ["text", "image", "voice", "location", "file", "video", "event", "", "TEXT"]
EVENTS = [
    "enter_agent",
    "LOCATION",
    "location",
    "click",
    "view",
    "template_card_event",
    "template_card_menu_event",
    "subscribe",
    "",
]
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e999",
            "-0",
            "0x10",
            "１２",
            "٣",
            "9" * 400,
            "-1",
            "3.5",
            " 7 ",
            "",
            "1_000",
        ]
    ),
)


@st.composite
def inner_xml(draw) -> str:  # noqa: ANN001
    """WeCom-shaped plaintext with random values in real field names (what a holder of the key could send)."""
    fields = {"MsgType": draw(st.sampled_from(MSG_TYPES)), "Event": draw(st.sampled_from(EVENTS))}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=12)):
        fields[name] = draw(VALUES)
    if draw(st.booleans()):
        fields["FromUserName"] = draw(st.text(alphabet=string.ascii_letters, min_size=1, max_size=8))
    parts = []
    for k, v in fields.items():
        v = v.replace("]]>", "")
        parts.append(f"<{k}><![CDATA[{v}]]></{k}>" if draw(st.booleans()) else f"<{k}>{_escape(v)}</{k}>")
    if draw(st.booleans()):
        parts.append(
            "<SelectedItems><SelectedItem><QuestionKey>q</QuestionKey><OptionIds><OptionId>"
            f"{_escape(draw(st.text(max_size=5)))}</OptionId></OptionIds></SelectedItem></SelectedItems>"
        )
    return "<xml>" + "".join(parts) + "</xml>"


def _escape(v: str) -> str:
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inner_xml())
def test_inner_message_parser_refuses_or_gives_a_storable_event(plaintext):
    try:
        event, key = parse_inbound(plaintext)
    except CallbackRejected:
        return
    assert event.sender and isinstance(key, str) and key.startswith(("msg:", "evt:"))
    json.dumps(event.to_dict(), allow_nan=False)  # strict JSON: PostgreSQL's json type refuses NaN/Infinity


@FAST
@given(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
        st.integers(1, 20)
        .flatmap(lambda n: st.binary(min_size=32 * n, max_size=32 * n))
        .map(lambda b: base64.b64encode(b).decode()),
    )
)
def test_decrypt_of_anything_raises_only_callback_rejected(encrypted):
    _only_declared(CRYPTO.decrypt, encrypted)


@FAST
@given(st.text(max_size=60), st.text(max_size=20), st.text(max_size=20), st.text(max_size=200))
def test_signature_check_of_anything_raises_only_callback_rejected(sig, ts, nonce, enc):
    _only_declared(CRYPTO.verify, sig, ts, nonce, enc)


@FAST
@given(
    st.text(min_size=0, max_size=2000), st.text(alphabet=string.ascii_letters + string.digits, max_size=20)
)
def test_seal_then_decrypt_round_trips_and_another_corp_is_refused(plaintext, other):
    params, enc = CRYPTO.seal(plaintext, timestamp="1700000000")
    CRYPTO.verify(params["msg_signature"], params["timestamp"], params["nonce"], enc)
    assert CRYPTO.decrypt(enc) == plaintext
    if other != TEST_CORP["WECOM_CORP_ID"]:
        _, foreign = CRYPTO.seal(plaintext, timestamp="1700000000", receive_id=other)
        try:
            CRYPTO.decrypt(foreign)
        except CallbackRejected as exc:
            assert exc.reason == "wrong_receive_id"
        else:
            raise AssertionError("a message sealed for another corp was accepted")


# --- the rep's one line, under any organisation's menu ----------------------------------------------------

WORD = st.text(
    alphabet=st.characters(codec="utf-8", categories=["Lo", "Ll", "Lu", "Nd"]), min_size=1, max_size=6
)


@st.composite
def menus(draw) -> TagMenu:  # noqa: ANN001
    """A valid tag menu: the default, an organisation's own, or its own on top of the defaults."""
    kind = draw(st.sampled_from(["default", "own", "own+defaults", "empty"]))
    if kind == "default":
        return DEFAULT_MENU
    if kind == "empty":
        return TagMenu([])
    entries = draw(st.lists(st.tuples(WORD, st.lists(WORD, max_size=4)), min_size=1, max_size=8))
    config = {"tags": [{"name": n, "synonyms": syn} for n, syn in entries], "include_defaults": kind != "own"}
    try:
        return TagMenu.from_config(config)
    except ValueError:
        assume(False)  # a refused config (a shared synonym, a duplicate name): tested in test_rep_text


LINE_BITS = st.sampled_from(
    [
        "嫌贵",
        "缺货",
        "承诺",
        "周五前",
        "送样品",
        "15天后回访",
        "下周",
        "月底",
        "不",
        "没",
        "，",
        " ",
        "3天内",
        "明天下午",
        "12/5前",
        "回访",
        "跟进",
    ]
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(menus(), st.data(), st.integers(min_value=0, max_value=60 * 24 * 400))
def test_rep_line_never_raises_under_any_menu(menu, data, minutes):
    words = list(menu.names) + [s for t in menu.tags for s in t.synonyms]
    pieces = st.one_of(LINE_BITS, st.text(max_size=6), *([st.sampled_from(words)] if words else []))
    text = "".join(data.draw(st.lists(pieces, max_size=12)))
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    parsed = parse_line(text, now=now, menu=menu)
    assert isinstance(parsed, ParsedLine) and isinstance(parsed.note, str)
    assert set(parsed.tags) <= set(menu.names) and len(set(parsed.tags)) == len(parsed.tags)
    for p in parsed.promises:
        assert p.due_at >= now and p.due_at.utcoffset() == timedelta(0)
    if parsed.follow_up_at is not None:
        assert parsed.follow_up_at >= now
