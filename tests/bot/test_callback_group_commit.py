"""Callbacks that arrive together share one commit (bot/wecom/callback.py GroupCommit): duplicates within a group
are one row, every 200 follows the commit, and a row the database refuses for its own data sinks only itself."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import select

from bot.app import create_app
from bot.bootstrap import build as build_services
from bot.wecom.crypto import WeComCrypto
from storage.models import InboxRow
from tests.support.db import TEST_CORP, make_settings

CRYPTO = WeComCrypto(
    token=TEST_CORP["WECOM_TOKEN"],
    encoding_aes_key=TEST_CORP["WECOM_AES_KEY"],
    corp_id=TEST_CORP["WECOM_CORP_ID"],
)


def _sealed(sender: str, mid: int) -> tuple[dict, bytes]:
    ts = str(int(time.time()))
    xml = (
        f"<xml><ToUserName><![CDATA[{TEST_CORP['WECOM_CORP_ID']}]]></ToUserName><FromUserName><![CDATA[{sender}]]>"
        f"</FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[帮助]]>"
        f"</Content><MsgId>{mid}</MsgId><AgentID>1000002</AgentID></xml>"
    )
    params, enc = CRYPTO.seal(xml, timestamp=ts)
    body = (
        f"<xml><ToUserName><![CDATA[{TEST_CORP['WECOM_CORP_ID']}]]></ToUserName><Encrypt><![CDATA[{enc}]]>"
        "</Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"
    ).encode()
    return params, body


def _post_together(app, requests: list[tuple[dict, bytes]]) -> list[int]:
    async def run() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            answers = await asyncio.gather(
                *(client.post("/wecom/callback", params=p, content=b) for p, b in requests)
            )
        assert all(a.content == b"" for a in answers)
        return [a.status_code for a in answers]

    return asyncio.run(run())


def _rows(services) -> list[InboxRow]:
    with services.session_factory() as s:
        return list(s.scalars(select(InboxRow).order_by(InboxRow.id)))


def test_a_group_with_duplicates_stores_each_message_once(db_url, tmp_path, redis_server):
    services = build_services(make_settings(db_url, tmp_path), redis_client=redis_server)
    app = create_app(services)
    same = _sealed("rep01", 1)
    requests = [same] * 20 + [_sealed(f"rep{i:02d}", 100 + i) for i in range(20)]
    assert _post_together(app, requests) == [200] * 40
    rows = _rows(services)
    assert sorted(r.dedupe_key for r in rows) == sorted({"msg:1", *(f"msg:{100 + i}" for i in range(20))})
    assert all(r.status == "new" and r.attempts == 0 and r.event["content"] == "帮助" for r in rows)
    # and again, all duplicates now
    assert _post_together(app, requests) == [200] * 40
    assert len(_rows(services)) == 21
    services.engine.dispose()


def test_a_row_the_database_refuses_sinks_only_itself(db_url, tmp_path, redis_server):
    services = build_services(make_settings(db_url, tmp_path), redis_client=redis_server)
    app = create_app(services)
    too_long = "r" * 300  # PostgreSQL: longer than the sender column (64) and the dedupe key column (256)
    requests = [_sealed(f"rep{i:02d}", 200 + i) for i in range(10)] + [_sealed(too_long, 999)]
    statuses = _post_together(app, requests)
    assert statuses[:10] == [200] * 10
    if services.engine.dialect.name == "postgresql":
        assert statuses[10] == 503
        assert len(_rows(services)) == 10
    else:  # SQLite does not enforce lengths
        assert statuses[10] == 200
    services.engine.dispose()
