"""WeCom callback crypto (加解密方案, doc 90968).

wechatpy serves for the AES part: `wechatpy.enterprise.crypto.PrpCrypto` implements AES-256-CBC with
IV = key[:16], 32-byte PKCS#7, and the random(16) + length(4) + msg + receive_id framing.
Where it falls short we do our own: the signature is compared in constant time (wechatpy uses `!=`)
and checked *before* any decryption; a malformed ciphertext raises one declared error instead of
struct/Unicode errors; the timestamp window is ours (wechatpy checks none).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string

from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException


class CallbackRejected(Exception):
    """A callback we refuse. `reason` is a short machine word for the log line."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


class WeComCrypto:
    def __init__(self, *, token: str, encoding_aes_key: str, corp_id: str):
        if len(encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        self.token = token
        self.corp_id = corp_id
        self.key = base64.b64decode(encoding_aes_key + "=")
        self._prp = PrpCrypto(self.key)  # holds the Cipher only (a decryptor is made per message): reusable

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").lower().encode()):
            raise CallbackRejected("bad_signature")

    def decrypt(self, encrypted: str) -> str:
        """Decrypt an already verified `Encrypt` / echostr value; the receive id must be our CorpID."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CallbackRejected("bad_base64") from exc
        if not raw or len(raw) % 32:
            raise CallbackRejected("bad_ciphertext_length")
        try:
            return self._prp.decrypt(encrypted, self.corp_id)
        except InvalidCorpIdException as exc:
            raise CallbackRejected("wrong_receive_id") from exc
        except Exception as exc:  # noqa: BLE001 - padding/length/utf-8 garbage: one declared error
            raise CallbackRejected("bad_plaintext", type(exc).__name__) from exc

    def verify_and_decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        self.verify(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    # -- the sending side, used by the emulator (and passive replies) --------------------------------
    def encrypt(self, plaintext: str, *, receive_id: str | None = None) -> str:
        enc = self._prp.encrypt(plaintext, self.corp_id if receive_id is None else receive_id)
        return enc.decode() if isinstance(enc, bytes) else enc

    def seal(
        self, plaintext: str, *, timestamp: str, nonce: str | None = None, receive_id: str | None = None
    ) -> tuple[dict[str, str], str]:
        """Encrypt + sign like WeCom: returns (query params, encrypted value)."""
        nonce = nonce or "".join(secrets.choice(string.digits) for _ in range(10))
        encrypted = self.encrypt(plaintext, receive_id=receive_id)
        params = {
            "msg_signature": signature(self.token, timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        return params, encrypted
