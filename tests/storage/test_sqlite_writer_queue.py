"""SQLite writers of one process queue on an in-process lock (storage/db.py WriteQueue) instead of sleeping in
SQLite's busy handler; writers of other processes still meet SQLite's lock and its busy timeout (issue 20
item 2)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text

from storage.db import make_engine, make_session_factory, write_queue, writer_session

ROOT = Path(__file__).resolve().parents[2]


def _engine(path: Path, *, busy_timeout_ms: int | None = None):
    engine = make_engine(f"sqlite:///{path}")
    if busy_timeout_ms is not None:

        @event.listens_for(engine, "connect")
        def _busy(dbapi_conn, _record):  # noqa: ANN001 - after make_engine's own pragmas
            dbapi_conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")

    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (who TEXT)")
    return engine


def _until(condition, what: str) -> None:
    """Wait for a condition another thread brings about (not a timing assertion: a deadline for a hang)."""
    deadline = time.monotonic() + 20
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.001)


def test_two_threads_write_at_once_and_both_succeed(tmp_path):
    """SQLite's busy handler is off (busy_timeout 0): without the in-process queue, the second writer's BEGIN
    IMMEDIATE fails at once with 'database is locked' while the first holds the write lock."""
    path = tmp_path / "q.db"
    engine = _engine(path, busy_timeout_ms=0)
    factory = make_session_factory(engine)
    queue = write_queue(str(path))
    first_holds = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with writer_session(factory) as s:
                s.execute(text("INSERT INTO t VALUES ('first')"))
                first_holds.set()
                _until(lambda: queue.waiting == 1, "the second writer queues")
                s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_holds.set()

    def second() -> None:
        try:
            first_holds.wait()
            with writer_session(factory) as s:
                s.execute(text("INSERT INTO t VALUES ('second')"))
                s.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    with engine.connect() as conn:
        assert sorted(conn.exec_driver_sql("SELECT who FROM t").scalars()) == ["first", "second"]
    assert not queue.locked() and queue.waiting == 0
    engine.dispose()


def test_the_queue_is_given_back_when_a_writer_fails(tmp_path):
    path = tmp_path / "q.db"
    engine = _engine(path, busy_timeout_ms=0)
    factory = make_session_factory(engine)
    queue = write_queue(str(path))
    with pytest.raises(RuntimeError), writer_session(factory) as s:
        s.execute(text("INSERT INTO t VALUES ('rolled back')"))
        assert queue.locked()
        raise RuntimeError("the handler broke")
    assert not queue.locked()
    with writer_session(factory) as s:  # the next writer gets its turn at once
        s.execute(text("INSERT INTO t VALUES ('kept')"))
        s.commit()
    with factory() as s:  # a plain (deferred) transaction never takes the queue
        assert list(s.execute(text("SELECT who FROM t")).scalars()) == ["kept"]
        assert not queue.locked()
    engine.dispose()


def test_a_writer_of_another_process_waits_on_sqlite_busy_timeout(tmp_path):
    """Another process has its own queue: it meets SQLite's lock, waits in the busy handler (30 s) and
    succeeds once this process commits."""
    path = tmp_path / "q.db"
    engine = _engine(path)
    factory = make_session_factory(engine)
    script = (
        "import sys\n"
        "from sqlalchemy import text\n"
        "from storage.db import make_engine, make_session_factory, writer_session\n"
        "factory = make_session_factory(make_engine('sqlite:///' + sys.argv[1]))\n"
        "print('ready', flush=True)\n"
        "with writer_session(factory) as s:\n"
        "    s.execute(text(\"INSERT INTO t VALUES ('other process')\"))\n"
        "    s.commit()\n"
        "print('written', flush=True)\n"
    )
    with writer_session(factory) as s:
        s.execute(text("INSERT INTO t VALUES ('this process')"))
        child = subprocess.Popen(
            [sys.executable, "-c", script, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            s.commit()
            out, _ = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert child.returncode == 0 and out.strip() == "written"
    with engine.connect() as conn:
        assert sorted(conn.exec_driver_sql("SELECT who FROM t").scalars()) == [
            "other process",
            "this process",
        ]
    engine.dispose()


def test_an_urgent_writer_goes_before_the_writers_already_waiting():
    """The callback's inbox write (urgent) takes the write lock before the worker's and the relay's
    transactions queued ahead of it; among ordinary writers nothing changes."""
    from storage.db import WriteQueue

    queue = WriteQueue()
    assert queue.acquire(1)
    order: list[str] = []

    def writer(name: str, urgent: bool) -> None:
        assert queue.acquire(20, urgent=urgent)
        order.append(name)
        queue.release()

    ordinary = [threading.Thread(target=writer, args=(f"worker{i}", False)) for i in range(3)]
    for t in ordinary:
        t.start()
    _until(lambda: queue.waiting == 3, "three ordinary writers queue")
    callback = threading.Thread(target=writer, args=("callback", True))
    callback.start()
    _until(lambda: queue.waiting == 4, "the callback's writer queues behind them")
    queue.release()
    for t in [*ordinary, callback]:
        t.join(20)
    assert order[0] == "callback"
    assert sorted(order[1:]) == ["worker0", "worker1", "worker2"]
    assert not queue.locked() and queue.waiting == 0


def test_a_queue_wait_that_times_out_leaves_the_queue_usable():
    from storage.db import WriteQueue

    queue = WriteQueue()
    assert queue.acquire(1)
    assert not queue.acquire(0.01, urgent=True)  # the holder keeps it
    assert queue.waiting == 0
    queue.release()
    assert queue.acquire(0.01)  # an ordinary writer is not held back by the urgent one that gave up
    queue.release()
    with pytest.raises(RuntimeError):
        queue.release()


def test_the_callback_engine_writes_first(tmp_path):
    from bot.wecom.callback import callback_engine

    engine = _engine(tmp_path / "c.db")
    own = callback_engine(engine)
    with own.connect() as conn:
        assert conn.connection.dbapi_connection.urgent is True
    with engine.connect() as conn:
        assert conn.connection.dbapi_connection.urgent is False
