"""Shared test helpers: settings for a test corp, and services built on the test database."""

from __future__ import annotations

from bot.settings import Settings

TEST_CORP = dict(
    WECOM_CORP_ID="ww_test_corp",
    WECOM_AGENT_ID=1000002,
    WECOM_SECRET="test-secret",
    WECOM_TOKEN="testtoken",
    WECOM_AES_KEY="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
)
VECTOR_A = dict(
    WECOM_CORP_ID="wx5823bf96d3bd56c7",
    WECOM_TOKEN="QDG6eK",
    WECOM_AES_KEY="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
)
VECTOR_B = dict(
    WECOM_CORP_ID="ww1436e0e65a779aee",
    WECOM_TOKEN="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    WECOM_AES_KEY="6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
)


def make_settings(db_url: str, tmp_path, **overrides) -> Settings:
    values = {
        **TEST_CORP,
        "DATABASE_URL": db_url,
        "DATA_DIR": str(tmp_path / "data"),
        "WECOM_API_BASE": "http://wecom.test/cgi-bin/",
        "WECOM_OAUTH_URL": "http://wecom.test/connect/oauth2/authorize",
        "WECOM_QR_LOGIN_URL": "http://wecom.test/wwlogin/sso/login",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def migrate(engine, revision: str, *, down: bool = False) -> None:
    """Run Alembic up (or down) to `revision` on the engine's database."""
    from alembic import command

    from storage.schema import alembic_config

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def engine_at_revision(db_url: str, tmp_path, request, revision: str):
    """A second database of db_url's kind (a SQLite file, or a new PostgreSQL database), migrated to
    `revision` only: for tests of a migration's upgrade over data written before it."""
    from storage.db import make_engine

    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/migrated.db"
    else:
        from tests.conftest import _fresh_pg_url

        url = _fresh_pg_url(request.getfixturevalue("pg_server"))
    engine = make_engine(url)
    migrate(engine, revision)
    return engine


def import_texts(session_factory, folder, now, files: dict[str, str]):
    """Write each {file name: CSV text} into folder and import them, in that order."""
    from storage.importer.run import import_paths

    folder.mkdir(exist_ok=True)
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return import_paths(session_factory, paths, now=now, progress=False)
