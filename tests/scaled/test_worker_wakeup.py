"""On PostgreSQL a stored callback wakes the `worker` processes at once (LISTEN/NOTIFY), so a rep's reply does
not wait for the worker's next beat. The worker here beats every 10 minutes; its replies can only come
from the wake-up."""

from __future__ import annotations

import time

import httpx
import pytest

from storage.db import make_engine
from storage.schema import create_all
from tests.conftest import BACKENDS, _fresh_pg_url
from tests.scaled.procs import (
    EmulatorServer,
    clean_env,
    demo_wecom,
    free_port,
    main_py,
    peer_for,
    stop_all,
    text_xml,
    wait_until,
)

pytestmark = pytest.mark.skipif("postgres" not in BACKENDS, reason="TEST_DATABASES excludes postgres")


@pytest.mark.slow
def test_a_stored_callback_wakes_a_worker_that_beats_every_ten_minutes(pg_server, tmp_path):
    db_url = _fresh_pg_url(pg_server)
    engine = make_engine(db_url)
    create_all(engine)
    engine.dispose()
    wecom = demo_wecom()
    procs = []
    with EmulatorServer(wecom) as emulator:
        env = clean_env(
            DATABASE_URL=db_url,
            WECOM_API_BASE=emulator.api_base,
            WECOM_MAX_CLOCK_SKEW=300,
            DATA_DIR=tmp_path / "data",
            PUBLIC_BASE_URL="http://127.0.0.1:8000",
        )
        try:
            port = free_port()
            server = main_py(
                ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=tmp_path,
                name="serve",
                port=port,
            )
            worker = main_py(["worker", "--beat", "600"], env=env, cwd=tmp_path, name="worker")
            procs = [server, worker]
            server.wait_http("/readyz")
            client = httpx.Client(timeout=5)
            peer = peer_for(wecom, port, client)
            time.sleep(3)  # the worker's first beat (at start) is over; the next is 10 minutes away
            now = int(time.time())
            for i in range(3):  # one after another: each must wake the worker again
                params, body = peer.seal(text_xml(f"wake{i}", 8_300_000 + i, now, "帮助"))
                assert (
                    client.post(
                        f"http://127.0.0.1:{port}/wecom/callback", params=params, content=body
                    ).status_code
                    == 200
                )
                wait_until(
                    lambda i=i: len(wecom.all_deliveries()) >= i + 1,
                    timeout=30,
                    what=f"reply {i + 1} without a beat",
                )
            client.close()
            assert worker.alive(), worker.log_tail()
        finally:
            stop_all(procs)
    assert sorted(d.userid for d in wecom.all_deliveries()) == ["wake0", "wake1", "wake2"]
