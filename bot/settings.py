"""Settings from the environment and `.env`, exactly the names in DESIGN.md's contracts table."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      case_sensitive=True)

    WECOM_CORP_ID: str = Field(min_length=1)
    WECOM_AGENT_ID: int
    WECOM_SECRET: str = Field(min_length=1)
    WECOM_TOKEN: str = Field(min_length=1, max_length=32)
    WECOM_AES_KEY: str
    WECOM_API_BASE: str = DEFAULT_API_BASE
    DATABASE_URL: str = "sqlite:///./data/assistant.db"
    REDIS_URL: str | None = None
    LLM_BASE_URL: str | None = None
    LLM_API_KEY: str | None = None
    LLM_MODEL: str | None = None
    TZ_NAME: str = "Asia/Shanghai"
    WECOM_MAX_CLOCK_SKEW: int = Field(default=300, ge=0)
    # not in the contract table, documented in README: where photos and the bundled Redis live
    DATA_DIR: Path = Path("./data")
    PUBLIC_BASE_URL: str = "http://127.0.0.1:8000"
    GPS_RETENTION_DAYS: int = Field(default=180, ge=1)  # reps' visit coordinates (PIPL: whereabouts)
    DEBUG_API_DOCS: bool = False  # development only: serve FastAPI's /openapi.json, /docs and /redoc

    @field_validator("WECOM_AES_KEY")
    @classmethod
    def _aes_key(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9]{43}", v or ""):
            raise ValueError("must be exactly 43 letters or digits (the EncodingAESKey from the WeCom console)")
        return v

    @field_validator("WECOM_API_BASE")
    @classmethod
    def _api_base(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v if v.endswith("/") else v + "/"

    @field_validator("TZ_NAME")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        ZoneInfo(v)
        return v


class SettingsError(SystemExit):
    pass


def load_settings(**overrides) -> Settings:
    """Load settings; on error exit with a message that names each missing or malformed setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "?"
            what = "missing" if err["type"] == "missing" else err["msg"]
            lines.append(f"  {name}: {what}")
        raise SettingsError("Configuration error (set these in the environment or .env):\n" + "\n".join(lines)) from None
