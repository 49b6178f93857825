"""A real headless Chromium for the tests that check what a person sees: the dashboard, the emulator's chat page.

Chromium is required, not optional: CI installs it (`apt-get install -y chromium`, see .ci/run). A missing
browser fails the test with that message instead of skipping it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI

from tests.support.web import WECOM_UA

CHROMIUM_MISSING = (
    "Chromium is not installed, so what a person sees cannot be checked in a browser. "
    "Install it (as root): apt-get install -y chromium — CI must do the same in .ci/run."
)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if path is None:
        pytest.fail(CHROMIUM_MISSING)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(app: FastAPI, port: int) -> uvicorn.Server:
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    threading.Thread(target=srv.run, daemon=True).start()
    deadline = time.monotonic() + 15
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "a test server did not start"
    return srv


def headless(
    browser: str, url: str, profile, *extra: str, ua: str | None = None
) -> subprocess.CompletedProcess:  # noqa: ANN001
    """Chromium run once on `url` with its DOM dumped to stdout (after `extra` flags), in a profile of its own."""
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            *([f"--user-agent={ua}"] if ua else []),
            f"--user-data-dir={profile}",
            *extra,
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def dump_dom(browser: str, url: str, profile, *extra: str, ua: str = WECOM_UA) -> str:  # noqa: ANN001
    """The page's DOM as WeCom's built-in browser (`ua`) renders it."""
    return headless(browser, url, profile, *extra, ua=ua).stdout
