"""Red-tier alerts by email and SMS through the outbox: a real local SMTP server (aiosmtpd) that refuses the
first attempt, a local Tencent Cloud SMS stand-in that checks the TC3-HMAC-SHA256 signature; delivered once,
retried with backoff, parked and visible when dead, nothing sent twice."""

from __future__ import annotations

import socket
from collections import Counter
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from handlers.context import Ctx
from handlers.messages import Card, Email, Sms
from handlers.sop.scorecard import route_changes
from storage import outbox
from storage import scorecard as R
from storage.models import OutboxRow, UserRow
from tests.support.factories import org
from tests.support.fake_sms import FakeTencentSms
from tests.support.harness import Harness

SECRET_ID = "AKIDtestchannels0001"
SECRET_KEY = "channels-test-secret-key"
RM_EMAIL = "wu.jingli@example.com"
RM_MOBILE = "13800000001"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler: refuses the first `refuse` RCPT commands with `code`, then takes every message."""

    def __init__(self, refuse: int = 0, code: str = "451 4.3.0 Try again later") -> None:
        self.refuse, self.code = refuse, code
        self.attempts = 0
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, N802
        self.attempts += 1
        if self.refuse > 0:
            self.refuse -= 1
            return self.code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    holder: dict[str, Controller] = {}

    def start(handler: Inbox) -> int:
        port = _free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        holder["c"] = controller
        return port

    yield start
    if "c" in holder:
        holder["c"].stop()


@pytest.fixture
def sms(clock):
    with FakeTencentSms(keys={SECRET_ID: SECRET_KEY}, clock=clock) as fake:
        yield fake


def _settings(smtp_port: int | None, sms: FakeTencentSms | None, **extra) -> dict:
    out: dict = {}
    if smtp_port is not None:
        out |= dict(
            SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port, SMTP_TLS="none", SMTP_FROM="assistant@example.com"
        )
    if sms is not None:
        out |= dict(
            SMS_PROVIDER="tencent",
            SMS_SECRET_ID=SECRET_ID,
            SMS_SECRET_KEY=SECRET_KEY,
            SMS_SDK_APP_ID="1400000001",
            SMS_SIGN_NAME="示例食品",
            SMS_TEMPLATE_ID="2000001",
            SMS_ENDPOINT=sms.endpoint,
        )
    return out | extra


def _change(cid: str, name: str, new_score: float) -> R.TierChange:
    return R.TierChange(
        1,
        cid,
        name,
        "rep01",
        "yellow",
        "red",
        70.0,
        new_score,
        "order_frequency",
        "总分70.0→50.0；变化最大：下单频次100分→0分（近90天下单0次），拉低总分30.0分",
        R.ROUTES["red"],
    )


def _red_alert(h: Harness, *changes: R.TierChange) -> list[tuple[str, object]]:
    """Route red-tier changes as the nightly timer does, and write its messages to the outbox."""
    with h.session_factory() as s:
        ctx = Ctx(
            session=s, now=h.clock.now(), user=None, userid="system", source="test", deps=h.services.deps
        )
        route_changes(ctx, list(changes))
        for n, (recipient, reply) in enumerate(ctx.outgoing):
            outbox.enqueue(
                s, recipient=recipient, message=reply.to_dict(), dedupe_key=f"red:{n}", now=h.clock.now()
            )
        s.commit()
    return ctx.outgoing


def _org_with_contacts(h: Harness) -> None:
    with h.session_factory() as s:
        org(s, touched_at=h.clock.now())
        rm = s.get(UserRow, "rm_east")
        rm.email, rm.mobile = RM_EMAIL, RM_MOBILE
        s.commit()


def _rows(h: Harness, kind: str) -> list[OutboxRow]:
    with h.session_factory() as s:
        return list(s.scalars(select(OutboxRow).where(OutboxRow.kind == kind).order_by(OutboxRow.id)))


def _run(h: Harness, ticks: int, seconds: int = 5) -> None:
    for _ in range(ticks):
        h.tick()
        h.clock.advance(seconds=seconds)


def test_red_alert_is_emailed_once_after_a_refusal_and_texted_with_a_valid_signature(
    db_url, tmp_path, redis_server, clock, smtp, sms
):
    inbox = Inbox(refuse=1)
    h = Harness(db_url, tmp_path, redis_server, clock, **_settings(smtp(inbox), sms))
    _org_with_contacts(h)
    out = _red_alert(h, _change("C001", "味源超市", 48.0), _change("C002", "鲜丰社区生鲜", 55.0))
    assert [(to, type(r)) for to, r in out] == [
        ("rm_east", Card),
        ("email:rm_east", Email),
        ("sms:rm_east", Sms),
    ]

    h.tick()  # the SMTP server refuses (451): the email waits with backoff; the SMS goes out
    (email_row,) = _rows(h, "email")
    assert (email_row.status, email_row.attempts) == ("pending", 1)
    assert "451" in email_row.last_error and inbox.messages == []
    assert len(sms.accepted) == 1 and sms.rejected == []

    _run(h, ticks=20)  # the retry, and many more rounds: nothing is sent again
    assert inbox.attempts == 2 and len(inbox.messages) == 1
    rcpts, raw = inbox.messages[0]
    assert rcpts == [RM_EMAIL]
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "【客户评分预警】2位客户降为红色"
    assert mail["To"] == RM_EMAIL and mail["From"] == "assistant@example.com"
    assert mail["Message-ID"] == f"<outbox-{email_row.id}@example.com>"
    body = mail.get_content()
    assert body.startswith("吴经理：") and "味源超市（张伟）70→48分：下单频次100分→0分" in body
    assert "鲜丰社区生鲜" in body and "http" not in body  # no bearer dashboard link leaves WeCom

    (request,) = sms.accepted
    assert request["PhoneNumberSet"] == ["+86" + RM_MOBILE]
    assert request["TemplateParamSet"] == ["2", "味源超市", "48"]
    assert (request["SmsSdkAppId"], request["SignName"], request["TemplateId"]) == (
        "1400000001",
        "示例食品",
        "2000001",
    )
    statuses = Counter((r.kind, r.status) for r in _rows(h, "email") + _rows(h, "sms") + _rows(h, "card"))
    assert statuses == Counter({("email", "sent"): 1, ("sms", "sent"): 1, ("card", "sent"): 1})
    (shown,) = h.texts("rm_east")  # and the WeCom message, as before
    assert "客户评分预警：2位客户降为红色" in shown


def test_a_bad_sms_signature_is_refused_by_the_gateway_and_the_row_is_parked_and_visible(
    db_url, tmp_path, redis_server, clock, sms
):
    h = Harness(db_url, tmp_path, redis_server, clock, **_settings(None, sms, SMS_SECRET_KEY="not-the-key"))
    _org_with_contacts(h)
    _red_alert(h, _change("C001", "味源超市", 48.0))
    _run(h, ticks=10)
    assert sms.accepted == [] and sms.rejected == ["AuthFailure.SignatureFailure"]  # tried once, parked
    (row,) = _rows(h, "sms")
    assert row.status == "dead" and "AuthFailure.SignatureFailure" in row.last_error
    alerts = [t for t in h.texts("admin") if t.startswith("【发送失败告警】")]
    assert len(alerts) == 1 and "sms:rm_east" in alerts[0] and "腾讯云拒绝了短信接口的签名或密钥" in alerts[0]
    assert "SMS_SECRET_ID" in alerts[0]  # the fix names the settings
    assert h.http.get("/readyz").json()["parked_24h"] == 1
    assert _rows(h, "email") == []  # no SMTP configured: no email row at all
    (shown,) = h.texts("rm_east")
    assert "客户评分预警：1位客户降为红色" in shown


def test_the_fake_gateway_refuses_a_tampered_body_and_a_stale_timestamp(clock, sms):
    """The check itself can fail: a request signed for other bytes, or signed 10 minutes ago."""
    import httpx

    from bot.channels.sms import TencentSms

    sender = TencentSms(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        sdk_app_id="1400000001",
        sign_name="示例食品",
        template_id="2000001",
        clock=clock,
        endpoint=sms.endpoint,
    )
    headers, body = sender.request(to=RM_MOBILE, params=["1", "味源超市", "48"], session="s1")
    assert (
        httpx.post(sms.endpoint, content=body, headers=headers).json()["Response"]["SendStatusSet"][0]["Code"]
        == "Ok"
    )
    tampered = body.replace(RM_MOBILE.encode(), b"13900000009")
    answer = httpx.post(sms.endpoint, content=tampered, headers=headers).json()["Response"]
    assert answer["Error"]["Code"] == "AuthFailure.SignatureFailure"
    clock.advance(minutes=10)
    answer = httpx.post(sms.endpoint, content=body, headers=headers).json()["Response"]
    assert answer["Error"]["Code"] == "AuthFailure.SignatureExpire"
    assert len(sms.accepted) == 1


def test_a_transient_sms_failure_is_retried_and_a_mail_server_that_refuses_for_good_parks_the_email(
    db_url, tmp_path, redis_server, clock, smtp, sms
):
    inbox = Inbox(refuse=99, code="550 5.1.1 No such user")
    h = Harness(db_url, tmp_path, redis_server, clock, **_settings(smtp(inbox), sms))
    _org_with_contacts(h)
    sms.fail_next = [502, "RequestLimitExceeded"]  # HTTP 502, then Tencent's rate limit: both transient
    _red_alert(h, _change("C001", "味源超市", 48.0))
    _run(h, ticks=30)
    assert len(sms.accepted) == 1 and sms.rejected == ["RequestLimitExceeded"]
    (sms_row,) = _rows(h, "sms")
    assert (sms_row.status, sms_row.attempts) == ("sent", 2)
    (email_row,) = _rows(h, "email")
    assert email_row.status == "dead" and email_row.attempts == 1 and inbox.attempts == 1  # not retried
    assert inbox.messages == []
    alerts = [t for t in h.texts("admin") if t.startswith("【发送失败告警】")]
    assert len(alerts) == 1 and "email:rm_east" in alerts[0] and "550" in alerts[0]


def test_an_unreachable_mail_server_is_retried_with_backoff_then_parked(
    db_url, tmp_path, redis_server, clock
):
    port = _free_port()  # nothing listens there
    h = Harness(db_url, tmp_path, redis_server, clock, **_settings(port, None))
    _org_with_contacts(h)
    _red_alert(h, _change("C001", "味源超市", 48.0))
    h.tick()
    assert (_rows(h, "email")[0].status, _rows(h, "email")[0].attempts) == ("pending", 1)
    for _ in range(60):  # 60 minutes, a tick a minute
        h.clock.advance(minutes=1)
        h.tick()
    (row,) = _rows(h, "email")
    assert row.status == "dead" and "ConnectionRefusedError" in row.last_error
    # backoff 1 s, 2 s, 4 s … 10 min: a try at minutes 0-6, 8, 11, 16, 25, 35 — parked at the one past 30 minutes
    assert row.attempts == 12
    alerts = [t for t in h.texts("admin") if t.startswith("【发送失败告警】")]
    assert len(alerts) == 1 and "邮件服务器暂时无法连接" in alerts[0]


def test_nothing_goes_by_email_or_sms_without_the_setting_or_the_address(
    db_url, tmp_path, redis_server, clock
):
    h = Harness(db_url, tmp_path, redis_server, clock)  # no SMTP_HOST, no SMS_PROVIDER
    _org_with_contacts(h)
    assert [to for to, _ in _red_alert(h, _change("C001", "味源超市", 48.0))] == ["rm_east"]
    h2 = Harness(
        db_url, tmp_path / "b", redis_server, clock, SMTP_HOST="127.0.0.1", SMTP_FROM="a@example.com"
    )
    with h2.session_factory() as s:
        s.get(UserRow, "rm_east").email = None
        s.commit()
    assert [to for to, _ in _red_alert(h2, _change("C001", "味源超市", 48.0))] == ["rm_east"]


def test_sms_settings_must_be_complete():
    from bot.settings import SettingsError, load_settings
    from tests.support.db import TEST_CORP

    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None, **TEST_CORP, SMS_PROVIDER="tencent", SMS_SECRET_ID="x")
    assert "SMS_SECRET_KEY is needed when SMS_PROVIDER is set" in str(err.value)
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None, **TEST_CORP, SMS_PROVIDER="aliyun")
    assert "SMS_PROVIDER" in str(err.value)


def test_the_nightly_scorecard_timer_emails_and_texts_a_red_tier_alert_once(
    db_url, tmp_path, redis_server, clock, smtp, sms
):
    """The product's own path: the nightly timer fires in the sweep, its messages go into the outbox in the
    timer's transaction, the relay sends the card, the email and the SMS — each once, however often it ticks."""
    from storage import timers
    from storage.models_scorecard import CustomerScoreRow

    inbox = Inbox(refuse=1)
    h = Harness(db_url, tmp_path, redis_server, clock, **_settings(smtp(inbox), sms))
    _org_with_contacts(h)
    with h.session_factory() as s:
        R.recompute(s, now=clock.now(), reason="baseline")  # every customer of the factory org scores red
        was = s.get(CustomerScoreRow, "C001")
        was.score, was.tier = 70.0, "yellow"  # so tonight C001 falls from yellow into red
        timers.schedule(
            s,
            kind="scorecard_nightly",
            business_key="scorecard_nightly:test",
            subject_type="org",
            subject_id="org",
            due_at=clock.now(),
            now=clock.now(),
        )
        s.commit()
    _run(h, ticks=30)
    assert len(inbox.messages) == 1 and inbox.attempts == 2  # refused once, then delivered once
    mail = message_from_bytes(inbox.messages[0][1], policy=policy.default)
    assert (
        mail["Subject"] == "【客户评分预警】1位客户降为红色" and "味源超市（张伟）70→" in mail.get_content()
    )
    (request,) = sms.accepted
    assert request["PhoneNumberSet"] == ["+86" + RM_MOBILE] and request["TemplateParamSet"][:2] == [
        "1",
        "味源超市",
    ]
    assert [t for t in h.texts("rm_east") if "客户评分预警" in t] != []
    rows = _rows(h, "email") + _rows(h, "sms")
    assert [(r.recipient, r.status) for r in rows] == [("email:rm_east", "sent"), ("sms:rm_east", "sent")]
    assert all(r.dedupe_key.startswith("timer:") for r in rows)
