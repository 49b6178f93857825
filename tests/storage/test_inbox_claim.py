"""The inbox claim (storage/inbox.py `claim_events`): one event per sender, oldest first, and a plan that
walks the (status, id) index whatever the table's statistics say (issue 20 item 3)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, insert, select

from storage import inbox
from storage.db import writer_session
from storage.models import InboxRow


def _rows(engine, rows: list[dict], now) -> None:
    """Insert inbox rows in one executemany (fast for a backlog of thousands)."""
    base = {"kind": "text", "received_at": now, "status": "new", "attempts": 0}
    base |= {"next_try_at": None, "lease_until": None}  # every row the same keys (one executemany)
    with engine.begin() as conn:
        conn.execute(
            insert(InboxRow.__table__),
            [
                {**base, "dedupe_key": f"k{i}", "event": {"type": "text", "n": i}, **r}
                for i, r in enumerate(rows)
            ],
        )


def _claim(session_factory, now, *, owner="w", limit=50) -> list[inbox.Claimed]:
    with writer_session(session_factory) as s:
        claimed = inbox.claim_events(s, now=now, owner=owner, limit=limit)
        s.commit()
    return claimed


def test_one_event_per_sender_oldest_first(engine, session_factory, clock):
    now = clock.now()
    _rows(
        engine,
        [
            {"sender": "a"},  # 1
            {"sender": "a"},  # 2: behind a's first
            {"sender": "b"},  # 3
            {"sender": "c", "next_try_at": now + timedelta(seconds=4)},  # 4: backing off, holds c back
            {"sender": "c"},  # 5
            {"sender": "d", "status": "processing", "lease_until": now - timedelta(seconds=1)},  # 6: stale
            {"sender": "e", "status": "processing", "lease_until": now + timedelta(seconds=9)},  # 7: held
            {"sender": "e"},  # 8: behind e's held one
            {"sender": "f", "status": "done"},  # 9
            {"sender": "f"},  # 10: f's earlier one is done
            {"sender": "g", "status": "failed"},  # 11: parked, no longer holds g back
            {"sender": "g"},  # 12
        ],
        now,
    )
    claimed = _claim(session_factory, now, owner="me")
    assert [c.id for c in claimed] == [1, 3, 6, 10, 12]
    assert [c.sender for c in claimed] == ["a", "b", "d", "f", "g"]
    assert claimed[0].event == {"type": "text", "n": 0}  # the event comes with the claim
    with session_factory() as s:
        mine = s.scalars(select(InboxRow.id).where(InboxRow.claimed_by == "me").order_by(InboxRow.id))
        assert list(mine) == [1, 3, 6, 10, 12]
    assert _claim(session_factory, now, owner="other") == []  # everything claimable is held now
    with writer_session(session_factory) as s:
        inbox.mark_done(s.get(InboxRow, 1), now=now)
        s.commit()
    assert [c.id for c in _claim(session_factory, now, owner="other")] == [2]


def test_a_long_run_of_one_sender_does_not_hide_the_others(engine, session_factory, clock):
    """The prefix is read a chunk at a time (CLAIM_CHUNK × limit rows, then doubling): a sender whose events fill the first
    chunks holds back only its own later events."""
    now = clock.now()
    limit = 2  # chunks of 4, 8, 16, 16 … rows
    _rows(engine, [{"sender": "hot"}] * 35 + [{"sender": "x"}, {"sender": "y"}, {"sender": "z"}], now)
    claimed = _claim(session_factory, now, limit=limit)
    assert [(c.id, c.sender) for c in claimed] == [(1, "hot"), (36, "x")]
    claimed = _claim(session_factory, now, owner="w2", limit=limit)  # the held rows are passed over
    assert [(c.id, c.sender) for c in claimed] == [(37, "y"), (38, "z")]


def _plans(engine, session_factory, now) -> list[tuple[str, str]]:
    """Run a claim, capture the statements it sent, and EXPLAIN each of them in a transaction of its own
    with the same settings (the SET LOCAL the claim sends on PostgreSQL); the claim is rolled back."""
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with writer_session(session_factory) as s:
            assert len(inbox.claim_events(s, now=now, owner="w", limit=50)) == 50
            s.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    sqlite = engine.dialect.name == "sqlite"
    plans = []
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        for statement, parameters in sent:
            if statement.lstrip().upper().startswith(("BEGIN", "SET")):
                if not sqlite:
                    cursor.execute(statement, parameters or None)
                continue
            cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters)
            lines = [str(r[-1] if sqlite else r[0]) for r in cursor.fetchall()]
            plans.append((statement.split()[0].upper(), "\n".join(lines)))
        conn.rollback()
    return plans


def test_the_claim_walks_the_index_on_a_never_analysed_backlog(engine, session_factory, clock):
    """20,000 pending rows (plus done ones before them), never ANALYZEd: the planner knows nothing. The
    claim's statements must read the (status, id) index (and the primary key), never the whole table, and
    PostgreSQL must not sort the backlog (the bitmap-scan-then-sort plan it picks without statistics)."""
    now = clock.now()
    _rows(engine, [{"sender": f"d{i}", "status": "done"} for i in range(5_000)], now)
    _rows(engine, [{"sender": f"s{i % 7_000}", "dedupe_key": f"p{i}"} for i in range(20_000)], now)
    plans = _plans(engine, session_factory, now)
    assert [kind for kind, _ in plans] == ["SELECT", "UPDATE"]
    select_plan, update_plan = plans[0][1], plans[1][1]
    if engine.dialect.name == "sqlite":
        assert select_plan.count("SEARCH inbox USING INDEX ix_inbox_status_id (status=? AND id>?)") == 2
        for plan in (select_plan, update_plan):
            assert "SCAN inbox" not in plan and "TEMP B-TREE" not in plan, plan
    else:
        assert select_plan.count("Index Scan using ix_inbox_status_id on inbox") == 2, select_plan
        for plan in (select_plan, update_plan):
            assert "Seq Scan" not in plan and "Sort" not in plan and "Bitmap" not in plan, plan
        assert "Index Scan using inbox_pkey on inbox" in update_plan, update_plan
    with engine.connect() as conn:  # and it really never was analysed
        if engine.dialect.name != "sqlite":
            stats = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stats WHERE tablename = 'inbox'"
            ).scalar_one()
            assert stats == 0
