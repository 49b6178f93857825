"""The app menu (menu/create) that start-up installs: the default below, or the JSON of the WECOM_APP_MENU
setting checked here by WeCom's own rules plus ours (docs/channels.md § The app menu).

WeCom's rules: 1 to 3 buttons, each a leaf or a group of at most 5 leaves; every button has a name (at most
16 bytes at the top, 40 in a group); a leaf's type is one of WeCom's, a `view` leaf has a url, every other
leaf has a key (at most 128 bytes). Ours: the menu keeps the 签到 (location_select) and 拍照 (pic_sysphoto)
buttons, since the visit flow starts from them, and a `click` key is one the handlers answer
(handlers/visits/self_service.py `on_menu`), so no button does nothing.
"""

from __future__ import annotations

import json
from typing import Any

MENU_TYPES = (
    "click",
    "view",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "view_miniprogram",
)
CLICK_KEYS = ("menu_todo", "menu_photo", "menu_checkin")  # the keys handlers/visits/self_service.py answers
REQUIRED_TYPES = {"location_select": "签到", "pic_sysphoto": "拍照"}

DEFAULT_MENU: dict[str, Any] = {
    "button": [
        {"type": "pic_sysphoto", "name": "拍照", "key": "menu_photo", "sub_button": []},
        {"type": "location_select", "name": "签到", "key": "menu_checkin"},
        {"type": "click", "name": "我的待办", "key": "menu_todo"},
    ]
}


def parse_menu(raw: str) -> dict[str, Any]:
    """The menu of a WECOM_APP_MENU value; ValueError saying what is wrong (one line)."""
    try:
        menu = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not JSON ({exc.msg} at character {exc.pos})") from None
    problem = menu_problem(menu)
    if problem:
        raise ValueError(problem)
    return menu


def menu_problem(menu: Any) -> str | None:
    """What is wrong with a menu body, in one line; None when WeCom and the handlers would take it."""
    if not isinstance(menu, dict) or not isinstance(menu.get("button"), list):
        return 'must be a JSON object {"button": [...]}'
    buttons = menu["button"]
    if not 1 <= len(buttons) <= 3:
        return f"holds {len(buttons)} top-level buttons; WeCom takes 1 to 3"
    types: set[str] = set()
    for n, button in enumerate(buttons, 1):
        if not isinstance(button, dict):
            return f"button {n} is not an object"
        subs = button.get("sub_button") or []
        if not isinstance(subs, list) or len(subs) > 5:
            return f"button {n}: sub_button holds at most 5 buttons"
        problem = _name_problem(button, f"button {n}", 16)
        if problem:
            return problem
        for m, leaf in enumerate(subs or [button], 1):
            where = f"button {n}" if not subs else f"button {n}.{m}"
            if not isinstance(leaf, dict):
                return f"{where} is not an object"
            problem = _leaf_problem(leaf, where, 40 if subs else 16)
            if problem:
                return problem
            types.add(leaf["type"])
    for kind, name in REQUIRED_TYPES.items():
        if kind not in types:
            return f"has no {kind} button ({name}); the visit flow starts from it"
    return None


def _name_problem(button: dict[str, Any], where: str, limit: int) -> str | None:
    name = button.get("name")
    if not isinstance(name, str) or not name.strip():
        return f"{where} has no name"
    if len(name.encode()) > limit:
        return f"{where}: name {name!r} is longer than {limit} bytes"
    return None


def _leaf_problem(leaf: dict[str, Any], where: str, name_limit: int) -> str | None:
    problem = _name_problem(leaf, where, name_limit)
    if problem:
        return problem
    kind = leaf.get("type")
    if kind not in MENU_TYPES:
        return f"{where}: type {kind!r} is not one of {', '.join(MENU_TYPES)}"
    if kind == "view":
        if not isinstance(leaf.get("url"), str) or not leaf["url"].startswith(("http://", "https://")):
            return f"{where}: a view button needs an http(s) url"
        return None
    if kind == "view_miniprogram":
        return None
    key = leaf.get("key")
    if not isinstance(key, str) or not key or len(key.encode()) > 128:
        return f"{where}: a {kind} button needs a key of 1 to 128 bytes"
    if kind == "click" and key not in CLICK_KEYS:
        return f"{where}: click key {key!r} is answered by nothing (known: {', '.join(CLICK_KEYS)})"
    return None
