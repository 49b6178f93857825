"""The outbox relay at scale (reliability.md §6 item 7): 5,000 alerts to 1,000 people, on SQLite and
PostgreSQL, while WeCom fails 30% of
message/send calls — errcode -1, 45009, HTTP 502, and timeouts that happen *after* WeCom delivered — over
ten simulated minutes. Every alert delivered, none dead, none visible twice, nobody over the per-member
limit (the emulator drops beyond 30/min, and asserts nothing was dropped)."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from bot.emulator.faults import Fault
from bot.wecom import render as cards
from handlers.messages import Text
from storage import outbox
from storage.models import OutboxRow
from tests.support.fault_report import lost_and_twice, record
from tests.support.harness import Harness

EACH = 5


@pytest.mark.slow
def test_five_thousand_alerts_through_thirty_percent_failures(db_url, tmp_path, redis_server, clock):
    people = 1000
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        for p in range(people):
            for i in range(EACH):
                outbox.enqueue(
                    s,
                    recipient=f"m{p:03d}",
                    message=Text(content=f"提醒 {p}-{i}").to_dict(),
                    dedupe_key=f"alert:{p}:{i}",
                    now=clock.now(),
                )
        s.commit()
    h.wecom.fail_rate(
        0.3,
        modes=(Fault.SYSTEM_BUSY, Fault.FREQ_LIMIT, Fault.HTTP_502, Fault.TIMEOUT),
        seed=7,
        paths=["message/send"],
    )
    for _ in range(120):  # ten minutes in 5-second beats, the failures on throughout
        h.tick()
        clock.advance(seconds=5)
    with h.session_factory() as s:
        statuses = Counter(s.scalars(select(OutboxRow.status)))
        worst = max(s.scalars(select(OutboxRow.attempts)))
    assert statuses == Counter({"sent": people * EACH}), statuses  # all within the ten minutes, none dead
    delivered = Counter((d.userid, d.body["text"]["content"]) for d in h.wecom.all_deliveries())
    record(
        "5,000 alerts, WeCom failing 30% of calls",
        db_url,
        alerts=people * EACH,
        failures_injected=len(h.wecom.faults_injected),
        resends_suppressed=len(h.wecom.duplicates),
        **lost_and_twice(people * EACH, delivered.elements()),
    )
    assert len(delivered) == people * EACH and set(delivered.values()) == {1}
    injected = Counter(f.mode for f in h.wecom.faults_injected)
    assert sum(injected.values()) > 0.2 * people * EACH and len(injected) == 4, injected
    assert len(h.wecom.duplicates) > 0  # timeouts after delivery were resent, and suppressed by WeCom
    assert h.wecom.dropped == []
    assert worst >= 2


def test_two_identical_replies_within_the_duplicate_window_both_arrive(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        for i in range(2):  # e.g. two photos refused for the same reason, or 帮助 asked twice
            outbox.enqueue(
                s,
                recipient="rep01",
                message=Text(content="这张照片无法使用：图片像素太多").to_dict(),
                dedupe_key=f"in:{i}:0",
                now=clock.now(),
            )
        s.commit()
    h.tick()
    clock.advance(minutes=5)
    h.tick()
    got = [d.body["text"]["content"] for d in h.wecom.deliveries_to("rep01")]
    assert len(set(got)) == 2  # WeCom saw two different requests, so delivered both …
    seen = ["".join(c for c in t if c not in cards.INVISIBLE) for t in got]
    assert seen == ["这张照片无法使用：图片像素太多"] * 2  # … and the person sees the same words twice
