"""SMS through Tencent Cloud SMS (API 3.0, action SendSms, version 2021-01-11), signed with TC3-HMAC-SHA256.

The signature (Tencent Cloud API 3.0 "Signature v3"):
  CanonicalRequest = POST \\n / \\n (empty query) \\n CanonicalHeaders \\n SignedHeaders \\n hex(SHA256(body))
    CanonicalHeaders = "content-type:application/json; charset=utf-8\\nhost:<host>\\nx-tc-action:sendsms\\n"
    SignedHeaders    = "content-type;host;x-tc-action"
  StringToSign = "TC3-HMAC-SHA256\\n<timestamp>\\n<date>/sms/tc3_request\\n" + hex(SHA256(CanonicalRequest))
    (date: the UTC date of the timestamp, YYYY-MM-DD)
  key = HMAC("TC3" + SecretKey, date) → HMAC(·, "sms") → HMAC(·, "tc3_request")
  Authorization = "TC3-HMAC-SHA256 Credential=<SecretId>/<date>/sms/tc3_request, SignedHeaders=..., Signature=
    hex(HMAC(key, StringToSign))"
The timestamp comes from the injected clock; Tencent refuses one more than 5 minutes off
(AuthFailure.SignatureExpire).

A failure's class: network errors, HTTP 5xx, InternalError.*, RequestLimitExceeded* and the per-number
frequency limits → TRANSIENT; AuthFailure.*, a rejected parameter, sign name or template, a daily limit →
REQUEST (parked, the admins told with the console step); an answer that is not Tencent's JSON → UNEXPECTED.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.channels import ChannelError
from bot.wecom.client import ErrorClass
from core.clock import Clock

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host;x-tc-action"
FIX = "在腾讯云控制台核对 API 密钥（SMS_SECRET_ID/SMS_SECRET_KEY）、短信应用 SdkAppId、已审核的签名与模板（docs/channels.md）"
_TRANSIENT_CODES = (
    "InternalError",
    "RequestLimitExceeded",
    "LimitExceeded.PhoneNumberThirtySecondLimit",
    "LimitExceeded.PhoneNumberOneHourLimit",
    "FailedOperation.FailResolvePacket",
)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def authorization(
    *, secret_id: str, secret_key: str, host: str, body: bytes, timestamp: int, action: str = ACTION
) -> str:
    """The Authorization header of one request (module docstring)."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_headers = f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{action.lower()}\n"
    canonical = "\n".join(
        ["POST", "/", "", canonical_headers, SIGNED_HEADERS, hashlib.sha256(body).hexdigest()]
    )
    scope = f"{day}/{SERVICE}/tc3_request"
    to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), day), SERVICE), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    )


def e164(mobile: str) -> str:
    """+86 for an 11-digit mainland number; a number with + kept as it is (spaces and dashes dropped)."""
    digits = re.sub(r"[\s-]", "", mobile)
    if re.fullmatch(r"1\d{10}", digits):
        return "+86" + digits
    return digits if digits.startswith("+") else "+" + digits


@dataclass
class TencentSms:
    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    template_id: str
    clock: Clock
    region: str = "ap-guangzhou"
    endpoint: str = "https://sms.tencentcloudapi.com/"
    transport: Any = None
    timeout: float = 10.0

    def request(self, *, to: str, params: list[str], session: str) -> tuple[dict[str, str], bytes]:
        """The headers and body of one SendSms call."""
        body = json.dumps(
            {
                "PhoneNumberSet": [e164(to)],
                "SmsSdkAppId": self.sdk_app_id,
                "SignName": self.sign_name,
                "TemplateId": self.template_id,
                "TemplateParamSet": [str(p) for p in params],
                "SessionContext": session,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        host = urlsplit(self.endpoint).netloc
        timestamp = int(self.clock.now().timestamp())
        headers = {
            "Authorization": authorization(
                secret_id=self.secret_id,
                secret_key=self.secret_key,
                host=host,
                body=body,
                timestamp=timestamp,
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }
        return headers, body

    async def send(self, *, to: str, params: list[str], session: str) -> dict[str, Any]:
        headers, body = self.request(to=to, params=params, session=session)
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as http:
                resp = await http.post(self.endpoint, content=body, headers=headers)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise ChannelError(
                ErrorClass.TRANSIENT, "短信服务暂时无法连接", type(exc).__name__, fix=FIX
            ) from None
        if resp.status_code >= 500:
            raise ChannelError(
                ErrorClass.TRANSIENT, "短信服务暂时不可用", f"HTTP {resp.status_code}", fix=FIX
            )
        try:
            answer = resp.json()["Response"]
        except (ValueError, KeyError, TypeError):
            raise ChannelError(
                ErrorClass.UNEXPECTED, "短信服务返回了无法识别的应答", f"HTTP {resp.status_code}", fix=FIX
            ) from None
        error = answer.get("Error") if isinstance(answer, dict) else None
        if error:
            raise _refused(str(error.get("Code")), str(error.get("Message", "")), answer.get("RequestId"))
        statuses = answer.get("SendStatusSet") if isinstance(answer, dict) else None
        if not statuses or not isinstance(statuses[0], dict):
            raise ChannelError(
                ErrorClass.UNEXPECTED, "短信服务返回了无法识别的应答", str(answer)[:200], fix=FIX
            )
        status = statuses[0]
        if status.get("Code") != "Ok":
            raise _refused(str(status.get("Code")), str(status.get("Message", "")), answer.get("RequestId"))
        return {"sms": status.get("PhoneNumber"), "serial_no": status.get("SerialNo")}


def _refused(code: str, message: str, request_id: Any) -> ChannelError:
    detail = f"{code}: {message} (RequestId {request_id})"
    if code.startswith(_TRANSIENT_CODES):
        return ChannelError(ErrorClass.TRANSIENT, "短信服务繁忙或限频", detail, fix=FIX)
    if code.startswith("AuthFailure"):
        return ChannelError(ErrorClass.REQUEST, "腾讯云拒绝了短信接口的签名或密钥", detail, fix=FIX)
    return ChannelError(ErrorClass.REQUEST, "腾讯云拒绝发送这条短信", detail, fix=FIX)
