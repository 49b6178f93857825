"""Email through SMTP (the standard library's smtplib, in a thread): implicit TLS (port 465), STARTTLS
(587) or plain (a relay on the LAN), with login when SMTP_USER is set.

A failure's class: a 4xx answer, a refused or dropped connection, a time-out → TRANSIENT (retried with
backoff); a 5xx answer (a refused login, a rejected address or message) or a server without STARTTLS →
REQUEST (parked, the admins told). Each email carries a Message-ID made from its outbox row, the same on
every retry, so a repeat after a lost answer is recognisable by the receiving server and the mail client.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from bot.channels import ChannelError
from bot.wecom.client import ErrorClass

FIX = "检查 SMTP_HOST、SMTP_PORT、SMTP_TLS、SMTP_USER、SMTP_PASSWORD 设置与收件人邮箱（docs/channels.md）"


@dataclass
class SmtpEmail:
    host: str
    port: int
    user: str | None
    password: str | None
    tls: str  # ssl | starttls | none
    sender: str
    timeout: float = 20.0

    async def send(self, *, to: str, subject: str, body: str, message_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._send, to, subject, body, message_id)

    def message(self, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        domain = self.sender.rpartition("@")[2] or "localhost"
        msg["Message-ID"] = f"<{message_id}@{domain}>"
        msg.set_content(body)
        return msg

    def _send(self, to: str, subject: str, body: str, message_id: str) -> dict[str, Any]:
        msg = self.message(to, subject, body, message_id)
        context = ssl.create_default_context()
        try:
            if self.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=context)
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (550, b""))
            raise _answer(int(code), _text(text), f"recipient {to} refused") from None
        except smtplib.SMTPResponseException as exc:  # login, sender, data, HELO refused
            raise _answer(exc.smtp_code, _text(exc.smtp_error), type(exc).__name__) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelError(
                ErrorClass.REQUEST, "邮件服务器不支持所配置的加密方式", str(exc), fix=FIX
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, dropped, timed out, TLS handshake
            raise ChannelError(
                ErrorClass.TRANSIENT, "邮件服务器暂时无法连接", f"{type(exc).__name__}: {exc}", fix=FIX
            ) from None
        return {"email": to}


def _text(raw: Any) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _answer(code: int, text: str, what: str) -> ChannelError:
    detail = f"SMTP {code} {text} ({what})"
    if 400 <= code < 500:
        return ChannelError(ErrorClass.TRANSIENT, "邮件服务器暂时拒收", detail, fix=FIX)
    return ChannelError(ErrorClass.REQUEST, "邮件服务器拒收了这封邮件", detail, fix=FIX)
