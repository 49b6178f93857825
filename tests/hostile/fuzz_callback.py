"""Atheris fuzz target: the callback's untrusted input path — the outer envelope, the signature check, the
decryption and the inner message parser. The first byte picks the stage, the rest is its input; one stage
seals the input with the corp's key first, so the inner parser sees authenticated input (what a holder of
the key could send). The only declared failure is bot.wecom.crypto.CallbackRejected; anything else is a crash.

    python tests/hostile/fuzz_callback.py -runs=50000 [-max_total_time=60] [CORPUS_DIR]
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["bot", "defusedxml", "wechatpy", "xml"]):
    from bot.wecom.crypto import CallbackRejected, WeComCrypto
    from bot.wecom.parse import outer_encrypt, parse_inbound

CRYPTO = WeComCrypto(
    token="testtoken", encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", corp_id="ww_test_corp"
)


def one_input(data: bytes) -> None:
    mode, rest = (data[0] % 4, data[1:]) if data else (0, b"")
    text = rest.decode("utf-8", "replace")  # seeds stay readable; no lone surrogates possible
    try:
        if mode == 0:  # the raw POST body, signed with whatever the attacker puts in the query string
            encrypted, _to = outer_encrypt(rest)
            CRYPTO.verify("0" * 40, "1700000000", "1", encrypted)
        elif mode == 1:  # a forged Encrypt value that passed a (leaked-token) signature check
            CRYPTO.decrypt(text)
        elif mode == 2:  # authenticated garbage: sealed with the real key, then decrypted and parsed
            params, enc = CRYPTO.seal(text, timestamp="1700000000", nonce="1")
            CRYPTO.verify(params["msg_signature"], "1700000000", "1", enc)
            parse_inbound(CRYPTO.decrypt(enc))
        else:
            parse_inbound(text)
    except CallbackRejected:
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
