"""WeCom's retry storm: each of 500 callbacks delivered four times (the original and three retries), the
copies spread over the stream (WeCom retries after 5 s, so copies arrive 0–6 s apart: simulated by order,
not by waiting) and some of them concurrent, across two callback processes sharing one database.

Target (reliability.md §6 item 2): 500 inbox rows, 500 processed effects, 0 duplicate replies.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from storage.models import InboxRow, OutboxRow
from tests.scaled.procs import bench_app, clean_env, demo_wecom, free_port, peer_for, stop_all, text_xml
from tests.support.fault_report import lost_and_twice, record
from tests.support.harness import Harness

N = 500
COPIES = 4


def _schedule(rng: random.Random) -> list[int]:
    """The delivery order of N×4 copies: the first 100 messages' copies back to back (16 senders pick them up
    together: concurrent duplicates), the rest shuffled (a copy seconds after the original, with other
    messages in between)."""
    burst = [i for i in range(100) for _ in range(COPIES)]
    rest = [i for i in range(100, N) for _ in range(COPIES)]
    rng.shuffle(rest)
    order = []
    for n, i in enumerate(burst):  # interleave bursts into the shuffled stream
        order.append(i)
        if n % COPIES == COPIES - 1:
            order.extend(rest[: len(rest) // 100])
            rest = rest[len(rest) // 100 :]
    return order + rest


@pytest.mark.slow
def test_each_callback_four_times_makes_one_row_one_effect_one_reply(db_url, tmp_path, redis_server, clock):
    wecom = demo_wecom()
    ports = [free_port(), free_port()]
    env = clean_env()
    procs = [
        bench_app(
            db_url=db_url,
            data=tmp_path / f"srv{i}",
            port=p,
            api_base="http://127.0.0.1:9/cgi-bin/",
            worker=False,
            env=env,
            cwd=tmp_path,
            name=f"srv{i}",
        )
        for i, p in enumerate(ports)
    ]
    try:
        for p in procs:
            p.wait_http()
        client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=32))
        peer = peer_for(wecom, ports[0], client)
        now = int(time.time())
        sealed = [peer.seal(text_xml(f"s{i:04d}", 8_200_000 + i, now, f"第{i}条")) for i in range(N)]
        order = _schedule(random.Random(11))
        assert Counter(order) == Counter({i: COPIES for i in range(N)})
        statuses: Counter = Counter()
        lock = threading.Lock()

        def deliver(job: tuple[int, int]) -> None:
            n, i = job
            params, body = sealed[i]
            try:
                r = client.post(
                    f"http://127.0.0.1:{ports[n % 2]}/wecom/callback", params=params, content=body
                )
                outcome: int | str = r.status_code
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            with lock:
                statuses[outcome] += 1

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(deliver, enumerate(order)))
        client.close()
    finally:
        stop_all(procs)
    # a duplicate is acknowledged too (else WeCom would retry it again)
    assert statuses == Counter({200: N * COPIES}), (
        statuses,
        procs[0].log_tail(1500),
        procs[1].log_tail(1500),
    )
    h = Harness(db_url, tmp_path, redis_server, clock)
    while any(h.tick().values()):
        pass
    with h.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == N
        assert s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.status == "done")) == N
        assert Counter(s.scalars(select(OutboxRow.status))) == Counter({"sent": N})
    per_user = Counter(d.userid for d in h.wecom.all_deliveries())
    record(
        "500 messages × 4 copies, 0–6 s apart, two servers",
        db_url,
        messages=N,
        deliveries=N * COPIES,
        effects=len(per_user),
        **lost_and_twice(N, per_user.elements()),
    )
    assert len(per_user) == N and set(per_user.values()) == {1}
    assert h.wecom.duplicates == []  # not even a suppressed repeat: one send per message
