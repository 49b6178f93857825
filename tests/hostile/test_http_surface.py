"""What the assistant's HTTP side shows a stranger: no API schema pages in production (/openapi.json, /docs,
/redoc answer 404 unless DEBUG_API_DOCS)."""
from __future__ import annotations

import pytest

from tests.support.factories import org
from tests.support.harness import Harness

SCHEMA_PAGES = ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect")


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    with harness.session_factory() as s:
        org(s, touched_at=clock.now())
    return harness


def test_no_api_schema_pages_unless_the_debug_flag_says_so(h, db_url, tmp_path, redis_server, clock):
    for path in SCHEMA_PAGES:
        r = h.http.get(path)
        assert r.status_code == 404, path
        assert "openapi" not in r.text.lower() and "swagger" not in r.text.lower(), path
    debug = Harness(db_url, tmp_path / "debug", redis_server, clock, DEBUG_API_DOCS=True)
    assert debug.http.get("/openapi.json").json()["info"]["title"] == "WeCom sales assistant"
    for path in ("/docs", "/redoc"):
        assert debug.http.get(path).status_code == 200, path
