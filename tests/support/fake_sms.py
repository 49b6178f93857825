"""A local stand-in for Tencent Cloud SMS (SendSms, API 3.0) on a free loopback port.

It checks each request the way Tencent's gateway does, written here from the public "Signature v3" steps and
independently of bot/channels/sms.py: the Authorization header's parts, the credential's date and service,
the timestamp within 5 minutes of the (injected) clock, the canonical request rebuilt from the headers the
request itself lists in SignedHeaders (names and values lower-cased and trimmed), the derived key, the
HMAC compared in constant time. A failed check answers like Tencent: HTTP 200 with Response.Error
(AuthFailure.SignatureFailure, AuthFailure.SignatureExpire, AuthFailure.SecretIdNotFound, ...).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AUTH = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})"
)


class FakeTencentSms:
    def __init__(self, *, keys: dict[str, str], clock: Any) -> None:
        self.keys = keys  # SecretId → SecretKey
        self.clock = clock
        self.accepted: list[dict[str, Any]] = []  # request bodies that passed every check
        self.rejected: list[str] = []  # error codes answered
        self.fail_next: list[str | int] = []  # then answer these: an error Code, or an HTTP status
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = fake.answer(self.command, self.path, dict(self.headers.items()), body)
                data = json.dumps({"Response": answer}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> FakeTencentSms:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # -- the gateway's checks ----------------------------------------------------------------------
    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        headers = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            if self.fail_next:
                planned = self.fail_next.pop(0)
                if isinstance(planned, int):
                    return planned, {"RequestId": "fake"}
                return 200, self._error(planned)
            code = self.check(method, path, headers, body)
            if code:
                return 200, self._error(code)
            request = json.loads(body)
            self.accepted.append(request)
            return 200, {
                "SendStatusSet": [
                    {
                        "SerialNo": f"serial-{len(self.accepted)}",
                        "PhoneNumber": request["PhoneNumberSet"][0],
                        "Fee": 1,
                        "SessionContext": request.get("SessionContext", ""),
                        "Code": "Ok",
                        "Message": "send success",
                        "IsoCode": "CN",
                    }
                ],
                "RequestId": f"req-{len(self.accepted)}",
            }

    def _error(self, code: str) -> dict:
        self.rejected.append(code)
        return {"Error": {"Code": code, "Message": f"fake: {code}"}, "RequestId": "fake"}

    def check(self, method: str, path: str, headers: dict[str, str], body: bytes) -> str | None:
        """The error code Tencent would answer, or None when the request is good."""
        auth = AUTH.fullmatch(headers.get("authorization", ""))
        if auth is None:
            return "AuthFailure.InvalidAuthorization"
        if headers.get("x-tc-action") != "SendSms" or headers.get("x-tc-version") != "2021-01-11":
            return "InvalidAction"
        secret_key = self.keys.get(auth["id"])
        if secret_key is None:
            return "AuthFailure.SecretIdNotFound"
        try:
            timestamp = int(headers["x-tc-timestamp"])
        except (KeyError, ValueError):
            return "MissingParameter"
        if abs(self.clock.now().timestamp() - timestamp) > 300:
            return "AuthFailure.SignatureExpire"
        if (
            auth["date"] != datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
            or auth["service"] != "sms"
        ):
            return "AuthFailure.SignatureFailure"
        signed = auth["signed"].split(";")
        if "content-type" not in signed or "host" not in signed or any(h not in headers for h in signed):
            return "AuthFailure.SignatureFailure"
        canonical_headers = "".join(f"{h}:{headers[h].strip().lower()}\n" for h in signed)
        query = path.partition("?")[2]
        canonical = (
            f"{method}\n{path.partition('?')[0]}\n{query}\n{canonical_headers}\n{auth['signed']}\n"
            + hashlib.sha256(body).hexdigest()
        )
        scope = f"{auth['date']}/sms/tc3_request"
        string_to_sign = (
            f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n" + hashlib.sha256(canonical.encode()).hexdigest()
        )
        k_date = hmac.new(b"TC3" + secret_key.encode(), auth["date"].encode(), hashlib.sha256).digest()
        k_service = hmac.new(k_date, b"sms", hashlib.sha256).digest()
        k_signing = hmac.new(k_service, b"tc3_request", hashlib.sha256).digest()
        expected = hmac.new(k_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, auth["sig"]):
            return "AuthFailure.SignatureFailure"
        try:
            request = json.loads(body)
        except ValueError:
            return "InvalidParameter"
        for name in ("PhoneNumberSet", "SmsSdkAppId", "SignName", "TemplateId"):
            if not request.get(name):
                return "MissingParameter"
        return None
