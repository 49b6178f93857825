"""Coverage-guided fuzzing with atheris (reliability.md §6 item 11), bounded: each target runs as its own
process for FUZZ_RUNS inputs (default 50,000 for the callback, 20,000 for the photo gate) or at most
FUZZ_SECONDS, from a seed corpus of valid inputs written here. A crash (an undeclared exception, a hang past
10 s, memory past 1 GB) fails the test with the fuzzer's report. Skipped when atheris is not installed."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from bot.wecom.crypto import WeComCrypto

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SECONDS = int(os.environ.get("FUZZ_SECONDS", "90"))


# the address space of a fuzzing process: Python, atheris and the libraries fit well within it
MEMORY_CAP = 3 << 30


def _memory_cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _fuzz(script: str, corpus: Path, runs: int, tmp_path: Path) -> str:
    runs = int(os.environ.get("FUZZ_RUNS", runs))
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run(
        [
            sys.executable,
            str(HERE / script),
            f"-runs={runs}",
            f"-max_total_time={SECONDS}",
            # libFuzzer's RSS check reads the process's peak RSS, which Linux carries over from the forking
            # parent (a test process past 1 GB would trip it before the first input): the memory cap is an
            # address-space limit set in the child instead, and no single allocation may pass 1 GB
            "-rss_limit_mb=0",
            "-malloc_limit_mb=1024",
            "-timeout=10",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=tmp_path,
        env=env,
        preexec_fn=_memory_cap,
        capture_output=True,
        text=True,
        timeout=SECONDS + 60,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "DONE" in out or "Done" in out, out[-2000:]
    return out


@pytest.mark.slow
def test_fuzz_callback_parsing_and_decryption(tmp_path):
    crypto = WeComCrypto(
        token="testtoken",
        encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        corp_id="ww_test_corp",
    )
    inner = (
        "<xml><ToUserName><![CDATA[ww_test_corp]]></ToUserName><FromUserName><![CDATA[rep01]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>23.1</Location_X>"
        "<Location_Y>113.3</Location_Y><Scale>15</Scale><Label><![CDATA[店]]></Label><MsgId>1</MsgId></xml>"
    )
    event = (
        "<xml><FromUserName>rep01</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType>"
        "<Event>template_card_event</Event><EventKey>k</EventKey><TaskId>t</TaskId><SelectedItems><SelectedItem>"
        "<QuestionKey>q</QuestionKey><OptionIds><OptionId>o</OptionId></OptionIds></SelectedItem></SelectedItems>"
        "</xml>"
    )
    _, enc = crypto.seal(inner, timestamp="1700000000", nonce="1")
    envelope = (
        f"<xml><ToUserName><![CDATA[ww_test_corp]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
    )
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds = [
        (0, envelope),
        (1, enc),
        (2, inner),
        (3, inner),
        (3, event),
        (0, "<?xml version='1.0' encoding='gbk'?><x/>"),
    ]
    for n, (mode, text) in enumerate(seeds):
        (corpus / f"seed{n}").write_bytes(bytes([mode]) + text.encode())
    _fuzz("fuzz_callback.py", corpus, 50_000, tmp_path)


@pytest.mark.slow
def test_fuzz_photo_gate(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for fmt, mode in (("JPEG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("WEBP", "RGB"), ("GIF", "P")):
        out = BytesIO()
        Image.new(mode, (24, 16)).save(out, fmt)
        (corpus / f"seed_{mode}.{fmt.lower()}").write_bytes(out.getvalue())
    _fuzz("fuzz_photo.py", corpus, 20_000, tmp_path)
