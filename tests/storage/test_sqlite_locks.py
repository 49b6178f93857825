"""A second engine on a SQLite file that is already open in this process (the callback's own engine beside the
worker's) must not drop the process's locks on it: otherwise the next other process to close the database
(`ask`, `import`, the sqlite3 shell, a second worker) takes itself for the last one and deletes the -wal and
-shm under the live connections ("disk I/O error", "database disk image is malformed")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from storage.db import make_engine


def _close_elsewhere(path: Path) -> None:
    """Another process opens the database, reads, and closes it (as `main.py ask` or the sqlite3 shell do)."""
    code = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('select count(*) from t').fetchall(); c.close()"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)


def test_a_second_engine_keeps_the_first_ones_locks_and_its_write_ahead_log(tmp_path):
    path = tmp_path / "assistant.db"
    first = make_engine(f"sqlite:///{path}")
    with first.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    held = first.connect()  # a pooled connection stays open, as the worker's do
    assert held.execute(text("SELECT count(*) FROM t")).scalar() == 1
    second = make_engine(f"sqlite:///{path}")  # bot/wecom/callback.py callback_engine does this at start
    _close_elsewhere(path)
    assert {"assistant.db-wal", "assistant.db-shm"} <= set(os.listdir(tmp_path))  # not deleted under us
    with first.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    with second.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
    held.rollback()  # its read transaction ends: the next read sees the new row
    assert held.execute(text("SELECT count(*) FROM t")).scalar() == 2
    held.close()
    first.dispose()
    second.dispose()
    assert (path.stat().st_mode & 0o777) == 0o600
