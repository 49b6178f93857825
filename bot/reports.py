"""Wiring of the reports (issue 6) for a running process: dashboard links, the weekly brief's renderer,
and the booking of the nightly scorecard and Monday brief timers. Called once by the composition root
(bot/wiring.py) after the services are built; the dashboard's routes come from bot.web.dashboard.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.web.brief_png import render_weekly_brief
from core.dashboard_token import derive_key
from handlers.links import dashboard as dashboard_chat
from handlers.sop import report_timers, weekly_brief


def install(services: Any) -> None:
    """Sign dashboard links with a key derived from WECOM_SECRET, render weekly briefs under DATA_DIR
    (the relay uploads Image paths relative to it), and book the recurring report timers on each tick."""
    settings = services.settings
    key = derive_key(settings.WECOM_SECRET)
    dashboard_chat.install(public_base_url=settings.PUBLIC_BASE_URL, dashboard_key=key)
    services.worker.settings.setdefault("dashboard_key", key)
    weekly_brief.install(render_png=render_weekly_brief, files_root=Path(settings.DATA_DIR))
    sweeps = services.extra.setdefault("sweeps", [])
    sweeps.insert(0, report_timers.make_ensure(services.session_factory, services.clock))
