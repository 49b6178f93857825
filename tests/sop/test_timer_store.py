"""storage/timers.py on real SQLite and PostgreSQL: idempotent scheduling, cancel as a state, reschedule, claims."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from storage import timers
from storage.db import writer_session
from storage.models import AuditRow, TimerRow


def _schedule(s, key, due, **kw):
    return timers.schedule(
        s,
        kind="test",
        business_key=key,
        subject_type="thing",
        subject_id="1",
        due_at=due,
        payload={"n": 1},
        now=due - timedelta(hours=1),
        **kw,
    )


def test_schedule_is_idempotent_and_cancel_never_deletes(session_factory, clock):
    now = clock.now()
    with session_factory() as s:
        a = _schedule(s, "k1", now)
        b = _schedule(s, "k1", now + timedelta(days=9))
        assert a.id == b.id and b.due_at == now
        s.commit()
    with session_factory() as s:
        cancelled = timers.cancel(s, now=now, reason="test", business_key="k1")
        assert [t.business_key for t in cancelled] == ["k1"]
        assert timers.cancel(s, now=now, reason="again", business_key="k1") == []
        s.commit()
        row = s.scalars(select(TimerRow)).one()
        assert row.status == "cancelled" and row.outcome == "test"
        audits = s.scalars(select(AuditRow.action).where(AuditRow.entity == "timer")).all()
        assert audits == ["create", "update"]


def test_reschedule_cancels_and_adds_a_new_key(session_factory, clock):
    now = clock.now()
    with session_factory() as s:
        _schedule(s, "promise:7:due", now)
        new = timers.reschedule(
            s, business_key="promise:7:due", due_at=now + timedelta(days=1), now=now, reason="moved"
        )
        again = timers.reschedule(
            s, business_key=new.business_key, due_at=now + timedelta(days=2), now=now, reason="moved again"
        )
        s.commit()
        rows = {t.business_key: t.status for t in s.scalars(select(TimerRow))}
    assert new.business_key == "promise:7:due#2" and again.business_key == "promise:7:due#3"
    assert rows == {
        "promise:7:due": "cancelled",
        "promise:7:due#2": "cancelled",
        "promise:7:due#3": "pending",
    }


def test_claim_takes_due_rows_once_and_reclaims_an_expired_lease(session_factory, clock):
    now = clock.now()
    with session_factory() as s:
        for i in range(5):
            _schedule(s, f"k{i}", now - timedelta(minutes=i))
        _schedule(s, "later", now + timedelta(hours=1))
        s.commit()
    with writer_session(session_factory) as s:
        first = timers.claim_due(s, now=now, owner="a", limit=3, lease=timedelta(minutes=5))
        s.commit()
    with writer_session(session_factory) as s:
        second = timers.claim_due(s, now=now, owner="b", limit=10, lease=timedelta(minutes=5))
        s.commit()
    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)
    with writer_session(session_factory) as s:
        assert timers.claim_due(s, now=now + timedelta(minutes=4), owner="c", limit=10) == []
        s.commit()
    with writer_session(
        session_factory
    ) as s:  # a's lease expired: c takes a's rows, a can no longer fire them
        third = timers.claim_due(s, now=now + timedelta(minutes=6), owner="c", limit=10)
        s.commit()
    assert sorted(third) == sorted(first + second)
    with session_factory() as s:
        assert timers.load_claimed(s, timer_id=first[0], owner="a") is None
        assert timers.load_claimed(s, timer_id=first[0], owner="c") is not None
        assert s.scalar(select(func.max(TimerRow.attempts))) == 2
