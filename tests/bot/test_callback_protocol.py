"""The callback speaks WeCom's protocol exactly: both official vectors, and every bad request refused
with nothing stored."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.app import create_app
from bot.bootstrap import build as build_services
from bot.wecom.crypto import WeComCrypto
from storage.models import InboxRow
from tests.support.db import TEST_CORP, VECTOR_A, VECTOR_B, make_settings

A_GET = dict(
    msg_signature="5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    timestamp="1409659589",
    nonce="263014780",
    echostr="P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
)
A_POST = dict(
    msg_signature="477715d11cdb4164915debcba66cb864d751f3e6", timestamp="1409659813", nonce="1372623149"
)
A_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/"
    "sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZf"
    "JYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAV"
    "GUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3"
    "KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
B_GET = dict(
    msg_signature="012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    timestamp="1476416373",
    nonce="47744683",
    echostr="fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
)
B_POST = dict(
    msg_signature="0c3914025cb4b4d68103f6bfc8db550f79dcf48e", timestamp="1476422779", nonce="1597212914"
)
B_BODY = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA[Kl7kjoSf6DMD1zh7rtrHjFaDa"
    "pSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87h"
    "GrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL"
    "65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpH"
    "SGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
)


def _client(db_url, tmp_path, redis_server, **overrides):
    settings = make_settings(db_url, tmp_path, **overrides)
    services = build_services(settings, redis_client=redis_server)
    return TestClient(create_app(services)), services


def _inbox(services):
    with services.session_factory() as s:
        return list(s.scalars(select(InboxRow)))


@pytest.mark.parametrize(
    "vector,get,post,body",
    [
        (
            VECTOR_A,
            A_GET,
            A_POST,
            f"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[{A_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>",
        ),
        (VECTOR_B, B_GET, B_POST, B_BODY),
    ],
    ids=["docs-QDG6eK", "tencent-sample"],
)
def test_official_vectors(db_url, tmp_path, redis_server, vector, get, post, body):
    client, services = _client(db_url, tmp_path, redis_server, WECOM_MAX_CLOCK_SKEW=0, **vector)
    r = client.get("/wecom/callback", params=get)
    assert r.status_code == 200
    assert r.text == {"QDG6eK": "1616140317555161061"}.get(vector["WECOM_TOKEN"], "1288432023552776189")
    assert r.headers["content-type"].startswith("text/plain")
    r = client.post("/wecom/callback", params=post, content=body.encode())
    assert r.status_code == 200 and r.content == b""
    rows = _inbox(services)
    assert len(rows) == 1
    ev = rows[0].event
    assert ev["type"] == "text"
    if vector is VECTOR_A:
        assert (ev["sender"], ev["content"], rows[0].dedupe_key) == (
            "mycreate",
            "hello",
            "msg:4561255354251345929",
        )
    else:
        assert (ev["sender"], ev["content"], rows[0].dedupe_key) == ("ChenJiaShun", "你好", "msg:1456453720")
    # WeCom retries the same delivery: a no-op
    assert client.post("/wecom/callback", params=post, content=body.encode()).status_code == 200
    assert len(_inbox(services)) == 1


def _sealed(plaintext: str, *, corp=TEST_CORP, ts=None, receive_id=None):
    crypto = WeComCrypto(
        token=corp["WECOM_TOKEN"], encoding_aes_key=corp["WECOM_AES_KEY"], corp_id=corp["WECOM_CORP_ID"]
    )
    ts = ts or str(int(time.time()))
    params, enc = crypto.seal(plaintext, timestamp=ts, receive_id=receive_id)
    body = f"<xml><ToUserName><![CDATA[{corp['WECOM_CORP_ID']}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
    return params, body.encode()


TEXT_XML = (
    "<xml><ToUserName><![CDATA[ww_test_corp]]></ToUserName><FromUserName><![CDATA[rep01]]></FromUserName>"
    "<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]></Content>"
    "<MsgId>{mid}</MsgId><AgentID>1000002</AgentID></xml>"
)


def test_fresh_message_accepted(db_url, tmp_path, redis_server):
    client, services = _client(db_url, tmp_path, redis_server)
    ts = str(int(time.time()))
    params, body = _sealed(TEXT_XML.format(ts=ts, mid=1), ts=ts)
    assert client.post("/wecom/callback", params=params, content=body).status_code == 200
    assert len(_inbox(services)) == 1


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><Encrypt>&lol3;</Encrypt></xml>'
)
XXE = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>'


@pytest.mark.parametrize(
    "case",
    [
        "bad_signature",
        "wrong_corp",
        "stale",
        "malformed",
        "bomb",
        "xxe",
        "oversized",
        "bad_inner_xml",
        "garbage_ciphertext",
    ],
)
def test_bad_requests_refused_and_nothing_stored(db_url, tmp_path, redis_server, case, caplog):
    client, services = _client(db_url, tmp_path, redis_server)
    ts = str(int(time.time()))
    params, body = _sealed(TEXT_XML.format(ts=ts, mid=7), ts=ts)
    if case == "bad_signature":
        params["msg_signature"] = ("0" if params["msg_signature"][0] != "0" else "1") + params[
            "msg_signature"
        ][1:]
    elif case == "wrong_corp":
        params, body = _sealed(TEXT_XML.format(ts=ts, mid=7), ts=ts, receive_id="ww_other_corp")
    elif case == "stale":
        old = str(int(time.time()) - 301)
        params, body = _sealed(TEXT_XML.format(ts=old, mid=7), ts=old)
    elif case == "malformed":
        body = b"<xml><Encrypt>abc</xml"
    elif case == "bomb":
        body = BOMB.encode()
    elif case == "xxe":
        body = XXE.encode()
    elif case == "oversized":
        body = b"<xml><Encrypt>" + b"A" * (70 * 1024) + b"</Encrypt></xml>"
    elif case == "bad_inner_xml":
        params, body = _sealed("<xml><FromUserName>rep01</FromUserName", ts=ts)
    elif case == "garbage_ciphertext":
        from bot.wecom.crypto import signature

        enc = "QUJD" * 16
        params = {
            "timestamp": ts,
            "nonce": "1",
            "msg_signature": signature(TEST_CORP["WECOM_TOKEN"], ts, "1", enc),
        }
        body = f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()
    with caplog.at_level("WARNING", logger="assistant.callback"):
        r = client.post("/wecom/callback", params=params, content=body)
    assert r.status_code in (403, 413)
    assert _inbox(services) == []
    assert any("callback refused" in rec.getMessage() for rec in caplog.records)


def test_get_with_wrong_signature_refused(db_url, tmp_path, redis_server):
    client, _ = _client(db_url, tmp_path, redis_server, WECOM_MAX_CLOCK_SKEW=0, **VECTOR_A)
    assert client.get("/wecom/callback", params={**A_GET, "nonce": "1"}).status_code == 403


def test_health(db_url, tmp_path, redis_server):
    client, _ = _client(db_url, tmp_path, redis_server)
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["database"] and r.json()["redis"]
