"""The app menu (menu/create) installed at start-up from WECOM_APP_MENU, the default without it, and a bad
value refused at start with one line naming the setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.menu import DEFAULT_MENU
from bot.settings import SettingsError, load_settings
from tests.support.db import TEST_CORP
from tests.support.harness import Harness

ROOT = Path(__file__).resolve().parents[2]
AGENT = int(TEST_CORP["WECOM_AGENT_ID"])
CUSTOM = {
    "button": [
        {"type": "location_select", "name": "签到", "key": "menu_checkin"},
        {"type": "pic_sysphoto", "name": "拍照", "key": "menu_photo"},
        {
            "name": "更多",
            "sub_button": [
                {"type": "click", "name": "我的待办", "key": "menu_todo"},
                {"type": "view", "name": "看板", "url": "https://sales.example.com/dashboard"},
            ],
        },
    ]
}


def _start(h: Harness) -> None:
    with TestClient(create_app(h.services, run_scheduler=True)) as client:
        assert client.get("/healthz").status_code == 200


def test_start_up_installs_exactly_the_configured_menu(db_url, tmp_path, redis_server, clock):
    h = Harness(db_url, tmp_path, redis_server, clock, WECOM_APP_MENU=json.dumps(CUSTOM, ensure_ascii=False))
    _start(h)
    assert h.wecom.menus == {AGENT: CUSTOM}
    assert len(h.wecom.calls_to("menu/create")) == 1


def test_without_the_setting_the_default_menu_has_the_checkin_and_camera_buttons(
    db_url, tmp_path, redis_server, clock
):
    h = Harness(db_url, tmp_path, redis_server, clock)
    _start(h)
    assert h.wecom.menus == {AGENT: DEFAULT_MENU}
    types = {b["name"]: b["type"] for b in h.wecom.menus[AGENT]["button"]}
    assert types == {"拍照": "pic_sysphoto", "签到": "location_select", "我的待办": "click"}


@pytest.mark.parametrize(
    "value, says",
    [
        ("{not json", "is not JSON"),
        ('{"button": []}', "holds 0 top-level buttons; WeCom takes 1 to 3"),
        (
            json.dumps({"button": [{"type": "pic_sysphoto", "name": "拍照", "key": "menu_photo"}]}),
            "has no location_select button (签到)",
        ),
        (
            json.dumps(
                {
                    "button": [
                        {"type": "location_select", "name": "签到", "key": "menu_checkin"},
                        {"type": "pic_sysphoto", "name": "拍照", "key": "menu_photo"},
                        {"type": "click", "name": "报表", "key": "menu_report"},
                    ]
                },
                ensure_ascii=False,
            ),
            "button 3: click key 'menu_report' is answered by nothing",
        ),
        (
            json.dumps({"button": [{"type": "location", "name": "签到", "key": "k"}]}, ensure_ascii=False),
            "button 1: type 'location' is not one of",
        ),
    ],
)
def test_a_bad_menu_is_one_line_naming_the_setting(monkeypatch, tmp_path, value, says):
    monkeypatch.chdir(tmp_path)  # no .env here
    with pytest.raises(SettingsError) as err:
        load_settings(**TEST_CORP, WECOM_APP_MENU=value)
    lines = str(err.value).splitlines()[1:]
    assert len(lines) == 1 and lines[0].startswith("  WECOM_APP_MENU: ") and says in lines[0], lines


def test_serve_with_a_bad_menu_exits_with_the_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "DATABASE_URL", "REDIS_URL"))}
    env.update({k: str(v) for k, v in TEST_CORP.items()})
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path}/a.db", DATA_DIR=str(tmp_path / "data"), WECOM_APP_MENU="[]"
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    named = [line for line in proc.stderr.splitlines() if "WECOM_APP_MENU" in line]
    assert named == ['  WECOM_APP_MENU: Value error, must be a JSON object {"button": [...]}'], proc.stderr
