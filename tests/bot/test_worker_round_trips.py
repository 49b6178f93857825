"""Round trips per event (issue 20 item 4): the worker reads the inbox row once (the claim returns the event),
and each event is one transaction of three statements — mark done, the person and their dialog state, the
replies — counted with SQLAlchemy's events, on both databases."""

from __future__ import annotations

from sqlalchemy import event, select

from handlers.worker import InboxWorker
from storage import inbox, outbox
from storage.db import writer_session
from storage.models import ConversationRow, InboxRow, OutboxRow, UserRow


def test_a_text_event_is_one_transaction_of_three_statements(engine, session_factory, clock):
    now = clock.now()
    with writer_session(session_factory) as s:
        s.add(UserRow(userid="rep01", name="张三", role="rep", active=True))
        s.add(ConversationRow(userid="rep01", state="idle", data={}, updated_at=now))
        for i, sender in enumerate(["rep01", "stranger", "rep01"]):
            inbox.put(
                s,
                dedupe_key=f"msg:{i}",
                sender=sender,
                kind="text",
                now=now,
                event={"type": "text", "sender": sender, "at": 0, "content": "帮助", "msg_id": str(i)},
            )
        s.commit()

    transactions: list[list[str]] = []
    outside: list[str] = []

    def began(conn):  # noqa: ANN001
        transactions.append([])

    def sent(conn, cursor, statement, parameters, context, many):  # noqa: ANN001
        if statement.lstrip().upper().startswith(("BEGIN", "SET")):
            return
        (transactions[-1] if conn.in_transaction() and transactions else outside).append(statement)

    event.listen(engine, "begin", began)
    event.listen(engine, "before_cursor_execute", sent)
    try:
        handled = InboxWorker(session_factory=session_factory, clock=clock, owner="w").drain()
    finally:
        event.remove(engine, "begin", began)
        event.remove(engine, "before_cursor_execute", sent)
    assert handled == 3
    per_event = [t for t in transactions if any(q.lstrip().startswith("UPDATE inbox SET status") for q in t)]
    per_event = [t for t in per_event if "processed_at" in t[0]]
    assert len(per_event) == 3, transactions
    for statements in per_event:
        assert len(statements) == 3, statements
        done, who, replies = statements
        assert done.startswith("UPDATE inbox") and "processed_at" in done
        assert "FROM" in who and "users" in who and "conversations" in who
        assert replies.startswith("INSERT INTO outbox")
    reads_of_a_row = [
        q
        for t in transactions
        for q in t
        if q.lstrip().startswith("SELECT inbox.event") or "inbox.event," in q
    ]
    assert reads_of_a_row == []  # the event came with the claim (its UPDATE … RETURNING)
    assert not engine.pool._pre_ping  # no round trip per checkout (storage/db.py)
    with session_factory() as s:
        assert set(s.scalars(select(InboxRow.status))) == {"done"}
        assert s.scalar(select(OutboxRow.id).where(OutboxRow.recipient == "stranger")) is not None
        assert len(list(s.scalars(select(OutboxRow.id).where(OutboxRow.recipient == "rep01")))) == 2
        assert set(s.scalars(select(OutboxRow.lane))) == {outbox.LANE_REPLY}  # answers to the sender
