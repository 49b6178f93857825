"""Settings from the environment and `.env`: the names README's Settings table lists, one family.

`StoreSettings` is what every command needs (the database, the data folder, the optional LLM); `Settings` adds
the WeCom app for the commands that talk to WeCom (`serve`, `worker`, `sweep`, `demo`). `ask` and `import` load
only `StoreSettings`, so they run without WeCom credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"


class StoreSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    DATABASE_URL: str = "sqlite:///./data/assistant.db"
    # where photos, the bundled Redis and the SQLite file live
    DATA_DIR: Path = Path("./data")
    LLM_BASE_URL: str | None = None
    LLM_API_KEY: str | None = None
    LLM_MODEL: str | None = None
    # docs/llm.md: one HTTP call's timeout; how long a chat question waits before the offline answer; model
    # calls at once (the lane); how the schema is asked for (json_schema, function_calling or json_mode)
    LLM_TIMEOUT_S: float = Field(default=8.0, gt=0, le=120)
    LLM_BUDGET_S: float = Field(default=2.5, gt=0, le=60)
    LLM_LANES: int = Field(default=4, ge=1, le=64)
    LLM_METHOD: Literal["json_schema", "function_calling", "json_mode"] = "json_schema"
    # No longer a setting: one zone (core/clock.py ORG_ZONE). Accepted only with that value, so an old .env
    # still starts and a different zone is refused with a message instead of being silently ignored.
    TZ_NAME: str | None = None

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, v: str) -> str:
        if not v.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("must be sqlite:///PATH or postgresql://user:pass@host/db")
        return "postgresql://" + v.removeprefix("postgres://") if v.startswith("postgres://") else v

    @field_validator("TZ_NAME")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        from core.clock import ORG_ZONE_NAME

        if v not in (None, "", ORG_ZONE_NAME):
            raise ValueError(
                f"is no longer a setting: the assistant keeps time in {ORG_ZONE_NAME}; remove it"
            )
        return v


class Settings(StoreSettings):
    WECOM_CORP_ID: str = Field(min_length=1)
    WECOM_AGENT_ID: int
    WECOM_SECRET: str = Field(min_length=1)
    WECOM_TOKEN: str = Field(min_length=1, max_length=32)
    WECOM_AES_KEY: str
    WECOM_API_BASE: str = DEFAULT_API_BASE
    REDIS_URL: str | None = None
    WECOM_MAX_CLOCK_SKEW: int = Field(default=300, ge=0)
    PUBLIC_BASE_URL: str = "http://127.0.0.1:8000"
    GPS_RETENTION_DAYS: int = Field(default=180, ge=1)
    # what people wrote and were sent (inbox/outbox bodies); the rows stay for audit
    MESSAGE_RETENTION_DAYS: int = Field(default=90, ge=1)  # reps' visit coordinates (PIPL: whereabouts)
    DEBUG_API_DOCS: bool = False  # development only: serve FastAPI's /openapi.json, /docs and /redoc
    # serve (bot/serve.py): a request not read whole within this many seconds is cut off; connections over the cap
    # are closed on accept
    SERVE_READ_TIMEOUT: float = Field(default=10.0, gt=0, le=300)
    SERVE_MAX_CONNECTIONS: int = Field(default=1000, ge=1)

    @field_validator("WECOM_AES_KEY")
    @classmethod
    def _aes_key(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9]{43}", v or ""):
            raise ValueError(
                "must be exactly 43 letters or digits (the EncodingAESKey from the WeCom console)"
            )
        return v

    @field_validator("WECOM_API_BASE")
    @classmethod
    def _api_base(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v if v.endswith("/") else v + "/"


class SettingsError(SystemExit):
    pass


def load_settings(**overrides: Any) -> Settings:
    """Load settings; on error exit with a message that names each missing or malformed setting."""
    return _load(Settings, overrides)


def load_store_settings(**overrides: Any) -> StoreSettings:
    """The settings of the commands that need only the database (`ask`, `import`)."""
    return _load(StoreSettings, overrides)


def _load(cls: type[S], overrides: dict[str, Any]) -> S:
    try:
        return cls(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "?"
            what = "missing" if err["type"] == "missing" else err["msg"]
            lines.append(f"  {name}: {what}")
        raise SettingsError(
            "Configuration error (set these in the environment or .env):\n" + "\n".join(lines)
        ) from None


S = TypeVar("S", bound=StoreSettings)
