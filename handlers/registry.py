"""Import every handler module so it registers its commands, card actions and states with the router."""
from __future__ import annotations

import importlib
import logging

log = logging.getLogger("assistant")

HANDLER_MODULES = (
    "handlers.checkin",
    "handlers.photo_intake",
    "handlers.visit_text",
    "handlers.rep_self_service",
    "handlers.onboarding",
    "handlers.questions",
    "handlers.registry_sop",
    "handlers.dashboard_chat",
    "handlers.score_tiers",
    "handlers.report_timers",
)


def load_handlers() -> None:
    for name in HANDLER_MODULES:
        importlib.import_module(name)
