"""Wire the parts for a running process: services + handler modules + timer sweep + photo prefetch."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.services import Services, build_services
from bot.settings import Settings
from core.clock import Clock
from handlers.registry import load_handlers

log = logging.getLogger("assistant")


def build(settings: Settings, *, clock: Clock | None = None, redis_client: Any = None, transport: Any = None,
          create_schema: bool = True) -> Services:
    load_handlers()
    services = build_services(settings, clock=clock, redis_client=redis_client, transport=transport,
                              create_schema=create_schema)
    _install_optional(services)
    return services


def _install_llm(services: Services) -> None:
    """An OpenAI-compatible chat model for question parsing, when LLM_BASE_URL/LLM_MODEL are set."""
    from nlq.llm import model_from_env

    s = services.settings
    env = {k: v for k, v in (("LLM_BASE_URL", s.LLM_BASE_URL), ("LLM_API_KEY", s.LLM_API_KEY),
                             ("LLM_MODEL", s.LLM_MODEL)) if v}
    services.worker.settings["llm"] = model_from_env(env)
    from nlq.vocab import VocabCache

    services.worker.settings["vocab_cache"] = VocabCache(ttl_s=60)


def _install_optional(services: Services) -> None:
    """Parts that other modules provide; each is optional so a partial build still runs."""
    _install_llm(services)
    try:
        from handlers.sop import sweep_due_timers
    except ImportError:
        sweep_due_timers = None
    from handlers.visit_idle import close_idle_visits

    sweeps = [lambda: close_idle_visits(services.session_factory, services.clock)]
    if sweep_due_timers is not None:
        sweeps.append(lambda: sweep_due_timers(services.session_factory, services.clock, owner=services.worker.owner))
    services.extra["sweeps"] = sweeps
    from bot.reports import install as install_reports

    install_reports(services)
    try:
        from bot.media import make_prefetch
    except ImportError:
        make_prefetch = None
    if make_prefetch is not None:
        services.worker.prefetch = make_prefetch(services)


def on_payments_loaded(session) -> None:  # noqa: ANN001
    try:
        from handlers.payments import rematch_contracts
    except ImportError:
        return
    from core.clock import SystemClock

    rematch_contracts(session, SystemClock().now())


async def run_forever(services: Services, *, interval: float = 1.0) -> None:
    while True:
        try:
            await services.tick()
        except Exception:  # noqa: BLE001
            log.exception("tick failed")
        await asyncio.sleep(interval)
