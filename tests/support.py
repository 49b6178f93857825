"""Shared test helpers: settings for a test corp, and services built on the test database."""
from __future__ import annotations

from bot.settings import Settings

TEST_CORP = dict(WECOM_CORP_ID="ww_test_corp", WECOM_AGENT_ID=1000002, WECOM_SECRET="test-secret",
                 WECOM_TOKEN="testtoken", WECOM_AES_KEY="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
VECTOR_A = dict(WECOM_CORP_ID="wx5823bf96d3bd56c7", WECOM_TOKEN="QDG6eK",
                WECOM_AES_KEY="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C")
VECTOR_B = dict(WECOM_CORP_ID="ww1436e0e65a779aee", WECOM_TOKEN="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
                WECOM_AES_KEY="6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt")


def make_settings(db_url: str, tmp_path, **overrides) -> Settings:
    values = {**TEST_CORP, "DATABASE_URL": db_url, "DATA_DIR": str(tmp_path / "data"),
              "WECOM_API_BASE": "http://wecom.test/cgi-bin/", **overrides}
    return Settings(_env_file=None, **values)
