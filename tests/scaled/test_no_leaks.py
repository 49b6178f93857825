"""No bundled Redis outlives its owner: a `worker` stopped with SIGTERM exits through its exit handlers (which
stop the server), and the server of an owner killed with SIGKILL is found by this run's marker, stopped, and its
folder removed. redis-server overwrites its environment block with its title, so the marker is read from the
owner file the starter wrote beside the socket (storage/redis_conn.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from storage.db import make_engine
from storage.redis_conn import OWNER_ENV, OWNER_FILE, orphaned_servers, process_env, stop_servers
from storage.schema import create_all
from tests.scaled.procs import EmulatorServer, clean_env, demo_wecom, free_port, main_py, wait_until
from tests.support.processes import leftovers, session_marker

ROOT = Path(__file__).resolve().parents[2]


def _servers_of(owner_pid: int) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "redis-server":
            env = process_env(proc)
            if env is not None and env.get(OWNER_ENV) == str(owner_pid):
                out.append(proc)
    return out


def _folder(proc: psutil.Process) -> Path:
    arg = next(a for a in proc.cmdline() if a.startswith("unixsocket:"))
    return Path(arg.split(":", 1)[1]).parent


@pytest.mark.slow
@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_process_stopped_with_sigterm_stops_its_bundled_redis(tmp_path, command):
    """`worker` stops its tick and exits; `serve` shuts down through uvicorn, which then raises SIGTERM again
    (bot/signals.py: the handler it finds exits through the exit handlers)."""
    db = tmp_path / "assistant.db"
    engine = make_engine(f"sqlite:///{db}")
    create_all(engine)
    engine.dispose()
    args = (
        ["worker", "--beat", "1"]
        if command == "worker"
        else ["serve", "--host", "127.0.0.1", "--port", str(free_port())]
    )
    with EmulatorServer(demo_wecom()) as emulator:
        env = clean_env(
            DATABASE_URL=f"sqlite:///{db}",
            WECOM_API_BASE=emulator.api_base,
            DATA_DIR=tmp_path / "data",
            PUBLIC_BASE_URL="http://127.0.0.1:8000",
        )
        worker = main_py(args, env=env, cwd=tmp_path, name=command)
        try:
            servers = wait_until(lambda: _servers_of(worker.pid), timeout=60, what="the worker's Redis")
            (server,) = servers
            folder = _folder(server)
            assert (folder / OWNER_FILE).exists()
            assert process_env(server)[session_marker()[0]] == session_marker()[1]  # the run's marker
            worker.popen.send_signal(signal.SIGTERM)
            assert worker.popen.wait(30) == 0, worker.log_tail()
            gone, alive = psutil.wait_procs([server], timeout=10)
            assert not alive, "the bundled Redis outlived the worker"
            assert not folder.exists()
        finally:
            worker.stop()


def test_the_redis_of_a_killed_owner_is_found_by_the_run_marker_and_stopped(tmp_path):
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from storage.redis_conn import connect_redis\n"
        "c = connect_redis(None, data_dir=Path(sys.argv[1]))\n"
        "c.ping()\n"
        "print(os.getpid(), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    owner = int(run.stdout.split()[0])
    (server,) = _servers_of(owner)
    folder = _folder(server)
    try:
        assert server.pid in {p.pid for p in orphaned_servers(marker=session_marker())}
        assert server.pid in {p.pid for p in leftovers()}  # the suite's end check sees it too
        assert server.pid not in {p.pid for p in orphaned_servers(marker=(session_marker()[0], "other run"))}
    finally:
        stop_servers([server])
    assert not server.is_running()
    assert not folder.exists()
