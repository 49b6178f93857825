"""The made-up corp the demo and the benchmarks run as (never a real WeCom corp)."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings

DEMO_CORP = dict(
    WECOM_CORP_ID="wwdemo0000000001",
    WECOM_AGENT_ID=1000002,
    WECOM_SECRET="demo-secret-not-real",
    WECOM_TOKEN="demotoken",
    WECOM_AES_KEY="DemoAesKey0123456789abcdefghijklmnopqrstuvw",
)


def demo_settings(
    *, data_dir: Path, api_base: str, public_base_url: str, db_url: str | None = None, **overrides
) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {
        **DEMO_CORP,
        "DATABASE_URL": db_url or f"sqlite:///{data_dir}/assistant.db",
        "DATA_DIR": str(data_dir),
        "WECOM_API_BASE": api_base,
        "PUBLIC_BASE_URL": public_base_url,
        **overrides,
    }
    return Settings(_env_file=None, **values)
