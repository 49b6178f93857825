"""The XML and crypto attack list (reliability.md §3.1, §3.2, §6 item 10) against the callback: each refused
with one uniform, empty answer, nothing stored, nothing fetched from the network, and the refusal logged
with its reason. A genuine callback still gets through afterwards, and a replay of it is a no-op."""

from __future__ import annotations

import base64
import socket
import struct
import threading

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.app import create_app
from bot.bootstrap import build as build_services
from bot.wecom.crypto import WeComCrypto, signature
from storage.models import InboxRow
from tests.support.db import TEST_CORP, make_settings

CORP = TEST_CORP["WECOM_CORP_ID"]
CRYPTO = WeComCrypto(
    token=TEST_CORP["WECOM_TOKEN"], encoding_aes_key=TEST_CORP["WECOM_AES_KEY"], corp_id=CORP
)


def _inner(ts: int, mid: int = 1, content: str = "帮助") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[rep01]]></FromUserName>"
        f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{mid}</MsgId><AgentID>1000002</AgentID></xml>"
    )


def _envelope(encrypted: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
        "<AgentID><![CDATA[1000002]]></AgentID></xml>"
    ).encode()


def _sealed(plaintext: str, ts: int, *, receive_id: str | None = None) -> tuple[dict, bytes]:
    params, enc = CRYPTO.seal(plaintext, timestamp=str(ts), receive_id=receive_id)
    return params, _envelope(enc)


def _signed(encrypted: str, ts: int, nonce: str = "42") -> tuple[dict, bytes]:
    """A body whose signature is right (as if the attacker knew the token) around any Encrypt value."""
    sig = signature(TEST_CORP["WECOM_TOKEN"], str(ts), nonce, encrypted)
    return {"msg_signature": sig, "timestamp": str(ts), "nonce": nonce}, _envelope(encrypted)


def _aes(raw: bytes) -> str:
    """AES-256-CBC with WeCom's key and IV = key[:16], no padding added: the caller frames the bytes."""
    key = CRYPTO.key
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


def _framed(msg: bytes, receive_id: bytes, pad_byte: int) -> bytes:
    body = b"r" * 16 + struct.pack(">I", len(msg)) + msg + receive_id
    n = 32 - len(body) % 32
    return body + bytes([pad_byte]) * n


class Listener:
    """A loopback TCP port that records whether anyone connected (an XXE fetch would)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._t.join(2)
        self.sock.close()


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    + "]><xml><Encrypt>&lol9;</Encrypt></xml>"
)
QUADRATIC = (
    '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "'
    + "A" * 30_000
    + '">]><xml><Encrypt>'
    + "&a;" * 8000
    + "</Encrypt></xml>"
)


REASONS = {
    "billion_laughs": "dtd_forbidden",
    "billion_laughs_utf16": "xml_attack",
    "quadratic_blowup": "dtd_forbidden",
    "xxe_file": "dtd_forbidden",
    "xxe_http": "dtd_forbidden",
    "xxe_parameter_entity": "dtd_forbidden",
    "body_10mb": "body_too_large",
    "body_10mb_chunked": "body_too_large",
    "encoding_gbk": "malformed_xml",
    "encoding_unknown": "malformed_xml",
    "bad_padding_zero": "bad_plaintext",
    "bad_padding_huge": "wrong_receive_id",
    "bad_length_field": "bad_plaintext",
    "not_base64": "bad_base64",
    "wrong_receive_id": "wrong_receive_id",
    "signature_one_bit_off": "bad_signature",
    "signature_missing": "bad_signature",
    "timestamp_plus_301": "stale_timestamp",
    "timestamp_minus_301": "stale_timestamp",
    "timestamp_not_a_number": "bad_timestamp",
    "inner_billion_laughs": "dtd_forbidden",
    "inner_xxe": "dtd_forbidden",
    "inner_not_xml": "malformed_xml",
    "empty_body": "malformed_xml",
    "no_encrypt_field": "no_encrypt_field",
}


def _attacks(ts: int, port: int) -> dict[str, tuple[dict, bytes, dict]]:
    """name → (query params, body, extra headers)."""
    good_params, good_body = _sealed(_inner(ts, mid=99), ts)
    enc = good_body.split(b"<![CDATA[")[2].split(b"]]>")[0].decode()
    flipped = good_params["msg_signature"][:-1] + format(int(good_params["msg_signature"][-1], 16) ^ 1, "x")
    xxe_file = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>'
    xxe_http = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:{port}/x">]>'
        "<xml><Encrypt>&e;</Encrypt></xml>"
    )
    xxe_param = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p"> %p;]>'
        "<xml><Encrypt>x</Encrypt></xml>"
    )
    big = b"<xml><Encrypt>" + b"A" * (10 * 1024 * 1024) + b"</Encrypt></xml>"
    none: dict = {}
    return {
        "billion_laughs": ({}, LAUGHS.encode(), none),
        "billion_laughs_utf16": (
            {},
            LAUGHS.replace('version="1.0"', 'version="1.0" encoding="utf-16"').encode("utf-16"),
            none,
        ),
        "quadratic_blowup": ({}, QUADRATIC.encode(), none),
        "xxe_file": ({}, xxe_file.encode(), none),
        "xxe_http": ({}, xxe_http.encode(), none),
        "xxe_parameter_entity": ({}, xxe_param.encode(), none),
        "body_10mb": (good_params, big, none),
        "body_10mb_chunked": (
            good_params,
            iter([big[i : i + 65536] for i in range(0, len(big), 65536)]),
            none,
        ),
        "encoding_gbk": ({}, b"<?xml version='1.0' encoding='gbk'?><xml><Encrypt>abc</Encrypt></xml>", none),
        "encoding_unknown": (
            {},
            b"<?xml version='1.0' encoding='x-nope'?><xml><Encrypt>a</Encrypt></xml>",
            none,
        ),
        "bad_padding_zero": (*_signed(_aes(_framed(_inner(ts).encode(), CORP.encode(), 0)), ts), none),
        "bad_padding_huge": (*_signed(_aes(_framed(_inner(ts).encode(), CORP.encode(), 200)), ts), none),
        "bad_length_field": (*_signed(_aes(b"r" * 16 + struct.pack(">I", 2**31) + b"x" * 12), ts), none),
        "not_base64": (*_signed("!!!not base64!!!", ts), none),
        "wrong_receive_id": (*_sealed(_inner(ts), ts, receive_id="ww_other_corp"), none),
        "signature_one_bit_off": ({**good_params, "msg_signature": flipped}, good_body, none),
        "signature_missing": (
            {k: v for k, v in good_params.items() if k != "msg_signature"},
            good_body,
            none,
        ),
        "timestamp_plus_301": (*_sealed(_inner(ts + 301), ts + 301), none),
        "timestamp_minus_301": (*_sealed(_inner(ts - 301), ts - 301), none),
        "timestamp_not_a_number": (
            {
                **good_params,
                "timestamp": "soon",
                "msg_signature": signature(TEST_CORP["WECOM_TOKEN"], "soon", good_params["nonce"], enc),
            },
            good_body,
            none,
        ),
        "inner_billion_laughs": (
            *_sealed(LAUGHS.replace("<Encrypt>&lol9;</Encrypt>", "<FromUserName>&lol9;</FromUserName>"), ts),
            none,
        ),
        "inner_xxe": (
            *_sealed(xxe_http.replace("<Encrypt>&e;</Encrypt>", "<FromUserName>&e;</FromUserName>"), ts),
            none,
        ),
        "inner_not_xml": (*_sealed("hello, not xml", ts), none),
        "empty_body": (good_params, b"", none),
        "no_encrypt_field": (good_params, b"<xml><ToUserName>x</ToUserName></xml>", none),
    }


@pytest.fixture
def app(db_url, tmp_path, redis_server, clock):
    services = build_services(make_settings(db_url, tmp_path), clock=clock, redis_client=redis_server)
    client = TestClient(create_app(services))
    yield client, services
    client.close()


def _stored(services) -> int:
    with services.session_factory() as s:
        return s.scalar(select(func.count()).select_from(InboxRow))


def test_every_attack_is_refused_uniformly_and_nothing_is_stored(app, clock, caplog):
    client, services = app
    ts = int(clock.now().timestamp())
    listener = Listener()
    try:
        attacks = _attacks(ts, listener.port)
        answers = {}
        with caplog.at_level("WARNING", logger="assistant.callback"):
            for name, (params, body, headers) in attacks.items():
                r = client.post(
                    "/wecom/callback",
                    params=params,
                    content=body,
                    headers={"Content-Type": "text/xml", **headers},
                )
                answers[name] = (r.status_code, r.content)
                assert _stored(services) == 0, name
    finally:
        listener.close()
    expected = {name: (413 if name.startswith("body_10mb") else 403, b"") for name in attacks}
    assert answers == expected
    assert listener.connections == 0  # no entity was ever fetched
    refusals = [rec.getMessage() for rec in caplog.records if "callback refused" in rec.getMessage()]
    reasons = {
        name: m.split("callback refused: ")[1].split(" ")[0]
        for name, m in zip(attacks, refusals, strict=True)
    }
    assert (
        reasons == REASONS
    )  # each refused at the step meant to catch it (the inner ones after the signature)
    # one reason word per refusal, and none of them echoes the attacker's payload
    assert all(len(m) < 200 and "passwd" not in m and "lol" not in m for m in refusals)
    # the genuine article still gets through, once; its replay is acknowledged and changes nothing
    params, body = _sealed(_inner(ts, mid=7), ts)
    assert client.post("/wecom/callback", params=params, content=body).status_code == 200
    assert client.post("/wecom/callback", params=params, content=body).status_code == 200
    assert _stored(services) == 1


def test_the_freshness_window_is_inclusive_at_300_seconds(app, clock):
    client, services = app
    ts = int(clock.now().timestamp())
    for n, skew in enumerate((-300, 300)):
        params, body = _sealed(_inner(ts + skew, mid=100 + n), ts + skew)
        assert client.post("/wecom/callback", params=params, content=body).status_code == 200
    assert _stored(services) == 2
    clock.advance(seconds=1)  # now a timestamp 300 s old is 301 s old: refused, not stored
    params, body = _sealed(_inner(ts - 300, mid=200), ts - 300)
    assert client.post("/wecom/callback", params=params, content=body).status_code == 403
    assert _stored(services) == 2


def test_get_verification_refuses_the_same_way(app, clock):
    client, _ = app
    ts = str(int(clock.now().timestamp()))
    params, echo = CRYPTO.seal("1234567890", timestamp=ts)
    assert client.get("/wecom/callback", params={**params, "echostr": echo}).text == "1234567890"
    bad = {
        **params,
        "msg_signature": params["msg_signature"][:-1] + ("0" if params["msg_signature"][-1] != "0" else "1"),
    }
    r = client.get("/wecom/callback", params={**bad, "echostr": echo})
    assert (r.status_code, r.content) == (403, b"")
    old = str(int(ts) - 301)
    params, echo = CRYPTO.seal("1234567890", timestamp=old)
    r = client.get("/wecom/callback", params={**params, "echostr": echo})
    assert (r.status_code, r.content) == (403, b"")
