"""Settings from the environment and `.env`: the names README's Settings table lists, one family.

`StoreSettings` is what every command needs (the database, the data folder, the optional LLM); `Settings` adds
the WeCom app for the commands that talk to WeCom (`serve`, `worker`, `sweep`, `demo`). `ask` and `import` load
only `StoreSettings`, so they run without WeCom credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
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
    # web sign-in through WeCom (docs/web-sign-in.md): WeCom's authorize page (inside the WeCom browser) and QR
    # login page (a desktop browser); how long a signed-in browser stays signed in
    WECOM_OAUTH_URL: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    WECOM_QR_LOGIN_URL: str = "https://login.work.weixin.qq.com/wwlogin/sso/login"
    WEB_SESSION_HOURS: int = Field(default=12, ge=1, le=720)
    GPS_RETENTION_DAYS: int = Field(default=180, ge=1)
    # what people wrote and were sent (inbox/outbox bodies); the rows stay for audit
    # the relay beside the worker within a tick (replies leave while a backlog is still being handled); false:
    # the whole inbox, then the relay (the lanes still send replies before alerts)
    TICK_INTERLEAVE: bool = True
    MESSAGE_RETENTION_DAYS: int = Field(default=90, ge=1)  # reps' visit coordinates (PIPL: whereabouts)
    DEBUG_API_DOCS: bool = False  # development only: serve FastAPI's /openapi.json, /docs and /redoc
    # serve (bot/serve.py): a request not read whole within this many seconds is cut off; connections over the cap
    # are closed on accept
    SERVE_READ_TIMEOUT: float = Field(default=10.0, gt=0, le=300)
    SERVE_MAX_CONNECTIONS: int = Field(default=1000, ge=1)
    # the app menu installed with menu/create at start-up (JSON, WeCom's menu body); default: bot/menu.py
    WECOM_APP_MENU: str | None = None
    # the corp connects 客户联系 and the app may call it (docs/handover.md): a hand-over then also moves the
    # person's WeChat customers in WeCom (在职继承 for a move, 离职继承 for a departure)
    WECOM_CUSTOMER_CONTACT: bool = False
    # -- the address book (docs/contacts-sync.md) ----------------------------------------------------------
    CONTACTS_SYNC: bool = (
        False  # the nightly full sync from WeCom (同步通讯录 and change_contact work regardless)
    )
    # roles for members the sync brings: a JSON list of rules, first match wins (core/contacts/mapping.py)
    CONTACTS_ROLE_RULES: str | None = None
    # -- other alert channels (docs/channels.md): email through SMTP, SMS through Tencent Cloud SMS --------
    SMTP_HOST: str | None = None  # unset: no email is sent
    SMTP_PORT: int = Field(default=465, ge=1, le=65535)
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_TLS: str = "ssl"  # ssl (implicit TLS, port 465) | starttls (port 587) | none (a relay on the LAN)
    SMTP_FROM: str | None = None  # the From address; default SMTP_USER
    SMTP_TIMEOUT: float = Field(default=20.0, gt=0)
    SMS_PROVIDER: str | None = None  # tencent; unset: no SMS is sent
    SMS_SECRET_ID: str | None = None  # Tencent Cloud API key (访问管理 → API密钥管理)
    SMS_SECRET_KEY: str | None = None
    SMS_SDK_APP_ID: str | None = None  # 短信 → 应用管理: the SmsSdkAppId (1400…)
    SMS_SIGN_NAME: str | None = None  # the approved 签名 (e.g. 某某公司)
    SMS_TEMPLATE_ID: str | None = None  # the approved red-tier template (docs/channels.md: its 3 parameters)
    SMS_REGION: str = "ap-guangzhou"
    SMS_ENDPOINT: str = "https://sms.tencentcloudapi.com/"

    @field_validator("CONTACTS_ROLE_RULES")
    @classmethod
    def _role_rules(cls, v: str | None) -> str | None:
        from core.contacts.mapping import parse_rules

        parse_rules(v)  # a bad list stops the start with the rule's number and what is wrong
        return v

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

    @field_validator("WECOM_APP_MENU")
    @classmethod
    def _app_menu(cls, v: str | None) -> str | None:
        from bot.menu import parse_menu

        if v is not None and v.strip():
            parse_menu(v)  # ValueError names what is wrong
        return v or None

    def app_menu(self) -> dict[str, Any]:
        """The menu that start-up installs: WECOM_APP_MENU, else the default (bot/menu.py DEFAULT_MENU)."""
        from bot.menu import DEFAULT_MENU, parse_menu

        return parse_menu(self.WECOM_APP_MENU) if self.WECOM_APP_MENU else DEFAULT_MENU

    @field_validator("SMTP_TLS")
    @classmethod
    def _smtp_tls(cls, v: str) -> str:
        if v not in ("ssl", "starttls", "none"):
            raise ValueError("must be ssl, starttls or none")
        return v

    @field_validator("SMS_PROVIDER")
    @classmethod
    def _sms_provider(cls, v: str | None) -> str | None:
        if v not in (None, "", "tencent"):
            raise ValueError("must be tencent (the one SMS provider implemented) or empty")
        return v or None

    @model_validator(mode="after")
    def _channels_complete(self) -> Settings:
        if self.SMS_PROVIDER:
            for name in (
                "SMS_SECRET_ID",
                "SMS_SECRET_KEY",
                "SMS_SDK_APP_ID",
                "SMS_SIGN_NAME",
                "SMS_TEMPLATE_ID",
            ):
                if not getattr(self, name):
                    raise ValueError(f"{name} is needed when SMS_PROVIDER is set")
        if self.SMTP_HOST and not (self.SMTP_FROM or self.SMTP_USER):
            raise ValueError("SMTP_FROM (or SMTP_USER) is needed when SMTP_HOST is set")
        return self


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
