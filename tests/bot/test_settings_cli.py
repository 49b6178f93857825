"""Settings and the CLI contracts, run as a user would run them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from tests.support.db import TEST_CORP

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WECOM_", "DATABASE_URL", "REDIS_URL", "LLM_"))
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def test_missing_and_malformed_settings_are_named(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    for k in list(os.environ):
        if k.startswith("WECOM_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("WECOM_CORP_ID", "ww1")
    monkeypatch.setenv("WECOM_AES_KEY", "short")
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    for name in (
        "WECOM_AGENT_ID: missing",
        "WECOM_SECRET: missing",
        "WECOM_TOKEN: missing",
        "WECOM_AES_KEY: ",
    ):
        assert name in text
    assert "43" in text and "WECOM_CORP_ID" not in text


def test_dotenv_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for k in list(os.environ):
        if k.startswith("WECOM_"):
            monkeypatch.delenv(k)
    (tmp_path / ".env").write_text(
        "\n".join(f"{k}={v}" for k, v in TEST_CORP.items()) + "\nWECOM_MAX_CLOCK_SKEW=0\n"
    )
    s = load_settings()
    assert s.WECOM_CORP_ID == "ww_test_corp" and s.WECOM_MAX_CLOCK_SKEW == 0 and s.TZ_NAME is None


def test_serve_refuses_to_start_without_settings(tmp_path):
    r = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "serve"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "WECOM_CORP_ID: missing" in r.stderr


def test_sweep_once_runs_one_tick(tmp_path, db_url):
    r = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "sweep", "--once", "--now", "2026-11-24T08:30:00"],
        cwd=tmp_path,
        env=_env(
            **TEST_CORP,
            DATABASE_URL=db_url,
            DATA_DIR=tmp_path / "d",
            WECOM_API_BASE="http://127.0.0.1:9/cgi-bin/",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout.strip().splitlines()[-1])) == {"inbox", "timers", "outbox"}
