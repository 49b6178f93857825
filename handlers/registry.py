"""Import every handler module so it registers its commands, card actions and states with the router."""
from __future__ import annotations

import importlib
import logging

log = logging.getLogger("assistant")

HANDLER_MODULES = (
    "handlers.visits.checkin",
    "handlers.visits.photos",
    "handlers.visits.line",
    "handlers.visits.self_service",
    "handlers.visits.onboarding",
    "handlers.ask",
    "handlers.registry_sop",
    "handlers.links.dashboard",
    "handlers.sop.scorecard",
    "handlers.sop.report_timers",
)


def load_handlers() -> None:
    for name in HANDLER_MODULES:
        importlib.import_module(name)
