"""Real processes for the fault tests: the emulated WeCom API on a loopback port (a uvicorn thread, so the
test reads its FakeWeCom directly), and `main.py` / `tests.bench.app` subprocesses configured by env vars.

Every process started here is stopped by its own pid (terminate, then kill); nothing is killed by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from bot.emulator.api import create_api_router
from bot.emulator.corp import DEMO_CORP
from bot.emulator.peer import WeComPeer
from bot.emulator.state import FakeWeCom
from tests.support.processes import reap_orphans

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_wecom(**kwargs) -> FakeWeCom:
    """The emulated corp the subprocesses run as (DEMO_CORP credentials)."""
    return FakeWeCom(
        corp_id=DEMO_CORP["WECOM_CORP_ID"],
        secret=DEMO_CORP["WECOM_SECRET"],
        agent_id=DEMO_CORP["WECOM_AGENT_ID"],
        **kwargs,
    )


class EmulatorServer:
    """WeCom's REST API (create_api_router over a FakeWeCom) served on 127.0.0.1 from a thread."""

    def __init__(self, state: FakeWeCom):
        self.state = state
        self.port = free_port()
        app = FastAPI()
        app.include_router(create_api_router(state))
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="error", access_log=False, lifespan="off"
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="wecom-emulator", daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    def __enter__(self) -> EmulatorServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("emulator did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def clean_env(**settings: object) -> dict[str, str]:
    """os.environ without any assistant setting, plus DEMO_CORP and `settings` (values as strings)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WECOM_", "DATABASE_URL", "REDIS_URL", "LLM_", "DATA_DIR", "PUBLIC_BASE_URL"))
    }
    env.update({k: str(v) for k, v in DEMO_CORP.items()})
    env.update({k: str(v) for k, v in settings.items() if v is not None})
    return env


class Proc:
    """One subprocess with its stderr in a file; stopped by pid."""

    def __init__(
        self, args: list[str], *, env: dict[str, str], cwd: Path, name: str, port: int | None = None
    ):
        self.name, self.port = name, port
        self.log_path = cwd / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [sys.executable, *args], cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_http(self, path: str = "/healthz", timeout: float = 60) -> Proc:
        assert self.port is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {path}:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def sigkill(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()
        reap_orphans()  # the bundled Redis of a server killed earlier (it daemonizes, so it outlives its owner)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""


def main_py(
    command: list[str], *, env: dict[str, str], cwd: Path, name: str, port: int | None = None
) -> Proc:
    """`python main.py <command>` run from `cwd` (so no developer .env is read)."""
    return Proc([str(ROOT / "main.py"), *command], env=env, cwd=cwd, name=name, port=port)


def bench_app(
    *,
    db_url: str,
    data: Path,
    port: int,
    api_base: str,
    worker: bool,
    env: dict[str, str],
    cwd: Path,
    name: str = "bench_app",
) -> Proc:
    """`python -m tests.bench.app --mode callback` (WECOM_MAX_CLOCK_SKEW=0, the demo corp)."""
    env = {**env, "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")}
    args = [
        "-m",
        "tests.bench.app",
        "--mode",
        "callback",
        "--port",
        str(port),
        "--data",
        str(data),
        "--db",
        db_url,
        "--api-base",
        api_base,
    ] + (["--worker"] if worker else [])
    return Proc(args, env=env, cwd=cwd, name=name, port=port)


def stop_all(procs: Iterable[Proc]) -> None:
    for p in procs:
        try:
            p.stop()
        except Exception:  # noqa: BLE001 - stop the others regardless
            pass


def peer_for(state: FakeWeCom, port: int, client: httpx.Client) -> WeComPeer:
    return WeComPeer(
        state,
        callback_url=f"http://127.0.0.1:{port}/wecom/callback",
        token=DEMO_CORP["WECOM_TOKEN"],
        aes_key=DEMO_CORP["WECOM_AES_KEY"],
        corp_id=DEMO_CORP["WECOM_CORP_ID"],
        agent_id=DEMO_CORP["WECOM_AGENT_ID"],
        client=client,
    )


def text_xml(user: str, msg_id: int, created: int, content: str = "你好") -> str:
    """A member's text message as WeCom's plaintext XML (the demo corp)."""
    return (
        f"<xml><ToUserName><![CDATA[{DEMO_CORP['WECOM_CORP_ID']}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{created}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>"
        f"<AgentID>{DEMO_CORP['WECOM_AGENT_ID']}</AgentID></xml>"
    )


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
