"""Inbox and outbox bodies are purged MESSAGE_RETENTION_DAYS after they were handled or sent; the rows stay, so
a replayed callback is still a duplicate, and the purge is audited once (issue: data at rest)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage import retention
from storage.models import AuditRow, InboxRow, OutboxRow
from tests.support.factories import org
from tests.support.harness import Harness


def test_old_bodies_are_purged_and_the_rows_stay(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
        s.commit()
    h.peer.text("rep01", "帮助")
    h.tick()
    clock.advance(days=40)
    h.peer.text("rep01", "我的待办")  # a recent one: kept
    h.tick()
    clock.advance(days=60)  # the first exchange is now 100 days old, the second 60
    changed = retention.sweep(h.session_factory, clock, message_retain_days=90)
    assert changed >= 2
    with h.session_factory() as s:
        inbox = s.scalars(select(InboxRow).order_by(InboxRow.id)).all()
        outbox = s.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        cutoff = clock.now() - timedelta(days=90)
        old_in = [r for r in inbox if r.received_at < cutoff]
        new_in = [r for r in inbox if r.received_at >= cutoff]
        assert old_in and all(r.event == retention.PURGED for r in old_in)
        assert new_in and all(r.event != retention.PURGED for r in new_in)
        old_out = [r for r in outbox if r.created_at < cutoff]
        assert old_out and all(r.message == retention.PURGED and r.payload is None for r in old_out)
        assert all(r.message != retention.PURGED for r in outbox if r.created_at >= cutoff)
        audits = s.scalars(select(AuditRow).where(AuditRow.entity == "messages")).all()
        assert len(audits) == 1 and audits[0].after["inbox"] == len(old_in)
    # idempotent: a second purge (the next day) finds nothing left to change
    clock.advance(days=1)
    with h.session_factory() as s, s.begin():
        assert retention.purge_message_bodies(s, now=clock.now(), retain_days=90) == {"inbox": 0, "outbox": 0}
