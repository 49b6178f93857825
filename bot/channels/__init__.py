"""Alert channels besides WeCom: email through SMTP and SMS through a provider (docs/channels.md).

Both go through the outbox like every WeCom message (kinds `email` and `sms`), so they inherit its
guarantees: written in the transaction that decided them, sent once by the relay (bot/wecom/relay.py
`_call` hands these kinds to `Channels.send`), retried with backoff while the failure is transient (for 30
minutes), parked `dead` and told to the admins when it is not. A channel reports a failure as a
`ChannelError`: a WeComError of class TRANSIENT, REQUEST or UNEXPECTED only — never CONFIG or RECIPIENT,
which would pause or hold the WeCom side for a problem of the mail server or the SMS account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.wecom.client import ErrorClass, ErrorKind, WeComError

CHANNEL_KINDS = ("email", "sms")
CHANNEL_ERRCODE = -3  # our errcode for a channel's failure (WeCom never uses it)


class ChannelError(WeComError):
    """A failed email or SMS: `cls` TRANSIENT (retried with backoff), REQUEST (parked at once) or
    UNEXPECTED (an answer we cannot read: at most 3 tries)."""

    def __init__(self, cls: ErrorClass, reason: str, detail: str, *, fix: str = "") -> None:
        assert cls in (ErrorClass.TRANSIENT, ErrorClass.REQUEST, ErrorClass.UNEXPECTED)
        super().__init__(CHANNEL_ERRCODE, detail[:400])
        self.kind = ErrorKind(cls, reason, fix)
        self.transient = cls is ErrorClass.TRANSIENT


class EmailSender(Protocol):
    async def send(self, *, to: str, subject: str, body: str, message_id: str) -> dict[str, Any]:
        """Deliver one email; raise ChannelError on failure. Returns what to note (the server's answer)."""
        ...


class SmsSender(Protocol):
    async def send(self, *, to: str, params: list[str], session: str) -> dict[str, Any]:
        """Send the configured template with `params` to one mobile; raise ChannelError on failure."""
        ...


@dataclass
class Channels:
    """The configured channels (None: not configured, and nothing enqueues for it)."""

    email: EmailSender | None = None
    sms: SmsSender | None = None

    @property
    def configured(self) -> frozenset[str]:
        return frozenset(k for k, v in (("email", self.email), ("sms", self.sms)) if v is not None)

    async def send(self, kind: str, message: dict[str, Any], row_id: int) -> dict[str, Any]:
        """Send one outbox row of kind `email` or `sms`."""
        if kind == "email":
            if self.email is None:
                raise ChannelError(
                    ErrorClass.REQUEST, "未配置邮件发送", "SMTP_HOST is not set", fix=_FIX_EMAIL
                )
            return await self.email.send(
                to=message["to"],
                subject=message["subject"],
                body=message["body"],
                message_id=f"outbox-{row_id}",
            )
        if self.sms is None:
            raise ChannelError(ErrorClass.REQUEST, "未配置短信发送", "SMS_PROVIDER is not set", fix=_FIX_SMS)
        return await self.sms.send(
            to=message["to"], params=list(message["params"]), session=f"outbox-{row_id}"
        )


_FIX_EMAIL = "在 .env 中设置 SMTP_HOST 等邮件设置（见 docs/channels.md）后重启"
_FIX_SMS = "在 .env 中设置 SMS_PROVIDER 等短信设置（见 docs/channels.md）后重启"


def build_channels(settings: Any, *, clock: Any, transport: Any = None) -> Channels:
    """The channels the settings configure (bot/settings.py SMTP_*, SMS_*)."""
    from bot.channels.sms import TencentSms
    from bot.channels.smtp import SmtpEmail

    email = None
    if settings.SMTP_HOST:
        email = SmtpEmail(
            host=settings.SMTP_HOST,
            port=settings.SMTP_PORT,
            user=settings.SMTP_USER,
            password=settings.SMTP_PASSWORD,
            tls=settings.SMTP_TLS,
            sender=settings.SMTP_FROM or settings.SMTP_USER,
            timeout=settings.SMTP_TIMEOUT,
        )
    sms = None
    if settings.SMS_PROVIDER == "tencent":
        sms = TencentSms(
            secret_id=settings.SMS_SECRET_ID,
            secret_key=settings.SMS_SECRET_KEY,
            sdk_app_id=settings.SMS_SDK_APP_ID,
            sign_name=settings.SMS_SIGN_NAME,
            template_id=settings.SMS_TEMPLATE_ID,
            region=settings.SMS_REGION,
            endpoint=settings.SMS_ENDPOINT,
            clock=clock,
            transport=transport,
        )
    return Channels(email=email, sms=sms)
