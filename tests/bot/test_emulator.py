"""The fake WeCom: its callbacks are WeCom-exact, its API enforces WeCom's rules, its faults fire on demand."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.testclient import TestClient

from bot.emulator import (
    EmulatedTimeout,
    FakeWeCom,
    Fault,
    WeComPeer,
    callback_xml,
    create_api_router,
    create_emulator_app,
)
from bot.wecom.crypto import WeComCrypto
from core.clock import FixedClock

TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"
AGENT = 1000002
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

# docs/wecom-protocol.md §1.5, vector A (docs 90968)
VECTOR_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3"
    "TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gs"
    "ijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUa"
    "x5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIG"
    "HBZZIs2pDBS8R07+qN+E7Q=="
)
VECTOR_PLAINTEXT = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>"
)
VECTOR_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="


def crypto() -> WeComCrypto:
    return WeComCrypto(token=TOKEN, encoding_aes_key=AES_KEY, corp_id=CORP)


class Receiver:
    """A minimal callback endpoint that keeps every request: WeCom's side is what is under test."""

    def __init__(self, status: int = 200):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = status
        self.app = FastAPI()

        @self.app.post("/wecom/callback")
        async def receive(request: Request) -> Response:
            self.requests.append((dict(request.query_params), await request.body()))
            return Response(status_code=self.status)

        @self.app.get("/wecom/callback")
        def verify(msg_signature: str, timestamp: str, nonce: str, echostr: str) -> Response:
            return PlainTextResponse(crypto().verify_and_decrypt(msg_signature, timestamp, nonce, echostr))

    def plaintext(self, index: int = -1) -> str:
        params, body = self.requests[index]
        encrypted = re.fullmatch(
            rf"<xml><ToUserName><!\[CDATA\[{CORP}\]\]></ToUserName><AgentID><!\[CDATA\[{AGENT}\]\]></AgentID>"
            r"<Encrypt><!\[CDATA\[([A-Za-z0-9+/=]+)\]\]></Encrypt></xml>",
            body.decode(),
        ).group(1)
        return crypto().verify_and_decrypt(
            params["msg_signature"], params["timestamp"], params["nonce"], encrypted
        )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def state(clock) -> FakeWeCom:
    return FakeWeCom(
        corp_id=CORP, secret="s3cret", agent_id=AGENT, clock=clock, users=["rep001", "rep002", "mgr001"]
    )


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def peer(state, receiver) -> WeComPeer:
    return WeComPeer(
        state,
        callback_url="/wecom/callback",
        token=TOKEN,
        aes_key=AES_KEY,
        corp_id=CORP,
        agent_id=AGENT,
        client=TestClient(receiver.app),
    )


@pytest.fixture
def api(state) -> TestClient:
    app = FastAPI()
    app.include_router(create_api_router(state))
    return TestClient(app)


@pytest.fixture
def token(api, state) -> str:
    return api.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": "s3cret"}).json()[
        "access_token"
    ]


def send(api: TestClient, token: str, body: dict) -> dict:
    return api.post("/cgi-bin/message/send", params={"access_token": token}, json=body).json()


def text_to(user: str, content: str = "你好", **extra) -> dict:
    return {"touser": user, "msgtype": "text", "agentid": AGENT, "text": {"content": content}, **extra}


def button_card(user: str, task_id: str = "overdue-42") -> dict:
    return {
        "touser": user,
        "msgtype": "template_card",
        "agentid": AGENT,
        "template_card": {
            "card_type": "button_interaction",
            "source": {"desc": "销售助手"},
            "main_title": {"title": "跟进逾期：张三超市", "desc": "已逾期 2 天"},
            "task_id": task_id,
            "horizontal_content_list": [{"keyname": "客户", "value": "张三超市"}],
            "button_list": [
                {"text": "已完成", "style": 1, "key": "done:42"},
                {"text": "顺延1天", "style": 2, "key": "snooze:42"},
            ],
        },
    }


def xml(*lines: str) -> str:
    return "<xml>" + "\n".join(lines) + "\n</xml>"


HEAD = (
    f"<ToUserName><![CDATA[{CORP}]]></ToUserName>",
    "<FromUserName><![CDATA[rep001]]></FromUserName>",
    f"<CreateTime>{TS}</CreateTime>",
)


# -- the official vector ---------------------------------------------------------------------------
def test_official_vector_decrypts_to_the_documented_plaintext():
    assert (
        crypto().verify_and_decrypt(
            "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", VECTOR_ENCRYPT
        )
        == VECTOR_PLAINTEXT
    )
    assert (
        crypto().verify_and_decrypt(
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", VECTOR_ECHOSTR
        )
        == "1616140317555161061"
    )


def test_peer_builds_the_official_plaintext_byte_for_byte():
    assert (
        callback_xml.text(CORP, "mycreate", 1409659813, "hello", 4561255354251345929, 218) == VECTOR_PLAINTEXT
    )


def test_peer_seal_round_trips_with_the_vector_keys(state, peer):
    params, body = peer.seal(VECTOR_PLAINTEXT)
    encrypted = re.search(r"<Encrypt><!\[CDATA\[(.+?)\]\]></Encrypt>", body.decode()).group(1)
    assert set(params) == {"msg_signature", "timestamp", "nonce"} and params["timestamp"] == str(TS)
    assert (
        crypto().verify_and_decrypt(params["msg_signature"], params["timestamp"], params["nonce"], encrypted)
        == VECTOR_PLAINTEXT
    )


# -- every message type, decrypted by the assistant's crypto ---------------------------------------
def test_text(peer, receiver):
    assert peer.text("rep001", "拜访 味源超市 <b>&", msg_id=123).status_code == 200
    assert receiver.plaintext() == xml(
        *HEAD,
        "<MsgType><![CDATA[text]]></MsgType>",
        "<Content><![CDATA[拜访 味源超市 <b>&]]></Content>",
        "<MsgId>123</MsgId>",
        f"<AgentID>{AGENT}</AgentID>",
    )


def test_text_with_cdata_terminator_stays_well_formed(peer, receiver):
    import defusedxml.ElementTree as ET

    peer.text("rep001", "a]]>b")
    assert ET.fromstring(receiver.plaintext()).findtext("Content") == "a]]>b"


def test_image_puts_the_photo_in_the_media_store(peer, receiver, state, api, token):
    peer.image("rep001", PNG, "image/png", msg_id=7)
    media_id = state.callbacks[-1].fields["media_id"]
    assert receiver.plaintext() == xml(
        *HEAD,
        "<MsgType><![CDATA[image]]></MsgType>",
        f"<PicUrl><![CDATA[{peer.pic_url_base}{media_id}]]></PicUrl>",
        f"<MediaId><![CDATA[{media_id}]]></MediaId>",
        "<MsgId>7</MsgId>",
        f"<AgentID>{AGENT}</AgentID>",
    )
    got = api.get("/cgi-bin/media/get", params={"access_token": token, "media_id": media_id})
    assert got.content == PNG and got.headers["content-type"] == "image/png"


def test_voice(peer, receiver, state):
    peer.voice("rep001", "明天上午回访", msg_id=8)
    media_id = state.callbacks[-1].fields["media_id"]
    assert receiver.plaintext() == xml(
        *HEAD,
        "<MsgType><![CDATA[voice]]></MsgType>",
        f"<MediaId><![CDATA[{media_id}]]></MediaId>",
        "<Format><![CDATA[amr]]></Format>",
        "<Recognition><![CDATA[明天上午回访]]></Recognition>",
        "<MsgId>8</MsgId>",
        f"<AgentID>{AGENT}</AgentID>",
    )
    assert state.get_media(media_id).data.startswith(b"#!AMR")
    peer.voice_recognition = False
    peer.voice("rep001", "不会出现")
    assert "Recognition" not in receiver.plaintext()


def test_location_message(peer, receiver):
    peer.location("rep001", 23.134, 113.358, label="广州市天河区 味源超市", scale=20, msg_id=9)
    assert receiver.plaintext() == xml(
        *HEAD,
        "<MsgType><![CDATA[location]]></MsgType>",
        "<Location_X>23.134</Location_X>",
        "<Location_Y>113.358</Location_Y>",
        "<Scale>20</Scale>",
        "<Label><![CDATA[广州市天河区 味源超市]]></Label>",
        "<MsgId>9</MsgId>",
        f"<AgentID>{AGENT}</AgentID>",
        "<AppType><![CDATA[wxwork]]></AppType>",
    )


def test_location_event(peer, receiver):
    peer.location_report("rep001", 23.104, 113.32, 65)
    assert receiver.plaintext() == xml(
        *HEAD,
        "<MsgType><![CDATA[event]]></MsgType>",
        "<Event><![CDATA[LOCATION]]></Event>",
        "<Latitude>23.104</Latitude>",
        "<Longitude>113.32</Longitude>",
        "<Precision>65.000</Precision>",
        f"<AgentID>{AGENT}</AgentID>",
        "<AppType><![CDATA[wxwork]]></AppType>",
    )


def test_enter_agent_and_menu_click(peer, receiver):
    peer.enter_agent("rep001")
    assert receiver.plaintext() == xml(
        *HEAD,
        "<MsgType><![CDATA[event]]></MsgType>",
        "<Event><![CDATA[enter_agent]]></Event>",
        "<EventKey><![CDATA[]]></EventKey>",
        f"<AgentID>{AGENT}</AgentID>",
    )
    peer.menu_click("rep001", "menu_todo")
    assert receiver.plaintext() == xml(
        *HEAD,
        "<MsgType><![CDATA[event]]></MsgType>",
        "<Event><![CDATA[click]]></Event>",
        "<EventKey><![CDATA[menu_todo]]></EventKey>",
        f"<AgentID>{AGENT}</AgentID>",
    )


def test_card_click_carries_a_single_use_response_code(peer, receiver, state, api, token):
    sent = send(api, token, button_card("rep001"))
    assert sent["errcode"] == 0 and sent["response_code"]
    peer.card_click("rep001", "overdue-42", "done:42")
    code = state.callbacks[-1].fields["response_code"]
    assert receiver.plaintext() == xml(
        *HEAD,
        "<MsgType><![CDATA[event]]></MsgType>",
        "<Event><![CDATA[template_card_event]]></Event>",
        "<EventKey><![CDATA[done:42]]></EventKey>",
        "<TaskId><![CDATA[overdue-42]]></TaskId>",
        "<CardType><![CDATA[button_interaction]]></CardType>",
        f"<ResponseCode><![CDATA[{code}]]></ResponseCode>",
        f"<AgentID>{AGENT}</AgentID>",
    )
    update = {
        "userids": ["rep001"],
        "agentid": AGENT,
        "response_code": code,
        "button": {"replace_name": "已完成 ✓"},
    }
    path = "/cgi-bin/message/update_template_card"
    assert api.post(path, params={"access_token": token}, json=update).json()["errcode"] == 0
    assert state.card_to("rep001", "overdue-42")["replaced_button"] == "已完成 ✓"
    assert api.post(path, params={"access_token": token}, json=update).json()["errcode"] == 60140
    assert (
        api.post(path, params={"access_token": token}, json={**update, "response_code": "nope"}).json()[
            "errcode"
        ]
        == 60140
    )
    send_code = {**update, "response_code": sent["response_code"], "button": {"replace_name": "已顺延"}}
    assert api.post(path, params={"access_token": token}, json=send_code).json()["errcode"] == 0
    with pytest.raises(LookupError):
        peer.card_click("rep002", "overdue-42", "done:42")


def test_vote_card_click_lists_selected_options(peer, receiver, api, token):
    card = {
        "touser": "mgr001",
        "msgtype": "template_card",
        "agentid": AGENT,
        "template_card": {
            "card_type": "vote_interaction",
            "main_title": {"title": "价格审批"},
            "task_id": "approve-7",
            "checkbox": {
                "question_key": "q1",
                "mode": 0,
                "option_list": [{"id": "yes", "text": "同意"}, {"id": "no", "text": "驳回"}],
            },
            "submit_button": {"text": "提交", "key": "submit:7"},
        },
    }
    assert send(api, token, card)["errcode"] == 0
    peer.card_click("mgr001", "approve-7", "submit:7", selected={"q1": ["yes"]})
    assert "<CardType><![CDATA[vote_interaction]]></CardType>" in receiver.plaintext()
    assert receiver.plaintext().endswith(
        "<SelectedItems><SelectedItem><QuestionKey><![CDATA[q1]]></QuestionKey><OptionIds>"
        "<OptionId><![CDATA[yes]]></OptionId></OptionIds></SelectedItem></SelectedItems>\n</xml>"
    )


def test_msg_ids_are_unique_64_bit_ints(peer, receiver, state):
    for _ in range(3):
        peer.text("rep001", "x")
    ids = [c.fields["msg_id"] for c in state.callbacks]
    assert len(set(ids)) == 3 and all(0 < i < 2**63 for i in ids)


def test_resend_repeats_the_exact_request(peer, receiver, state):
    peer.text("rep001", "重试我")
    peer.resend()
    assert receiver.requests[0] == receiver.requests[1]
    assert state.callbacks[-1].attempts == 2 and state.callbacks[-1].status == 200


def test_verify_url_and_raw_post(peer, receiver):
    for _ in range(5):  # echostr often holds + and /: they must arrive percent-encoded
        assert peer.verify_url().ok
    assert peer.raw_post({"msg_signature": "x", "timestamp": "1", "nonce": "2"}, "<xml/>").status_code == 200
    assert receiver.requests[-1][1] == b"<xml/>"


def test_failed_callback_is_recorded(state, receiver):
    receiver.status = 403
    peer = WeComPeer(
        state,
        callback_url="/wecom/callback",
        token=TOKEN,
        aes_key=AES_KEY,
        corp_id=CORP,
        agent_id=AGENT,
        client=TestClient(receiver.app),
    )
    assert peer.text("rep001", "x").status_code == 403
    assert state.callbacks[-1].status == 403


# -- the API: tokens -------------------------------------------------------------------------------
def test_gettoken_checks_credentials_and_reuses_a_valid_token(api):
    def get(**query: str) -> dict:
        return api.get("/cgi-bin/gettoken", params=query).json()

    assert get(corpid=CORP, corpsecret="wrong")["errcode"] == 40001
    assert get(corpid="other", corpsecret="s3cret")["errcode"] == 40013
    assert get(corpid=CORP)["errcode"] == 41004
    first, second = get(corpid=CORP, corpsecret="s3cret"), get(corpid=CORP, corpsecret="s3cret")
    assert first["access_token"] == second["access_token"] and first["expires_in"] == 7200


def test_every_call_needs_a_valid_token(api, state, token, clock):
    assert send(api, "", text_to("rep001"))["errcode"] == 41001
    assert send(api, "bogus", text_to("rep001"))["errcode"] == 40014
    assert send(api, token, text_to("rep001"))["errcode"] == 0
    state.expire_tokens()
    assert send(api, token, text_to("rep001"))["errcode"] == 42001
    fresh = api.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": "s3cret"}).json()[
        "access_token"
    ]
    assert fresh != token and send(api, fresh, text_to("rep001"))["errcode"] == 0
    clock.advance(seconds=7200)
    assert send(api, fresh, text_to("rep001"))["errcode"] == 42001
    state.revoke_tokens()
    assert send(api, fresh, text_to("rep001"))["errcode"] == 40014
    assert (
        api.get("/cgi-bin/media/get", params={"access_token": "bogus", "media_id": "x"}).json()["errcode"]
        == 40014
    )
    assert len(state.messages_to("rep001")) == 2


# -- the API: message/send -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"touser": "rep001", "msgtype": "text", "text": {"content": "x"}}, 41011),
        (text_to("rep001", agentid=999), 40056),
        ({"touser": "rep001", "msgtype": "fax", "agentid": AGENT, "fax": {}}, 40008),
        ({"touser": "rep001", "msgtype": "text", "agentid": AGENT}, 40058),
        (text_to("rep001", ""), 44004),
        (text_to("rep001", "字" * 683), 45002),  # 2049 bytes of UTF-8
        (text_to(""), 40031),
        (text_to("ghost|nobody"), 81013),
        ({"touser": "rep001", "msgtype": "image", "agentid": AGENT, "image": {"media_id": "gone"}}, 40007),
        (
            {
                **button_card("rep001"),
                "template_card": {**button_card("rep001")["template_card"], "task_id": None},
            },
            40058,
        ),
        (
            {
                **button_card("rep001"),
                "template_card": {**button_card("rep001")["template_card"], "card_type": None},
            },
            40058,
        ),
        (
            {
                **button_card("rep001"),
                "template_card": {**button_card("rep001")["template_card"], "main_title": {}},
            },
            41016,
        ),
        (
            {
                **button_card("rep001"),
                "template_card": {**button_card("rep001")["template_card"], "button_list": []},
            },
            40058,
        ),
        (
            {
                "touser": "rep001",
                "msgtype": "template_card",
                "agentid": AGENT,
                "template_card": {"card_type": "text_notice", "main_title": {"title": "通知"}},
            },
            40058,
        ),  # no card_action
    ],
)
def test_malformed_messages_are_refused(api, token, state, body, errcode):
    answer = send(api, token, body)
    assert answer["errcode"] == errcode, answer
    assert state.all_deliveries() == []


def test_text_of_exactly_2048_bytes_and_invalid_users(api, token, state):
    answer = send(api, token, text_to("rep001|ghost", "字" * 682 + "ab"))
    assert answer["errcode"] == 0 and answer["invaliduser"] == "ghost"
    assert state.texts_to("rep001") == ["字" * 682 + "ab"] and state.messages_to("ghost") == []


def test_invalid_json_is_a_data_format_error(api, token):
    answer = api.post("/cgi-bin/message/send", params={"access_token": token}, content=b"{not json").json()
    assert answer["errcode"] == 47001


def test_a_card_task_id_is_used_once(api, token):
    assert send(api, token, button_card("rep001"))["errcode"] == 0
    assert send(api, token, button_card("rep002"))["errcode"] == 40058


def test_the_31st_message_in_a_minute_is_dropped(api, token, state, clock):
    answers = [send(api, token, text_to("rep001", f"第{i}条")) for i in range(31)]
    assert all(a["errcode"] == 0 for a in answers)  # WeCom says nothing
    assert len(state.messages_to("rep001")) == 30
    assert [(d.userid, d.body["text"]["content"], d.reason) for d in state.dropped] == [
        ("rep001", "第30条", "rate_limit_minute")
    ]
    assert send(api, token, text_to("rep002"))["errcode"] == 0 and len(state.messages_to("rep002")) == 1
    clock.advance(seconds=59)
    send(api, token, text_to("rep001", "还是太快"))
    assert len(state.dropped) == 2
    clock.advance(seconds=2)
    send(api, token, text_to("rep001", "一分钟后"))
    assert state.texts_to("rep001")[-1] == "一分钟后"


def test_hourly_limit(clock):
    state = FakeWeCom(corp_id=CORP, secret="s", agent_id=AGENT, clock=clock, per_hour=3)
    body = text_to("rep001")
    for _ in range(4):
        state.send_message(body)
        clock.advance(seconds=61)
    assert len(state.messages_to("rep001")) == 3 and state.dropped[0].reason == "rate_limit_hour"


def test_duplicate_check_suppresses_a_repeat_within_the_interval(api, token, state, clock):
    body = text_to("rep001", "承诺回访提醒", enable_duplicate_check=1, duplicate_check_interval=600)
    first, second = send(api, token, body), send(api, token, body)
    assert first["errcode"] == second["errcode"] == 0 and first["msgid"] == second["msgid"]
    assert len(state.messages_to("rep001")) == 1 and len(state.duplicates) == 1
    clock.advance(seconds=600)
    send(api, token, body)
    assert len(state.messages_to("rep001")) == 2
    send(api, token, text_to("rep001", "承诺回访提醒"))  # without the flag WeCom delivers repeats
    send(api, token, text_to("rep001", "承诺回访提醒"))
    assert len(state.messages_to("rep001")) == 4


def test_duplicate_check_lets_a_card_be_resent_after_a_timeout(api, token, state):
    body = {**button_card("rep001"), "enable_duplicate_check": 1}
    state.fail_next(1, Fault.TIMEOUT, paths=["message/send"])
    with pytest.raises(EmulatedTimeout):
        send(api, token, body)
    again = send(api, token, body)
    assert again["errcode"] == 0 and again["response_code"]
    assert len(state.messages_to("rep001")) == 1


def test_wait_for_messages_returns_once_delivered(state):
    state.send_message(text_to("rep001"))
    assert len(state.wait_for_messages("rep001", 1, timeout=0.01)) == 1
    assert state.wait_for_messages("rep002", 1, timeout=0.01) == []


# -- media -----------------------------------------------------------------------------------------
def test_media_round_trip_and_errors(api, token, state, clock):
    up = api.post(
        "/cgi-bin/media/upload",
        params={"access_token": token, "type": "image"},
        files={"media": ("货架.png", PNG, "image/png")},
    ).json()
    assert up["errcode"] == 0 and up["type"] == "image" and up["created_at"] == str(TS)
    got = api.get("/cgi-bin/media/get", params={"access_token": token, "media_id": up["media_id"]})
    assert got.content == PNG and got.headers["content-type"] == "image/png"
    assert "filename*=UTF-8''%E8%B4%A7%E6%9E%B6.png" in got.headers["content-disposition"]
    assert (
        send(
            api,
            token,
            {"touser": "rep001", "msgtype": "image", "agentid": AGENT, "image": {"media_id": up["media_id"]}},
        )["errcode"]
        == 0
    )
    bad = api.get("/cgi-bin/media/get", params={"access_token": token, "media_id": "unknown"})
    assert bad.status_code == 200 and bad.headers["content-type"].startswith("application/json")
    assert bad.json()["errcode"] == 40007

    def upload(kind: str, data: bytes) -> int:
        return api.post(
            "/cgi-bin/media/upload",
            params={"access_token": token, "type": kind},
            files={"media": ("f", data, "application/octet-stream")},
        ).json()["errcode"]

    assert upload("image", b"GIF89a......") == 40005
    assert upload("image", b"\xff\xd8\xff") == 40006
    assert upload("sticker", PNG) == 40004
    clock.advance(days=3, seconds=1)  # media_id lives 3 days
    fresh = api.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": "s3cret"}).json()[
        "access_token"
    ]
    assert (
        api.get("/cgi-bin/media/get", params={"access_token": fresh, "media_id": up["media_id"]}).json()[
            "errcode"
        ]
        == 40007
    )


# -- schedules and menus ---------------------------------------------------------------------------
def test_schedule_add_update_del_are_recorded(api, token, state):
    schedule = {
        "start_time": TS + 3600,
        "end_time": TS + 7200,
        "attendees": [{"userid": "rep001"}],
        "summary": "回访 张三超市（补货承诺）",
        "reminders": {"is_remind": 1, "remind_before_event_secs": 3600},
    }

    def post(op: str, body: dict) -> dict:
        return api.post(f"/cgi-bin/oa/schedule/{op}", params={"access_token": token}, json=body).json()

    added = post("add", {"schedule": schedule})
    sid = added["schedule_id"]
    assert added["errcode"] == 0 and state.schedules[sid]["summary"] == "回访 张三超市（补货承诺）"
    assert (
        post("update", {"schedule": {**schedule, "schedule_id": sid, "summary": "改期回访"}})["errcode"] == 0
    )
    assert state.schedules[sid]["summary"] == "改期回访"
    assert post("del", {"schedule_id": sid})["errcode"] == 0 and state.schedules == {}
    assert post("del", {"schedule_id": sid})["errcode"] == 40058
    assert post("update", {"schedule": {**schedule, "schedule_id": "nope"}})["errcode"] == 40058
    assert (
        post("add", {"schedule": {**schedule, "reminders": {"remind_before_event_secs": 60}}})["errcode"]
        == 40058
    )
    assert post("add", {"schedule": {**schedule, "organizer": "rep001"}})["errcode"] == 40058
    assert [(op.op, op.schedule_id) for op in state.schedule_log] == [
        ("add", sid),
        ("update", sid),
        ("del", sid),
    ]
    assert [c.path for c in state.calls_to("oa/schedule/add")] == ["oa/schedule/add"] * 3


def test_menu_create(api, token, state):
    menu = {
        "button": [
            {"type": "click", "name": "我的待办", "key": "menu_todo"},
            {
                "name": "更多",
                "sub_button": [{"type": "location_select", "name": "签到", "key": "menu_checkin"}],
            },
        ]
    }
    url = "/cgi-bin/menu/create"
    assert api.post(url, params={"access_token": token, "agentid": AGENT}, json=menu).json()["errcode"] == 0
    assert state.menus[AGENT] == menu
    assert api.post(url, params={"access_token": token, "agentid": 1}, json=menu).json()["errcode"] == 40056
    assert (
        api.post(
            url,
            params={"access_token": token, "agentid": AGENT},
            json={"button": [{"type": "click", "name": "x"}]},
        ).json()["errcode"]
        == 40058
    )


def test_unknown_api_is_recorded_and_refused(api, token, state):
    assert (
        api.post("/cgi-bin/message/recall", params={"access_token": token}, json={}).json()["errcode"]
        == 48002
    )
    assert state.calls[-1].path == "message/recall"


# -- faults ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "errcode"), [(-1, -1), (45009, 45009), (Fault.NO_RECIPIENT, 81013), ("system_busy", -1)]
)
def test_errcode_faults_do_nothing_and_pass(api, token, state, mode, errcode):
    state.fail_next(2, mode)
    assert [send(api, token, text_to("rep001"))["errcode"] for _ in range(3)] == [errcode, errcode, 0]
    assert len(state.messages_to("rep001")) == 1
    assert [c.fault for c in state.calls_to("message/send")] == [
        Fault(state.faults_injected[0].mode).value
    ] * 2 + [None]


def test_http_502_fault(api, token, state):
    state.fail_next(1, 502)
    answer = api.post("/cgi-bin/message/send", params={"access_token": token}, json=text_to("rep001"))
    assert answer.status_code == 502 and "Bad Gateway" in answer.text
    assert state.messages_to("rep001") == [] and state.calls[-1].status == 502


def test_timeout_fault_delivers_then_times_out(api, token, state):
    state.fail_next(1, "timeout")
    with pytest.raises(httpx.ReadTimeout):
        send(api, token, text_to("rep001", "已送达但没有回音"))
    assert state.texts_to("rep001") == ["已送达但没有回音"]
    assert state.calls[-1].fault == "timeout" and state.calls[-1].errcode == 0


async def test_timeout_fault_through_an_async_asgi_transport(state):
    app = FastAPI()
    app.include_router(create_api_router(state))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://wecom/cgi-bin/"
    ) as client:
        token = (await client.get("gettoken", params={"corpid": CORP, "corpsecret": "s3cret"})).json()[
            "access_token"
        ]
        state.fail_next(1, Fault.TIMEOUT)
        with pytest.raises(httpx.TimeoutException):
            await client.post("message/send", params={"access_token": token}, json=text_to("rep001"))
    assert len(state.messages_to("rep001")) == 1


def test_faults_respect_paths_and_spare_gettoken(api, state):
    state.fail_next(1, -1, paths=["media/get"])
    state.fail_next(1, -1)
    token = api.get("/cgi-bin/gettoken", params={"corpid": CORP, "corpsecret": "s3cret"}).json()
    assert token["errcode"] == 0
    assert send(api, token["access_token"], text_to("rep001"))["errcode"] == -1
    assert send(api, token["access_token"], text_to("rep001"))["errcode"] == 0
    got = api.get(
        "/cgi-bin/media/get", params={"access_token": token["access_token"], "media_id": "x"}
    ).json()
    assert got["errcode"] == -1 and state.faults_pending == 0


def test_fail_rate_is_seeded_and_can_be_turned_off(api, token, state):
    def outcomes() -> list[tuple[int, int | None]]:
        answers = [
            api.post("/cgi-bin/message/send", params={"access_token": token}, json=text_to("rep001"))
            for _ in range(20)
        ]
        return [(a.status_code, a.json()["errcode"] if a.status_code == 200 else None) for a in answers]

    state.fail_rate(0.5, modes=[-1, 502], seed=7)
    first = outcomes()
    state.fail_rate(0.5, modes=[-1, 502], seed=7)
    assert outcomes() == first and {(200, -1), (502, None), (200, 0)} <= set(first)
    state.fail_rate(0)
    assert set(outcomes()) == {(200, 0)}
    with pytest.raises(ValueError):
        state.fail_next(1, "lightning")


# -- the chat page ---------------------------------------------------------------------------------
USERS = [
    {"userid": "rep001", "name": "张伟", "role": "rep"},
    {"userid": "mgr001", "name": "王强", "role": "supervisor"},
]


@pytest.fixture
def chat(state, peer) -> TestClient:
    return TestClient(
        create_emulator_app(
            state, peer=peer, users=USERS, places=[{"label": "味源超市门口", "lat": 23.134, "lng": 113.358}]
        )
    )


def test_chat_page_and_config(chat):
    page = chat.get("/")
    assert page.status_code == 200 and "企业微信" in page.text and "销售助手" in page.text
    assert "http" not in re.sub(r'(href|src)="/emu/[^"]+"', "", page.text.split("<body>")[1])  # no CDN
    config = chat.get("/emu/config").json()
    assert [(g["label"], [u["name"] for u in g["users"]]) for g in config["groups"]] == [
        ("业务员", ["张伟"]),
        ("销售主管", ["王强"]),
    ]
    for asset in ("chat.js", "chat.css"):
        assert chat.get(f"/emu/static/{asset}").status_code == 200


def test_chat_sends_through_the_peer_and_shows_replies(chat, receiver, state, api, token):
    assert chat.post("/emu/send", json={"user": "rep001", "type": "text", "content": "拜访 味源超市"}).json()[
        "ok"
    ]
    assert "<Content><![CDATA[拜访 味源超市]]></Content>" in receiver.plaintext()
    assert chat.post(
        "/emu/send",
        json={"user": "rep001", "type": "location_report", "lat": 23.1, "lng": 113.3, "precision": 20},
    ).json()["ok"]
    assert "<Event><![CDATA[LOCATION]]></Event>" in receiver.plaintext()
    files = [("files", ("a.png", PNG, "image/png")), ("files", ("b.png", PNG, "image/png"))]
    assert chat.post("/emu/upload", data={"user": "rep001"}, files=files).json()["ok"]
    assert ["<MsgType><![CDATA[image]]></MsgType>" in receiver.plaintext(i) for i in (-2, -1)] == [True, True]
    send(
        api,
        token,
        {"touser": "rep001", "msgtype": "markdown", "agentid": AGENT, "markdown": {"content": "**已记录**"}},
    )
    send(api, token, button_card("rep001"))
    poll = chat.get("/emu/poll", params={"user": "rep001"}).json()
    kinds = [(i["dir"], i.get("kind") or i.get("msgtype")) for i in poll["items"]]
    assert kinds == [
        ("out", "text"),
        ("out", "location_report"),
        ("out", "image"),
        ("out", "image"),
        ("in", "markdown"),
        ("in", "template_card"),
    ]
    assert poll["counts"] == {"rep001": 2, "mgr001": 0}
    assert chat.get("/emu/poll", params={"user": "rep001", "since": poll["version"]}).json() == {
        "version": poll["version"],
        "changed": False,
    }
    assert chat.post("/emu/card", json={"user": "rep001", "task_id": "overdue-42", "key": "done:42"}).json()[
        "ok"
    ]
    assert "<EventKey><![CDATA[done:42]]></EventKey>" in receiver.plaintext()
    media_id = poll["items"][2]["fields"]["media_id"]
    assert chat.get(f"/emu/media/{media_id}").content == PNG
    assert chat.post("/emu/send", json={"user": "nobody", "type": "text", "content": "x"}).status_code == 400
    assert (
        chat.post("/emu/card", json={"user": "mgr001", "task_id": "none", "key": "k"}).json()["ok"] is False
    )


def test_chat_reports_an_unreachable_assistant_and_can_redeliver(state, receiver):
    up = {"ok": False}

    def transport(request: httpx.Request) -> httpx.Response:
        if not up["ok"]:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200)

    peer = WeComPeer(
        state,
        callback_url="http://assistant/wecom/callback",
        token=TOKEN,
        aes_key=AES_KEY,
        corp_id=CORP,
        agent_id=AGENT,
        client=httpx.Client(transport=httpx.MockTransport(transport)),
    )
    chat = TestClient(create_emulator_app(state, peer=peer, users=USERS))
    answer = chat.post("/emu/send", json={"user": "rep001", "type": "text", "content": "在吗"}).json()
    assert answer["ok"] is False and "助手未响应" in answer["error"]
    item = chat.get("/emu/poll", params={"user": "rep001"}).json()["items"][-1]
    assert item["error"].startswith("ConnectError") and item["status"] is None
    up["ok"] = True
    assert chat.post("/emu/resend", json={"seq": item["seq"]}).json()["ok"]
    item = chat.get("/emu/poll", params={"user": "rep001"}).json()["items"][-1]
    assert (item["status"], item["error"], item["attempts"]) == (200, None, 2)
